//! Settings of a [`KeycloakChannel`](crate::KeycloakChannel).

use std::time::Duration;

use url::Url;
use vipps_login_core::{HttpsOrLoopbackUrl, RateLimits, Scope, Scopes};

use crate::callback::Retry;
use crate::resolver::PhoneResolver;

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelConfigError {
    /// The realm issuer is not an `https` URL (or `http` on loopback) of a realm.
    #[error("the Keycloak realm issuer is not usable: {0}")]
    Issuer(String),
    /// The abuse limits make no sense (a window of zero starts or zero length).
    #[error("the channel's rate limits are not usable: {0}")]
    Limits(String),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// Settings of a [`KeycloakChannel`](crate::KeycloakChannel).
#[derive(Clone, Debug)]
#[must_use]
pub struct KeycloakChannelConfig {
    pub(crate) issuer: Url,
    pub(crate) resolver: PhoneResolver,
    pub(crate) retry: Retry,
    pub(crate) deadline_margin: Duration,
    pub(crate) jwks_min_refetch: Duration,
    pub(crate) http_timeout: Duration,
    pub(crate) clients: Option<Vec<String>>,
    pub(crate) pass_on: Scopes,
    pub(crate) limits: RateLimits,
}

impl KeycloakChannelConfig {
    /// The realm's issuer, e.g. `https://id.example.com/realms/staff` (what the realm's
    /// discovery document calls `issuer`). `http` is accepted on loopback only.
    pub fn new(issuer: &str) -> Result<KeycloakChannelConfig, ChannelConfigError> {
        let url = Url::parse(issuer.trim_end_matches('/'))
            .map_err(|e| ChannelConfigError::Issuer(e.to_string()))?;
        if HttpsOrLoopbackUrl::new(url.clone()).is_err() {
            return Err(ChannelConfigError::Issuer(
                "use https (plain http only on loopback)".into(),
            ));
        }
        if !url.path().contains("/realms/") || url.query().is_some() || url.fragment().is_some() {
            return Err(ChannelConfigError::Issuer(
                "expected a realm URL like https://host/realms/NAME".into(),
            ));
        }
        Ok(KeycloakChannelConfig {
            issuer: url,
            resolver: PhoneResolver::Username,
            retry: Retry::default(),
            deadline_margin: Duration::from_secs(3),
            jwks_min_refetch: Duration::from_secs(10),
            http_timeout: Duration::from_secs(10),
            clients: None,
            pass_on: Scopes::openid().with(Scope::PhoneNumber),
            limits: RateLimits::default().no_per_client(),
        })
    }

    /// How a Keycloak user's phone number is found (default: the username is the number).
    pub fn resolver(mut self, resolver: PhoneResolver) -> Self {
        self.resolver = resolver;
        self
    }

    /// Shortest pause between two JWKS fetches caused by unknown `kid`s (default 10 s).
    pub fn jwks_min_refetch(mut self, pause: Duration) -> Self {
        self.jwks_min_refetch = pause;
        self
    }

    /// Timeout of each request to Keycloak (default 10 s).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// The first pause between callback attempts (default 200 ms; doubled each time).
    pub fn callback_backoff(mut self, first: Duration) -> Self {
        self.retry.first_backoff = first;
        self
    }

    /// Only these Keycloak clients (the bearer's `azp`) may start Vipps logins; a request
    /// of another CIBA client of the realm is answered `201` (as Keycloak expects of a
    /// verified bearer) and then `UNAUTHORIZED`, with no push, so that the client gets
    /// `access_denied`. Default: any client.
    pub fn allowed_clients<I, S>(mut self, clients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.clients = Some(clients.into_iter().map(Into::into).collect());
        self
    }

    /// The Vipps scopes a Keycloak request may ask the customer to share, besides
    /// `openid` and `phoneNumber` (always asked: the engine checks the verified number is
    /// the user's). Default: none. Keycloak's names map to Vipps' (`profile` → `name`,
    /// `email`, `address`, `phone` → `phoneNumber`; Vipps' own names as they are); a scope
    /// not named here is not forwarded. Keycloak never sees what Vipps returns (the
    /// channel reports only the outcome), so pass on only what the customer should be
    /// asked to consent to for your own records.
    pub fn pass_on_scopes(mut self, scopes: Scopes) -> Self {
        self.pass_on = scopes.with(Scope::OpenId).with(Scope::PhoneNumber);
        self
    }

    /// The abuse limits every login the channel starts is admitted by (default
    /// [`RateLimits::default`] without the per-client window): one waiting login per
    /// number, starts per number, cool-downs after a declined or unanswered push. They
    /// are counted in the core client's store, so with the store the desks and the CIBA
    /// provider share, a number is limited the same whichever way in pushes to it.
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The realm issuer.
    #[must_use]
    pub fn issuer(&self) -> &Url {
        &self.issuer
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn issuer_must_be_a_realm_over_https_or_loopback() {
        assert!(KeycloakChannelConfig::new("https://id.example/realms/x").is_ok());
        assert!(KeycloakChannelConfig::new("http://127.0.0.1:8080/realms/x").is_ok());
        assert!(KeycloakChannelConfig::new("http://id.example/realms/x").is_err());
        assert!(KeycloakChannelConfig::new("https://id.example/").is_err());
        assert!(KeycloakChannelConfig::new("not a url").is_err());
    }
}
