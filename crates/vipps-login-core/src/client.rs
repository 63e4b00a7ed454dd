//! [`VippsClient`]: start logins, follow them, exchange codes, verify, fetch userinfo.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::Instrument as _;

use crate::config::Config;
use crate::http::{Http, Response, SendError, retry_after};
use crate::metadata::Metadata;
use crate::metrics::{Metrics, PollerStats};
use crate::poller::{self, Command, Kind};
use crate::verify::{VerifiedIdToken, VerifyParams, check_nonce};
use crate::{
    Error, Flow, Identity, LoginId, LoginRequest, LoginStatus, MemoryStore, Msisdn, StartedLogin,
    Store, TokenError, UserInfo,
};

pub(crate) const CIBA_GRANT: &str = "urn:openid:params:grant-type:ciba";
pub(crate) const REDIRECT_GRANT: &str = "urn:vipps:params:grant-type:ciba-redirect";

/// The Vipps merchant-initiated login client. Cheap to clone (an `Arc` inside).
///
/// One background task (started with the first login, stopped when the last clone is
/// dropped) polls every pending login at its own pace; callers [`wait`](Self::wait) or
/// [`watch`](Self::watch) instead of polling themselves.
///
/// ```no_run
/// use std::time::Duration;
/// use vipps_login_core::{BindingMessage, Config, LoginHint, LoginRequest, VippsClient};
/// # async fn demo() -> Result<(), vipps_login_core::Error> {
/// let client = VippsClient::new(Config::from_env()?)?;
/// let code = BindingMessage::generate();
/// let started = client
///     .start(
///         LoginRequest::new(LoginHint::Msisdn("+47 123 45 678".parse()?))
///             .scopes("name phoneNumber".parse()?)
///             .binding_message(code.clone())
///             .requested_expiry(Duration::from_secs(120)),
///     )
///     .await?;
/// println!("Ask the customer to confirm {code} in the Vipps app");
/// let identity = client.wait(&started.id).await?;
/// println!("Hello {}", identity.userinfo.name.as_deref().unwrap_or("customer"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct VippsClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for VippsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VippsClient")
            .field("issuer", &self.inner.config.issuer.as_str())
            .field("client_id", &self.inner.config.client_id)
            .finish_non_exhaustive()
    }
}

/// A login this instance follows. The watch channel is made on the first `watch`/`wait`,
/// so logins nobody waits on in-process (e.g. read through `status`) stay small.
struct Live {
    tx: Option<watch::Sender<LoginStatus>>,
    browser: bool,
    finishing: bool,
    /// Finish-in-app logins: the key in `LiveMap::by_auth_req_id`.
    auth_req_digest: Option<[u8; 32]>,
}

/// The logins this instance follows, and (finish-in-app only) their `auth_req_id`s, so
/// that a webhook ping finds its login without a store entry per login. Pings wake this
/// instance's poller, so an in-process index is all they need; the browser variant keeps
/// its index in the [`Store`] because the browser may reach any instance.
#[derive(Default)]
struct LiveMap {
    logins: HashMap<LoginId, Live>,
    by_auth_req_id: HashMap<[u8; 32], LoginId>,
}

impl Live {
    fn current(&self) -> LoginStatus {
        match &self.tx {
            Some(tx) => tx.borrow().clone(),
            None if self.browser => LoginStatus::AwaitingBrowser,
            None => LoginStatus::Pending,
        }
    }

    fn subscribe(&mut self) -> watch::Receiver<LoginStatus> {
        let initial = self.current();
        self.tx
            .get_or_insert_with(|| watch::channel(initial).0)
            .subscribe()
    }
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) http: Http,
    pub(crate) meta: Metadata,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) verify: VerifyParams,
    live: Mutex<LiveMap>,
    poller: OnceLock<mpsc::UnboundedSender<Command>>,
    pub(crate) poll_permits: Arc<Semaphore>,
    pub(crate) metrics: Metrics,
    user_exists_cache: moka::future::Cache<String, bool>,
}

