//! Continue in browser: the phone's browser comes back with a `code`, and with the
//! `state` we sent when Vipps returns it (Vipps documents `code` only).
//!
//! - **With `state`**: the login is found by `state` before anything is sent to Vipps (a
//!   forged or replayed `state` costs Vipps nothing and spoils nothing), then the code is
//!   exchanged once and the result verified against that login.
//! - **Without `state`**: the code is exchanged first (once: a code seen before is refused
//!   before any call), the ID token verified, and the login found by the ID token's
//!   `auth_req_id` — only a login of ours waiting for the phone's browser. A forged code
//!   is refused by Vipps and changes nothing; a genuine code can only complete the login
//!   it was issued for.
//!
//! Either way the callback is counted against the per-client callback limit first, and a
//! login is exchanged at most once at a time on every instance.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument as _;

use super::engine::Engine;
use super::keys;
use super::policy::{self, RateLimits};
use super::record::LoginRecord;
use super::state::Event;
use crate::{Error, Identity, LoginId, LoginStatus, LoginView, TokenError};

/// How long a browser code is remembered as used (Vipps' codes live minutes).
const CODE_MEMORY: Duration = Duration::from_secs(15 * 60);

fn printable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| (0x21..0x7f).contains(&b))
}

impl Engine {
    /// See [`VippsClient::complete_browser_from`](crate::VippsClient::complete_browser_from).
    pub(crate) async fn complete_browser(
        &self,
        limits: &RateLimits,
        state: &str,
        code: &str,
        client_key: Option<&str>,
    ) -> Result<(LoginView, Arc<Identity>), Error> {
        policy::count_callback(&**self.store(), limits, client_key).await?;
        if !printable(state, 256) {
            return Err(Error::UnknownCallback);
        }
        if !printable(code, 2048) {
            return Err(Error::InvalidCode);
        }
        let id = self.login_by_key(&keys::browser_state(state)).await?;
        let record = self.waiting_browser_login(&id).await?;
        let span = self.records.span("vipps_login.browser", &id, Some(&record));
        async {
            self.exclusively(&id, async {
                let result = match self.upstream.exchange(code).await {
                    Ok(tokens) => self.identity_for(&record, &tokens).await,
                    Err(e) => Err(e),
                };
                self.settle(&id, result).await
            })
            .await
        }
        .instrument(span)
        .await
    }

    /// See [`VippsClient::complete_browser_code`](crate::VippsClient::complete_browser_code).
    pub(crate) async fn complete_browser_by_code(
        &self,
        limits: &RateLimits,
        code: &str,
        client_key: Option<&str>,
    ) -> Result<(LoginView, Arc<Identity>), Error> {
        policy::count_callback(&**self.store(), limits, client_key).await?;
        if !printable(code, 2048) {
            return Err(Error::InvalidCode);
        }
        // A code goes to Vipps once, whichever instance the link is opened on.
        if !self
            .store()
            .insert_if_absent(&keys::code(code), vec![1], CODE_MEMORY)
            .await?
        {
            return Err(Error::UnknownCallback);
        }
        let tokens = self.upstream.exchange(code).await?;
        let verified = self.upstream.verify_id_token(&tokens.id_token).await?;
        // Only a verified token names the login; nothing before this point changed one.
        let auth_req_id = verified
            .auth_req_id
            .clone()
            .ok_or(Error::TokenVerification(TokenError::AuthReqId))?;
        let id = self
            .login_by_key(&keys::auth_req(&auth_req_id))
            .await
            .inspect_err(|_| {
                tracing::warn!("a verified browser code names no login waiting here")
            })?;
        let record = self.waiting_browser_login(&id).await?;
        let span = self.records.span("vipps_login.browser", &id, Some(&record));
        async {
            self.exclusively(&id, async {
                let result = self
                    .identity_from_verified(&record, &tokens, verified)
                    .await;
                self.settle(&id, result).await
            })
            .await
        }
        .instrument(span)
        .await
    }

    /// The login a side key names; a key that names none is a link of no login here.
    async fn login_by_key(&self, key: &str) -> Result<LoginId, Error> {
        self.records
            .login_named_by(key)
            .await?
            .ok_or(Error::UnknownCallback)
    }

    /// The login's record, when it is a browser login still waiting for the phone.
    async fn waiting_browser_login(&self, id: &LoginId) -> Result<LoginRecord, Error> {
        let record = self
            .records
            .load(id)
            .await?
            .ok_or(Error::UnknownCallback)?
            .record;
        if !record.browser {
            return Err(Error::UnknownCallback);
        }
        if !matches!(record.status, LoginStatus::AwaitingBrowser) {
            return Err(record.status.refusal());
        }
        Ok(record)
    }

    /// Runs `work` as the one exchange of login `id` in progress, on every instance.
    async fn exclusively<T>(
        &self,
        id: &LoginId,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let store = self.store();
        let claim = keys::exchanging(id);
        if !store
            .insert_if_absent(&claim, vec![1], Duration::from_secs(60))
            .await?
        {
            return Err(Error::AlreadyCompleted);
        }
        let result = work.await;
        let _ = store.remove(&claim).await;
        result
    }

    /// Moves the login on from the exchange's result.
    async fn settle(
        &self,
        id: &LoginId,
        result: Result<Identity, Error>,
    ) -> Result<(LoginView, Arc<Identity>), Error> {
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
            Err(Error::Declined) => Event::Deny,
            Err(Error::Expired) => Event::Expire,
            Err(e) => Event::Fail((&e).into()),
        };
        let (_, after) = self.records.transition(id, event).await?;
        self.forget(id);
        match &after.status {
            LoginStatus::Exchanged(identity) => {
                tracing::info!("login continued in the browser");
                Ok((after.view(id), Arc::clone(identity)))
            }
            other => Err(other.refusal()),
        }
    }
}
