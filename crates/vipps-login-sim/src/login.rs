//! The login request model: a request as the simulator holds it, from the validated
//! start call through the customer's answer to the grant it yields.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;

use crate::client::{DelegatedConsentQuestion, SimClient};
use crate::config::SimConfig;
use crate::error::SimError;
use crate::oauth_error::OAuthError;
use crate::request::{RequestFlow, RequestStatus, SimRequest};
use crate::tokens::Grant;
use crate::users::UserRecord;

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

/// A login request as the simulator holds it.
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
    /// A pending request `id` started `now`, polled at `interval`; it reaches the phone
    /// at once unless the user has push turned off.
    pub(crate) fn new(id: String, new: NewRequest, now: Instant, interval: Duration) -> Self {
        AuthRequest {
            id,
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
            expires_at: now + new.expires_in,
            interval,
            last_poll: None,
            status: RequestStatus::Pending,
            sid: uuid::Uuid::new_v4().to_string(),
            answers: BTreeMap::new(),
            finished_at: None,
        }
    }

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

    /// The customer approves a pending request. `answers` are the delegated-consent
    /// answers (all accepted when `None`); they are kept only when the
    /// `delegatedConsents` scope was requested.
    pub(crate) fn approve(
        &mut self,
        answers: Option<BTreeMap<String, bool>>,
        now: Instant,
    ) -> Result<(), SimError> {
        let status = self.status_at(now);
        if status != RequestStatus::Pending {
            return Err(SimError::NotPending(status));
        }
        let mut answers = answers.unwrap_or_default();
        if self.scopes.iter().any(|s| s == "delegatedConsents") {
            for q in &self.client.delegated_consents {
                let a = answers.entry(q.id.clone()).or_insert(true);
                if q.required && !*a {
                    return Err(SimError::ConsentRequired(q.text.clone()));
                }
            }
        } else {
            answers.clear();
        }
        self.answers = answers;
        self.status = RequestStatus::Approved;
        self.delivered = true;
        self.finished_at = Some(now);
        Ok(())
    }

    /// The customer denies a pending request.
    pub(crate) fn deny(&mut self, now: Instant) -> Result<(), SimError> {
        let status = self.status_at(now);
        if status != RequestStatus::Pending {
            return Err(SimError::NotPending(status));
        }
        self.status = RequestStatus::Denied;
        self.delivered = true;
        self.finished_at = Some(now);
        Ok(())
    }

    /// One poll of the CIBA grant at `now`: `slow_down` (and a longer interval) when it
    /// comes too early, else the grant once approved, else why not.
    pub(crate) fn poll(&mut self, now: Instant, cfg: &SimConfig) -> Result<Grant, OAuthError> {
        if let Some(last) = self.last_poll {
            let tolerance = cfg.effective_tolerance(self.interval);
            if now.duration_since(last) + tolerance < self.interval {
                self.interval += cfg.slow_down_step;
                self.last_poll = Some(now);
                let mut err = OAuthError::bad(
                    "slow_down",
                    "Polled faster than the interval; wait the new interval between polls",
                );
                err.interval = Some(self.interval);
                return Err(err);
            }
        }
        self.last_poll = Some(now);
        match self.status_at(now) {
            RequestStatus::Pending => Err(OAuthError::bad(
                "authorization_pending",
                "The customer has not acted yet",
            )),
            RequestStatus::Approved if self.redirect_uri.is_some() => Err(OAuthError::bad(
                "authorization_pending",
                "The customer continues in the browser; exchange the code from the redirect",
            )),
            RequestStatus::Approved => Ok(self.complete(false)),
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

    /// Marks an approved request as completed (tokens issued) and returns its grant;
    /// `redirect` tells whether it came from the code exchange of the webpage variant.
    pub(crate) fn complete(&mut self, redirect: bool) -> Grant {
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
    pub(crate) questions: Vec<DelegatedConsentQuestion>,
    pub(crate) consent_given: bool,
    pub(crate) expires_in: Duration,
}
