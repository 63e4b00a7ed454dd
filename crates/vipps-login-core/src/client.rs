//! [`VippsClient`]: the login engine's front door. Start logins, follow them, redeem
//! their results once, complete the browser variant, take webhook pings.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lc_rs::hmac;
use http::{HeaderMap, Method};
use serde::Deserialize;
use tokio::sync::{Semaphore, broadcast, watch};
use tracing::Instrument as _;

use crate::clock::unix_ms;
use crate::commands::Command;
use crate::config::Config;
use crate::http::{Http, SendError};
use crate::instance::Inner;
use crate::login::engine::{Engine, LoginRecord, Message};
use crate::login::policy::{self, CoolDowns, RateLimits};
use crate::login::sealed::Sealer;
use crate::login::state::Event;
use crate::login::{LoginContext, LoginView, Transition, background, keys};
use crate::metadata::Metadata;
use crate::metrics::{Metrics, PollerStats};
use crate::poller;
use crate::store::admission::{Admission, Admitted};
use crate::verify::{VerifyParams, check_nonce};
use crate::wire::{Stage, error_from_response, parse_start};
use crate::{
    Error, Flow, Identity, LoginHint, LoginId, LoginRequest, LoginStatus, MemoryStore, Msisdn,
    StartedLogin, Store, TokenError,
};

/// The Vipps merchant-initiated login client and engine. Cheap to clone (`Arc`s inside).
///
/// Every login is one record in the [`Store`], moved only by conditional writes, so any
/// number of clients (instances) sharing one store share the logins: a login started on
/// one can be followed, cancelled and redeemed on any other. One background poller per
/// instance polls the logins it holds the lease for; when an instance dies, another takes
/// its logins over. Callers [`wait`](Self::wait) or [`watch`](Self::watch) instead of
/// polling.
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
    limits: Arc<RateLimits>,
}

