//! Continue in browser: the phone's browser comes back with `state` and `code`; the
//! engine finds the login by `state` before anything is sent to Vipps, exchanges the code
//! once, and verifies the result against that login.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument as _;

use super::engine::Engine;
use super::keys;
use super::policy::{self, RateLimits};
use super::state::Event;
use crate::{Error, Identity, LoginId, LoginStatus, LoginView, TokenError};

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
        let printable = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| (0x21..0x7f).contains(&b))
        };
        if !printable(state, 256) {
            return Err(Error::UnknownCallback);
        }
        if !printable(code, 2048) {
            return Err(Error::InvalidCode);
        }
        let id = self
            .store()
            .get(&keys::browser_state(state))
            .await?
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<LoginId>().ok())
            .ok_or(Error::UnknownCallback)?;
        let span = tracing::info_span!("vipps_login", login_id = %id);
        self.exchange_for(&id, code).instrument(span).await
    }

    async fn exchange_for(
        &self,
        id: &LoginId,
        code: &str,
    ) -> Result<(LoginView, Arc<Identity>), Error> {
        let store = self.store();
        let loaded = self.records.load(id).await?.ok_or(Error::UnknownCallback)?;
        let record = loaded.record;
        if !record.browser {
            return Err(Error::UnknownCallback);
        }
        if !matches!(record.status, LoginStatus::AwaitingBrowser) {
            return Err(record.status.refusal());
        }
        // One exchange at a time per login, on every instance.
        let claim = keys::exchanging(id);
        if !store
            .insert_if_absent(&claim, vec![1], Duration::from_secs(60))
            .await?
        {
            return Err(Error::AlreadyCompleted);
        }
        let result = match self.upstream.exchange(code).await {
            Ok(tokens) => self.identity_for(&record, &tokens).await,
            Err(e) => Err(e),
        };
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
            Err(Error::Declined) => Event::Deny,
            Err(Error::Expired) => Event::Expire,
            Err(e) => Event::Fail((&e).into()),
        };
        let (_, after) = self.records.transition(id, event).await?;
        match &after.status {
            LoginStatus::Exchanged(identity) => {
                tracing::info!("login continued in the browser");
                Ok((after.view(id), Arc::clone(identity)))
            }
            other => Err(other.refusal()),
        }
    }
}
