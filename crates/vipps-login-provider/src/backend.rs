//! The one place this crate calls into `vipps-login-core`: [`VippsPhoneLogin`] (the SPI
//! over the core's login engine) and [`Records`] (the provider's own OAuth records —
//! codes, access tokens, poll timing — in the core store).
//!
//! A login's state is the engine's alone: the handle *is* the engine's `LoginId`, its
//! owner is the relying party's client id, and what the provider needs back (the number
//! it was started for, the OIDC scopes, the client's nonce, the subject type) travels in
//! the engine context's `extra`. Per-client start limits are the engine's, counted in the
//! store so that every instance counts the same. Only the ghost logins of the
//! enumeration-resistant mode (no Vipps login behind them) are records of their own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use vipps_login_core::clock::duration_ms;
use vipps_login_core::{
    BindingMessage, Clock, Error as CoreError, Identity, LoginContext, LoginHint, LoginId,
    LoginRequest, LoginStatus, MemoryStore, Msisdn, RateLimits, Store, SystemClock, VippsClient,
    Window,
};

use crate::authcode::PendingAuthorization;
use crate::registry::SubjectType;
use crate::spi::{
    ApprovedLogin, LoginCheck, LoginHandle, PhoneLogin, StartRequest, StartedPhoneLogin,
};
use crate::{LoginError, OidcScopes, SubjectMapping, map_claims};

/// How long a login's record outlives its expiry (so late polls get `expired_token`).
const RECORD_GRACE: Duration = Duration::from_secs(600);

/// The provider's records (login records, poll state, codes, access tokens) in the core's
/// [`Store`], JSON-encoded under keys starting with `vlp:`, with the clock their
/// deadlines are read on (the client's, when they live in a client's store).
#[derive(Clone)]
pub struct Records {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Records")
    }
}

impl Records {
    /// Records in a fresh in-process store.
    #[must_use]
    pub fn memory() -> Records {
        Records {
            store: Arc::new(MemoryStore::new()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Records in the store of a core client (shared with its logins).
    #[must_use]
    pub fn of(client: &VippsClient) -> Records {
        Records {
            store: client.store().clone(),
            clock: client.config().clock().clone(),
        }
    }

    /// Unix milliseconds now, on the records' clock: what their deadlines are kept in.
    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.unix_ms()
    }

    fn key(kind: &str, id: &str) -> String {
        format!("vlp:{kind}:{id}")
    }

    /// Stores `value` under (`kind`, `id`) for `ttl`.
    pub async fn put<T: Serialize + Sync>(
        &self,
        kind: &str,
        id: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), LoginError> {
        let bytes = serde_json::to_vec(value).map_err(|_| store_failed())?;
        self.store
            .set(&Self::key(kind, id), bytes, ttl)
            .await
            .map_err(|_| store_failed())
    }

    /// The value under (`kind`, `id`), if present and readable.
    pub async fn get<T: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>, LoginError> {
        let v = self
            .store
            .get(&Self::key(kind, id))
            .await
            .map_err(|_| store_failed())?;
        Ok(v.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Atomically reads and deletes: of concurrent callers at most one gets the value.
    pub async fn take<T: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>, LoginError> {
        let v = self
            .store
            .take(&Self::key(kind, id))
            .await
            .map_err(|_| store_failed())?;
        Ok(v.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Deletes (`kind`, `id`).
    pub async fn remove(&self, kind: &str, id: &str) -> Result<(), LoginError> {
        self.store
            .remove(&Self::key(kind, id))
            .await
            .map_err(|_| store_failed())
    }
}

fn store_failed() -> LoginError {
    LoginError::Upstream("the login store failed".into())
}

/// What the provider keeps with a login, in the engine context's `extra`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoginRecord {
    owner: String,
    /// Digits with country code; compared with Vipps' verified number.
    msisdn: String,
    scopes: OidcScopes,
    nonce: Option<String>,
    subject_type: SubjectType,
}

/// A login that exists only to hide an ineligible number (enumeration resistance).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GhostLogin {
    owner: String,
    expires_at_ms: u64,
    cancelled: bool,
}

/// What a handle names: a login of the engine, or a ghost.
enum Named {
    Engine(LoginId, LoginRecord, LoginStatus),
    Ghost(GhostLogin),
}

/// [`PhoneLogin`] over Vipps (or the simulator), through `vipps-login-core`.
///
/// ```no_run
/// use vipps_login_provider::{OidcScopes, PhoneLogin, StartRequest, VippsPhoneLogin, parse_login_hint};
/// # async fn demo(client: vipps_login_core::VippsClient) -> Result<(), vipps_login_provider::LoginError> {
/// let login = VippsPhoneLogin::new(client);
/// let started = login
///     .start(StartRequest::new("my-rp", parse_login_hint("+4712345678")?, OidcScopes::parse("openid phone")?))
///     .await?;
/// println!("Confirm {} in the Vipps app", started.binding_message);
/// let _state = login.check(&started.handle, "my-rp").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct VippsPhoneLogin {
    client: VippsClient,
    records: Records,
    subjects: SubjectMapping,
    enumeration_resistant: bool,
    amr: Arc<[String]>,
    acr: Arc<str>,
    /// Expiry of the last real login (ghosts imitate it), in ms.
    last_expiry_ms: Arc<AtomicU64>,
    last_interval_ms: Arc<AtomicU64>,
}

impl std::fmt::Debug for VippsPhoneLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VippsPhoneLogin")
            .field("subjects", &self.subjects)
            .field("enumeration_resistant", &self.enumeration_resistant)
            .finish_non_exhaustive()
    }
}

impl VippsPhoneLogin {
    /// The SPI over `client`, with Vipps' `sub`, `amr` `["mfa", "swk"]` (the app on the
    /// customer's phone, unlocked), and enumeration resistance off.
    #[must_use]
    pub fn new(client: VippsClient) -> VippsPhoneLogin {
        VippsPhoneLogin {
            records: Records::of(&client),
            client,
            subjects: SubjectMapping::Vipps,
            enumeration_resistant: false,
            amr: Arc::from(vec!["mfa".to_owned(), "swk".to_owned()]),
            acr: Arc::from("urn:vipps-login-rs:acr:vipps-app"),
            last_expiry_ms: Arc::new(AtomicU64::new(600_000)),
            last_interval_ms: Arc::new(AtomicU64::new(5000)),
        }
    }

