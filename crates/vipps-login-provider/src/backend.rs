//! [`VippsPhoneLogin`]: the SPI over the core's login engine.
//!
//! A login is the engine's alone: the handle *is* the engine's `LoginId`, its owner is the
//! relying party's client id, and the engine keeps the number it was started for. Every
//! login here asks Vipps for `phoneNumber`, so the engine checks, before any approval,
//! that the verified number is that number. How a login ended is the engine's
//! [`LoginEnd`], mapped to a [`LoginCheck`] in one table ([`login_check`]). Only what is
//! the provider's own (the OIDC scopes, the client's nonce, the subject type) travels in
//! the engine context's `extra`. The abuse limits are the engine's (one waiting login per
//! number, starts per number, cool-downs after a declined or unanswered push, and the
//! client's own start limit), counted in the store so that every instance and every way
//! in counts the same. In the enumeration-resistant mode, a number Vipps will not log in
//! gets a decoy login of the engine under the same admission: nothing is pushed, and it
//! waits until its deadline and expires.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use vipps_login_core::{
    BindingMessage, Error as CoreError, FailureReason, Identity, LoginContext, LoginEnd, LoginHint,
    LoginId, LoginRequest, LoginView, RateLimits, TokenError, VippsClient, Window,
};

use crate::records::{Records, store_failed};
use crate::registry::SubjectType;
use crate::spi::{
    ApprovedLogin, LoginCheck, LoginHandle, PhoneLogin, StartRequest, StartedPhoneLogin,
};
use crate::{LoginError, OidcScopes, SubjectMapping, map_claims};

/// The records' kind of handles: the engine's login id each handle names.
const HANDLE: &str = "handle";
/// How long a handle outlives its login's deadline (the result is redeemed within it).
const HANDLE_AFTERLIFE: Duration = Duration::from_secs(3600);

