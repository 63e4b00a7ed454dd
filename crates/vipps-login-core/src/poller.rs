//! The one background task that polls every pending login at its own pace.
//!
//! A `DelayQueue` holds the next due time of each login. When one falls due, a short task
//! sends one token request (bounded by a semaphore) and reports back; the poller then
//! schedules the next poll from the answer: `interval`, `slow_down`, `Retry-After`, backoff
//! on transient failures, one last poll at the deadline. Webhook pings wake a login early.
//! The task ends when the last [`VippsClient`](crate::VippsClient) clone is dropped.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rand::Rng as _;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;
use tokio_util::time::{DelayQueue, delay_queue};
use tracing::Instrument as _;

use crate::LoginId;
use crate::commands::{Command, Outcome};
use crate::instance::Inner;
use crate::login::state::Event;
use crate::wire::{CIBA_GRANT, PollAnswer, classify_poll};

struct Entry {
    key: Option<delay_queue::Key>,
    due: Instant,
    interval: Duration,
    deadline: Instant,
    last_sent: Option<Instant>,
    failures: u32,
    in_flight: bool,
    wake: bool,
}

struct Poller {
    inner: Weak<Inner>,
    queue: DelayQueue<LoginId>,
    entries: HashMap<LoginId, Entry>,
    slow_down_step: Duration,
    max_failures: u32,
}

pub(crate) fn spawn(inner: Weak<Inner>) -> mpsc::UnboundedSender<Command> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (slow_down_step, max_failures) = match inner.upgrade() {
        Some(i) => (i.config.slow_down_step, i.config.max_poll_failures),
        None => (Duration::from_secs(5), 5),
    };
    let poller = Poller {
        inner,
        queue: DelayQueue::new(),
        entries: HashMap::new(),
        slow_down_step,
        max_failures,
    };
    tokio::spawn(
        poller
            .run(rx)
            .instrument(tracing::debug_span!("vipps_login_poller")),
    );
    tx
}

impl Poller {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        tracing::debug!("poller started");
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd),
                    None => break,
                },
                Some(expired) = std::future::poll_fn(|cx| self.queue.poll_expired(cx)),
                    if !self.queue.is_empty() => {
                    let id = expired.into_inner();
                    let Some(inner) = self.inner.upgrade() else {
                        break;
                    };
                    // Take the permit before spawning: at most `max_concurrent_polls`
                    // poll tasks exist, however far behind the poller falls.
                    let permit = match inner.poll_permits.clone().acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => break,
                    };
                    self.dispatch(inner, id, permit);
                }
            }
        }
        tracing::debug!("poller stopped");
    }

    fn set_pending_gauge(&self) {
        if let Some(inner) = self.inner.upgrade() {
            inner
                .metrics
                .pending
                .store(self.entries.len(), Ordering::Relaxed);
        }
    }

    fn schedule(queue: &mut DelayQueue<LoginId>, id: &LoginId, e: &mut Entry, at: Instant) {
        let at = at.min(e.deadline);
        e.due = at;
        match &e.key {
            Some(k) => queue.reset_at(k, at),
            None => e.key = Some(queue.insert_at(id.clone(), at)),
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Add {
                id,
                interval,
                deadline,
            } => {
                if self.entries.contains_key(&id) {
                    return;
                }
                let now = Instant::now();
                let first = now + interval;
                let mut e = Entry {
                    key: None,
                    due: first,
                    interval,
                    deadline,
                    last_sent: None,
                    failures: 0,
                    in_flight: false,
                    wake: false,
                };
                Self::schedule(&mut self.queue, &id, &mut e, first);
                self.entries.insert(id, e);
                self.set_pending_gauge();
            }
            Command::Wake { id } => {
                let Some(e) = self.entries.get_mut(&id) else {
                    return;
                };
                if e.in_flight {
                    e.wake = true;
                } else {
                    let at = earliest(e, Instant::now());
                    Self::schedule(&mut self.queue, &id, e, at);
                }
            }
            Command::Cancel { id } => {
                if let Some(e) = self.entries.remove(&id)
                    && let Some(k) = e.key
                {
                    self.queue.remove(&k);
                }
                self.set_pending_gauge();
            }
            Command::Report { id, outcome } => self.report(id, outcome),
        }
    }

    fn report(&mut self, id: LoginId, outcome: Outcome) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        e.in_flight = false;
        let now = Instant::now();
        let delay = match outcome {
            Outcome::Done => {
                self.entries.remove(&id);
                self.set_pending_gauge();
                return;
            }
            Outcome::Pending => {
                e.failures = 0;
                e.interval
            }
            Outcome::SlowDown(hint) => {
                e.failures = 0;
                e.interval = match hint {
                    Some(h) => h.max(e.interval),
                    None => e.interval + self.slow_down_step,
                };
                tracing::debug!(login_id = %id, interval_ms = e.interval.as_millis() as u64, "slow_down");
                e.interval
            }
            Outcome::RetryAfter(d) => d.unwrap_or(e.interval).max(e.interval),
            Outcome::Transient(err) => {
                e.failures += 1;
                if let Some(inner) = self.inner.upgrade() {
                    inner.metrics.retries.fetch_add(1, Ordering::Relaxed);
                }
                if e.failures > self.max_failures {
                    self.entries.remove(&id);
                    self.set_pending_gauge();
                    if let Some(inner) = self.inner.upgrade() {
                        tokio::spawn(async move {
                            inner.finish(&id, Event::Fail(Arc::new(err))).await;
                        });
                    }
                    return;
                }
                tracing::debug!(login_id = %id, failures = e.failures, error = %err.code(), "poll failed; retrying");
                backoff(e.interval, e.failures)
            }
        };
        let at = if std::mem::take(&mut e.wake) {
            earliest(e, now)
        } else {
            now + delay
        };
        Self::schedule(&mut self.queue, &id, e, at);
    }

    /// Starts the work for a login that fell due.
    fn dispatch(&mut self, inner: Arc<Inner>, id: LoginId, permit: OwnedSemaphorePermit) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        e.key = None;
        let due = e.due;
        let final_attempt = due >= e.deadline;
        e.in_flight = true;
        e.last_sent = Some(Instant::now());
        let span = tracing::debug_span!("vipps_login_poll", login_id = %id);
        tokio::spawn(
            async move {
                let outcome = {
                    let _permit = permit;
                    inner.metrics.lateness.record(due.elapsed());
                    inner.metrics.polls.fetch_add(1, Ordering::Relaxed);
                    poll_once(&inner, &id, final_attempt).await
                };
                inner.send(Command::Report { id, outcome });
            }
            .instrument(span),
        );
    }
}