    /// The key for pairwise subjects of clients with `subject_type = "pairwise"`.
    #[must_use]
    pub fn subject_mapping(mut self, mapping: SubjectMapping) -> Self {
        self.subjects = mapping;
        self
    }

    /// Enumeration resistance: a number that cannot log in (no account, not eligible, app
    /// too old) starts like any other and, like an ignored push, ends as expired after the
    /// normal delay (the request's `requested_expiry`, else the expiry Vipps gave the last
    /// real login, `default_expiry` until there was one) instead of failing at once. Off by
    /// default (staff tools want the plain answer); turn on for public facades.
    #[must_use]
    pub fn enumeration_resistant(mut self, on: bool, default_expiry: Duration) -> Self {
        self.enumeration_resistant = on;
        self.last_expiry_ms = Arc::new(AtomicU64::new(duration_ms(default_expiry)));
        self
    }

    /// The `amr` and `acr` to report.
    #[must_use]
    pub fn authentication_context(mut self, amr: Vec<String>, acr: impl Into<String>) -> Self {
        self.amr = Arc::from(amr);
        self.acr = Arc::from(acr.into());
        self
    }

    /// The records this login keeps (and facades may share).
    #[must_use]
    pub fn records(&self) -> Records {
        self.records.clone()
    }

    /// The login `handle` names for `owner` (another owner's login is not found).
    async fn load(&self, handle: &LoginHandle, owner: &str) -> Result<Named, LoginError> {
        if let Ok(id) = handle.as_str().parse::<LoginId>() {
            match self.client.login(&id).await {
                Ok(view) if view.context.owner() == owner => {
                    let record = serde_json::from_value(view.context.extra_value().clone())
                        .map_err(|_| LoginError::NotFound)?;
                    return Ok(Named::Engine(id, record, view.status));
                }
                Ok(_) => return Err(LoginError::NotFound),
                Err(CoreError::LoginNotFound) => {}
                Err(e) => return Err(LoginError::Upstream(e.to_string())),
            }
        }
        match self
            .records
            .get::<GhostLogin>("ghost", &handle.store_key())
            .await?
        {
            Some(g) if g.owner == owner => Ok(Named::Ghost(g)),
            _ => Err(LoginError::NotFound),
        }
    }

