//! The one place where the Keycloak channel drives a Vipps login through the core.
//!
//! Everything the channel needs from `vipps-login-core` is here: it starts the login on
//! the engine owned by the Keycloak request (`keycloak:` and the bearer's `jti`), waits
//! for its end (the engine's poller, on whichever instance holds it, does the polling),
//! and reads how it ended (the engine's [`LoginEnd`]), redeeming an approved result once
//! before Keycloak hears of it.

use tokio::time::Instant;
use vipps_login_core::{
    BindingMessage, LoginContext, LoginEnd, LoginId, LoginRequest, LoginView, Msisdn,
    RequestedExpiry, Scope, Scopes, VippsClient,
};

/// Maps the scopes Keycloak forwards (`openid profile email ...`, its own client scopes
/// included) to Vipps' scopes, keeping only those in `pass_on` (the channel's
/// configuration). `phoneNumber` is always asked for: the engine checks that the verified
/// number is the user's before the login can be approved. Keycloak's internal scopes
/// (`roles`, `web-origins`, `acr`, `basic`, ...) and anything not passed on (`nin`,
/// `delegatedConsents`, ...) are dropped.
pub(crate) fn vipps_scopes(keycloak_scope: Option<&str>, pass_on: &Scopes) -> Scopes {
    let mut scopes = Scopes::openid().with(Scope::PhoneNumber);
    for s in keycloak_scope.unwrap_or("").split_ascii_whitespace() {
        let mapped = match s {
            "profile" => Some(Scope::Name),
            "email" => Some(Scope::Email),
            "address" => Some(Scope::Address),
            "phone" => Some(Scope::PhoneNumber),
            other => other.parse::<Scope>().ok(),
        };
        if let Some(scope) = mapped.filter(|s| pass_on.contains(*s)) {
            scopes = scopes.with(scope);
        }
    }
    scopes
}

/// Starts the login (one push), owned by `owner`, with `extra` (what any instance needs to
/// report its end to Keycloak) stored in its context; or how it ended without a login.
pub(crate) async fn start(
    client: &VippsClient,
    owner: &str,
    extra: serde_json::Value,
    msisdn: Msisdn,
    scopes: Scopes,
    binding_message: Option<BindingMessage>,
    deadline: Instant,
) -> Result<LoginId, LoginEnd> {
    let left = deadline.saturating_duration_since(Instant::now());
    let mut request = LoginRequest::new(msisdn)
        .scopes(scopes)
        .requested_expiry(RequestedExpiry::clamp(left).into());
    if let Some(b) = binding_message {
        request = request.binding_message(b);
    }
    match client
        .start_login(request, LoginContext::new(owner).extra(extra))
        .await
    {
        Ok(started) => Ok(started.id),
        Err(e) => Err(LoginEnd::from_error(&e)),
    }
}

/// Waits for the customer's part of the login to end, at most until `deadline`; then it
/// is cancelled (and so ends as cancelled, which Keycloak hears as such).
pub(crate) async fn wait_until(client: &VippsClient, id: &LoginId, deadline: Instant) {
    if tokio::time::timeout_at(deadline, client.wait(id))
        .await
        .is_err()
        && let Err(e) = client.cancel(id).await
    {
        tracing::debug!(login_id = %id, error = %e.code(), "cancel after Keycloak's deadline");
    }
}

/// How login `id` (seen as `view`) ended, redeeming an approved one (once, on whichever
/// instance asks first); `None` while it waits, or when its result was redeemed by
/// another caller.
pub(crate) async fn end_of(
    client: &VippsClient,
    id: &LoginId,
    owner: &str,
    view: &LoginView,
) -> Option<LoginEnd> {
    match view.end()? {
        LoginEnd::Approved(_) => match client.redeem(id, owner).await {
            Ok(identity) => Some(LoginEnd::Approved(identity)),
            Err(e) => {
                tracing::debug!(login_id = %id, error = %e.code(), "redeemed elsewhere");
                None
            }
        },
        LoginEnd::Redeemed => None,
        end => Some(end),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn keycloak_scopes_map_to_vipps_scopes() {
        let all: Scopes = "openid name email address birthDate phoneNumber"
            .parse()
            .unwrap();
        let s = vipps_scopes(
            Some("openid profile email roles web-origins acr basic"),
            &all,
        );
        assert_eq!(s.to_string(), "openid name email phoneNumber");
        assert_eq!(vipps_scopes(None, &all).to_string(), "openid phoneNumber");
        let s = vipps_scopes(Some("openid address birthDate phone"), &all);
        assert!(s.contains(Scope::Address));
        assert!(s.contains(Scope::BirthDate));
    }

    #[test]
    fn only_the_scopes_passed_on_reach_vipps() {
        let default = Scopes::openid().with(Scope::PhoneNumber);
        let s = vipps_scopes(
            Some("openid profile email nin delegatedConsents address"),
            &default,
        );
        assert_eq!(s.to_string(), "openid phoneNumber");
        let name_only = Scopes::openid().with(Scope::Name);
        let s = vipps_scopes(Some("openid profile nin delegatedConsents"), &name_only);
        assert_eq!(s.to_string(), "openid name phoneNumber");
    }
}
