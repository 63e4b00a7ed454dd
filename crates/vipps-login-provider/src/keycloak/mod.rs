//! Keycloak's CIBA **HTTP authentication channel**, served by us: Keycloak (26.x) keeps
//! its own CIBA endpoints, clients and tokens, and hands the user's authentication to
//! this channel, which runs it as a Vipps merchant-initiated login.
//!
//! The contract (Keycloak's `HttpAuthenticationChannelProvider` and
//! `BackchannelAuthenticationCallbackEndpoint`):
//!
//! 1. Keycloak `POST`s JSON (`login_hint` = the Keycloak **username**, `scope`,
//!    `binding_message`, `is_consent_required`, `acr_values`) with `Authorization: Bearer
//!    <JWT>`, signed by the realm key, `iss` and `aud` the realm issuer, `sub` the user id,
//!    `azp` the client, `jti`, `exp`. The channel verifies the token against the realm's
//!    JWKS (cached, refetched on an unknown `kid`, rate-limited), refuses a replayed `jti`,
//!    and answers `201` at once (anything else fails the client's request at Keycloak).
//! 2. In the background it resolves the user's phone number
//!    ([`PhoneResolver`](crate::keycloak::PhoneResolver)) and runs the Vipps login. A
//!    binding message Vipps would refuse (`^[A-Z0-9\-]{5,8}$`) or a user without a usable
//!    number end the login at once, with a log line, and no push.
//! 3. It `POST`s `{"status": "SUCCEED" | "UNAUTHORIZED" | "CANCELLED"}` with the same
//!    bearer to `{issuer}/protocol/openid-connect/ext/ciba/auth/callback`, retrying
//!    transient failures and never again after a success. `SUCCEED` is sent only when the
//!    Vipps-verified phone number is the one resolved for the user. Declined, ineligible
//!    or not the same person: `UNAUTHORIZED`; expired, cancelled, failed: `CANCELLED`.
//!    Either way the client's next poll at Keycloak gets `access_denied`.
//!
//! ```no_run
//! use vipps_login_core::{Config, VippsClient};
//! use vipps_login_provider::keycloak::{KeycloakChannel, KeycloakChannelConfig, PhoneResolver};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let vipps = VippsClient::new(Config::from_env()?)?;
//! let channel = KeycloakChannel::new(
//!     KeycloakChannelConfig::new("https://id.example.com/realms/staff")?
//!         .resolver(PhoneResolver::Username),
//!     vipps,
//! )?;
//! // Keycloak: --spi-ciba-auth-channel--ciba-http-auth-channel--http-authentication-channel-uri=https://bridge.example.com/keycloak/channel
//! let app = axum::Router::new().nest("/keycloak/channel", channel.router());
//! # let _ = app; Ok(()) }
//! ```
//!
#![doc = include_str!("register.md")]

mod bearer;
mod callback;
mod finish;
mod resolver;
mod vipps;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use tokio::time::Instant;
use url::Url;
use vipps_login_core::{BindingMessage, HttpsOrLoopbackUrl, LoginId, VippsClient};

pub use bearer::{BearerClaims, BearerError};
pub use callback::ChannelStatus;
pub use resolver::{AttributeLookup, PhoneResolver, ResolveError};

use bearer::BearerVerifier;
use callback::Retry;

/// Largest channel request body read.
const MAX_BODY: usize = 16 * 1024;
/// Longest a login is followed, whatever the bearer's `exp` says: Vipps' longest expiry
/// (900 s) and a little.
const MAX_FOLLOW: Duration = Duration::from_secs(905);

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelConfigError {
    /// The realm issuer is not an `https` URL (or `http` on loopback) of a realm.
    #[error("the Keycloak realm issuer is not usable: {0}")]
    Issuer(String),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// Settings of a [`KeycloakChannel`].
#[derive(Clone, Debug)]
#[must_use]
pub struct KeycloakChannelConfig {
    issuer: Url,
    resolver: PhoneResolver,
    retry: Retry,
    deadline_margin: Duration,
    jwks_min_refetch: Duration,
    http_timeout: Duration,
    clients: Option<Vec<String>>,
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

    /// Only these Keycloak clients (the bearer's `azp`) may start Vipps logins; requests
    /// of other CIBA clients of the realm are refused with no push. Default: any client.
    pub fn allowed_clients<I, S>(mut self, clients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.clients = Some(clients.into_iter().map(Into::into).collect());
        self
    }

    /// The realm issuer.
    #[must_use]
    pub fn issuer(&self) -> &Url {
        &self.issuer
    }
}

/// Keycloak's CIBA HTTP authentication channel as an axum [`Router`]; cheap to clone.
#[derive(Clone)]
pub struct KeycloakChannel {
    inner: Arc<Inner>,
}

struct Inner {
    config: KeycloakChannelConfig,
    callback_url: Url,
    http: reqwest::Client,
    verifier: BearerVerifier,
    vipps: VippsClient,
    /// Set once the transitions are followed (see `finish`).
    following: std::sync::OnceLock<()>,
}

impl fmt::Debug for KeycloakChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeycloakChannel")
            .field("issuer", &self.inner.config.issuer.as_str())
            .field("resolver", &self.inner.config.resolver)
            .finish_non_exhaustive()
    }
}

