//! The simulator's in-memory state: requests, codes, tokens, consents.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use crate::config::{Policy, SimClient, SimConfig};
use crate::faults::{Endpoint, Faults};
use crate::keys::KeyRing;
use crate::users::{Directory, UserRecord};
use crate::{SimError, SimStats};

const SHARDS: usize = 32;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

/// A string-keyed map split over several mutexes so that many concurrent logins do not
/// contend on one lock.
pub(crate) struct Sharded<V> {
    shards: Vec<Mutex<HashMap<String, V>>>,
    hasher: RandomState,
}

impl<V> Sharded<V> {
    fn new() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    pub(crate) fn shard(&self, key: &str) -> MutexGuard<'_, HashMap<String, V>> {
        let i = (self.hasher.hash_one(key) as usize) % self.shards.len();
        lock(&self.shards[i])
    }

    fn each_shard(&self) -> impl Iterator<Item = MutexGuard<'_, HashMap<String, V>>> {
        self.shards.iter().map(lock)
    }
}

/// Where a login ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RequestFlow {
    /// Variant 1: the login ends in the app; the merchant polls (or gets a webhook ping).
    FinishInApp,
    /// Variant 2 (`requested_flow=login_to_webpage`): the phone's browser opens
    /// `redirect_uri?code=...`.
    LoginToWebpage,
}

/// The state of a simulated login request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RequestStatus {
    /// Waiting for the customer.
    Pending,
    /// The customer approved; tokens (or the code) not collected yet.
    Approved,
    /// The customer declined.
    Denied,
    /// The request timed out.
    Expired,
    /// Tokens were issued (poll answered or code exchanged).
    Completed,
}

/// A login request as the control API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SimRequest {
    /// The `auth_req_id` the start call returned.
    pub auth_req_id: String,
    /// The client that started it.
    pub client_id: String,
    /// The customer's number (digits with country code).
    pub msisdn: String,
    /// The binding message, if one was sent.
    pub binding_message: Option<String>,
    /// Requested scopes, `openid` included.
    pub scopes: Vec<String>,
    /// Current status.
    pub status: RequestStatus,
    /// Finish in app or continue in browser.
    pub flow: RequestFlow,
    /// Whether the request has reached the phone (false while push is off and the
    /// phone page has not been opened).
    pub delivered: bool,
    /// The registered redirect URI (variant 2).
    pub redirect_uri: Option<String>,
    /// Where the phone's browser goes after approval (variant 2, once approved).
    pub redirect_to: Option<String>,
    /// Seconds until the request expires (0 once expired).
    pub expires_in: u64,
}

pub(crate) struct AuthRequest {
    pub(crate) id: String,
    pub(crate) client: Arc<SimClient>,
    pub(crate) user: Arc<UserRecord>,
    pub(crate) scopes: Vec<String>,
    pub(crate) binding_message: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) redirect_uri: Option<Url>,
    pub(crate) redirect_to: Option<Url>,
    pub(crate) created_at: Instant,
    pub(crate) expires_at: Instant,
    pub(crate) interval: Duration,
    pub(crate) last_poll: Option<Instant>,
    pub(crate) status: RequestStatus,
    pub(crate) delivered: bool,
    pub(crate) sid: String,
    pub(crate) answers: BTreeMap<String, bool>,
    pub(crate) finished_at: Option<Instant>,
}

impl AuthRequest {
    pub(crate) fn flow(&self) -> RequestFlow {
        if self.redirect_uri.is_some() {
            RequestFlow::LoginToWebpage
        } else {
            RequestFlow::FinishInApp
        }
    }

    /// The status with expiry applied.
    pub(crate) fn status_at(&self, now: Instant) -> RequestStatus {
        match self.status {
            RequestStatus::Pending if now >= self.expires_at => RequestStatus::Expired,
            RequestStatus::Approved
                if now >= self.expires_at && self.flow() == RequestFlow::FinishInApp =>
            {
                RequestStatus::Expired
            }
            s => s,
        }
    }

