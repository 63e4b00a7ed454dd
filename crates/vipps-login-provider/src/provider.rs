//! The OpenID provider, assembled: the [`kernel`](crate::kernel) with the ways in that
//! are enabled, each registering its routes and its grant handler.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use url::Url;
use vipps_login_core::HttpsOrLoopbackUrl;

use crate::authcode::authorize;
use crate::authcode::grant::CodeGrant;
use crate::ciba::{CibaGrant, backchannel};
use crate::kernel::sealed_token::TokenSealer;
use crate::kernel::secret_checks::{SecretChecks, default_secret_check_limit};
use crate::kernel::shared::{Grant, OperatorPage, Shared};
use crate::kernel::{discovery, paths, tokens};
use crate::keys::KeySet;
use crate::records::Records;
use crate::{ClientRegistry, PhoneLogin};

/// A problem with the provider's configuration.
#[derive(Debug, thiserror::Error)]
#[error("provider configuration: {0}")]
pub struct ProviderError(String);

/// The OpenID provider: build it with [`Provider::builder`], serve [`Provider::router`].
///
/// ```no_run
/// use std::sync::Arc;
/// use vipps_login_provider::{ClientRegistry, Provider, VippsPhoneLogin};
/// # fn demo(client: vipps_login_core::VippsClient, clients_toml: &str) -> Result<(), Box<dyn std::error::Error>> {
/// let login = VippsPhoneLogin::new(client);
/// let records = login.records();
/// let provider = Provider::builder(
///     "https://bridge.example".parse()?,
///     ClientRegistry::from_toml(clients_toml)?,
///     Arc::new(login),
///     records,
/// )
/// .build()?;
/// let app: axum::Router = provider.router();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Provider {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Provider`].
#[must_use]
pub struct ProviderBuilder {
    issuer: Url,
    registry: ClientRegistry,
    login: Arc<dyn PhoneLogin>,
    records: Records,
    keys: Option<KeySet>,
    access_token_ttl: Duration,
    id_token_ttl: Duration,
    poll_interval: Option<Duration>,
    slow_down_step: Duration,
    ciba: bool,
    authorization_code: bool,
    code_ttl: Duration,
    operator_page: Option<OperatorPage>,
    secret_check_limit: usize,
    request_secret: Option<Vec<u8>>,
}

impl Provider {
    /// A provider at `issuer` (its public URL) for the clients of `registry`, logging in
    /// through `login`, keeping its records in `records`.
    pub fn builder(
        issuer: Url,
        registry: ClientRegistry,
        login: Arc<dyn PhoneLogin>,
        records: Records,
    ) -> ProviderBuilder {
        ProviderBuilder {
            issuer,
            registry,
            login,
            records,
            keys: None,
            access_token_ttl: Duration::from_secs(600),
            id_token_ttl: Duration::from_secs(600),
            poll_interval: None,
            slow_down_step: Duration::from_secs(5),
            ciba: true,
            authorization_code: false,
            code_ttl: Duration::from_secs(60),
            operator_page: None,
            secret_check_limit: default_secret_check_limit(),
            request_secret: None,
        }
    }

    /// The issuer identifier (no trailing slash).
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// Whether the provider can serve now, for an app that serves its own readiness
    /// endpoint: its signing keys sign, and its login backend is ready (for
    /// [`VippsPhoneLogin`](crate::VippsPhoneLogin): the store answers, Vipps' discovery
    /// and JWKS are loaded). The identity bridge's `/health/ready` answers from it.
    pub async fn readiness(&self) -> vipps_login_core::health::Readiness {
        let mut r = vipps_login_core::health::Readiness::default();
        let probe = serde_json::json!({ "readiness": true });
        let signs = [
            crate::keys::SigningAlg::RS256,
            crate::keys::SigningAlg::ES256,
        ]
        .into_iter()
        .any(|alg| self.shared.keys.sign(alg, &probe).is_ok());
        r.check(
            "signing_keys",
            if signs {
                Ok(())
            } else {
                Err("no current signing key signs; the ID tokens cannot be issued".into())
            },
        );
        r.merge(self.shared.login.readiness().await)
    }

    /// The signing keys (for rotation).
    #[must_use]
    pub fn keys(&self) -> &KeySet {
        &self.shared.keys
    }

    /// Every endpoint of the enabled ways in, at the paths of [`paths`] (mount the router
    /// under the issuer's path when it has one).
    ///
    /// Serve it with `into_make_service_with_connect_info::<SocketAddr>()`: failed client
    /// authentications are throttled per peer address, which axum's `ConnectInfo` gives
    /// (without it they are not, and a warning says so once).
    pub fn router(&self) -> Router {
        let s = self.shared.clone();
        let mut r = Router::new()
            .route(paths::DISCOVERY, get(discovery::discovery))
            .route(paths::JWKS, get(discovery::jwks))
            .route(paths::TOKEN, post(tokens::token_endpoint))
            .route(
                paths::USERINFO,
                get(tokens::userinfo).post(tokens::userinfo),
            );
        if s.ciba {
            r = r.route(paths::BACKCHANNEL, post(backchannel));
        }
        if s.authorization_code {
            r = r.merge(authorize::routes());
        }
        r.with_state(s)
    }
}