/// What became of a channel request before any Vipps login ended.
enum Decided {
    /// Ended at once (no push was sent, or Vipps refused the start): report this.
    Now(ChannelStatus),
    /// A login was started; its end is reported by [`KeycloakChannel::finish`].
    Started(LoginId),
}

/// The JSON body of a channel request. Unknown fields are tolerated.
#[derive(Debug, Deserialize)]
struct ChannelRequest {
    #[serde(default)]
    login_hint: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    binding_message: Option<String>,
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
            vipps.config().clock().clone(),
        )
        .map_err(|e| ChannelConfigError::Issuer(e.to_string()))?;
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

    /// The router: `POST /` is the channel. Nest it where Keycloak's
    /// `http-authentication-channel-uri` points. Called inside a tokio runtime, it also
    /// starts following the logins' ends on this instance, so that it reports to Keycloak
    /// the logins other instances started, should they die.
    pub fn router(&self) -> Router {
        self.follow_transitions();
        Router::new()
            .route("/", post(channel_request))
            .with_state(self.clone())
    }

    /// Where results are sent: `{issuer}/protocol/openid-connect/ext/ciba/auth/callback`.
    #[must_use]
    pub fn callback_url(&self) -> &Url {
        &self.inner.callback_url
    }
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": code, "error_description": description})),
    )
        .into_response()
}

fn bearer_of(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A username for logs: usernames here are often phone numbers.
fn masked(text: &str) -> String {
    let n = text.chars().count();
    if n <= 4 {
        return "*".repeat(n);
    }
    text.chars()
        .enumerate()
        .map(|(i, c)| if i < 2 || i >= n - 2 { c } else { '*' })
        .collect()
}

async fn channel_request(
    State(channel): State<KeycloakChannel>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = Instant::now();
    let Some(token) = bearer_of(&headers) else {
        tracing::warn!("Keycloak channel request refused: no bearer token; no push sent");
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "a bearer token is required",
        );
    };
    let claims = match channel.inner.verifier.verify(token).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(reason = %e, "Keycloak channel request refused; no push sent");
            let status = if matches!(e, BearerError::Jwks(_)) {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::UNAUTHORIZED
            };
            return error(status, "invalid_token", &e.to_string());
        }
    };
    if let Some(allowed) = &channel.inner.config.clients
        && !claims.azp.as_ref().is_some_and(|azp| allowed.contains(azp))
    {
        tracing::warn!(request = %claims.log_id(), client = claims.azp.as_deref().unwrap_or("-"), "Keycloak channel request refused: this client may not start Vipps logins; no push sent");
        return error(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            "this client may not start Vipps logins",
        );
    }
    if body.len() > MAX_BODY {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the body is too large",
        );
    }
    let request: ChannelRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(request = %claims.log_id(), "Keycloak channel request refused: the body is not the channel's JSON; no push sent");
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body is not a channel request",
            );
        }
    };
    let Some(username) = request.login_hint.clone().filter(|h| !h.is_empty()) else {
        tracing::warn!(request = %claims.log_id(), "Keycloak channel request refused: no login_hint; no push sent");
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "login_hint is required",
        );
    };
    tracing::info!(request = %claims.log_id(), user = %masked(&username), client = claims.azp.as_deref().unwrap_or("-"), "Keycloak channel request accepted");
    let token = token.to_owned();
    channel.follow_transitions();
    tokio::spawn(async move {
        channel
            .conduct(claims, token, username, request, received)
            .await;
    });
    StatusCode::CREATED.into_response()
}

impl KeycloakChannel {
    /// Runs one login to its end and reports it to Keycloak.
    async fn conduct(
        &self,
        claims: BearerClaims,
        bearer: String,
        username: String,
        request: ChannelRequest,
        received: Instant,
    ) {
        let inner = &self.inner;
        let expires = received
            + claims
                .remaining_on(inner.vipps.config().clock().as_ref())
                .min(MAX_FOLLOW);
        let deadline = expires
            .checked_sub(inner.config.deadline_margin)
            .unwrap_or(received);
        let status = match self
            .decide(
                &claims, &bearer, &username, &request, received, expires, deadline,
            )
            .await
        {
            Decided::Now(status) => status,
            Decided::Started(id) => {
                // Every instance reports a login's end (see `finish`); this one waits for it
                // too, so that it cancels at Keycloak's deadline and reports even when no
                // notification reaches it.
                vipps::wait_until(&inner.vipps, &id, deadline).await;
                self.finish(&id).await;
                return;
            }
        };
        self.report(&bearer, &claims.log_id(), received, expires, status)
            .await;
    }