    /// Marks an approved request as completed (tokens issued) and returns its grant;
    /// `redirect` tells whether it came from the code exchange of the webpage variant.
    fn complete(&mut self, redirect: bool) -> Grant {
        self.status = RequestStatus::Completed;
        Grant {
            client: self.client.clone(),
            user: self.user.clone(),
            scopes: self.scopes.clone(),
            nonce: self.nonce.clone(),
            sid: self.sid.clone(),
            auth_req_id: self.id.clone(),
            answers: self.answers.clone(),
            redirect,
        }
    }

    pub(crate) fn snapshot(&self, now: Instant) -> SimRequest {
        SimRequest {
            auth_req_id: self.id.clone(),
            client_id: self.client.client_id.clone(),
            msisdn: self.user.msisdn.clone(),
            binding_message: self.binding_message.clone(),
            scopes: self.scopes.clone(),
            status: self.status_at(now),
            flow: self.flow(),
            delivered: self.delivered,
            redirect_uri: self.redirect_uri.as_ref().map(|u| u.to_string()),
            redirect_to: self.redirect_to.as_ref().map(|u| u.to_string()),
            expires_in: self.expires_at.saturating_duration_since(now).as_secs(),
        }
    }
}

/// What the phone page needs to show one request.
pub(crate) struct PhoneView {
    pub(crate) req: SimRequest,
    pub(crate) merchant: String,
    pub(crate) questions: Vec<crate::users::DelegatedConsentQuestion>,
    pub(crate) consent_given: bool,
    pub(crate) expires_in: Duration,
}

pub(crate) struct CodeGrant {
    auth_req_id: String,
    client_id: String,
    redirect_uri: Url,
    expires_at: Instant,
}

pub(crate) struct AccessGrant {
    pub(crate) client: Arc<SimClient>,
    pub(crate) user: Arc<UserRecord>,
    pub(crate) scopes: Vec<String>,
    pub(crate) sub: String,
    pub(crate) sid: String,
    pub(crate) answers: BTreeMap<String, bool>,
    expires_at: Instant,
}

#[derive(Default)]
pub(crate) struct Counters {
    discovery: AtomicU64,
    jwks: AtomicU64,
    backchannel: AtomicU64,
    token: AtomicU64,
    userinfo: AtomicU64,
    user_exists: AtomicU64,
    pub(crate) webhooks_sent: AtomicU64,
    pub(crate) webhooks_failed: AtomicU64,
    pub(crate) consent_revoked_sent: AtomicU64,
    pub(crate) tokens_issued: AtomicU64,
    pub(crate) code_exchanges: AtomicU64,
}

impl Counters {
    pub(crate) fn hit(&self, ep: Endpoint) {
        let c = match ep {
            Endpoint::Discovery => &self.discovery,
            Endpoint::Jwks => &self.jwks,
            Endpoint::Backchannel => &self.backchannel,
            Endpoint::Token => &self.token,
            Endpoint::Userinfo => &self.userinfo,
            Endpoint::UserExists => &self.user_exists,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// An error the protocol endpoints answer.
#[derive(Debug)]
pub(crate) struct OAuthError {
    pub(crate) status: u16,
    pub(crate) error: &'static str,
    pub(crate) error_code: Option<&'static str>,
    pub(crate) description: String,
    pub(crate) retry_after: Option<u64>,
    /// The new polling interval, sent with `slow_down`.
    pub(crate) interval: Option<Duration>,
}

impl OAuthError {
    pub(crate) fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            error_code: None,
            description: description.into(),
            retry_after: None,
            interval: None,
        }
    }

    pub(crate) fn bad(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError::new(400, error, description)
    }
}

/// Validated parameters of a start call.
pub(crate) struct NewRequest {
    pub(crate) client: Arc<SimClient>,
    pub(crate) user: Arc<UserRecord>,
    pub(crate) scopes: Vec<String>,
    pub(crate) binding_message: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) redirect_uri: Option<Url>,
    pub(crate) expires_in: Duration,
}

