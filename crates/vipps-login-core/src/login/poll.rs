//! What one poll of Vipps' token endpoint means for a login: the decisions the poller
//! (which only keeps time) leaves to the engine.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tracing::Instrument as _;

use super::engine::Engine;
use super::poller::{Outcome, Polled};
use super::record::Loaded;
use super::state::Event;
use super::view::LoginKind;
use crate::metrics::Metrics;
use crate::wire::PollAnswer;
use crate::{Error, LoginId};

impl Polled for Engine {
    async fn poll(self: Arc<Self>, id: LoginId, last: bool) -> Outcome {
        match self.poll_once(&id).await {
            Outcome::Done => Outcome::Done,
            other if last => {
                if let Outcome::Transient(e) = &other {
                    tracing::debug!(error = %e.code(), "last poll before the deadline failed");
                }
                self.finish_from(&id, Event::Expire, None).await;
                Outcome::Done
            }
            other => other,
        }
    }

    async fn expire(self: Arc<Self>, id: LoginId) {
        self.finish_from(&id, Event::Expire, None).await;
    }

    async fn give_up(self: Arc<Self>, id: LoginId, error: Error) {
        self.finish_from(&id, Event::Fail((&error).into()), None)
            .await;
    }

    fn permits(&self) -> &Arc<Semaphore> {
        self.poll_permits()
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl Engine {
    /// One token request for a waiting login; moves the login on when the answer is final.
    async fn poll_once(&self, id: &LoginId) -> Outcome {
        let loaded = match self.records.load(id).await {
            // Still ours to poll. Another instance may have taken it over (this one was
            // thought dead), or it ended elsewhere: then this instance lets it go.
            Ok(Some(l))
                if l.record.status.is_waiting() && l.record.poller == self.records.instance =>
            {
                l
            }
            Ok(_) => return Outcome::Done,
            Err(e) => return Outcome::Transient(e),
        };
        let span = self
            .records
            .span("vipps_login.poll", id, Some(&loaded.record));
        self.poll_loaded(id, loaded).instrument(span).await
    }

    /// [`poll_once`](Self::poll_once) for the login as read, still this instance's to poll.
    async fn poll_loaded(&self, id: &LoginId, loaded: Loaded) -> Outcome {
        let record = &loaded.record;
        if record.kind == LoginKind::Decoy {
            // Nothing was sent to Vipps: a decoy waits, unanswered, until its deadline.
            return Outcome::Pending;
        }
        if record.browser {
            // Continue in browser: Vipps answers the token endpoint once per
            // authentication in this variant, so a poll could spend the exchange the
            // phone's redirect needs. The login is never polled: it ends by the phone's
            // callback, a cancel, or its deadline.
            return Outcome::Pending;
        }
        let event = match self.upstream.poll(&record.auth_req_id).await {
            PollAnswer::Pending => return Outcome::Pending,
            PollAnswer::SlowDown(hint) => return Outcome::SlowDown(hint),
            PollAnswer::RetryAfter(d) => return Outcome::RetryAfter(d),
            PollAnswer::Transient(e) => return Outcome::Transient(e),
            PollAnswer::Denied => Event::Deny,
            PollAnswer::Expired => Event::Expire,
            // Tokens are issued once: whatever happens next, this login is decided now.
            PollAnswer::Tokens(tokens) => match self.identity_for(record, &tokens).await {
                Ok(identity) => Event::Approve(Arc::new(identity)),
                Err(e) => Event::Fail((&e).into()),
            },
            PollAnswer::Failed(e) => Event::Fail((&e).into()),
        };
        // The record read before the poll is most likely still current: one read fewer.
        self.finish_from(id, event, Some(loaded)).await;
        Outcome::Done
    }
}