impl ProviderBuilder {
    /// Signing keys to use (default: freshly generated).
    pub fn keys(mut self, keys: KeySet) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Lifetime of access tokens (default 10 minutes).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl;
        self
    }

    /// Lifetime of ID tokens (default 10 minutes).
    pub fn id_token_ttl(mut self, ttl: Duration) -> Self {
        self.id_token_ttl = ttl;
        self
    }

    /// The CIBA polling `interval` handed out (default: Vipps' interval, rounded up to
    /// whole seconds).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// How much `slow_down` adds to a login's interval (default 5 s, as CIBA §11 says).
    pub fn slow_down_step(mut self, step: Duration) -> Self {
        self.slow_down_step = step;
        self
    }

    /// Which ways in to serve (CIBA only by default; the authorization-code way also
    /// needs [`operator_page`](Self::operator_page)).
    pub fn ways(mut self, ciba: bool, authorization_code: bool) -> Self {
        self.ciba = ciba;
        self.authorization_code = authorization_code;
        self
    }

    /// Way 2: where `/authorize` sends the operator's browser, `url?authorization={id}`:
    /// the page that logs the customer in and then calls
    /// [`Provider::complete_authorization`].
    pub fn operator_page(self, url: Url) -> Self {
        self.operator_redirect(move |id| {
            let mut u = url.clone();
            u.query_pairs_mut().append_pair("authorization", id);
            u
        })
    }

    /// Way 2, in general: the URL for the operator's browser of authorization request
    /// `id` — e.g. the tower layer's login page with a `return_to` that carries the id to
    /// its completion step.
    pub fn operator_redirect(mut self, to: impl Fn(&str) -> Url + Send + Sync + 'static) -> Self {
        self.operator_page = Some(Arc::new(to));
        self
    }

    /// At most `limit` client-secret checks at once (default: one per core); a request
    /// beyond that is answered `503 temporarily_unavailable` at once, so that guesses
    /// cannot queue up and take the process's CPU.
    pub fn max_concurrent_secret_checks(mut self, limit: usize) -> Self {
        self.secret_check_limit = limit;
        self
    }

    /// Way 2: the secret the authorization requests carried to the operator page are
    /// sealed with (AES-256-GCM, a key derived from it). Give every instance the same one
    /// (e.g. derived from the cookie secret), so that an operator's page served by one
    /// instance completes a request another accepted; by default a random one (requests
    /// do not survive a restart and are not shared).
    pub fn request_sealing_secret(mut self, secret: &[u8]) -> Self {
        self.request_secret = Some(secret.to_vec());
        self
    }

    /// Lifetime of authorization codes (default 60 s).
    pub fn code_ttl(mut self, ttl: Duration) -> Self {
        self.code_ttl = ttl;
        self
    }

    /// Checks the configuration and builds the provider.
    pub fn build(self) -> Result<Provider, ProviderError> {
        let u = &self.issuer;
        if HttpsOrLoopbackUrl::new(u.clone()).is_err()
            || u.query().is_some()
            || u.fragment().is_some()
        {
            return Err(ProviderError(
                "the issuer must be an https URL (http only on loopback) without query or fragment"
                    .into(),
            ));
        }
        if self.authorization_code && self.operator_page.is_none() {
            return Err(ProviderError(
                "the authorization-code way needs an operator page".into(),
            ));
        }
        if !self.ciba && !self.authorization_code {
            return Err(ProviderError("no way in is enabled".into()));
        }
        if self.registry.is_empty() {
            return Err(ProviderError("no clients are registered".into()));
        }
        let keys = match self.keys {
            Some(k) => k,
            None => KeySet::generate().map_err(|e| ProviderError(e.to_string()))?,
        };
        let issuer = u.as_str().trim_end_matches('/').to_owned();
        if self.authorization_code && self.request_secret.is_none() {
            tracing::warn!(
                "no request sealing secret: authorization requests waiting for the operator \
                 are sealed with a random key (not shared between instances, lost on restart)"
            );
        }
        let request_sealer =
            TokenSealer::new(self.request_secret.as_deref()).map_err(ProviderError)?;
        let mut grants: Vec<Arc<dyn Grant>> = Vec::new();
        if self.ciba {
            grants.push(Arc::new(CibaGrant));
        }
        if self.authorization_code {
            grants.push(Arc::new(CodeGrant));
        }
        Ok(Provider {
            shared: Arc::new(Shared {
                issuer,
                registry: self.registry,
                secret_checks: SecretChecks::new(self.secret_check_limit),
                request_sealer,
                login: self.login,
                records: self.records,
                keys,
                access_token_ttl: self.access_token_ttl,
                id_token_ttl: self.id_token_ttl,
                poll_interval: self.poll_interval,
                slow_down_step: self.slow_down_step,
                ciba: self.ciba,
                authorization_code: self.authorization_code,
                code_ttl: self.code_ttl,
                operator_page: self.operator_page,
                grants,
            }),
        })
    }
}
