//! Configuration of a simulator instance.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::SimClient;
use crate::error::SimError;
use crate::users::{UserRecord, UsersFile};

/// How a simulated customer reacts to new login requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Policy {
    /// Requests wait until someone acts on the phone page or through the control API.
    #[default]
    Manual,
    /// Every new request is approved `after` this delay (consent included).
    AutoApprove {
        /// Delay between the start call and the approval.
        after: Duration,
    },
    /// Every new request is denied `after` this delay.
    AutoDeny {
        /// Delay between the start call and the denial.
        after: Duration,
    },
}

/// How the simulator reports `invalid_user` and `old_app` on the start call.
///
/// Vipps has been seen to answer both ways; clients must read both fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorStyle {
    /// `{"error": "invalid_request", "error_code": "invalid_user", ...}` (default).
    #[default]
    ErrorCode,
    /// `{"error": "invalid_user", ...}`.
    Error,
}

/// The JWS algorithm the simulator signs ID tokens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit key).
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

/// Configuration of a [`Simulator`](crate::Simulator), built with chained methods.
///
/// Defaults match Vipps: polling interval 5 s, request expiry 600 s, access tokens
/// valid 600 s; `slow_down` adds 5 s. Tests shorten them:
///
/// ```
/// use std::time::Duration;
/// use vipps_login_sim::SimConfig;
/// let config = SimConfig::default()
///     .interval(Duration::from_millis(100))
///     .slow_down_step(Duration::from_millis(100))
///     .expires_in(Duration::from_secs(5));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SimConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) public_url: Option<Url>,
    pub(crate) interval: Duration,
    pub(crate) slow_down_step: Duration,
    pub(crate) poll_tolerance: Option<Duration>,
    pub(crate) expires_in: Duration,
    pub(crate) access_token_ttl: Duration,
    pub(crate) id_token_ttl: Duration,
    pub(crate) code_ttl: Duration,
    pub(crate) retention: Duration,
    pub(crate) max_pending_per_user: usize,
    pub(crate) auto_users: bool,
    pub(crate) builtin_users: bool,
    pub(crate) users: Vec<UserRecord>,
    pub(crate) clients: Vec<SimClient>,
    pub(crate) policy: Policy,
    pub(crate) error_style: ErrorStyle,
    pub(crate) poll_alg: SigningAlg,
    pub(crate) redirect_alg: SigningAlg,
    pub(crate) camel_case_auth_req_id: bool,
    pub(crate) sub_seed: String,
    pub(crate) webhook: Option<(Url, String)>,
    pub(crate) consent_revoked_url: Option<Url>,
    pub(crate) purge_every: Duration,
    pub(crate) as_documented: bool,
    pub(crate) webhook_delay: Duration,
    pub(crate) webhook_redelivery_delay: Option<Duration>,
}

/// The name of the environment variable that makes [`SimConfig::default`] start in the
/// "as documented" mode (`1` or `true`): the whole suite of flow tests of the project's
/// crates runs once against each mode without changing a test.
pub const AS_DOCUMENTED_ENV: &str = "VIPPS_SIM_AS_DOCUMENTED";

fn as_documented_from_env() -> bool {
    std::env::var(AS_DOCUMENTED_ENV)
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
        .unwrap_or(false)
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            interval: Duration::from_secs(5),
            slow_down_step: Duration::from_secs(5),
            poll_tolerance: None,
            expires_in: Duration::from_secs(600),
            access_token_ttl: Duration::from_secs(600),
            id_token_ttl: Duration::from_secs(3600),
            code_ttl: Duration::from_secs(300),
            retention: Duration::from_secs(300),
            max_pending_per_user: 3,
            auto_users: false,
            builtin_users: true,
            users: Vec::new(),
            clients: vec![SimClient::demo()],
            policy: Policy::Manual,
            error_style: ErrorStyle::ErrorCode,
            poll_alg: SigningAlg::RS256,
            redirect_alg: SigningAlg::ES256,
            camel_case_auth_req_id: false,
            sub_seed: "vipps-login-sim".to_owned(),
            webhook: None,
            consent_revoked_url: None,
            purge_every: Duration::from_secs(1),
            as_documented: as_documented_from_env(),
            webhook_delay: Duration::from_millis(300),
            webhook_redelivery_delay: None,
        }
    }
}