/// A login as kept in the [`Store`] (serialized as JSON). No `Debug`: it holds the
/// `auth_req_id`, the nonce and, once approved, personal data.
#[derive(Serialize, Deserialize)]
pub(crate) struct Record {
    pub auth_req_id: String,
    pub nonce: String,
    pub browser: bool,
    /// Unix milliseconds.
    pub expires_at: u64,
    pub interval_ms: u64,
    pub status: StoredStatus,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "s", rename_all = "snake_case")]
pub(crate) enum StoredStatus {
    Pending,
    AwaitingBrowser,
    Approved { identity: Box<Identity> },
    Denied,
    Expired,
    Cancelled,
    Failed { error: Error },
}

impl StoredStatus {
    pub(crate) fn is_final(&self) -> bool {
        !matches!(self, StoredStatus::Pending | StoredStatus::AwaitingBrowser)
    }

    pub(crate) fn to_status(&self) -> LoginStatus {
        match self {
            StoredStatus::Pending => LoginStatus::Pending,
            StoredStatus::AwaitingBrowser => LoginStatus::AwaitingBrowser,
            StoredStatus::Approved { identity } => {
                LoginStatus::Approved(Arc::new((**identity).clone()))
            }
            StoredStatus::Denied => LoginStatus::Denied,
            StoredStatus::Expired => LoginStatus::Expired,
            StoredStatus::Cancelled => LoginStatus::Cancelled,
            StoredStatus::Failed { error } => LoginStatus::Failed(Arc::new(error.clone())),
        }
    }

    fn from_status(status: &LoginStatus) -> StoredStatus {
        match status {
            LoginStatus::Pending => StoredStatus::Pending,
            LoginStatus::AwaitingBrowser => StoredStatus::AwaitingBrowser,
            LoginStatus::Approved(i) => StoredStatus::Approved {
                identity: Box::new((**i).clone()),
            },
            LoginStatus::Denied => StoredStatus::Denied,
            LoginStatus::Expired => StoredStatus::Expired,
            LoginStatus::Cancelled => StoredStatus::Cancelled,
            LoginStatus::Failed(e) => StoredStatus::Failed {
                error: (**e).clone(),
            },
        }
    }
}

fn login_key(id: &LoginId) -> String {
    format!("vipps-login:login:{id}")
}

fn areq_digest(auth_req_id: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, auth_req_id.as_bytes()).as_ref());
    out
}

/// The upstream id is not used as a key as is: a hash keeps keys short and uniform.
fn areq_key(auth_req_id: &str) -> String {
    format!(
        "vipps-login:areq:{}",
        URL_SAFE_NO_PAD.encode(areq_digest(auth_req_id))
    )
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Deserialize)]
struct StartResponse {
    auth_req_id: String,
    expires_in: f64,
    #[serde(default)]
    interval: Option<f64>,
}

/// Token endpoint success. No `Debug`: it holds tokens.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    access_token: String,
    id_token: String,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub interval: Option<f64>,
}

impl ErrorBody {
    pub(crate) fn parse(body: &[u8]) -> Option<ErrorBody> {
        let b: ErrorBody = serde_json::from_slice(body).ok()?;
        (b.error.is_some() || b.error_code.is_some()).then_some(b)
    }

    /// `error_code` when present (Vipps puts the precise reason there), else `error`.
    pub(crate) fn code(&self) -> &str {
        self.error_code
            .as_deref()
            .filter(|c| !c.is_empty())
            .or(self.error.as_deref())
            .unwrap_or("")
    }

    fn description(&self) -> String {
        sanitize(self.error_description.as_deref().unwrap_or(""))
    }
}

/// Upstream text can end up in logs: cut it short and mask long digit runs (phone numbers,
/// national identity numbers).
pub(crate) fn sanitize(text: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 6 {
            out.push_str(&crate::types::mask_digits(digits, 2));
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars().take(200) {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            if !c.is_control() {
                out.push(c);
            }
        }
    }
    flush(&mut digits, &mut out);
    let trimmed = out.trim().trim_end_matches('.').to_owned();
    if trimmed.is_empty() {
        "no details given".to_owned()
    } else {
        trimmed
    }
}

/// Where an error answer came from, for the few codes whose meaning depends on it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Start,
    Poll,
    Exchange,
    UserExists,
}