/// The outcome of a poll or code exchange that yields tokens.
pub(crate) struct Grant {
    client: Arc<SimClient>,
    user: Arc<UserRecord>,
    scopes: Vec<String>,
    nonce: Option<String>,
    sid: String,
    auth_req_id: String,
    answers: BTreeMap<String, bool>,
    redirect: bool,
}

pub(crate) struct Sim {
    pub(crate) cfg: SimConfig,
    pub(crate) base: Url,
    pub(crate) issuer: Url,
    pub(crate) clients: HashMap<String, Arc<SimClient>>,
    pub(crate) users: Directory,
    pub(crate) keys: RwLock<KeyRing>,
    requests: Sharded<AuthRequest>,
    by_user: Sharded<Vec<(String, Instant)>>,
    codes: Sharded<CodeGrant>,
    tokens: Sharded<AccessGrant>,
    consents: Sharded<()>,
    pub(crate) policy: RwLock<Policy>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) stats: Counters,
    pub(crate) webhook: RwLock<Option<(Url, String)>>,
    pub(crate) consent_revoked_url: RwLock<Option<Url>>,
    pub(crate) http: reqwest::Client,
    sub_key: aws_lc_rs::hmac::Key,
    pub(crate) me: Weak<Sim>,
}

pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Masks a phone number for logs: country code and last two digits.
pub(crate) fn mask(msisdn: &str) -> String {
    let cc = if msisdn.starts_with("358") { 3 } else { 2 };
    if msisdn.len() <= cc + 2 {
        return "*".repeat(msisdn.len());
    }
    format!(
        "{}{}{}",
        &msisdn[..cc],
        "*".repeat(msisdn.len() - cc - 2),
        &msisdn[msisdn.len() - 2..]
    )
}