/// What the provider keeps with a login, in the engine context's `extra`: only what is
/// its own (the number, the owner and how the login ended are the engine's).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LoginExtra {
    /// The OpenID scopes the relying party was granted.
    pub(crate) scopes: OidcScopes,
    /// The relying party's nonce.
    pub(crate) nonce: Option<String>,
    /// Which `sub` the relying party sees.
    #[serde(default)]
    pub(crate) subject_type: SubjectType,
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
    /// The engine's abuse limits for every start (the per-client window comes from each
    /// client's own start limit).
    limits: RateLimits,
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
    /// customer's phone, unlocked), the engine's default abuse limits
    /// ([`RateLimits::default`]) and enumeration resistance off.
    #[must_use]
    pub fn new(client: VippsClient) -> VippsPhoneLogin {
        VippsPhoneLogin {
            records: Records::of(&client),
            client,
            subjects: SubjectMapping::Vipps,
            enumeration_resistant: false,
            amr: Arc::from(vec!["mfa".to_owned(), "swk".to_owned()]),
            acr: Arc::from("urn:vipps-login-rs:acr:vipps-app"),
            limits: RateLimits::default(),
        }
    }

    /// The abuse limits every start is admitted by, counted in the store (the same as
    /// the desks' and the Keycloak channel's when they share it): one waiting login per
    /// number, starts per number, cool-downs after a declined or unanswered push. Their
    /// per-client window is ignored: each relying party's own start limit
    /// ([`StartRequest::start_limit`]) counts its starts.
    ///
    /// # Errors
    /// Limits that make no sense (see [`RateLimits::validate`]).
    pub fn rate_limits(mut self, limits: RateLimits) -> Result<Self, LoginError> {
        limits
            .validate()
            .map_err(|e| LoginError::InvalidRequest(e.to_string()))?;
        self.limits = limits.no_per_client();
        Ok(self)
    }

    /// The key for pairwise subjects of clients with `subject_type = "pairwise"`.
    #[must_use]
    pub fn subject_mapping(mut self, mapping: SubjectMapping) -> Self {
        self.subjects = mapping;
        self
    }

    /// Enumeration resistance: a number that cannot log in (no account, not eligible, app
    /// too old) starts like any other and, like an ignored push, ends as expired after the
    /// normal delay instead of failing at once. It gets a decoy login of the engine
    /// ([`VippsClient::start_login_or_decoy`]): nothing is pushed, it holds the number's
    /// one waiting login as a real one would, and claims the expiry and interval Vipps
    /// gave the last real login. One waiting login per number is always on in this mode:
    /// without it, Vipps' own cap on a user's pending logins would tell real numbers
    /// apart. Off by default (staff tools want the plain answer); turn on for public
    /// facades.
    #[must_use]
    pub fn enumeration_resistant(mut self, on: bool) -> Self {
        self.enumeration_resistant = on;
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

    /// The login `handle` names for `owner` (another owner's login is not found), with
    /// what the provider keeps with it.
    async fn load(
        &self,
        handle: &LoginHandle,
        owner: &str,
    ) -> Result<(LoginId, LoginView, LoginExtra), LoginError> {
        let id = self
            .records
            .get::<LoginId>(HANDLE, handle.as_str())
            .await?
            .ok_or(LoginError::NotFound)?;
        let view = match self.client.login(&id).await {
            Ok(view) => view,
            Err(CoreError::LoginNotFound) => return Err(LoginError::NotFound),
            Err(e) => return Err(LoginError::Upstream(e.to_string())),
        };
        if view.context.owner() != owner {
            return Err(LoginError::NotFound);
        }
        let extra = serde_json::from_value(view.context.extra_value().clone())
            .map_err(|_| LoginError::NotFound)?;
        Ok((id, view, extra))
    }

    /// The [`ApprovedLogin`] of `owner` for `identity` (verified by the engine, the
    /// started number included): the subject for this owner and the claims of its scopes.
    pub(crate) fn approved(
        &self,
        owner: &str,
        extra: &LoginExtra,
        identity: &Identity,
    ) -> ApprovedLogin {
        let subject = match extra.subject_type {
            SubjectType::Public => identity.sub.clone(),
            SubjectType::Pairwise => self.subjects.subject(owner, &identity.sub),
        };
        let claim_secs = |k: &str| {
            identity
                .id_token_claims
                .get(k)
                .and_then(serde_json::Value::as_u64)
        };
        ApprovedLogin {
            subject,
            claims: map_claims(&identity.userinfo, &extra.scopes),
            scopes: extra.scopes.clone(),
            nonce: extra.nonce.clone(),
            amr: self.amr.to_vec(),
            acr: self.acr.to_string(),
            auth_time: claim_secs("auth_time")
                .or_else(|| claim_secs("iat"))
                .unwrap_or_else(|| self.client.config().clock().unix_secs()),
        }
    }
}