/// Now, or one interval after the previous poll, whichever is later.
fn earliest(e: &Entry, now: Instant) -> Instant {
    match e.last_sent {
        Some(t) => (t + e.interval).max(now),
        None => now,
    }
}

/// Exponential backoff from the interval (never faster than it), capped, with jitter.
fn backoff(interval: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(6);
    let cap = interval.max(Duration::from_secs(30));
    let base = interval.saturating_mul(factor).min(cap);
    let jitter_ms = (base.as_millis() as u64 / 10).max(1);
    base + Duration::from_millis(rand::rng().random_range(0..jitter_ms))
}

/// One token request for a waiting login; moves the login on when the answer is final.
async fn poll_once(inner: &Arc<Inner>, id: &LoginId, final_attempt: bool) -> Outcome {
    let outcome = poll_inner(inner, id).await;
    match outcome {
        Outcome::Done => Outcome::Done,
        other if final_attempt => {
            if let Outcome::Transient(e) = &other {
                tracing::debug!(error = %e.code(), "last poll before the deadline failed");
            }
            inner.finish(id, Event::Expire).await;
            Outcome::Done
        }
        other => other,
    }
}

async fn poll_inner(inner: &Arc<Inner>, id: &LoginId) -> Outcome {
    let loaded = match inner.engine.load(id).await {
        // Still ours to poll. Another instance may have taken it over (this one was
        // thought dead), or it ended elsewhere: then this instance lets it go.
        Ok(Some(l)) if l.record.status.is_waiting() && l.record.poller == inner.engine.instance => {
            l
        }
        Ok(_) => return Outcome::Done,
        Err(e) => return Outcome::Transient(e),
    };
    let record = &loaded.record;
    let endpoints = match inner.meta.endpoints().await {
        Ok(e) => e,
        Err(e) => return Outcome::Transient(e),
    };
    tracing::trace!("polling the token endpoint");
    let resp = inner
        .http
        .post_form_authenticated(
            &endpoints.token,
            &[
                ("grant_type", CIBA_GRANT),
                ("auth_req_id", &record.auth_req_id),
            ],
        )
        .await;
    let answer = classify_poll(resp, inner.config.clock.now());
    let event = match answer {
        PollAnswer::Pending => return Outcome::Pending,
        PollAnswer::SlowDown(hint) => return Outcome::SlowDown(hint),
        PollAnswer::RetryAfter(d) => return Outcome::RetryAfter(d),
        PollAnswer::Transient(e) => return Outcome::Transient(e),
        PollAnswer::Denied => Event::Deny,
        PollAnswer::Expired => Event::Expire,
        // Continue in browser: the customer's confirmation reaches us through the
        // browser's code, never as tokens here. Any other answer (Vipps may call the
        // exchanged request `invalid_grant`) is left to the callback to decide.
        PollAnswer::Tokens(_) | PollAnswer::Failed(_) if record.browser => {
            return Outcome::Pending;
        }
        // Tokens are issued once: whatever happens next, this login is decided now.
        PollAnswer::Tokens(tokens) => match inner.complete_poll(&tokens, &record.nonce).await {
            Ok(identity) => Event::Approve(Arc::new(identity)),
            Err(e) => Event::Fail(Arc::new(e)),
        },
        PollAnswer::Failed(e) => Event::Fail(Arc::new(e)),
    };
    // The record read before the poll is most likely still current: one read fewer.
    inner.finish_from(id, event, Some(loaded)).await;
    Outcome::Done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_respects_interval() {
        let i = Duration::from_millis(100);
        let b1 = backoff(i, 1);
        let b3 = backoff(i, 3);
        assert!(b1 >= i && b1 < Duration::from_millis(111));
        assert!(b3 >= Duration::from_millis(400) && b3 < Duration::from_millis(441));
        let big = backoff(Duration::from_secs(5), 10);
        assert!(big >= Duration::from_secs(30) && big <= Duration::from_secs(33));
    }
}
