//! The channel itself: [`KeycloakChannel`], its configuration, HTTP client, bearer
//! verifier and core client, shared by its clones. What it serves is in `request`, how
//! a login's end reaches Keycloak in `finish`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;
use vipps_login_core::VippsClient;

use crate::bearer::BearerVerifier;
use crate::config::{ChannelConfigError, KeycloakChannelConfig};

/// Keycloak's CIBA HTTP authentication channel as an axum [`Router`](axum::Router); cheap to
/// clone.
#[derive(Clone)]
pub struct KeycloakChannel {
    pub(crate) inner: Arc<Inner>,
}

/// What every clone of a channel shares.
pub(crate) struct Inner {
    pub(crate) config: KeycloakChannelConfig,
    pub(crate) callback_url: Url,
    pub(crate) http: reqwest::Client,
    pub(crate) verifier: BearerVerifier,
    pub(crate) vipps: VippsClient,
    /// Set once the transitions are followed (see `finish`).
    pub(crate) following: std::sync::OnceLock<()>,
}

impl fmt::Debug for KeycloakChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeycloakChannel")
            .field("issuer", &self.inner.config.issuer.as_str())
            .field("resolver", &self.inner.config.resolver)
            .finish_non_exhaustive()
    }
}

impl KeycloakChannel {
    /// A channel for one realm, running its logins with `vipps`.
    pub fn new(
        config: KeycloakChannelConfig,
        vipps: VippsClient,
    ) -> Result<KeycloakChannel, ChannelConfigError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(config.http_timeout)
            .build()
            .map_err(|e| ChannelConfigError::Http(e.to_string()))?;
        let base = config.issuer.as_str().trim_end_matches('/');
        let callback_url = Url::parse(&format!(
            "{base}/protocol/openid-connect/ext/ciba/auth/callback"
        ))
        .map_err(|e| ChannelConfigError::Issuer(e.to_string()))?;
        let verifier = BearerVerifier::new(
            &config.issuer,
            http.clone(),
            config.jwks_min_refetch,
            vipps.store().clone(),
            vipps.config().clock().clone(),
        )
        .map_err(|e| ChannelConfigError::Issuer(e.to_string()))?;
        // The channel's logins are admitted by its limits, counted in `vipps`'s store.
        let vipps = vipps
            .with_limits(config.limits.clone())
            .map_err(|e| ChannelConfigError::Limits(e.to_string()))?;
        Ok(KeycloakChannel {
            inner: Arc::new(Inner {
                config,
                callback_url,
                http,
                verifier,
                vipps,
                following: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Where results are sent: `{issuer}/protocol/openid-connect/ext/ciba/auth/callback`.
    #[must_use]
    pub fn callback_url(&self) -> &Url {
        &self.inner.callback_url
    }
}