impl SimConfig {
    /// The address to bind (default `127.0.0.1:0`, an ephemeral port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The base URL the simulator announces (issuer, endpoints, phone links) instead of
    /// `http://{bound address}/`, e.g. when it runs behind a proxy or in a container.
    pub fn public_url(mut self, url: Url) -> Self {
        self.public_url = Some(url);
        self
    }

    /// The polling `interval` the start call returns (default 5 s). Sub-second values are
    /// returned as a fractional number of seconds, e.g. `0.1`.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How much a `slow_down` answer adds to one request's interval (default 5 s).
    pub fn slow_down_step(mut self, step: Duration) -> Self {
        self.slow_down_step = step;
        self
    }

    /// How much earlier than the interval a poll may come without `slow_down`
    /// (default: a tenth of the interval, at least 50 ms, so that network jitter does not
    /// trigger it).
    pub fn poll_tolerance(mut self, tolerance: Duration) -> Self {
        self.poll_tolerance = Some(tolerance);
        self
    }

    /// The default lifetime of a login request, `expires_in` (default 600 s).
    /// A `requested_expiry` in the start call overrides it per request.
    pub fn expires_in(mut self, expires_in: Duration) -> Self {
        self.expires_in = expires_in;
        self
    }

    /// Lifetime of access tokens (default 600 s).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl;
        self
    }

    /// Lifetime of ID tokens, `exp - iat` (default 3600 s). In
    /// [as-documented mode](SimConfig::as_documented) ID tokens always live one hour.
    pub fn id_token_ttl(mut self, ttl: Duration) -> Self {
        self.id_token_ttl = ttl;
        self
    }

    /// Lifetime of authorization codes of the redirect variant (default 300 s).
    pub fn code_ttl(mut self, ttl: Duration) -> Self {
        self.code_ttl = ttl;
        self
    }

    /// How long finished or expired requests stay answerable (`expired_token`,
    /// `invalid_grant` for reuse) before they are purged (default 300 s).
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// How many pending logins one phone number may have before the start call answers
    /// `429 Too Many Requests` with `Retry-After` (default 3).
    pub fn max_pending_per_user(mut self, max: usize) -> Self {
        self.max_pending_per_user = max;
        self
    }

    /// Whether every well-formed phone number not in the directory is a Vipps user with
    /// a generated profile (for load tests). Default `false`: such numbers are `invalid_user`.
    pub fn auto_users(mut self, on: bool) -> Self {
        self.auto_users = on;
        self
    }

    /// Whether the built-in demo users exist (default `true`).
    pub fn builtin_users(mut self, on: bool) -> Self {
        self.builtin_users = on;
        self
    }

    /// Adds a user to the directory (replaces a built-in user with the same number).
    pub fn user(mut self, user: UserRecord) -> Self {
        self.users.push(user);
        self
    }

    /// Adds the users and clients of a TOML or JSON users file (JSON when the name ends
    /// in `.json`). See the crate documentation for the format.
    pub fn users_file(mut self, path: impl AsRef<Path>) -> Result<Self, SimError> {
        let file = UsersFile::load(path.as_ref())?;
        self.users.extend(file.users);
        for client in file.clients {
            self = self.client(client);
        }
        Ok(self)
    }

    /// Registers a client (replaces one with the same `client_id`, also `demo-client`).
    pub fn client(mut self, client: SimClient) -> Self {
        self.clients.retain(|c| c.client_id != client.client_id);
        self.clients.push(client);
        self
    }

    /// The initial [`Policy`] (default [`Policy::Manual`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// How `invalid_user` / `old_app` are reported (default [`ErrorStyle::ErrorCode`]).
    pub fn error_style(mut self, style: ErrorStyle) -> Self {
        self.error_style = style;
        self
    }

    /// ID token algorithm of the polling variant (default RS256).
    pub fn poll_signing_alg(mut self, alg: SigningAlg) -> Self {
        self.poll_alg = alg;
        self
    }

    /// ID token algorithm of the redirect variant (default ES256).
    pub fn redirect_signing_alg(mut self, alg: SigningAlg) -> Self {
        self.redirect_alg = alg;
        self
    }

    /// Spell the redirect variant's claim `authReqId` instead of `auth_req_id`, as one of
    /// Vipps' encoded examples did (default `false`).
    pub fn camel_case_auth_req_id(mut self, on: bool) -> Self {
        self.camel_case_auth_req_id = on;
        self
    }

    /// Seed from which `sub` values are derived; the same seed gives the same `sub` for
    /// the same client and user across restarts (default `"vipps-login-sim"`).
    pub fn sub_seed(mut self, seed: impl Into<String>) -> Self {
        self.sub_seed = seed.into();
        self
    }

    /// Sends a signed `login.merchant-initiated.ping.v1` webhook to `url` on every
    /// approval of a polling-variant login.
    pub fn webhook(mut self, url: Url, secret: impl Into<String>) -> Self {
        self.webhook = Some((url, secret.into()));
        self
    }

    /// Where consent-revoked notifications are POSTed.
    pub fn consent_revoked_url(mut self, url: Url) -> Self {
        self.consent_revoked_url = Some(url);
        self
    }

    /// Plays Vipps strictly **as documented** where Vipps' documents leave a behaviour
    /// open or describe one the default mode is gentler about (default `false`: the
    /// default mode, unchanged). A client must work against both modes.
    ///
    /// | | default mode | as-documented mode |
    /// |---|---|---|
    /// | `nonce` sent in the start call | comes back in the ID token | never in the ID token (CIBA defines no `nonce`; the one decoded CIBA ID token Vipps shows has none) |
    /// | `state` sent in the start call | comes back on the phone's redirect | the phone lands on `{redirect_uri}?code=…` only |
    /// | CIBA poll of an approved continue-in-browser login | `authorization_pending`; only the code exchange yields tokens | the first token request of the login, poll **or** code exchange, gets the tokens; every later one `invalid_grant` (the token endpoint answers once per authentication) |
    /// | `429` (too many pending logins, an injected `429`) | OAuth JSON error, `Retry-After` | plain-text body `Too Many Requests`, `content-type: text/plain`, as from Vipps' API gateway; `Retry-After` kept |
    /// | ID token lifetime | [`id_token_ttl`](SimConfig::id_token_ttl) (default 1 hour) | always 1 hour, `exp = iat + 3600` (Vipps, August 2025) |
    /// | `email`, `email_verified` in the ID token | only in userinfo | also in the ID token when the `email` scope was granted and the user has an e-mail (Vipps, May 2025) |
    /// | webhook ping | sent once, at approval | sent late ([`webhook_delay`](SimConfig::webhook_delay)) and a second time ([`webhook_redelivery_delay`](SimConfig::webhook_redelivery_delay)): Vipps times a delivery out after 10 s and retries for up to 7 days |
    ///
    /// Both modes accept the scopes `gender` and `customFlow` and let a customer change
    /// phone number keeping the `sub` ([`SimHandle::change_number`](crate::SimHandle::change_number)).
    ///
    /// Vipps' September 2025 change "added user data to the ID token" names no claims, so
    /// the as-documented ID token carries no profile claims beyond `email` and
    /// `email_verified`: a client must keep reading them from userinfo.
    pub fn as_documented(mut self, on: bool) -> Self {
        self.as_documented = on;
        self
    }

    /// Whether this configuration plays Vipps "as documented".
    #[must_use]
    pub fn is_as_documented(&self) -> bool {
        self.as_documented
    }

    /// As-documented mode only: how long after the approval the first webhook ping is
    /// sent (default 300 ms). The default mode sends it at once.
    pub fn webhook_delay(mut self, delay: Duration) -> Self {
        self.webhook_delay = delay;
        self
    }

    /// As-documented mode only: how long after the first webhook ping the same ping is
    /// delivered again (default: twice [`webhook_delay`](SimConfig::webhook_delay)). The
    /// default mode delivers each ping once.
    pub fn webhook_redelivery_delay(mut self, delay: Duration) -> Self {
        self.webhook_redelivery_delay = Some(delay);
        self
    }

    /// When webhook pings go out, as offsets from the approval, each after the one
    /// before: at once in the default mode; late and twice in as-documented mode.
    pub(crate) fn webhook_schedule(&self) -> Vec<Duration> {
        if self.as_documented {
            vec![
                self.webhook_delay,
                self.webhook_redelivery_delay
                    .unwrap_or(self.webhook_delay * 2),
            ]
        } else {
            vec![Duration::ZERO]
        }
    }

    /// The lifetime of ID tokens: one hour in as-documented mode.
    pub(crate) fn effective_id_token_ttl(&self) -> Duration {
        if self.as_documented {
            Duration::from_secs(3600)
        } else {
            self.id_token_ttl
        }
    }

    pub(crate) fn effective_tolerance(&self, interval: Duration) -> Duration {
        self.poll_tolerance
            .unwrap_or_else(|| (interval / 10).max(Duration::from_millis(50)))
    }
}
