//! The one place this crate calls into `vipps-login-core`: [`VippsPhoneLogin`] (the SPI
//! over the core client) and [`Records`] (the provider's small records in the core store).
//!
//! The per-login `LoginRecord` is one serde struct, meant to move into the login
//! engine's `extra` context when the core grows its engine API. The switch, call by call:
//!
//! | here, today | with the engine |
//! |---|---|
//! | `client.start(request)` + `records.put("login", …)` + the in-process `StartLimiter` | `client.start_login(request, LoginContext::new(owner).client_key(owner).extra(record))` (limits per number and per client key in the engine) |
//! | `records.get("login", …)` + owner check + `client.status(&core_id)` | `client.login(&id)` → status and context (owner, extra) |
//! | `records.take("login", …)` after `Approved` | `client.redeem(&id, owner)` (exactly one caller, then `Redeemed`) |
//! | `client.cancel(&core_id)` | unchanged |
//!
//! The handle can then simply be the engine's `LoginId`; ghost logins of the
//! enumeration-resistant mode stay records of their own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use vipps_login_core::{
    BindingMessage, Error as CoreError, Identity, LoginHint, LoginId, LoginRequest, LoginStatus,
    MemoryStore, Msisdn, Store, VippsClient,
};

use crate::authcode::PendingAuthorization;
use crate::limits::StartLimiter;
use crate::registry::SubjectType;
use crate::spi::{
    ApprovedLogin, LoginCheck, LoginHandle, PhoneLogin, StartRequest, StartedPhoneLogin,
};
use crate::{LoginError, OidcScopes, SubjectMapping, map_claims};

/// How long a login's record outlives its expiry (so late polls get `expired_token`).
const RECORD_GRACE: Duration = Duration::from_secs(600);

/// The provider's records (login records, poll state, codes, access tokens) in the core's
/// [`Store`], JSON-encoded under keys starting with `vlp:`.
#[derive(Clone)]
pub struct Records(Arc<dyn Store>);

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Records")
    }
}

impl Records {
    /// Records in a fresh in-process store.
    #[must_use]
    pub fn memory() -> Records {
        Records(Arc::new(MemoryStore::new()))
    }