impl std::fmt::Debug for VippsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VippsClient")
            .field("issuer", &self.inner.config.issuer.as_str())
            .field("client_id", &self.inner.config.client_id)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl VippsClient {
    /// A client keeping logins in a fresh [`MemoryStore`] (one process).
    pub fn new(config: Config) -> Result<VippsClient, Error> {
        let store = MemoryStore::with_clock(
            crate::store::memory::DEFAULT_MEMORY_STORE_CAPACITY,
            config.clock.clone(),
        );
        VippsClient::with_store(config, Arc::new(store))
    }

    /// A client keeping logins in `store`. Clients sharing one store (such as Redis, or
    /// clones of one [`MemoryStore`]) share logins, limits and polling.
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
        let derive = hmac::Key::new(hmac::HMAC_SHA256, config.client_secret.expose().as_bytes());
        let number_key = hmac::Key::new(
            hmac::HMAC_SHA256,
            hmac::sign(&derive, b"vipps-login number key").as_ref(),
        );
        let sealer = Sealer::new(config.client_secret.expose().as_bytes())?;
        let engine = Engine::new(store, config.clock.clone(), config.result_ttl, sealer);
        Ok(VippsClient {
            inner: Arc::new(Inner {
                poll_permits: Arc::new(Semaphore::new(config.max_concurrent_polls)),
                config,
                http,
                meta,
                verify,
                engine,
                poller: OnceLock::new(),
                spawn_poller: poller::spawn,
                background: OnceLock::new(),
                metrics: Metrics::new(),
                user_exists_cache,
                number_key,
            }),
            limits: Arc::new(RateLimits::none()),
        })
    }

    /// The same client (same engine, store and poller) applying `limits` to the logins it
    /// starts. A front end calls this once with its limits.
    pub fn with_limits(&self, limits: RateLimits) -> Result<VippsClient, Error> {
        limits.validate()?;
        Ok(VippsClient {
            inner: Arc::clone(&self.inner),
            limits: Arc::new(limits),
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
        &self.inner.engine.store
    }

    /// Counters and poll-lateness figures of this instance's poller.
    #[must_use]
    pub fn poller_stats(&self) -> PollerStats {
        self.inner.metrics.snapshot()
    }

    /// Forgets the lateness samples gathered so far (for measurements).
    #[cfg(feature = "test-util")]
    pub fn reset_poller_stats(&self) {
        self.inner.metrics.lateness.reset();
    }

    /// Starts this instance's background work now: its heartbeat, following the other
    /// instances, and taking over logins of instances that stopped. Happens by itself on
    /// the first call that needs it; call it at boot so that an instance that starts no
    /// logins still takes over those of a dead one. Needs a tokio runtime.
    pub fn start_background(&self) {
        let inner = &self.inner;
        inner.background.get_or_init(|| background::spawn(inner));
    }

    /// Every change of every login, on any instance sharing the store, from now on.
    #[must_use]
    pub fn transitions(&self) -> broadcast::Receiver<Transition> {
        self.start_background();
        self.inner.engine.subscribe()
    }

    /// Starts a login with no front-end context (see [`start_login`](Self::start_login)).
    pub async fn start(&self, request: LoginRequest) -> Result<StartedLogin, Error> {
        self.start_login(request, LoginContext::default()).await
    }

    /// Sends the backchannel authentication request: Vipps pushes the login to the
    /// customer's app. Never retried (a repeat would push twice).
    ///
    /// Everything is validated and the limits are checked before anything is sent. A
    /// `nonce` is always generated and checked later against the ID token; the browser
    /// variant always carries a `state` (the request's, or a random one) that the
    /// callback must bring back.
    pub async fn start_login(
        &self,
        request: LoginRequest,
        context: LoginContext,
    ) -> Result<StartedLogin, Error> {
        self.start_background();
        let inner = &self.inner;
        request.validate(inner.config.allow_http_loopback)?;
        let masked = request.hint.masked();
        let number_key = match &request.hint {
            LoginHint::Msisdn(m) => inner.number_key(m),
            LoginHint::CustomerToken(_) => String::new(),
        };
        let id = LoginId::generate();
        let now = inner.engine.now();
        let hold =
            request.requested_expiry.unwrap_or(Duration::from_secs(600)) + Duration::from_secs(30);
        if !number_key.is_empty() {
            self.admit(&number_key, context.client_key_value(), &id, hold, now)
                .await
                .inspect_err(|e| tracing::info!(hint = %masked, error = %e.code(), "login start refused by the limits"))?;
        }
        let result = self.send_start(&request, &id, &number_key, context).await;
        if result.is_err() && !number_key.is_empty() {
            let _ = inner.engine.release_number(&number_key, &id).await;
        }
        result
    }

    /// The limits for one start: cool-down, the number's one waiting login, then the
    /// windows (counted only for a start that may go ahead). One [`Store::admit`] step
    /// (one round trip on Redis); a mark held by another login, which may be stale, and
    /// a cool-down mark that has just run out take the step-by-step way.
    async fn admit(
        &self,
        number_key: &str,
        client_key: Option<&str>,
        id: &LoginId,
        hold: Duration,
        now: std::time::SystemTime,
    ) -> Result<(), Error> {
        let store = &*self.inner.engine.store;
        let limits = &*self.limits;
        let cool_key = keys::cool_down(number_key);
        let mark_key = keys::pending_number(number_key);
        let windows = policy::windows(limits, number_key, client_key);
        let counters: Vec<(&str, Duration, u64)> = windows
            .iter()
            .map(|(key, w)| (key.as_str(), w.period, u64::from(w.max)))
            .collect();
        let mut admission = Admission::new(&cool_key).counters(&counters);
        if limits.one_pending_per_number {
            admission = admission.reserve(&mark_key, id.as_str().as_bytes(), hold);
        }
        match store.admit(&admission).await? {
            Admitted::Yes => Ok(()),
            Admitted::OverLimit { retry_after, .. } => Err(policy::over_limit(retry_after)),
            Admitted::Refused(mark) => match policy::cool_down_refusal(&mark, now) {
                Some(refusal) => Err(refusal),
                None => {
                    self.admit_step_by_step(number_key, client_key, id, hold, now)
                        .await
                }
            },
            Admitted::Reserved(_) => {
                self.admit_step_by_step(number_key, client_key, id, hold, now)
                    .await
            }
        }
    }

    /// [`admit`](Self::admit) one check at a time, looking into a held mark (a login that
    /// ended without lifting it does not block the number).
    async fn admit_step_by_step(
        &self,
        number_key: &str,
        client_key: Option<&str>,
        id: &LoginId,
        hold: Duration,
        now: std::time::SystemTime,
    ) -> Result<(), Error> {
        let engine = &self.inner.engine;
        let limits = &*self.limits;
        policy::check_cool_down(&*engine.store, number_key, now).await?;
        if limits.one_pending_per_number {
            engine.reserve_number(number_key, id, hold).await?;
        }
        let counted = policy::count_starts(&*engine.store, limits, number_key, client_key).await;
        if counted.is_err() && limits.one_pending_per_number {
            engine.release_number(number_key, id).await?;
        }
        counted
    }

    async fn send_start(
        &self,
        request: &LoginRequest,
        id: &LoginId,
        number_key: &str,
        context: LoginContext,
    ) -> Result<StartedLogin, Error> {
        let inner = &self.inner;
        let endpoints = inner.meta.endpoints().await?;
        let nonce = crate::token::random_token();
        let scope = request.scopes.to_string();
        let hint = request.hint.to_wire();
        let expiry = request.requested_expiry.map(|d| d.as_secs().to_string());
        let browser = matches!(request.flow, Flow::ContinueInBrowser { .. });
        let state = match (&request.state, browser) {
            (Some(s), _) => Some(s.clone()),
            (None, true) => Some(crate::token::random_token()),
            (None, false) => None,
        };
        let mut form: Vec<(&str, &str)> =
            vec![("scope", &scope), ("login_hint", &hint), ("nonce", &nonce)];
        if let Some(b) = &request.binding_message {
            form.push(("binding_message", b.as_str()));
        }
        if let Some(e) = &expiry {
            form.push(("requested_expiry", e));
        }
        if let Some(s) = &state {
            form.push(("state", s));
        }
        if let Flow::ContinueInBrowser { redirect_uri } = &request.flow {
            form.push(("requested_flow", "login_to_webpage"));
            form.push(("redirect_uri", redirect_uri.as_str()));
        }
        let masked = request.hint.masked();
        let resp = inner
            .http
            .post_form_authenticated(&endpoints.backchannel, &form)
            .await
            .map_err(SendError::into_error)
            .inspect_err(
                |e| tracing::warn!(hint = %masked, error = %e.code(), "login start failed"),
            )?;
        if !resp.status.is_success() {
            let e = error_from_response(&resp, Stage::Start, inner.config.clock.now());
            tracing::info!(hint = %masked, status = resp.status.as_u16(), error = %e.code(), "login start refused");
            return Err(e);
        }
        let started = parse_start(&resp.body)?;
        let expires_at = inner.engine.now() + started.expires_in;
        let record = LoginRecord {
            version: 0,
            status: if browser {
                LoginStatus::AwaitingBrowser
            } else {
                LoginStatus::Pending
            },
            auth_req_id: started.auth_req_id,
            nonce,
            browser,
            expires_at: unix_ms(expires_at),
            interval_ms: u64::try_from(started.interval.as_millis()).unwrap_or(u64::MAX),
            poller: inner.engine.instance.clone(),
            number_key: number_key.to_owned(),
            cool_downs: CoolDowns::from(&*self.limits),
            binding_message: request
                .binding_message
                .as_ref()
                .map(|b| b.as_str().to_owned()),
            masked_hint: masked.clone(),
            context,
        };
        // The push is out: from here on the login must be findable, or it is lost.
        let store = &inner.engine.store;
        let ttl = started.expires_in + inner.config.result_ttl;
        let id_bytes = id.as_str().as_bytes().to_vec();
        inner.engine.insert(id, &record).await?;
        // Only a webhook ping looks a login up by its auth_req_id.
        if inner.config.webhook_secret.is_some() {
            store
                .set(&keys::auth_req(&record.auth_req_id), id_bytes.clone(), ttl)
                .await?;
        }
        if let Some(s) = &state
            && browser
        {
            store.set(&keys::browser_state(s), id_bytes, ttl).await?;
        }
        store
            .index_add(
                &keys::owned_by(&inner.engine.instance),
                id.as_str(),
                expires_at,
            )
            .await?;
        inner.schedule(id, &record);
        tracing::info!(login_id = %id, hint = %masked, browser, expires_in = started.expires_in.as_secs(), "login started");
        Ok(StartedLogin {
            id: id.clone(),
            binding_message: request.binding_message.clone(),
            expires_at,
            interval: started.interval,
        })
    }

    /// The current state of a login, as stored (so current on every instance).
    pub async fn status(&self, id: &LoginId) -> Result<LoginStatus, Error> {
        Ok(self.login(id).await?.status)
    }

    /// The login with its state and the context its front end stored.
    pub async fn login(&self, id: &LoginId) -> Result<LoginView, Error> {
        let loaded = self
            .inner
            .engine
            .load(id)
            .await?
            .ok_or(Error::LoginNotFound)?;
        Ok(loaded.record.view(id))
    }

    /// A receiver that sees every change of the login's state, wherever it happens.
    pub async fn watch(&self, id: &LoginId) -> Result<watch::Receiver<LoginStatus>, Error> {
        self.start_background();
        self.inner.engine.watch(id).await
    }

    /// Waits until the customer's part is over: the identity, or why not
    /// ([`Error::Declined`], [`Error::Expired`], [`Error::Cancelled`], ...).
    /// Waiting does not redeem the login.
    pub async fn wait(&self, id: &LoginId) -> Result<Arc<Identity>, Error> {
        loop {
            let mut rx = self.watch(id).await?;
            loop {
                if let Some(outcome) = rx.borrow_and_update().outcome() {
                    return outcome;
                }
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
    }

    /// Hands out the result of an approved (or exchanged) login exactly once, on any
    /// instance: of concurrent callers one gets the identity, the others
    /// [`Error::AlreadyCompleted`]. `owner` must be the [`LoginContext`] owner the login
    /// was started with ([`Error::LoginNotFound`] otherwise).
    pub async fn redeem(&self, id: &LoginId, owner: &str) -> Result<Arc<Identity>, Error> {
        let engine = &self.inner.engine;
        let loaded = engine.load(id).await?.ok_or(Error::LoginNotFound)?;
        if loaded.record.context.owner() != owner {
            return Err(Error::LoginNotFound);
        }
        let (before, _) = engine
            .transition_from(id, Event::Redeem, Some(loaded))
            .await?;
        match before.status {
            LoginStatus::Approved(identity) | LoginStatus::Exchanged(identity) => Ok(identity),
            other => Err(other.refusal()),
        }
    }

    /// Cancels a waiting login: it stops being polled and waiters get
    /// [`Error::Cancelled`]. (Vipps has no cancel call; the push on the phone expires.)
    ///
    /// Cancelling a cancelled login is fine; cancelling one that is decided already (for
    /// example approved a moment earlier on another instance) is [`Error::AlreadyCompleted`]
    /// and the login stays as it is.
    pub async fn cancel(&self, id: &LoginId) -> Result<(), Error> {
        match self.inner.engine.transition(id, Event::Cancel).await {
            Ok(_) => {
                self.inner.send(Command::Cancel { id: id.clone() });
                Ok(())
            }
            Err(Error::Cancelled) => Ok(()),
            Err(Error::Declined | Error::Expired) => Err(Error::AlreadyCompleted),
            Err(e) if matches!(e, Error::LoginNotFound | Error::Store(_)) => Err(e),
            Err(_) => Err(Error::AlreadyCompleted),
        }
    }

    /// Variant 2: completes the login the phone's browser came back for.
    ///
    /// The login is found by `state` first: a missing, forged or replayed `state` is
    /// [`Error::UnknownCallback`] and nothing is sent to Vipps, so it can neither spend nor
    /// spoil the genuine login. Then the `code` is exchanged (never retried), the ID token
    /// verified (its `auth_req_id` must be this login's) and userinfo fetched; the login
    /// becomes [`LoginStatus::Exchanged`], to be [redeemed](Self::redeem) once. A code
    /// Vipps does not accept leaves the login waiting for the genuine link.
    pub async fn complete_browser(
        &self,
        state: &str,
        code: &str,
    ) -> Result<(LoginView, Arc<Identity>), Error> {
        self.complete_browser_from(state, code, None).await
    }

    /// [`complete_browser`](Self::complete_browser) counted against the
    /// [callback limit](RateLimits::callbacks_per_client) of `client_key` (the phone
    /// browser's address, as the front end knows it): over it,
    /// [`Error::RateLimited`] before anything is read or sent.
    pub async fn complete_browser_from(
        &self,
        state: &str,
        code: &str,
        client_key: Option<&str>,
    ) -> Result<(LoginView, Arc<Identity>), Error> {
        let inner = &self.inner;
        policy::count_callback(&*inner.engine.store, &self.limits, client_key).await?;
        let printable = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| (0x21..0x7f).contains(&b))
        };
        if !printable(state, 256) {
            return Err(Error::UnknownCallback);
        }
        if !printable(code, 2048) {
            return Err(Error::InvalidCode);
        }
        let store = &inner.engine.store;
        let id = store
            .get(&keys::browser_state(state))
            .await?
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<LoginId>().ok())
            .ok_or(Error::UnknownCallback)?;
        let span = tracing::info_span!("vipps_login", login_id = %id);
        async {
            let loaded = inner.engine.load(&id).await?.ok_or(Error::UnknownCallback)?;
            let record = loaded.record;
            if !record.browser {
                return Err(Error::UnknownCallback);
            }
            if !matches!(record.status, LoginStatus::AwaitingBrowser) {
                return Err(record.status.refusal());
            }
            // One exchange at a time per login, on every instance.
            let claim = keys::exchanging(&id);
            if !store
                .insert_if_absent(&claim, vec![1], Duration::from_secs(60))
                .await?
            {
                return Err(Error::AlreadyCompleted);
            }
            let result = inner.exchange(code, &record).await;
            let _ = store.remove(&claim).await;
            let event = match result {
                Ok(identity) => Event::Exchange(Arc::new(identity)),
                // A code Vipps does not take, or one that belongs to another login, must not
                // spoil this login: the genuine link may still come.
                Err(
                    e @ (Error::InvalidCode
                    | Error::Transport(_)
                    | Error::Upstream { .. }
                    | Error::TokenVerification(TokenError::AuthReqId)),
                ) => {
                    tracing::info!(error = %e.code(), "code exchange failed; the login still waits");
                    return Err(e);
                }
                Err(e) => Event::Fail(Arc::new(e)),
            };
            let (_, after) = inner.engine.transition(&id, event).await?;
            match &after.status {
                LoginStatus::Exchanged(identity) => {
                    tracing::info!("login continued in the browser");
                    Ok((after.view(&id), Arc::clone(identity)))
                }
                other => Err(other.refusal()),
            }
        }
        .instrument(span)
        .await
    }

    /// Handles a `login.merchant-initiated.ping.v1` webhook: verifies its HMAC signature,
    /// body hash and date, then has that login polled right away (at the earliest one
    /// `interval` after its previous poll) by whichever instance polls it. The ping itself
    /// is never trusted as a result.
    ///
    /// `path_and_query` and `host` are those of the request as Vipps sent it (they are
    /// signed). Unsigned, wrongly signed or stale pings are [`Error::WebhookRejected`]; a
    /// ping for a login no instance follows (unknown, or finished) is
    /// [`Error::LoginNotFound`]; answering it with 2xx is fine.
    pub async fn handle_webhook(
        &self,
        method: &Method,
        path_and_query: &str,
        host: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Error> {
        self.start_background();
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
        let store = &inner.engine.store;
        let id = store
            .get(&keys::auth_req(&ping.auth_req_id))
            .await?
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<LoginId>().ok())
            .ok_or(Error::LoginNotFound)?;
        let waiting = inner
            .engine
            .load(&id)
            .await?
            .is_some_and(|l| l.record.status.is_waiting());
        if !waiting {
            return Err(Error::LoginNotFound);
        }
        tracing::debug!(login_id = %id, "webhook ping: polling now");
        inner.send(Command::Wake { id: id.clone() });
        let msg = serde_json::to_vec(&Message::Wake { id }).unwrap_or_default();
        store.publish(keys::EVENTS, msg).await?;
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