/// Maps a non-success answer to the precise error.
pub(crate) fn error_from_response(resp: &Response, stage: Stage, now: SystemTime) -> Error {
    let status = resp.status;
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Error::RateLimited {
            retry_after: retry_after(&resp.headers, now),
        };
    }
    if status.is_server_error() {
        return Error::Upstream {
            status: status.as_u16(),
        };
    }
    let Some(body) = ErrorBody::parse(&resp.body) else {
        return if status == StatusCode::UNAUTHORIZED {
            Error::InvalidClient
        } else {
            Error::Protocol(format!("HTTP {} without a readable error", status.as_u16()))
        };
    };
    match body.code() {
        "invalid_user" | "unknown_user_id" => Error::InvalidUser,
        "old_app" => Error::OldApp,
        "invalid_client" => Error::InvalidClient,
        "unauthorized_client" => Error::UnauthorizedClient,
        "invalid_scope" => Error::InvalidScope(body.description()),
        "invalid_binding_message" => Error::InvalidBindingMessage(body.description()),
        "access_denied" => Error::Declined,
        "expired_token" => Error::Expired,
        "slow_down" => Error::RateLimited {
            retry_after: retry_after(&resp.headers, now),
        },
        "invalid_grant" if stage == Stage::Exchange => Error::InvalidCode,
        "invalid_grant" => Error::Protocol("Vipps no longer knows this login".into()),
        "invalid_request" => Error::InvalidRequest(body.description()),
        other => Error::Protocol(format!("HTTP {} {}", status.as_u16(), sanitize(other))),
    }
}

/// Result of a claim on a live login (in-process guard against concurrent finishers).
#[derive(PartialEq, Eq)]
enum Claim {
    Claimed,
    NotLive,
    Busy,
}

impl VippsClient {
    /// A client keeping logins in a fresh [`MemoryStore`].
    pub fn new(config: Config) -> Result<VippsClient, Error> {
        VippsClient::with_store(config, Arc::new(MemoryStore::new()))
    }