    /// Way 2's completion step: the verified `identity` of a login the operator page
    /// started for `started_for` (through the tower layer), as the [`ApprovedLogin`] of
    /// authorization request `pending` — its scopes, nonce and subject type, the same
    /// claim mapping, subject mapping and phone-number check as the SPI.
    pub fn approve_identity(
        &self,
        pending: &PendingAuthorization,
        started_for: &Msisdn,
        identity: &Identity,
    ) -> Result<ApprovedLogin, LoginError> {
        let record = LoginRecord {
            owner: pending.client_id.clone(),
            msisdn: started_for.as_str().to_owned(),
            scopes: pending.scopes.clone(),
            nonce: pending.nonce.clone(),
            subject_type: pending.subject_type,
        };
        self.approved(&record, identity)
    }

    fn approved(&self, r: &LoginRecord, identity: &Identity) -> Result<ApprovedLogin, LoginError> {
        if identity.userinfo.phone_number.as_deref() != Some(r.msisdn.as_str()) {
            tracing::warn!(owner = %r.owner, "the verified phone number differs from the login's");
            return Err(LoginError::PhoneMismatch);
        }
        let subject = match r.subject_type {
            SubjectType::Public => identity.sub.clone(),
            SubjectType::Pairwise => self.subjects.subject(&r.owner, &identity.sub),
        };
        let claim_secs = |k: &str| {
            identity
                .id_token_claims
                .get(k)
                .and_then(serde_json::Value::as_u64)
        };
        Ok(ApprovedLogin {
            subject,
            claims: map_claims(&identity.userinfo, &r.scopes),
            scopes: r.scopes.clone(),
            nonce: r.nonce.clone(),
            amr: self.amr.to_vec(),
            acr: self.acr.to_string(),
            auth_time: claim_secs("auth_time")
                .or_else(|| claim_secs("iat"))
                .unwrap_or_else(|| self.client.config().clock().unix_secs()),
        })
    }
}

fn start_error(e: CoreError) -> LoginError {
    match &e {
        CoreError::InvalidPhoneNumber(why) => LoginError::InvalidHint(why.to_string()),
        CoreError::InvalidBindingMessage(why) => LoginError::InvalidBindingMessage(why.clone()),
        CoreError::InvalidScope(why) => LoginError::InvalidScope(why.clone()),
        CoreError::InvalidInput(why) => LoginError::InvalidRequest(why.clone()),
        CoreError::InvalidUser | CoreError::OldApp => LoginError::UnknownUser,
        CoreError::RateLimited { .. }
        | CoreError::LoginPending { .. }
        | CoreError::CoolingDown { .. } => LoginError::RateLimited {
            retry_after: e.retry_after(),
        },
        other => LoginError::Upstream(other.to_string()),
    }
}

#[async_trait]
impl PhoneLogin for VippsPhoneLogin {
    async fn start(&self, req: StartRequest) -> Result<StartedPhoneLogin, LoginError> {
        let binding = req
            .binding_message
            .clone()
            .unwrap_or_else(BindingMessage::generate);
        let mut login = LoginRequest::new(LoginHint::Msisdn(req.hint.clone()))
            .scopes(req.scopes.to_vipps())
            .binding_message(binding.clone());
        if let Some(e) = req.requested_expiry {
            login = login.requested_expiry(e);
        }
        let record = LoginRecord {
            owner: req.owner.clone(),
            msisdn: req.hint.as_str().to_owned(),
            scopes: req.scopes.clone(),
            nonce: req.nonce.clone(),
            subject_type: req.subject_type,
        };
        let extra = serde_json::to_value(&record).map_err(|_| store_failed())?;
        let context = LoginContext::new(req.owner.clone())
            .client_key(format!("rp:{}", req.owner))
            .extra(extra);
        // The client's start limit, counted by the engine in the store (every instance).
        let limits = match &req.start_limit {
            Some(limit) => RateLimits::none().per_client(Window::new(limit.max, limit.window())),
            None => RateLimits::none(),
        };
        let client = self
            .client
            .with_limits(limits)
            .map_err(|e| LoginError::InvalidRequest(e.to_string()))?;
        let (handle, expires_in, interval) = match client.start_login(login, context).await {
            Ok(s) => {
                let expires_in = s
                    .expires_at
                    .duration_since(self.client.config().clock().now())
                    .unwrap_or_default();
                let ms = duration_ms(s.interval);
                self.last_interval_ms.store(ms, Ordering::Relaxed);
                if req.requested_expiry.is_none() {
                    let ms = duration_ms(expires_in);
                    self.last_expiry_ms.store(ms, Ordering::Relaxed);
                }
                let handle = LoginHandle::parse(s.id.as_str()).ok_or_else(store_failed)?;
                (handle, expires_in, s.interval)
            }
            Err(CoreError::InvalidUser | CoreError::OldApp) if self.enumeration_resistant => {
                tracing::info!(owner = %req.owner, hint = %req.hint.masked(), "ineligible number; answering as a normal login");
                let interval = Duration::from_millis(self.last_interval_ms.load(Ordering::Relaxed));
                let usual = Duration::from_millis(self.last_expiry_ms.load(Ordering::Relaxed));
                let expires_in = req.requested_expiry.unwrap_or(usual);
                let handle = LoginHandle::generate();
                let ghost = GhostLogin {
                    owner: req.owner.clone(),
                    expires_at_ms: self
                        .records
                        .now_ms()
                        .saturating_add(duration_ms(expires_in)),
                    cancelled: false,
                };
                self.records
                    .put(
                        "ghost",
                        &handle.store_key(),
                        &ghost,
                        expires_in + RECORD_GRACE,
                    )
                    .await?;
                (handle, expires_in, interval)
            }
            Err(e) => return Err(start_error(e)),
        };
        tracing::info!(owner = %req.owner, handle = ?handle, hint = %req.hint.masked(), "phone login started");
        Ok(StartedPhoneLogin {
            handle,
            binding_message: binding,
            expires_in,
            interval,
        })
    }

