//! The one place where the Keycloak channel drives a Vipps login through the core.
//!
//! Everything the channel needs from `vipps-login-core` is here: it starts the login on
//! the engine owned by the Keycloak request (`keycloak:` and the bearer's `jti`), waits
//! for its end (the engine's poller, on whichever instance holds it, does the polling),
//! and redeems the result once before Keycloak hears of it.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use vipps_login_core::{
    BindingMessage, Error, Identity, LoginContext, LoginRequest, Msisdn, Scope, Scopes, VippsClient,
};

/// How a Vipps login ended.
#[derive(Debug)]
pub(crate) enum LoginEnd {
    /// Approved, ID token and userinfo verified by the core.
    Verified(Arc<Identity>),
    /// The customer said no.
    Declined,
    /// Vipps' request expired, or Keycloak's deadline came first.
    Expired,
    /// Cancelled on our side.
    Cancelled,
    /// Vipps will not log this customer in (no account, too young, old app).
    Ineligible(Error),
    /// Anything else: Vipps unreachable, refused the request, verification failed.
    Failed(Error),
}

/// Maps the scopes Keycloak forwards (`openid profile email ...`, its own client scopes
/// included) to Vipps' scopes. `phoneNumber` is always asked for: the verified number is
/// compared with the user's before Keycloak hears of a success. Scopes that are Vipps'
/// own names pass through; Keycloak's internal scopes (`roles`, `web-origins`, `acr`,
/// `basic`, ...) are dropped.
pub(crate) fn vipps_scopes(keycloak_scope: Option<&str>) -> Scopes {
    let mut scopes = Scopes::openid().with(Scope::PhoneNumber);
    for s in keycloak_scope.unwrap_or("").split_ascii_whitespace() {
        let mapped = match s {
            "profile" => Some(Scope::Name),
            "email" => Some(Scope::Email),
            "address" => Some(Scope::Address),
            "phone" => Some(Scope::PhoneNumber),
            other => other.parse::<Scope>().ok(),
        };
        if let Some(scope) = mapped {
            scopes = scopes.with(scope);
        }
    }
    scopes
}

/// Starts the login (one push) and waits for its end, at most until `deadline`; then it
/// is cancelled and counts as expired.
pub(crate) async fn run(
    client: &VippsClient,
    owner: &str,
    msisdn: Msisdn,
    scopes: Scopes,
    binding_message: Option<BindingMessage>,
    deadline: Instant,
) -> LoginEnd {
    let left = deadline.saturating_duration_since(Instant::now());
    let expiry = left.clamp(Duration::from_secs(60), Duration::from_secs(900));
    let mut request = LoginRequest::new(msisdn)
        .scopes(scopes)
        .requested_expiry(Duration::from_secs(expiry.as_secs()));
    if let Some(b) = binding_message {
        request = request.binding_message(b);
    }
    let started = match client.start_login(request, LoginContext::new(owner)).await {
        Ok(s) => s,
        Err(e) => return classify(e),
    };
    match tokio::time::timeout_at(deadline, client.wait(&started.id)).await {
        // Redeemed once: the result goes to Keycloak exactly one time.
        Ok(Ok(_)) => match client.redeem(&started.id, owner).await {
            Ok(identity) => LoginEnd::Verified(identity),
            Err(e) => classify(e),
        },
        Ok(Err(e)) => classify(e),
        Err(_elapsed) => {
            if let Err(e) = client.cancel(&started.id).await {
                tracing::debug!(login_id = %started.id, error = %e.code(), "cancel after Keycloak's deadline");
            }
            LoginEnd::Expired
        }
    }
}

fn classify(e: Error) -> LoginEnd {
    match e {
        Error::Declined => LoginEnd::Declined,
        Error::Expired => LoginEnd::Expired,
        Error::Cancelled => LoginEnd::Cancelled,
        Error::InvalidUser | Error::OldApp => LoginEnd::Ineligible(e),
        other => LoginEnd::Failed(other),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn keycloak_scopes_map_to_vipps_scopes() {
        let s = vipps_scopes(Some("openid profile email roles web-origins acr basic"));
        assert_eq!(s.to_string(), "openid name email phoneNumber");
        assert_eq!(vipps_scopes(None).to_string(), "openid phoneNumber");
        let s = vipps_scopes(Some("openid address birthDate phone"));
        assert!(s.contains(Scope::Address));
        assert!(s.contains(Scope::BirthDate));
    }
}