    /// A client keeping logins in `store` (e.g. one shared by several instances).
    pub fn with_store(config: Config, store: Arc<dyn Store>) -> Result<VippsClient, Error> {
        let http = Http::new(&config)?;
        let meta = Metadata::new(&config, http.clone())?;
        let verify = VerifyParams::new(
            config.issuer.as_str().to_owned(),
            config.client_id.clone(),
            config.clock_skew,
            config.clock.clone(),
        );
        let user_exists_cache = moka::future::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(config.user_exists_ttl.max(Duration::from_millis(1)))
            .build();
        Ok(VippsClient {
            inner: Arc::new(Inner {
                poll_permits: Arc::new(Semaphore::new(config.max_concurrent_polls)),
                config,
                http,
                meta,
                store,
                verify,
                live: Mutex::new(LiveMap::default()),
                poller: OnceLock::new(),
                metrics: Metrics::new(),
                user_exists_cache,
            }),
        })
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The store in use.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Counters and poll-lateness figures of the shared poller.
    #[must_use]
    pub fn poller_stats(&self) -> PollerStats {
        self.inner.metrics.snapshot()
    }

    /// Forgets the lateness samples gathered so far (for measurements).
    #[doc(hidden)]
    pub fn reset_poller_stats(&self) {
        self.inner.metrics.lateness.reset();
    }

    /// Sends the backchannel authentication request: Vipps pushes the login to the
    /// customer's app. Never retried (a repeat would push twice).
    ///
    /// Everything is validated before anything is sent. A `nonce` is always generated and
    /// checked later against the ID token.
    pub async fn start(&self, request: LoginRequest) -> Result<StartedLogin, Error> {
        let inner = &self.inner;
        request.validate(inner.config.allow_http_loopback)?;
        let endpoints = inner.meta.endpoints().await?;
        let nonce = crate::types::random_token();
        let scope = request.scopes.to_string();
        let hint = request.hint.to_wire();
        let expiry = request.requested_expiry.map(|d| d.as_secs().to_string());
        let mut form: Vec<(&str, &str)> =
            vec![("scope", &scope), ("login_hint", &hint), ("nonce", &nonce)];
        if let Some(b) = &request.binding_message {
            form.push(("binding_message", b.as_str()));
        }
        if let Some(e) = &expiry {
            form.push(("requested_expiry", e));
        }
        if let Some(s) = &request.state {
            form.push(("state", s));
        }
        let browser = match &request.flow {
            Flow::FinishInApp => false,
            Flow::ContinueInBrowser { redirect_uri } => {
                form.push(("requested_flow", "login_to_webpage"));
                form.push(("redirect_uri", redirect_uri.as_str()));
                true
            }
        };
        let masked = request.hint.masked();
        let resp = inner
            .http
            .post_form_authenticated(&endpoints.backchannel, &form)
            .await
            .map_err(SendError::into_error);
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(hint = %masked, error = %e.code(), "login start failed");
                return Err(e);
            }
        };
        if !resp.status.is_success() {
            let e = error_from_response(&resp, Stage::Start, inner.config.clock.now());
            tracing::info!(hint = %masked, status = resp.status.as_u16(), error = %e.code(), "login start refused");
            return Err(e);
        }
        let started: StartResponse = serde_json::from_slice(&resp.body)
            .map_err(|_| Error::Protocol("the start answer is not understood".into()))?;
        if started.auth_req_id.is_empty() || started.auth_req_id.len() > 1024 {
            return Err(Error::Protocol(
                "the start answer has no usable auth_req_id".into(),
            ));
        }
        let expires_in = secs(started.expires_in)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Error::Protocol("the start answer has an invalid expires_in".into()))?;
        let interval = match started.interval {
            None => Duration::from_secs(5),
            Some(i) => secs(i).ok_or_else(|| {
                Error::Protocol("the start answer has an invalid interval".into())
            })?,
        }
        .max(Duration::from_millis(10));

        let id = LoginId::generate();
        let expires_at = inner.config.clock.now() + expires_in;
        let deadline = tokio::time::Instant::now() + expires_in;
        let status = if browser {
            StoredStatus::AwaitingBrowser
        } else {
            StoredStatus::Pending
        };
        let record = Record {
            auth_req_id: started.auth_req_id,
            nonce,
            browser,
            expires_at: unix_ms(expires_at),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            status,
        };
        let ttl = expires_in + inner.config.result_ttl;
        inner.save(&id, &record, ttl).await?;
        if browser {
            inner
                .store
                .set(
                    &areq_key(&record.auth_req_id),
                    id.as_str().as_bytes().to_vec(),
                    ttl,
                )
                .await?;
        }
        {
            let digest = (!browser).then(|| areq_digest(&record.auth_req_id));
            let mut live = lock(&inner.live);
            if let Some(d) = digest {
                live.by_auth_req_id.insert(d, id.clone());
            }
            live.logins.insert(
                id.clone(),
                Live {
                    tx: None,
                    browser,
                    finishing: false,
                    auth_req_digest: digest,
                },
            );
        }
        inner.send(Command::Add {
            id: id.clone(),
            interval,
            deadline,
            kind: if browser { Kind::Browser } else { Kind::Poll },
        });
        tracing::info!(login_id = %id, hint = %masked, browser, expires_in = expires_in.as_secs(), "login started");
        Ok(StartedLogin {
            id,
            binding_message: request.binding_message,
            expires_at,
            interval,
        })
    }

    /// The current state of a login.
    ///
    /// Read from the [`Store`], so it is current even when another instance sharing the
    /// store completed the login.
    pub async fn status(&self, id: &LoginId) -> Result<LoginStatus, Error> {
        match self.inner.load(id).await? {
            Some(record) => Ok(record.status.to_status()),
            None => lock(&self.inner.live)
                .logins
                .get(id)
                .map(Live::current)
                .ok_or(Error::LoginNotFound),
        }
    }

    /// A receiver that sees every change of the login's state.
    ///
    /// For a login this instance does not follow (started elsewhere, or already finished)
    /// the receiver holds the stored state and sees no further change.
    pub async fn watch(&self, id: &LoginId) -> Result<watch::Receiver<LoginStatus>, Error> {
        if let Some(live) = lock(&self.inner.live).logins.get_mut(id) {
            return Ok(live.subscribe());
        }
        let record = self.inner.load(id).await?.ok_or(Error::LoginNotFound)?;
        let (_tx, rx) = watch::channel(record.status.to_status());
        Ok(rx)
    }

    /// Waits until the login is over: the identity, or why not
    /// ([`Error::Declined`], [`Error::Expired`], [`Error::Cancelled`], ...).
    pub async fn wait(&self, id: &LoginId) -> Result<Arc<Identity>, Error> {
        let mut rx = self.watch(id).await?;
        loop {
            if let Some(outcome) = rx.borrow_and_update().outcome() {
                return outcome;
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
        // Not followed here (another instance polls it): read the store until it is over.
        loop {
            let status = self.status(id).await?;
            if let Some(outcome) = status.outcome() {
                return outcome;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Cancels a login: it stops being polled and waiters get [`Error::Cancelled`].
    /// (Vipps has no cancel call; the push on the phone simply expires.)
    ///
    /// Cancelling a cancelled login is fine; cancelling a finished one is
    /// [`Error::AlreadyCompleted`].
    pub async fn cancel(&self, id: &LoginId) -> Result<(), Error> {
        let record = self.inner.load(id).await?.ok_or(Error::LoginNotFound)?;
        match record.status {
            StoredStatus::Cancelled => return Ok(()),
            s if s.is_final() => return Err(Error::AlreadyCompleted),
            _ => {}
        }
        self.inner.send(Command::Cancel { id: id.clone() });
        if self.inner.finish(id, LoginStatus::Cancelled).await {
            tracing::info!(login_id = %id, "login cancelled");
            Ok(())
        } else {
            match self.status(id).await? {
                LoginStatus::Cancelled => Ok(()),
                _ => Err(Error::AlreadyCompleted),
            }
        }
    }

    /// Variant 2: exchanges the `code` the phone's browser brought back, verifies the ID
    /// token (including that its `auth_req_id` belongs to a login started here and has not
    /// been used), fetches userinfo and completes that login. Never retried.
    pub async fn exchange_code(&self, code: &str) -> Result<(LoginId, Arc<Identity>), Error> {
        let inner = &self.inner;
        if code.is_empty() || code.len() > 2048 || !code.bytes().all(|b| (0x21..0x7f).contains(&b))
        {
            return Err(Error::InvalidCode);
        }
        let endpoints = inner.meta.endpoints().await?;
        let resp = inner
            .http
            .post_form_authenticated(
                &endpoints.token,
                &[("grant_type", REDIRECT_GRANT), ("code", code)],
            )
            .await
            .map_err(SendError::into_error)?;
        if !resp.status.is_success() {
            let e = error_from_response(&resp, Stage::Exchange, inner.config.clock.now());
            tracing::info!(status = resp.status.as_u16(), error = %e.code(), "code exchange refused");
            return Err(e);
        }
        let tokens = parse_tokens(&resp.body)?;
        let verified = inner.verify_id_token(&tokens.id_token).await?;
        let auth_req_id = verified
            .auth_req_id
            .as_deref()
            .ok_or(TokenError::AuthReqId)?;
        let key = areq_key(auth_req_id);
        let id = match inner.store.get(&key).await? {
            Some(bytes) => String::from_utf8(bytes)
                .ok()
                .and_then(|s| s.parse::<LoginId>().ok())
                .ok_or(TokenError::AuthReqId)?,
            None => {
                tracing::warn!("code exchange for a login not started here (or already used)");
                return Err(TokenError::AuthReqId.into());
            }
        };
        let span = tracing::info_span!("vipps_login", login_id = %id);
        async {
            let record = inner.load(&id).await?.ok_or(Error::LoginNotFound)?;
            if !record.browser {
                return Err(TokenError::AuthReqId.into());
            }
            if record.status.is_final() {
                return Err(Error::AlreadyCompleted);
            }
            if let Err(e) = check_nonce(&verified, &record.nonce) {
                let e = Error::from(e);
                inner
                    .finish(&id, LoginStatus::Failed(Arc::new(e.clone())))
                    .await;
                return Err(e);
            }
            // Single use: of concurrent exchanges for this login, exactly one gets past here.
            if inner.store.take(&key).await?.is_none() {
                return Err(Error::AlreadyCompleted);
            }
            let outcome = inner.fetch_identity(&tokens, verified).await;
            match outcome {
                Ok(identity) => {
                    let identity = Arc::new(identity);
                    if !inner
                        .finish(&id, LoginStatus::Approved(identity.clone()))
                        .await
                    {
                        // Cancelled (or expired) while the code was being exchanged.
                        return Err(match self.status(&id).await? {
                            LoginStatus::Cancelled => Error::Cancelled,
                            LoginStatus::Expired => Error::Expired,
                            _ => Error::AlreadyCompleted,
                        });
                    }
                    tracing::info!("login approved in the browser");
                    Ok((id.clone(), identity))
                }
                Err(e) => {
                    inner
                        .finish(&id, LoginStatus::Failed(Arc::new(e.clone())))
                        .await;
                    Err(e)
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Handles a `login.merchant-initiated.ping.v1` webhook: verifies its HMAC signature,
    /// body hash and date, then wakes that login for a poll right away (at the earliest one
    /// `interval` after its previous poll). The ping itself is never trusted as a result.
    ///
    /// `path_and_query` and `host` are those of the request as Vipps sent it (they are
    /// signed). Unsigned, wrongly signed or stale pings are [`Error::WebhookRejected`]; a
    /// ping for a login this instance does not follow (unknown, finished, or polled by
    /// another instance) is [`Error::LoginNotFound`]; answering it with 2xx is fine.
    pub async fn handle_webhook(
        &self,
        method: &Method,
        path_and_query: &str,
        host: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Error> {
        let inner = &self.inner;
        let secret = inner
            .config
            .webhook_secret
            .as_ref()
            .ok_or_else(|| Error::WebhookRejected("no webhook secret is configured".into()))?;
        crate::webhook::verify_signature(
            secret,
            inner.config.webhook_max_age,
            inner.config.clock.now(),
            method,
            path_and_query,
            host,
            headers,
            body,
        )
        .inspect_err(|e| tracing::warn!(error = %e, "webhook refused"))?;
        #[derive(Deserialize)]
        struct Ping {
            #[serde(alias = "authReqId")]
            auth_req_id: String,
        }
        let ping: Ping = serde_json::from_slice(body)
            .map_err(|_| Error::WebhookRejected("the body is not a login ping".into()))?;
        let id = lock(&inner.live)
            .by_auth_req_id
            .get(&areq_digest(&ping.auth_req_id))
            .cloned()
            .ok_or(Error::LoginNotFound)?;
        tracing::debug!(login_id = %id, "webhook ping: polling now");
        inner.send(Command::Wake { id });
        Ok(())
    }

    /// Whether `msisdn` can log in with Vipps (Vipps' user-exists pre-check).
    /// Answers are cached briefly.
    pub async fn user_exists(&self, msisdn: &Msisdn) -> Result<bool, Error> {
        let inner = &self.inner;
        if !inner.config.user_exists_ttl.is_zero()
            && let Some(hit) = inner.user_exists_cache.get(msisdn.as_str()).await
        {
            return Ok(hit);
        }
        let endpoints = inner.meta.endpoints().await?;
        let url = endpoints
            .user_exists
            .as_ref()
            .ok_or_else(|| Error::Protocol("the user-exists endpoint is unknown".into()))?;
        let hint = format!("urn:msisdn:{}", msisdn.as_str());
        let resp = inner
            .http
            .post_form_authenticated(url, &[("login_hint", &hint)])
            .await
            .map_err(SendError::into_error)?;
        if !resp.status.is_success() {
            return Err(error_from_response(
                &resp,
                Stage::UserExists,
                inner.config.clock.now(),
            ));
        }
        #[derive(Deserialize)]
        struct Exists {
            exists: bool,
        }
        let answer: Exists = serde_json::from_slice(&resp.body)
            .map_err(|_| Error::Protocol("the user-exists answer is not understood".into()))?;
        if !inner.config.user_exists_ttl.is_zero() {
            inner
                .user_exists_cache
                .insert(msisdn.as_str().to_owned(), answer.exists)
                .await;
        }
        tracing::debug!(hint = %msisdn.masked(), exists = answer.exists, "user-exists");
        Ok(answer.exists)
    }

    /// Verifies an ID token against the issuer's (cached) JWKS, with one rate-limited
    /// refetch on an unknown `kid`. Checks signature, algorithm, `iss`, `aud`, `exp`,
    /// `iat`, and `nonce` when given.
    pub async fn verify_id_token(
        &self,
        id_token: &str,
        expected_nonce: Option<&str>,
    ) -> Result<crate::VerifiedIdToken, Error> {
        let v = self.inner.verify_id_token(id_token).await?;
        if let Some(n) = expected_nonce {
            check_nonce(&v, n)?;
        }
        Ok(v)
    }
}

/// Seconds as a duration (finite, non-negative, at most a day).
fn secs(s: f64) -> Option<Duration> {
    (s.is_finite() && (0.0..=86_400.0).contains(&s)).then(|| Duration::from_secs_f64(s))
}

pub(crate) fn parse_tokens(body: &[u8]) -> Result<TokenResponse, Error> {
    let t: TokenResponse = serde_json::from_slice(body)
        .map_err(|_| Error::Protocol("the token answer is not understood".into()))?;
    if let Some(tt) = &t.token_type
        && !tt.eq_ignore_ascii_case("bearer")
    {
        return Err(Error::Protocol("the token type is not Bearer".into()));
    }
    if t.access_token.is_empty() || t.id_token.is_empty() {
        return Err(Error::Protocol("the token answer lacks a token".into()));
    }
    Ok(t)
}

impl Inner {
    pub(crate) fn send(self: &Arc<Self>, cmd: Command) {
        let tx = self
            .poller
            .get_or_init(|| poller::spawn(Arc::downgrade(self)));
        // Fails only when the poller is gone, i.e. the runtime shuts down.
        let _ = tx.send(cmd);
    }

    pub(crate) async fn load(&self, id: &LoginId) -> Result<Option<Record>, Error> {
        let Some(bytes) = self.store.get(&login_key(id)).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| Error::Store("a stored login record is unreadable".into()))
    }

    async fn save(&self, id: &LoginId, record: &Record, ttl: Duration) -> Result<(), Error> {
        let bytes = serde_json::to_vec(record)
            .map_err(|_| Error::Store("a login record could not be serialized".into()))?;
        self.store.set(&login_key(id), bytes, ttl).await?;
        Ok(())
    }

    fn claim(&self, id: &LoginId) -> Claim {
        match lock(&self.live).logins.get_mut(id) {
            None => Claim::NotLive,
            Some(l) if l.finishing => Claim::Busy,
            Some(l) => {
                l.finishing = true;
                Claim::Claimed
            }
        }
    }

    /// Moves a login to a final state (store, then waiters). Returns `false` when it was
    /// already final (then waiters here get the stored outcome) or another finisher in this
    /// process is at work.
    pub(crate) async fn finish(&self, id: &LoginId, status: LoginStatus) -> bool {
        if self.claim(id) == Claim::Busy {
            return false;
        }
        let (published, changed) = match self.load(id).await {
            Ok(Some(mut record)) if !record.status.is_final() => {
                record.status = StoredStatus::from_status(&status);
                if let Err(e) = self.save(id, &record, self.config.result_ttl).await {
                    tracing::error!(login_id = %id, error = %e, "could not store a login result");
                }
                if record.browser {
                    let _ = self.store.remove(&areq_key(&record.auth_req_id)).await;
                }
                (Some(status), true)
            }
            // Finished by another instance sharing the store: adopt its outcome.
            Ok(Some(record)) => (Some(record.status.to_status()), false),
            // Forgotten by the store: waiters fall back to `LoginNotFound`.
            Ok(None) => (None, false),
            Err(e) => {
                tracing::error!(login_id = %id, error = %e, "could not read a login record");
                (Some(status), true)
            }
        };
        self.release(id, published);
        changed
    }

    /// This instance stops following `id`; waiters get `outcome` when there is one.
    pub(crate) fn release(&self, id: &LoginId, outcome: Option<LoginStatus>) {
        let mut live = lock(&self.live);
        let Some(entry) = live.logins.remove(id) else {
            return;
        };
        if let Some(digest) = &entry.auth_req_digest {
            live.by_auth_req_id.remove(digest);
        }
        drop(live);
        if let Some(status) = outcome {
            match &status {
                LoginStatus::Failed(e) => {
                    tracing::warn!(login_id = %id, status = status.as_str(), error = %e.code(), "login finished");
                }
                _ => tracing::info!(login_id = %id, status = status.as_str(), "login finished"),
            }
            if let Some(tx) = entry.tx {
                tx.send_replace(status);
            }
        }
    }

    /// Verifies signature and claims except `nonce`; refetches the JWKS once on an
    /// unknown `kid` (rate-limited).
    pub(crate) async fn verify_id_token(&self, token: &str) -> Result<VerifiedIdToken, Error> {
        let jwks = self.meta.jwks().await?;
        match self.verify.verify(token, &jwks) {
            Err(TokenError::UnknownKey) => match self.meta.jwks_after_unknown_kid(&jwks).await? {
                Some(fresh) => Ok(self.verify.verify(token, &fresh)?),
                None => Err(TokenError::UnknownKey.into()),
            },
            other => Ok(other?),
        }
    }

    /// Userinfo for the tokens, checked against the ID token's `sub`.
    pub(crate) async fn fetch_identity(
        &self,
        tokens: &TokenResponse,
        verified: VerifiedIdToken,
    ) -> Result<Identity, Error> {
        let endpoints = self.meta.endpoints().await?;
        let mut attempt = 0u32;
        let resp = loop {
            attempt += 1;
            let result = self
                .http
                .get(&endpoints.userinfo, Some(&tokens.access_token))
                .await;
            let retryable = match &result {
                Err(SendError::Connection(_)) => true,
                Err(SendError::TooLarge | SendError::Invalid(_)) => false,
                Ok(r) => r.status.is_server_error(),
            };
            if !retryable || attempt >= 3 {
                break result.map_err(SendError::into_error)?;
            }
            // GET userinfo is safe to repeat; the access token lives ~10 minutes.
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt * attempt))).await;
        };
        resp.require_success("userinfo")?;
        let userinfo: UserInfo = serde_json::from_slice(&resp.body)
            .map_err(|_| Error::Protocol("the userinfo answer is not understood".into()))?;
        if userinfo.sub != verified.sub {
            return Err(TokenError::SubjectMismatch.into());
        }
        Ok(Identity {
            sub: verified.sub,
            id_token_claims: verified.claims,
            userinfo,
        })
    }

    /// Completes a polled login from a token answer.
    pub(crate) async fn complete_poll(
        &self,
        tokens: &TokenResponse,
        nonce: &str,
    ) -> Result<Identity, Error> {
        let verified = self.verify_id_token(&tokens.id_token).await?;
        check_nonce(&verified, nonce)?;
        self.fetch_identity(tokens, verified).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_masks_numbers() {
        assert_eq!(
            sanitize("User 4712345678 unknown."),
            "User 47******78 unknown"
        );
        assert_eq!(sanitize(""), "no details given");
        assert_eq!(sanitize("code 12345"), "code 12345");
    }

    #[test]
    fn error_mapping_reads_error_code_first() {
        let resp = |status: u16, body: &str| Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: bytes::Bytes::from(body.to_owned()),
        };
        let now = SystemTime::now();
        let e = error_from_response(
            &resp(400, r#"{"error":"invalid_request","error_code":"old_app"}"#),
            Stage::Start,
            now,
        );
        assert_eq!(e, Error::OldApp);
        let e = error_from_response(
            &resp(400, r#"{"error":"unknown_user_id"}"#),
            Stage::Start,
            now,
        );
        assert_eq!(e, Error::InvalidUser);
        let e = error_from_response(&resp(401, "garbage"), Stage::Start, now);
        assert_eq!(e, Error::InvalidClient);
        let e = error_from_response(&resp(503, ""), Stage::Start, now);
        assert_eq!(e, Error::Upstream { status: 503 });
        let e = error_from_response(
            &resp(400, r#"{"error":"invalid_grant"}"#),
            Stage::Exchange,
            now,
        );
        assert_eq!(e, Error::InvalidCode);
    }
}
