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

use crate::client::{CIBA_GRANT, ErrorBody, Inner, Stage, error_from_response, parse_tokens};
use crate::http::{SendError, retry_after};
use crate::{Error, LoginId, LoginStatus};

pub(crate) enum Kind {
    /// Variant 1: poll the token endpoint.
    Poll,
    /// Variant 2: nothing to poll upstream. Every interval the store is checked (another
    /// instance may have exchanged the code); at the deadline the login expires.
    Browser,
}

pub(crate) enum Command {
    Add {
        id: LoginId,
        interval: Duration,
        deadline: Instant,
        kind: Kind,
    },
    Wake {
        id: LoginId,
    },
    Cancel {
        id: LoginId,
    },
    Report {
        id: LoginId,
        outcome: Outcome,
    },
}

/// What one poll found, as far as scheduling is concerned.
pub(crate) enum Outcome {
    Pending,
    SlowDown(Option<Duration>),
    RetryAfter(Option<Duration>),
    Transient(Error),
    /// The login is over (finished by the poll task, or gone).
    Done,
}

struct Entry {
    key: Option<delay_queue::Key>,
    due: Instant,
    interval: Duration,
    deadline: Instant,
    last_sent: Option<Instant>,
    failures: u32,
    in_flight: bool,
    wake: bool,
    kind: Kind,
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
                    let permit = if self.is_poll(&id) {
                        match inner.poll_permits.clone().acquire_owned().await {
                            Ok(p) => Some(p),
                            Err(_) => break,
                        }
                    } else {
                        None
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
                kind,
            } => {
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
                    kind,
                };
                Self::schedule(&mut self.queue, &id, &mut e, first);
                self.entries.insert(id, e);
                self.set_pending_gauge();
            }
            Command::Wake { id } => {
                let Some(e) = self.entries.get_mut(&id) else {
                    return;
                };
                if !matches!(e.kind, Kind::Poll) {
                    return;
                }
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
                            inner.finish(&id, LoginStatus::Failed(Arc::new(err))).await;
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

    fn is_poll(&self, id: &LoginId) -> bool {
        self.entries
            .get(id)
            .is_some_and(|e| matches!(e.kind, Kind::Poll))
    }

    /// Starts the work for a login that fell due.
    fn dispatch(&mut self, inner: Arc<Inner>, id: LoginId, permit: Option<OwnedSemaphorePermit>) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        e.key = None;
        let due = e.due;
        let final_attempt = due >= e.deadline;
        match e.kind {
            Kind::Browser => {
                e.in_flight = true;
                tokio::spawn(async move {
                    let outcome = check_browser(&inner, &id, final_attempt).await;
                    inner.send(Command::Report { id, outcome });
                });
            }
            Kind::Poll => {
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

/// One token request for a pending login; finishes the login when the answer is final.
async fn poll_once(inner: &Arc<Inner>, id: &LoginId, final_attempt: bool) -> Outcome {
    let outcome = poll_inner(inner, id).await;
    match outcome {
        Outcome::Done => Outcome::Done,
        other if final_attempt => {
            if let Outcome::Transient(e) = &other {
                tracing::debug!(error = %e.code(), "last poll before the deadline failed");
            }
            inner.finish(id, LoginStatus::Expired).await;
            Outcome::Done
        }
        other => other,
    }
}

/// A browser-variant login: adopt a result stored by another instance, or expire it.
async fn check_browser(inner: &Arc<Inner>, id: &LoginId, final_attempt: bool) -> Outcome {
    match inner.load(id).await {
        Ok(Some(r)) if r.status.is_final() => {
            inner.release(id, Some(r.status.to_status()));
            Outcome::Done
        }
        Ok(None) => {
            inner.release(id, None);
            Outcome::Done
        }
        _ if final_attempt => {
            inner.finish(id, LoginStatus::Expired).await;
            Outcome::Done
        }
        Ok(Some(_)) => Outcome::Pending,
        Err(e) => Outcome::Transient(e),
    }
}

async fn poll_inner(inner: &Arc<Inner>, id: &LoginId) -> Outcome {
    let record = match inner.load(id).await {
        Ok(Some(r)) if !r.status.is_final() => r,
        // Finished elsewhere (another instance, a cancel) or forgotten.
        Ok(Some(r)) => {
            inner.release(id, Some(r.status.to_status()));
            return Outcome::Done;
        }
        Ok(None) => {
            inner.release(id, None);
            return Outcome::Done;
        }
        Err(e) => return Outcome::Transient(e),
    };
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
    let resp = match resp {
        Ok(r) => r,
        Err(SendError::Connection(m)) => return Outcome::Transient(Error::Transport(m)),
        Err(e @ (SendError::TooLarge | SendError::Invalid(_))) => {
            return Outcome::Transient(e.into_error());
        }
    };
    let now = inner.config.clock.now();
    if resp.status.is_success() {
        // Tokens are issued once: whatever happens next, this login is decided now.
        let tokens = match parse_tokens(&resp.body) {
            Ok(t) => t,
            // A garbled 200: the next poll may bring a readable answer.
            Err(e) => return Outcome::Transient(e),
        };
        let status = match inner.complete_poll(&tokens, &record.nonce).await {
            Ok(identity) => LoginStatus::Approved(Arc::new(identity)),
            Err(e) => LoginStatus::Failed(Arc::new(e)),
        };
        inner.finish(id, status).await;
        return Outcome::Done;
    }
    if resp.status == http::StatusCode::TOO_MANY_REQUESTS {
        return Outcome::RetryAfter(retry_after(&resp.headers, now));
    }
    if resp.status.is_server_error() {
        return Outcome::Transient(Error::Upstream {
            status: resp.status.as_u16(),
        });
    }
    let Some(body) = ErrorBody::parse(&resp.body) else {
        return Outcome::Transient(Error::Protocol(format!(
            "HTTP {} without a readable error",
            resp.status.as_u16()
        )));
    };
    match body.code() {
        "authorization_pending" => Outcome::Pending,
        "slow_down" => Outcome::SlowDown(
            body.interval
                .filter(|i| i.is_finite() && *i > 0.0 && *i <= 3600.0)
                .map(Duration::from_secs_f64)
                .or_else(|| retry_after(&resp.headers, now)),
        ),
        "access_denied" => {
            inner.finish(id, LoginStatus::Denied).await;
            Outcome::Done
        }
        "expired_token" => {
            inner.finish(id, LoginStatus::Expired).await;
            Outcome::Done
        }
        _ => {
            let e = error_from_response(&resp, Stage::Poll, now);
            inner.finish(id, LoginStatus::Failed(Arc::new(e))).await;
            Outcome::Done
        }
    }
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