impl Sim {
    pub(crate) fn new(cfg: SimConfig, base: Url) -> Result<Arc<Sim>, SimError> {
        let issuer = base
            .join("access-management-1.0/access/")
            .map_err(|e| SimError::Config(e.to_string()))?;
        let clients = cfg
            .clients
            .iter()
            .map(|c| (c.client_id.clone(), Arc::new(c.clone())))
            .collect();
        let users = Directory::new(cfg.builtin_users, &cfg.users, cfg.auto_users);
        let keys = KeyRing::generate()?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SimError::Config(e.to_string()))?;
        let sub_key =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, cfg.sub_seed.as_bytes());
        let policy = cfg.policy;
        let webhook = cfg.webhook.clone();
        let consent_revoked_url = cfg.consent_revoked_url.clone();
        Ok(Arc::new_cyclic(|me| Sim {
            cfg,
            base,
            issuer,
            clients,
            users,
            keys: RwLock::new(keys),
            requests: Sharded::new(),
            by_user: Sharded::new(),
            codes: Sharded::new(),
            tokens: Sharded::new(),
            consents: Sharded::new(),
            policy: RwLock::new(policy),
            faults: Mutex::new(Faults::default()),
            stats: Counters::default(),
            webhook: RwLock::new(webhook),
            consent_revoked_url: RwLock::new(consent_revoked_url),
            http,
            sub_key,
            me: me.clone(),
        }))
    }

    /// `sub`: stable per client and user, a UUID derived with HMAC-SHA256.
    pub(crate) fn sub_for(&self, client_id: &str, msisdn: &str) -> String {
        let mut msg = Vec::with_capacity(client_id.len() + msisdn.len() + 1);
        msg.extend_from_slice(client_id.as_bytes());
        msg.push(0);
        msg.extend_from_slice(msisdn.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&self.sub_key, &msg);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&tag.as_ref()[..16]);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    pub(crate) fn consent_given(&self, client_id: &str, msisdn: &str) -> bool {
        let key = format!("{client_id}\0{msisdn}");
        self.consents.shard(&key).contains_key(&key)
    }

    pub(crate) fn give_consent(&self, client_id: &str, msisdn: &str) {
        let key = format!("{client_id}\0{msisdn}");
        self.consents.shard(&key).insert(key, ());
    }

    /// Forgets a consent; true if there was one.
    pub(crate) fn forget_consent(&self, client_id: &str, msisdn: &str) -> bool {
        let key = format!("{client_id}\0{msisdn}");
        self.consents.shard(&key).remove(&key).is_some()
    }

    /// Registers a validated request, enforcing the per-user pending limit.
    pub(crate) fn register(&self, new: NewRequest) -> Result<(String, Duration), OAuthError> {
        let now = Instant::now();
        let id = random_token(24);
        let expires_at = now + new.expires_in;
        {
            let mut idx = self.by_user.shard(&new.user.msisdn);
            let list = idx.entry(new.user.msisdn.clone()).or_default();
            list.retain(|(_, exp)| *exp > now);
            if list.len() >= self.cfg.max_pending_per_user {
                let soonest = list.iter().map(|(_, e)| *e).min().unwrap_or(now);
                let secs = soonest.saturating_duration_since(now).as_secs_f64().ceil() as u64;
                let mut err = OAuthError::new(
                    429,
                    "too_many_requests",
                    "Too many login requests are pending for this user; try again later",
                );
                err.retry_after = Some(secs.max(1));
                return Err(err);
            }
            list.push((id.clone(), expires_at));
        }
        tracing::info!(
            client_id = %new.client.client_id,
            msisdn = %mask(&new.user.msisdn),
            flow = if new.redirect_uri.is_some() { "login_to_webpage" } else { "finish_in_app" },
            "login request started"
        );
        let req = AuthRequest {
            id: id.clone(),
            client: new.client,
            delivered: !new.user.push_disabled,
            user: new.user,
            scopes: new.scopes,
            binding_message: new.binding_message,
            nonce: new.nonce,
            state: new.state,
            redirect_uri: new.redirect_uri,
            redirect_to: None,
            created_at: now,
            expires_at,
            interval: self.cfg.interval,
            last_poll: None,
            status: RequestStatus::Pending,
            sid: uuid::Uuid::new_v4().to_string(),
            answers: BTreeMap::new(),
            finished_at: None,
        };
        self.requests.shard(&id).insert(id.clone(), req);
        let policy = *read(&self.policy);
        match policy {
            Policy::Manual => {}
            Policy::AutoApprove { after } | Policy::AutoDeny { after } => {
                let approve = matches!(policy, Policy::AutoApprove { .. });
                let me = self.me.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    if let Some(sim) = me.upgrade() {
                        let _ = if approve {
                            sim.approve(&id, None).map(|_| ())
                        } else {
                            sim.deny(&id)
                        };
                    }
                });
            }
        }
        Ok((id, new.expires_in))
    }

    fn unindex(&self, msisdn: &str, id: &str) {
        let mut idx = self.by_user.shard(msisdn);
        if let Some(list) = idx.get_mut(msisdn) {
            list.retain(|(i, _)| i != id);
            if list.is_empty() {
                idx.remove(msisdn);
            }
        }
    }

    /// Approves a pending request as the customer. `answers` are the delegated-consent
    /// answers (all accepted when `None`). Returns the browser redirect in variant 2.
    pub(crate) fn approve(
        &self,
        id: &str,
        answers: Option<BTreeMap<String, bool>>,
    ) -> Result<Option<Url>, SimError> {
        let now = Instant::now();
        let (msisdn, client_id, redirect, ping) = {
            let mut shard = self.requests.shard(id);
            let req = shard.get_mut(id).ok_or(SimError::NotFound)?;
            let status = req.status_at(now);
            if status != RequestStatus::Pending {
                return Err(SimError::NotPending(status));
            }
            let mut answers = answers.unwrap_or_default();
            if req.scopes.iter().any(|s| s == "delegatedConsents") {
                for q in &req.client.delegated_consents {
                    let a = answers.entry(q.id.clone()).or_insert(true);
                    if q.required && !*a {
                        return Err(SimError::ConsentRequired(q.text.clone()));
                    }
                }
            } else {
                answers.clear();
            }
            req.answers = answers;
            req.status = RequestStatus::Approved;
            req.delivered = true;
            req.finished_at = Some(now);
            let mut redirect = None;
            if let Some(uri) = &req.redirect_uri {
                let code = random_token(32);
                let mut to = uri.clone();
                {
                    let mut q = to.query_pairs_mut();
                    q.append_pair("code", &code);
                    if let Some(state) = &req.state {
                        q.append_pair("state", state);
                    }
                }
                req.redirect_to = Some(to.clone());
                self.codes.shard(&code).insert(
                    code,
                    CodeGrant {
                        auth_req_id: req.id.clone(),
                        client_id: req.client.client_id.clone(),
                        redirect_uri: uri.clone(),
                        expires_at: now + self.cfg.code_ttl,
                    },
                );
                redirect = Some(to);
            }
            (
                req.user.msisdn.clone(),
                req.client.client_id.clone(),
                redirect.clone(),
                redirect.is_none(),
            )
        };
        self.unindex(&msisdn, id);
        self.give_consent(&client_id, &msisdn);
        tracing::info!(msisdn = %mask(&msisdn), client_id = %client_id, "login approved");
        if ping {
            crate::webhook::ping(self, id);
        }
        Ok(redirect)
    }

    /// Denies a pending request as the customer.
    pub(crate) fn deny(&self, id: &str) -> Result<(), SimError> {
        let now = Instant::now();
        let msisdn = {
            let mut shard = self.requests.shard(id);
            let req = shard.get_mut(id).ok_or(SimError::NotFound)?;
            let status = req.status_at(now);
            if status != RequestStatus::Pending {
                return Err(SimError::NotPending(status));
            }
            req.status = RequestStatus::Denied;
            req.delivered = true;
            req.finished_at = Some(now);
            req.user.msisdn.clone()
        };
        self.unindex(&msisdn, id);
        tracing::info!(msisdn = %mask(&msisdn), "login denied");
        Ok(())
    }

    pub(crate) fn request(&self, id: &str) -> Option<SimRequest> {
        let now = Instant::now();
        self.requests.shard(id).get(id).map(|r| r.snapshot(now))
    }

    pub(crate) fn phone_view(&self, msisdn: &str, id: &str) -> Option<PhoneView> {
        let now = Instant::now();
        let shard = self.requests.shard(id);
        let r = shard.get(id).filter(|r| r.user.msisdn == msisdn)?;
        Some(PhoneView {
            req: r.snapshot(now),
            merchant: r.client.name.clone(),
            questions: r.client.delegated_consents.clone(),
            consent_given: self.consent_given(&r.client.client_id, msisdn),
            expires_in: r.expires_at.saturating_duration_since(now),
        })
    }

    /// All requests (control API); O(n), not on a hot path.
    pub(crate) fn all_requests(&self) -> Vec<SimRequest> {
        let now = Instant::now();
        let mut out: Vec<(Instant, SimRequest)> = Vec::new();
        for shard in self.requests.each_shard() {
            out.extend(shard.values().map(|r| (r.created_at, r.snapshot(now))));
        }
        out.sort_by_key(|(t, _)| *t);
        out.into_iter().map(|(_, r)| r).collect()
    }

    /// Pending requests of one phone number, oldest first. With `open`, the app is
    /// opened: requests held back because push is off are delivered. Undelivered
    /// requests are listed only with `open` or `peek`.
    pub(crate) fn pending_for(&self, msisdn: &str, open: bool, peek: bool) -> Vec<SimRequest> {
        let now = Instant::now();
        let ids: Vec<String> = {
            let idx = self.by_user.shard(msisdn);
            idx.get(msisdn)
                .map(|l| {
                    l.iter()
                        .filter(|(_, e)| *e > now)
                        .map(|(i, _)| i.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        for id in ids {
            let mut shard = self.requests.shard(&id);
            if let Some(r) = shard.get_mut(&id) {
                if r.status_at(now) != RequestStatus::Pending {
                    continue;
                }
                if open {
                    r.delivered = true;
                }
                if r.delivered || peek {
                    out.push(r.snapshot(now));
                }
            }
        }
        out
    }

    /// One poll of the CIBA grant.
    pub(crate) fn poll(&self, client_id: &str, id: &str) -> Result<Grant, OAuthError> {
        let now = Instant::now();
        let mut shard = self.requests.shard(id);
        let req = match shard.get_mut(id) {
            Some(r) if r.client.client_id == client_id => r,
            _ => return Err(OAuthError::bad("invalid_grant", "Unknown auth_req_id")),
        };
        if let Some(last) = req.last_poll {
            let tolerance = self.cfg.effective_tolerance(req.interval);
            if now.duration_since(last) + tolerance < req.interval {
                req.interval += self.cfg.slow_down_step;
                req.last_poll = Some(now);
                let mut err = OAuthError::bad(
                    "slow_down",
                    "Polled faster than the interval; wait the new interval between polls",
                );
                err.interval = Some(req.interval);
                return Err(err);
            }
        }
        req.last_poll = Some(now);
        match req.status_at(now) {
            RequestStatus::Pending => Err(OAuthError::bad(
                "authorization_pending",
                "The customer has not acted yet",
            )),
            RequestStatus::Approved if req.redirect_uri.is_some() => Err(OAuthError::bad(
                "authorization_pending",
                "The customer continues in the browser; exchange the code from the redirect",
            )),
            RequestStatus::Approved => Ok(req.complete(false)),
            RequestStatus::Denied => Err(OAuthError::bad(
                "access_denied",
                "The customer declined the login",
            )),
            RequestStatus::Expired => Err(OAuthError::bad(
                "expired_token",
                "The login request has expired",
            )),
            RequestStatus::Completed => Err(OAuthError::bad(
                "invalid_grant",
                "Tokens for this auth_req_id were already issued",
            )),
        }
    }

    /// The code exchange of the redirect variant (single use).
    pub(crate) fn exchange(
        &self,
        client_id: &str,
        code: &str,
        redirect_uri: Option<&str>,
    ) -> Result<Grant, OAuthError> {
        self.stats.code_exchanges.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let grant = self.codes.shard(code).remove(code);
        let grant = match grant {
            Some(g) if g.client_id == client_id && g.expires_at > now => g,
            _ => {
                return Err(OAuthError::bad(
                    "invalid_grant",
                    "The code is unknown, expired or already used",
                ));
            }
        };
        if let Some(r) = redirect_uri
            && r != grant.redirect_uri.as_str()
        {
            return Err(OAuthError::bad(
                "invalid_grant",
                "redirect_uri does not match the one of the login request",
            ));
        }
        let mut shard = self.requests.shard(&grant.auth_req_id);
        let req = shard
            .get_mut(&grant.auth_req_id)
            .filter(|r| r.status == RequestStatus::Approved)
            .ok_or_else(|| OAuthError::bad("invalid_grant", "The login request is gone"))?;
        Ok(req.complete(true))
    }

    /// Issues the ID token and access token of a grant; the token response body.
    pub(crate) fn issue(&self, g: Grant) -> Result<Value, OAuthError> {
        let sub = self.sub_for(&g.client.client_id, &g.user.msisdn);
        let (wrong_key, skew) = {
            let f = lock(&self.faults);
            (f.wrong_key(), f.skew())
        };
        let iat = unix_now() + skew;
        let mut claims = json!({
            "iss": self.issuer.as_str(),
            "aud": g.client.client_id,
            "sub": sub,
            "iat": iat,
            "auth_time": iat,
            "exp": iat + self.cfg.id_token_ttl.as_secs() as i64,
            "jti": uuid::Uuid::new_v4().to_string(),
            "sid": g.sid,
        });
        if let Some(obj) = claims.as_object_mut() {
            if let Some(n) = &g.nonce {
                obj.insert("nonce".into(), Value::String(n.clone()));
            }
            let claim = if g.redirect && self.cfg.camel_case_auth_req_id {
                "authReqId"
            } else {
                "auth_req_id"
            };
            obj.insert(claim.into(), Value::String(g.auth_req_id.clone()));
        }
        let alg = if g.redirect {
            self.cfg.redirect_alg
        } else {
            self.cfg.poll_alg
        };
        let id_token = {
            let keys = read(&self.keys);
            let current = keys.current(alg);
            let key = if wrong_key {
                keys.rogue(alg).unwrap_or(current)
            } else {
                current
            };
            key.sign(&current.kid, &claims)
                .map_err(|e| OAuthError::new(500, "server_error", e.to_string()))?
        };
        let access_token = random_token(32);
        self.tokens.shard(&access_token).insert(
            access_token.clone(),
            AccessGrant {
                client: g.client.clone(),
                user: g.user.clone(),
                scopes: g.scopes.clone(),
                sub,
                sid: g.sid,
                answers: g.answers,
                expires_at: Instant::now() + self.cfg.access_token_ttl,
            },
        );
        self.stats.tokens_issued.fetch_add(1, Ordering::Relaxed);
        Ok(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.cfg.access_token_ttl.as_secs(),
            "id_token": id_token,
            "scope": g.scopes.join(" "),
        }))
    }

    /// Userinfo claims for an access token.
    pub(crate) fn userinfo(&self, token: &str) -> Option<Value> {
        let now = Instant::now();
        let shard = self.tokens.shard(token);
        let g = shard.get(token).filter(|g| g.expires_at > now)?;
        Some(crate::oauth::userinfo_claims(g))
    }

    pub(crate) fn stats_snapshot(&self) -> SimStats {
        let mut pending = 0u64;
        for shard in self.by_user.each_shard() {
            pending += shard.values().map(|l| l.len() as u64).sum::<u64>();
        }
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SimStats {
            discovery: g(&self.stats.discovery),
            jwks: g(&self.stats.jwks),
            backchannel: g(&self.stats.backchannel),
            token: g(&self.stats.token),
            userinfo: g(&self.stats.userinfo),
            user_exists: g(&self.stats.user_exists),
            tokens_issued: g(&self.stats.tokens_issued),
            code_exchanges: g(&self.stats.code_exchanges),
            webhooks_sent: g(&self.stats.webhooks_sent),
            webhooks_failed: g(&self.stats.webhooks_failed),
            consent_revoked_sent: g(&self.stats.consent_revoked_sent),
            pending,
        }
    }

    /// Removes finished or expired state past its retention; runs in the background.
    pub(crate) fn purge(&self) {
        let now = Instant::now();
        let keep = self.cfg.retention;
        for mut shard in self.requests.each_shard() {
            shard.retain(|_, r| {
                let end = match r.status {
                    RequestStatus::Pending => r.expires_at,
                    RequestStatus::Approved => match (r.redirect_uri.is_some(), r.finished_at) {
                        (true, Some(f)) => r.expires_at.max(f + self.cfg.code_ttl),
                        _ => r.expires_at,
                    },
                    _ => r.finished_at.unwrap_or(r.expires_at),
                };
                now < end + keep
            });
        }
        for mut shard in self.by_user.each_shard() {
            shard.retain(|_, l| {
                l.retain(|(_, e)| *e > now);
                !l.is_empty()
            });
        }
        for mut shard in self.codes.each_shard() {
            shard.retain(|_, c| c.expires_at > now);
        }
        for mut shard in self.tokens.each_shard() {
            shard.retain(|_, t| t.expires_at > now);
        }
    }
}