    async fn check(&self, handle: &LoginHandle, owner: &str) -> Result<LoginCheck, LoginError> {
        let (record, status) = match self.load(handle, owner).await? {
            Named::Ghost(g) if g.cancelled => return Ok(LoginCheck::Failed(LoginError::Cancelled)),
            Named::Ghost(g) => {
                return Ok(if self.records.now_ms() >= g.expires_at_ms {
                    LoginCheck::Expired
                } else {
                    LoginCheck::Pending
                });
            }
            Named::Engine(_, record, status) => (record, status),
        };
        Ok(match status {
            LoginStatus::Approved(identity) | LoginStatus::Exchanged(identity) => {
                match self.approved(&record, &identity) {
                    Ok(a) => LoginCheck::Approved(Box::new(a)),
                    Err(e) => LoginCheck::Failed(e),
                }
            }
            LoginStatus::Redeemed => return Err(LoginError::NotFound),
            LoginStatus::Denied => LoginCheck::Denied,
            LoginStatus::Expired => LoginCheck::Expired,
            LoginStatus::Cancelled => LoginCheck::Failed(LoginError::Cancelled),
            LoginStatus::Failed(e) => LoginCheck::Failed(LoginError::Upstream(e.to_string())),
            _ => LoginCheck::Pending,
        })
    }

    async fn cancel(&self, handle: &LoginHandle, owner: &str) -> Result<(), LoginError> {
        match self.load(handle, owner).await? {
            Named::Engine(id, _, _) => match self.client.cancel(&id).await {
                Ok(()) | Err(CoreError::LoginNotFound) => Ok(()),
                Err(CoreError::AlreadyCompleted) => Err(LoginError::NotFound),
                Err(e) => Err(LoginError::Upstream(e.to_string())),
            },
            Named::Ghost(mut g) => {
                g.cancelled = true;
                let ttl =
                    Duration::from_millis(g.expires_at_ms.saturating_sub(self.records.now_ms()))
                        + RECORD_GRACE;
                self.records
                    .put("ghost", &handle.store_key(), &g, ttl)
                    .await
            }
        }
    }

    async fn redeem(&self, handle: &LoginHandle, owner: &str) -> Result<ApprovedLogin, LoginError> {
        let approved = match self.check(handle, owner).await? {
            LoginCheck::Approved(a) => a,
            _ => return Err(LoginError::NotApproved),
        };
        let Ok(id) = handle.as_str().parse::<LoginId>() else {
            return Err(LoginError::NotFound);
        };
        // Exactly one caller, on any instance, gets the login.
        match self.client.redeem(&id, owner).await {
            Ok(_) => Ok(*approved),
            Err(CoreError::AlreadyCompleted | CoreError::LoginNotFound) => {
                Err(LoginError::NotFound)
            }
            Err(e) => Err(LoginError::Upstream(e.to_string())),
        }
    }
}

#[cfg(test)]
#[path = "backend_tests.rs"]
mod tests;