    #[allow(clippy::too_many_arguments)]
    async fn decide(
        &self,
        claims: &BearerClaims,
        bearer: &str,
        username: &str,
        request: &ChannelRequest,
        received: Instant,
        expires: Instant,
        deadline: Instant,
    ) -> Decided {
        let inner = &self.inner;
        let request_id = &claims.log_id();
        let binding = match request.binding_message.as_deref() {
            None | Some("") => None,
            Some(b) => match BindingMessage::parse(b) {
                Ok(b) => Some(b),
                Err(e) => {
                    tracing::warn!(request = %request_id, reason = %e, "binding message Vipps would refuse (5-8 of A-Z, 0-9, '-'): login ended, no push sent");
                    return Decided::Now(ChannelStatus::Cancelled);
                }
            },
        };
        let cx = resolver::ResolveContext {
            issuer: &inner.config.issuer,
            http: &inner.http,
        };
        let msisdn = match inner
            .config
            .resolver
            .resolve(&cx, username, &claims.sub)
            .await
        {
            Ok(m) => m,
            Err(e @ ResolveError::Admin(_)) => {
                tracing::warn!(request = %request_id, user = %masked(username), reason = %e, "the user's phone number could not be read: login ended, no push sent");
                return Decided::Now(ChannelStatus::Cancelled);
            }
            Err(e) => {
                tracing::warn!(request = %request_id, user = %masked(username), reason = %e, "no phone number for this Keycloak user: login ended, no push sent");
                return Decided::Now(ChannelStatus::Unauthorized);
            }
        };
        let scopes = vipps::vipps_scopes(request.scope.as_deref());
        // The login belongs to this Keycloak request (its bearer's `jti` is single use).
        let owner = format!("keycloak:{}", claims.jti);
        let clock = inner.vipps.config().clock().as_ref();
        let report = finish::Report::new(clock, bearer, &msisdn, request_id, received, expires);
        match vipps::start(
            &inner.vipps,
            &owner,
            report.to_extra(),
            msisdn.clone(),
            scopes,
            binding,
            deadline,
        )
        .await
        {
            Ok(id) => Decided::Started(id),
            Err(end) => Decided::Now(finish::outcome(request_id, &msisdn, end)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::vipps::LoginEnd;
    use super::*;
    use vipps_login_core::{Error, Identity, Msisdn, UserInfo};

    fn identity(phone: Option<&str>) -> LoginEnd {
        let mut userinfo: UserInfo =
            serde_json::from_value(serde_json::json!({"sub": "s"})).unwrap();
        userinfo.phone_number = phone.map(str::to_owned);
        LoginEnd::Verified(Arc::new(Identity::new(
            "s".into(),
            serde_json::Map::new(),
            userinfo,
        )))
    }

    #[test]
    fn success_needs_the_same_verified_number() {
        let kari: Msisdn = "4712345678".parse().unwrap();
        assert_eq!(
            finish::outcome("r", &kari, identity(Some("4712345678"))),
            ChannelStatus::Succeed
        );
        assert_eq!(
            finish::outcome("r", &kari, identity(Some("+4712345678"))),
            ChannelStatus::Succeed
        );
        assert_eq!(
            finish::outcome("r", &kari, identity(Some("4798765432"))),
            ChannelStatus::Unauthorized
        );
        assert_eq!(
            finish::outcome("r", &kari, identity(None)),
            ChannelStatus::Unauthorized
        );
    }

    #[test]
    fn endings_map_to_keycloak_statuses() {
        let kari: Msisdn = "4712345678".parse().unwrap();
        assert_eq!(
            finish::outcome("r", &kari, LoginEnd::Declined),
            ChannelStatus::Unauthorized
        );
        assert_eq!(
            finish::outcome(
                "r",
                &kari,
                LoginEnd::Ineligible(Arc::new(Error::InvalidUser))
            ),
            ChannelStatus::Unauthorized
        );
        assert_eq!(
            finish::outcome("r", &kari, LoginEnd::Expired),
            ChannelStatus::Cancelled
        );
        assert_eq!(
            finish::outcome("r", &kari, LoginEnd::Cancelled),
            ChannelStatus::Cancelled
        );
        assert_eq!(
            finish::outcome("r", &kari, LoginEnd::Failed(Arc::new(Error::InvalidClient))),
            ChannelStatus::Cancelled
        );
    }

    #[test]
    fn issuer_must_be_a_realm_over_https_or_loopback() {
        assert!(KeycloakChannelConfig::new("https://id.example/realms/x").is_ok());
        assert!(KeycloakChannelConfig::new("http://127.0.0.1:8080/realms/x").is_ok());
        assert!(KeycloakChannelConfig::new("http://id.example/realms/x").is_err());
        assert!(KeycloakChannelConfig::new("https://id.example/").is_err());
        assert!(KeycloakChannelConfig::new("not a url").is_err());
    }

    #[test]
    fn logs_see_masked_usernames() {
        assert_eq!(masked("4712345678"), "47******78");
        assert_eq!(masked("abc"), "***");
    }

    #[test]
    fn bearer_header_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_of(&h), None);
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_of(&h), None);
        h.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer_of(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer_of(&h), None);
    }
}