/// How a login that ended as `end` (`None`: it still waits) looks through the SPI: the
/// one table from the engine's [`LoginEnd`] to [`LoginCheck`]. `approve` maps an approved
/// identity; a redeemed login is not found any more.
pub(crate) fn login_check(
    end: Option<LoginEnd>,
    approve: impl FnOnce(&Identity) -> ApprovedLogin,
) -> Result<LoginCheck, LoginError> {
    let Some(end) = end else {
        return Ok(LoginCheck::Pending);
    };
    Ok(match end {
        LoginEnd::Approved(identity) => LoginCheck::Approved(Box::new(approve(&identity))),
        LoginEnd::Redeemed => return Err(LoginError::NotFound),
        LoginEnd::Declined => LoginCheck::Denied,
        LoginEnd::Expired => LoginCheck::Expired,
        LoginEnd::Cancelled => LoginCheck::Failed(LoginError::Cancelled),
        LoginEnd::CannotUseVipps(_) => LoginCheck::Failed(LoginError::UnknownUser),
        LoginEnd::Failed(FailureReason::TokenVerification(TokenError::PhoneNumber)) => {
            LoginCheck::Failed(LoginError::PhoneMismatch)
        }
        LoginEnd::Failed(reason) => LoginCheck::Failed(LoginError::Upstream(reason.to_string())),
        other => LoginCheck::Failed(LoginError::Upstream(other.as_str().to_owned())),
    })
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
    async fn readiness(&self) -> vipps_login_core::health::Readiness {
        self.client.readiness().await
    }

    async fn start(&self, req: StartRequest) -> Result<StartedPhoneLogin, LoginError> {
        let binding = req
            .binding_message
            .clone()
            .unwrap_or_else(BindingMessage::generate);
        // `to_vipps` always asks for `phoneNumber`: the engine's started-number check.
        let mut login = LoginRequest::new(LoginHint::Msisdn(req.hint.clone()))
            .scopes(req.scopes.to_vipps())
            .binding_message(binding.clone());
        if let Some(e) = req.requested_expiry {
            login = login.requested_expiry(e);
        }
        let extra = LoginExtra {
            scopes: req.scopes.clone(),
            nonce: req.nonce.clone(),
            subject_type: req.subject_type,
        };
        let extra = serde_json::to_value(&extra).map_err(|_| store_failed())?;
        let context = LoginContext::new(req.owner.clone())
            .client_key(format!("rp:{}", req.owner))
            .actor(vipps_login_core::audit::Actor::relying_party(
                req.owner.clone(),
            ))
            .extra(extra);
        // The engine's limits, and the client's start limit, counted by the engine in the
        // store (every instance, every way in).
        let mut limits = self.limits.clone();
        if let Some(limit) = &req.start_limit {
            limits = limits.per_client(Window::new(limit.max, limit.window()));
        }
        if self.enumeration_resistant {
            limits = limits.one_pending_per_number(true);
        }
        let client = self
            .client
            .with_limits(limits)
            .map_err(|e| LoginError::InvalidRequest(e.to_string()))?;
        let now = || self.client.config().clock().now();
        let started = if self.enumeration_resistant {
            client.start_login_or_decoy(login, context).await
        } else {
            client.start_login(login, context).await
        }
        .map_err(start_error)?;
        let expires_in = started.expires_at.duration_since(now()).unwrap_or_default();
        // The handle a relying party holds is not the engine's login id, which the engine
        // logs: a handle (a CIBA `auth_req_id`) is a credential and stays out of logs.
        let handle = LoginHandle::generate();
        self.records
            .put(
                HANDLE,
                handle.as_str(),
                &started.id,
                expires_in + HANDLE_AFTERLIFE,
            )
            .await?;
        tracing::info!(owner = %req.owner, login_id = %started.id, hint = %req.hint.masked(), "phone login started");
        Ok(StartedPhoneLogin {
            handle,
            binding_message: binding,
            expires_in,
            interval: started.interval,
        })
    }

    async fn check(&self, handle: &LoginHandle, owner: &str) -> Result<LoginCheck, LoginError> {
        let (_, view, extra) = self.load(handle, owner).await?;
        login_check(view.end(), |identity| {
            self.approved(owner, &extra, identity)
        })
    }

    async fn cancel(&self, handle: &LoginHandle, owner: &str) -> Result<(), LoginError> {
        let (id, _, _) = self.load(handle, owner).await?;
        match self.client.cancel(&id).await {
            Ok(()) | Err(CoreError::LoginNotFound) => Ok(()),
            Err(CoreError::AlreadyCompleted) => Err(LoginError::NotFound),
            Err(e) => Err(LoginError::Upstream(e.to_string())),
        }
    }

    async fn redeem(&self, handle: &LoginHandle, owner: &str) -> Result<ApprovedLogin, LoginError> {
        let (id, view, extra) = self.load(handle, owner).await?;
        match view.end() {
            Some(LoginEnd::Approved(_)) => {}
            Some(LoginEnd::Redeemed) => return Err(LoginError::NotFound),
            _ => return Err(LoginError::NotApproved),
        }
        // Exactly one caller, on any instance, gets the login.
        match self.client.redeem_login(&id, owner).await {
            Ok(redeemed) => Ok(self.approved(owner, &extra, &redeemed.identity)),
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
