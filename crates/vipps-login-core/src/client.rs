//! [`VippsClient`]: the login engine's front door. Start logins, follow them, redeem
//! their results once, complete the browser variant, take webhook pings.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method};
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

use crate::config::Config;
use crate::login::engine::Engine;
use crate::login::policy::RateLimits;
use crate::login::{LoginContext, LoginView, Redeemed, Transition};
use crate::metrics::PollerStats;
use crate::verify::check_nonce;
use crate::{
    Error, Identity, LoginId, LoginRequest, LoginStatus, MemoryStore, Msisdn, StartedLogin, Store,
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
    engine: Arc<Engine>,
    limits: Arc<RateLimits>,
    /// Vipps' user-exists answers, briefly (not part of any login).
    user_exists_cache: Arc<moka::future::Cache<String, bool>>,
}

impl std::fmt::Debug for VippsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VippsClient")
            .field("issuer", &self.engine.config.issuer.as_str())
            .field("client_id", &self.engine.config.client_id)
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
        let user_exists_cache = moka::future::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(config.user_exists_ttl.max(Duration::from_millis(1)))
            .build();
        Ok(VippsClient {
            engine: Arc::new(Engine::new(config, store)?),
            limits: Arc::new(RateLimits::none()),
            user_exists_cache: Arc::new(user_exists_cache),
        })
    }

    /// The same client (same engine, store and poller) applying `limits` to the logins it
    /// starts. A front end calls this once with its limits.
    pub fn with_limits(&self, limits: RateLimits) -> Result<VippsClient, Error> {
        limits.validate()?;
        Ok(VippsClient {
            engine: Arc::clone(&self.engine),
            limits: Arc::new(limits),
            user_exists_cache: Arc::clone(&self.user_exists_cache),
        })
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.engine.config
    }

    /// The store in use.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        self.engine.store()
    }

    /// A secret for `purpose` derived from the client secret (HMAC-SHA256, base64url):
    /// what a front end seals and names its own records in the shared store with, so that
    /// every instance of one merchant derives the same without more configuration, and no
    /// two purposes (nor the engine's own sealing) share a key.
    ///
    /// ```
    /// # fn demo(client: vipps_login_core::VippsClient) -> Result<(), vipps_login_core::Error> {
    /// let sealer = vipps_login_core::Sealer::new(client.derived_secret("my records").expose().as_bytes())?;
    /// # let _ = sealer; Ok(()) }
    /// ```
    #[must_use]
    pub fn derived_secret(&self, purpose: &str) -> crate::Secret {
        use base64::Engine as _;
        let key = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            self.engine.config.client_secret.expose().as_bytes(),
        );
        let tag = aws_lc_rs::hmac::sign(
            &key,
            format!("vipps-login derived secret: {purpose}").as_bytes(),
        );
        crate::Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Whether this instance can serve logins now: the store answers, and Vipps'
    /// discovery document and JWKS are loaded. Each check is bounded by
    /// [`health::CHECK_TIMEOUT`](crate::health::CHECK_TIMEOUT).
    pub async fn readiness(&self) -> crate::health::Readiness {
        let mut r = crate::health::Readiness::default();
        r.check(
            "store",
            crate::health::within("the store does not answer", async {
                self.store().get("vipps-login:ready-probe").await.map(drop)
            })
            .await,
        );
        r.merge(self.engine.upstream.readiness().await)
    }

    /// Shuts this instance down for a graceful stop (on SIGTERM, after the listener
    /// stopped accepting): its poller and background work stop, and its lease is released
    /// so that the other instances sharing the store take its waiting logins over at once
    /// rather than after [`poll_lease`](crate::ConfigBuilder::poll_lease). Do not start
    /// logins on this client afterwards.
    ///
    /// # Errors
    /// When the store cannot be told; the logins are then taken over when the lease
    /// runs out, as after a crash.
    pub async fn shut_down(&self) -> Result<(), Error> {
        self.engine.shut_down().await
    }

    /// Counters and poll-lateness figures of this instance's poller.
    #[must_use]
    pub fn poller_stats(&self) -> PollerStats {
        self.engine.metrics.snapshot()
    }

    /// Forgets the lateness samples gathered so far (for measurements).
    #[cfg(feature = "test-util")]
    pub fn reset_poller_stats(&self) {
        self.engine.metrics.reset_lateness();
    }

    /// Starts this instance's background work now: its heartbeat, following the other
    /// instances, and taking over logins of instances that stopped. Happens by itself on
    /// the first call that needs it; call it at boot so that an instance that starts no
    /// logins still takes over those of a dead one. Needs a tokio runtime.
    pub fn start_background(&self) {
        self.engine.start_background();
    }

    /// What every start needs first: the background task running, and listening to the
    /// other instances (so that a webhook wake-up for the new login cannot be missed).
    async fn ready_to_start(&self) {
        self.start_background();
        self.engine.until_listening().await;
    }

    /// Every change of every login, on any instance sharing the store, from now on.
    #[must_use]
    pub fn transitions(&self) -> broadcast::Receiver<Transition> {
        self.start_background();
        self.engine.records.subscribe()
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
        self.ready_to_start().await;
        self.engine
            .start_login(&self.limits, request, context)
            .await
    }

    /// A login as [`start_login`](Self::start_login), except that a number that cannot
    /// use Vipps (no account, not eligible, app too old) gets a decoy login instead of the
    /// refusal: the enumeration-resistant mode. The decoy keeps the start's admission (the
    /// number's one waiting login, the counted windows) and claims the expiry and poll
    /// interval Vipps gave this instance's last real login, so that neither the answer
    /// nor the next start for the number tells the two kinds of number apart.
    pub async fn start_login_or_decoy(
        &self,
        request: LoginRequest,
        context: LoginContext,
    ) -> Result<StartedLogin, Error> {
        self.ready_to_start().await;
        self.engine
            .start_login_or_decoy(&self.limits, request, context)
            .await
    }

    /// A decoy login for the enumeration-resistant mode: admitted and recorded exactly as
    /// [`start_login`](Self::start_login) would (same limits, same answer), but nothing
    /// is sent to Vipps; it waits until its deadline (the request's expiry, else the one
    /// Vipps gave this instance's last real login, 600 s before any) and then ends [`Expired`](LoginStatus::Expired). Its [`LoginView::kind`] is
    /// [`LoginKind::Decoy`](crate::login::LoginKind::Decoy).
    pub async fn start_decoy(
        &self,
        request: LoginRequest,
        context: LoginContext,
    ) -> Result<StartedLogin, Error> {
        self.ready_to_start().await;
        self.engine
            .start_decoy(&self.limits, request, context)
            .await
    }

    /// The current state of a login, as stored (so current on every instance).
    pub async fn status(&self, id: &LoginId) -> Result<LoginStatus, Error> {
        Ok(self.login(id).await?.status)
    }

    /// The login with its state and the context its front end stored.
    pub async fn login(&self, id: &LoginId) -> Result<LoginView, Error> {
        let loaded = self
            .engine
            .records
            .load(id)
            .await?
            .ok_or(Error::LoginNotFound)?;
        Ok(loaded.view(id))
    }

    /// The login and the value stored under `other_key` (a front end's session, say),
    /// read in one store round trip where the store can
    /// ([`Store::get_many`](crate::Store::get_many)): a status
    /// request that must check both costs one round trip, not two.
    ///
    /// The login is [`Error::LoginNotFound`] when there is none; the outer error is the
    /// store's.
    pub async fn login_with(
        &self,
        id: &LoginId,
        other_key: &str,
    ) -> Result<(Result<LoginView, Error>, Option<Vec<u8>>), Error> {
        let (loaded, other) = self.engine.records.load_with(id, other_key).await?;
        let login = loaded.map(|l| l.view(id)).ok_or(Error::LoginNotFound);
        Ok((login, other))
    }

    /// A receiver that sees every change of the login's state, wherever it happens.
    pub async fn watch(&self, id: &LoginId) -> Result<watch::Receiver<LoginStatus>, Error> {
        self.start_background();
        self.engine.records.watch(id).await
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
        Ok(self.engine.redeem(id, owner, None).await?.identity)
    }

    /// [`redeem`](Self::redeem), with the number the login was started for (for its
    /// owner only, as the owner is who redeems).
    pub async fn redeem_login(&self, id: &LoginId, owner: &str) -> Result<Redeemed, Error> {
        self.engine.redeem(id, owner, None).await
    }

    /// [`redeem_login`](Self::redeem_login) for a login the caller has just read
    /// ([`login`](Self::login), [`login_with`](Self::login_with)): the redemption starts
    /// from the record as read instead of reading it again (if it changed since, the
    /// store's compare-and-swap notices and it is read afresh).
    pub async fn redeem_read(&self, view: &LoginView, owner: &str) -> Result<Redeemed, Error> {
        let read_as = view.read_as.as_ref().map(|r| r.0.to_vec());
        self.engine.redeem(&view.id, owner, read_as).await
    }

    /// Cancels a waiting login: it stops being polled and waiters get
    /// [`Error::Cancelled`]. (Vipps has no cancel call; the push on the phone expires.)
    ///
    /// Cancelling a cancelled login is fine; cancelling one that is decided already (for
    /// example approved a moment earlier on another instance) is [`Error::AlreadyCompleted`]
    /// and the login stays as it is.
    pub async fn cancel(&self, id: &LoginId) -> Result<(), Error> {
        self.engine.cancel(id).await
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
        self.engine
            .complete_browser(&self.limits, state, code, client_key)
            .await
    }

    /// Variant 2 when the phone's browser came back with a `code` but no `state` (Vipps
    /// documents the redirect as `{redirect_uri}?code=...`): the code is exchanged once
    /// (a code seen before, on any instance, is [`Error::UnknownCallback`] with nothing
    /// sent), the ID token verified, and the login found by its `auth_req_id` among this
    /// merchant's logins waiting for the phone's browser. A forged code is refused by
    /// Vipps ([`Error::InvalidCode`]) and changes no login. Counted against the
    /// [callback limit](RateLimits::callbacks_per_client) of `client_key` first.
    pub async fn complete_browser_code(
        &self,
        code: &str,
        client_key: Option<&str>,
    ) -> Result<(LoginView, Arc<Identity>), Error> {
        self.engine
            .complete_browser_by_code(&self.limits, code, client_key)
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
        let answer = self
            .verified_webhook(method, path_and_query, host, headers, body)
            .await;
        crate::metrics::webhook_ping(match &answer {
            Ok(()) => "accepted",
            Err(Error::LoginNotFound) => "unknown_login",
            Err(_) => "refused",
        });
        answer
    }

    async fn verified_webhook(
        &self,
        method: &Method,
        path_and_query: &str,
        host: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Error> {
        self.start_background();
        let config = &self.engine.config;
        let secret = config
            .webhook_secret
            .as_ref()
            .ok_or_else(|| Error::WebhookRejected("no webhook secret is configured".into()))?;
        crate::webhook::verify_signature(
            secret,
            config.webhook_max_age,
            config.clock.now(),
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
        self.engine.wake_for_ping(&ping.auth_req_id).await
    }

    /// Whether `msisdn` can log in with Vipps (Vipps' user-exists pre-check).
    /// Answers are cached briefly ([`ConfigBuilder::user_exists_ttl`](crate::ConfigBuilder::user_exists_ttl)).
    /// Counted against no client's limit: for a front end that answers other people,
    /// use [`user_exists_from`](Self::user_exists_from).
    pub async fn user_exists(&self, msisdn: &Msisdn) -> Result<bool, Error> {
        self.user_exists_from(msisdn, None).await
    }

    /// [`user_exists`](Self::user_exists) counted against the
    /// [user-exists limit](RateLimits::user_exists_per_client) of `client_key` (who asks:
    /// a till, an IP address; the same key a front end gives
    /// [`LoginContext::client_key`]) first: over it, [`Error::RateLimited`] with
    /// `retry_after` before anything is sent or read from the cache. Every question
    /// counts, also one the cache answers. Without a key nothing is counted.
    ///
    /// ```no_run
    /// use vipps_login_core::{Config, Error, Msisdn, RateLimits, VippsClient};
    /// # async fn demo() -> Result<(), Error> {
    /// let client = VippsClient::new(Config::from_env()?)?.with_limits(RateLimits::default())?;
    /// let number: Msisdn = "+47 123 45 678".parse()?;
    /// match client.user_exists_from(&number, Some("ip:192.0.2.7")).await {
    ///     Ok(true) => println!("send the login request"),
    ///     Ok(false) => println!("this number has no Vipps"),
    ///     Err(Error::RateLimited { retry_after }) => println!("ask again in {retry_after:?}"),
    ///     Err(e) => println!("{e}"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn user_exists_from(
        &self,
        msisdn: &Msisdn,
        client_key: Option<&str>,
    ) -> Result<bool, Error> {
        crate::login::policy::count_user_exists(&**self.store(), &self.limits, client_key).await?;
        let cache_ttl = self.engine.config.user_exists_ttl;
        if !cache_ttl.is_zero()
            && let Some(hit) = self.user_exists_cache.get(msisdn.as_str()).await
        {
            return Ok(hit);
        }
        let exists = self.engine.upstream.user_exists(msisdn).await?;
        if !cache_ttl.is_zero() {
            self.user_exists_cache
                .insert(msisdn.as_str().to_owned(), exists)
                .await;
        }
        tracing::debug!(hint = %msisdn.masked(), exists, "user-exists");
        Ok(exists)
    }

    /// Verifies an ID token against the issuer's (cached) JWKS, with one rate-limited
    /// refetch on an unknown `kid`. Checks signature, algorithm, `iss`, `aud`, `exp`,
    /// `iat`, and `nonce` when given.
    pub async fn verify_id_token(
        &self,
        id_token: &str,
        expected_nonce: Option<&str>,
    ) -> Result<crate::VerifiedIdToken, Error> {
        let v = self.engine.upstream.verify_id_token(id_token).await?;
        if let Some(n) = expected_nonce {
            check_nonce(&v, n)?;
        }
        Ok(v)
    }
}