    /// Records in the store of a core client (shared with its logins).
    #[must_use]
    pub fn of(client: &VippsClient) -> Records {
        Records(client.store().clone())
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
        self.0
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
            .0
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
            .0
            .take(&Self::key(kind, id))
            .await
            .map_err(|_| store_failed())?;
        Ok(v.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Deletes (`kind`, `id`).
    pub async fn remove(&self, kind: &str, id: &str) -> Result<(), LoginError> {
        self.0
            .remove(&Self::key(kind, id))
            .await
            .map_err(|_| store_failed())
    }
}

fn store_failed() -> LoginError {
    LoginError::Upstream("the login store failed".into())
}

pub(crate) fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What the provider keeps per login (the future engine `extra`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoginRecord {
    owner: String,
    /// Digits with country code; compared with Vipps' verified number.
    msisdn: String,
    scopes: OidcScopes,
    nonce: Option<String>,
    subject_type: SubjectType,
    /// `None` for a login that exists only to hide an ineligible number.
    core_id: Option<LoginId>,
    expires_at_ms: u64,
    cancelled: bool,
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
    limiter: Arc<StartLimiter>,
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
            limiter: Arc::default(),
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
        self.last_expiry_ms = Arc::new(AtomicU64::new(
            u64::try_from(default_expiry.as_millis()).unwrap_or(u64::MAX),
        ));
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

    async fn load(&self, handle: &LoginHandle, owner: &str) -> Result<LoginRecord, LoginError> {
        match self
            .records
            .get::<LoginRecord>("login", &handle.store_key())
            .await?
        {
            Some(r) if r.owner == owner => Ok(r),
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
            core_id: None,
            expires_at_ms: 0,
            cancelled: false,
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
                .unwrap_or(unix_now_ms() / 1000),
        })
    }
}

fn start_error(e: CoreError) -> LoginError {
    match e {
        CoreError::InvalidPhoneNumber(why) => LoginError::InvalidHint(why),
        CoreError::InvalidBindingMessage(why) => LoginError::InvalidBindingMessage(why),
        CoreError::InvalidScope(why) => LoginError::InvalidScope(why),
        CoreError::InvalidInput(why) => LoginError::InvalidRequest(why),
        CoreError::InvalidUser | CoreError::OldApp => LoginError::UnknownUser,
        CoreError::RateLimited { retry_after } => LoginError::RateLimited { retry_after },
        other => LoginError::Upstream(other.to_string()),
    }
}

#[async_trait]
impl PhoneLogin for VippsPhoneLogin {
    async fn start(&self, req: StartRequest) -> Result<StartedPhoneLogin, LoginError> {
        if let Some(limit) = &req.start_limit
            && let Err(wait) = self.limiter.check(&req.owner, limit)
        {
            return Err(LoginError::RateLimited {
                retry_after: Some(wait),
            });
        }
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
        let (core_id, expires_in, interval) = match self.client.start(login).await {
            Ok(s) => {
                let expires_in = s
                    .expires_at
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                let ms = u64::try_from(s.interval.as_millis()).unwrap_or(u64::MAX);
                self.last_interval_ms.store(ms, Ordering::Relaxed);
                if req.requested_expiry.is_none() {
                    let ms = u64::try_from(expires_in.as_millis()).unwrap_or(u64::MAX);
                    self.last_expiry_ms.store(ms, Ordering::Relaxed);
                }
                (Some(s.id), expires_in, s.interval)
            }
            Err(CoreError::InvalidUser | CoreError::OldApp) if self.enumeration_resistant => {
                tracing::info!(owner = %req.owner, hint = %req.hint.masked(), "ineligible number; answering as a normal login");
                let interval = Duration::from_millis(self.last_interval_ms.load(Ordering::Relaxed));
                let usual = Duration::from_millis(self.last_expiry_ms.load(Ordering::Relaxed));
                (None, req.requested_expiry.unwrap_or(usual), interval)
            }
            Err(e) => return Err(start_error(e)),
        };
        let handle = LoginHandle::generate();
        let record = LoginRecord {
            owner: req.owner,
            msisdn: req.hint.as_str().to_owned(),
            scopes: req.scopes,
            nonce: req.nonce,
            subject_type: req.subject_type,
            core_id,
            expires_at_ms: unix_now_ms()
                .saturating_add(u64::try_from(expires_in.as_millis()).unwrap_or(u64::MAX)),
            cancelled: false,
        };
        self.records
            .put(
                "login",
                &handle.store_key(),
                &record,
                expires_in + RECORD_GRACE,
            )
            .await?;
        tracing::info!(owner = %record.owner, handle = ?handle, hint = %req.hint.masked(), "phone login started");
        Ok(StartedPhoneLogin {
            handle,
            binding_message: binding,
            expires_in,
            interval,
        })
    }

    async fn check(&self, handle: &LoginHandle, owner: &str) -> Result<LoginCheck, LoginError> {
        let r = self.load(handle, owner).await?;
        if r.cancelled {
            return Ok(LoginCheck::Failed(LoginError::Cancelled));
        }
        let Some(core_id) = &r.core_id else {
            return Ok(if unix_now_ms() >= r.expires_at_ms {
                LoginCheck::Expired
            } else {
                LoginCheck::Pending
            });
        };
        let status = match self.client.status(core_id).await {
            Ok(s) => s,
            Err(CoreError::LoginNotFound) => return Ok(LoginCheck::Expired),
            Err(e) => return Err(LoginError::Upstream(e.to_string())),
        };
        Ok(match status {
            LoginStatus::Approved(identity) => match self.approved(&r, &identity) {
                Ok(a) => LoginCheck::Approved(Box::new(a)),
                Err(e) => LoginCheck::Failed(e),
            },
            LoginStatus::Denied => LoginCheck::Denied,
            LoginStatus::Expired => LoginCheck::Expired,
            LoginStatus::Cancelled => LoginCheck::Failed(LoginError::Cancelled),
            LoginStatus::Failed(e) => LoginCheck::Failed(LoginError::Upstream(e.to_string())),
            _ => LoginCheck::Pending,
        })
    }

    async fn cancel(&self, handle: &LoginHandle, owner: &str) -> Result<(), LoginError> {
        let mut r = self.load(handle, owner).await?;
        if let Some(core_id) = &r.core_id {
            match self.client.cancel(core_id).await {
                Ok(()) | Err(CoreError::LoginNotFound) => {}
                Err(CoreError::AlreadyCompleted) => return Err(LoginError::NotFound),
                Err(e) => return Err(LoginError::Upstream(e.to_string())),
            }
        }
        r.cancelled = true;
        let ttl =
            Duration::from_millis(r.expires_at_ms.saturating_sub(unix_now_ms())) + RECORD_GRACE;
        self.records
            .put("login", &handle.store_key(), &r, ttl)
            .await
    }

    async fn redeem(&self, handle: &LoginHandle, owner: &str) -> Result<ApprovedLogin, LoginError> {
        let approved = match self.check(handle, owner).await? {
            LoginCheck::Approved(a) => a,
            _ => return Err(LoginError::NotApproved),
        };
        // Exactly one concurrent caller takes the record.
        match self
            .records
            .take::<LoginRecord>("login", &handle.store_key())
            .await?
        {
            Some(r) if r.owner == owner => Ok(*approved),
            _ => Err(LoginError::NotFound),
        }
    }
}

#[cfg(test)]
#[path = "backend_tests.rs"]
mod tests;
