//! One instance of the engine: its configuration, HTTP client, caches, store side and
//! poller handle, shared (`Arc`) by the public client, the poller and the background task.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::sync::{Semaphore, mpsc};

use crate::commands::Command;
use crate::config::Config;
use crate::http::{Http, SendError};
use crate::login::engine::{Engine, Loaded, LoginRecord};
use crate::login::state::Event;
use crate::metadata::Metadata;
use crate::metrics::Metrics;
use crate::verify::{VerifyParams, check_nonce};
use crate::wire::{REDIRECT_GRANT, Stage, error_from_response, parse_tokens};
use crate::{Error, Identity, LoginId, Msisdn, TokenError};

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) http: Http,
    pub(crate) meta: Metadata,
    pub(crate) verify: VerifyParams,
    pub(crate) engine: Engine,
    pub(crate) poller: OnceLock<mpsc::UnboundedSender<Command>>,
    /// Starts the poller task; given by the client so that this module needs not know it.
    pub(crate) spawn_poller: fn(Weak<Inner>) -> mpsc::UnboundedSender<Command>,
    pub(crate) background: OnceLock<()>,
    pub(crate) poll_permits: Arc<Semaphore>,
    pub(crate) metrics: Metrics,
    pub(crate) user_exists_cache: moka::future::Cache<String, bool>,
    /// Keys the hash of phone numbers in the store (derived from the client secret, so
    /// every instance of one merchant computes the same).
    pub(crate) number_key: hmac::Key,
}

impl Inner {
    pub(crate) fn send(self: &Arc<Self>, cmd: Command) {
        let tx = self
            .poller
            .get_or_init(|| (self.spawn_poller)(Arc::downgrade(self)));
        // Fails only when the poller is gone, i.e. the runtime shuts down.
        let _ = tx.send(cmd);
    }

    /// Has this instance's poller follow `record` from now until its deadline.
    pub(crate) fn schedule(self: &Arc<Self>, id: &LoginId, record: &LoginRecord) {
        let left = record
            .expires_at()
            .duration_since(self.engine.now())
            .unwrap_or(Duration::ZERO);
        self.send(Command::Add {
            id: id.clone(),
            interval: record.interval().max(Duration::from_millis(10)),
            deadline: tokio::time::Instant::now() + left,
        });
    }

    /// Applies `event` for the poller; a refusal (the login moved on elsewhere) is fine.
    pub(crate) async fn finish(&self, id: &LoginId, event: Event) {
        self.finish_from(id, event, None).await;
    }

    /// [`finish`](Self::finish) from the record the poll just read.
    pub(crate) async fn finish_from(&self, id: &LoginId, event: Event, read: Option<Loaded>) {
        if let Err(e) = self.engine.transition_from(id, event, read).await {
            tracing::debug!(login_id = %id, error = %e.code(), "the login had moved on");
        }
    }

    /// The keyed hash of a phone number, for limits kept in the store.
    pub(crate) fn number_key(&self, msisdn: &Msisdn) -> String {
        let tag = hmac::sign(&self.number_key, msisdn.as_str().as_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..18])
    }

    /// The code exchange of variant 2, verified against `record`.
    pub(crate) async fn exchange(
        &self,
        code: &str,
        record: &LoginRecord,
    ) -> Result<Identity, Error> {
        let endpoints = self.meta.endpoints().await?;
        let resp = self
            .http
            .post_form_authenticated(
                &endpoints.token,
                &[("grant_type", REDIRECT_GRANT), ("code", code)],
            )
            .await
            .map_err(SendError::into_error)?;
        if !resp.status.is_success() {
            let e = error_from_response(&resp, Stage::Exchange, self.config.clock.now());
            tracing::info!(status = resp.status.as_u16(), error = %e.code(), "code exchange refused");
            return Err(e);
        }
        let tokens = parse_tokens(&resp.body)?;
        let verified = self.verify_id_token(&tokens.id_token).await?;
        if verified.auth_req_id.as_deref() != Some(record.auth_req_id.as_str()) {
            tracing::warn!("code exchange for another login than the browser's state names");
            return Err(TokenError::AuthReqId.into());
        }
        check_nonce(&verified, &record.nonce)?;
        self.fetch_identity(&tokens, verified).await
    }
}
