//! The one background task that polls every waiting login of this instance at its own
//! pace. It knows logins by id only: what a poll does and decides is the engine's
//! ([`Polled`], implemented in [`super::poll`]); this module only keeps time.
//!
//! A `DelayQueue` holds the next due time of each login. When one falls due, a short task
//! polls it once (bounded by a semaphore) and reports back; the poller then schedules the
//! next poll from the answer: `interval`, `slow_down`, `Retry-After`, backoff on transient
//! failures, one last poll at the deadline. Webhook pings wake a login early. The task
//! ends when the engine is dropped.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU64;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rand::Rng as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::time::{DelayQueue, delay_queue};
use tracing::Instrument as _;

use crate::metrics::Metrics;
use crate::{Error, LoginId};

/// What the poller is told (by the engine, the background task and its own poll tasks).
pub(crate) enum Command {
    Add {
        id: LoginId,
        interval: Duration,
        deadline: Instant,
    },
    Wake {
        id: LoginId,
    },
    /// Every login polled here before, as [`Command::Wake`] each: a wake-up may have been
    /// missed (notifications lost in a reconnect, or a subscriber that fell behind).
    WakeAll,
    Cancel {
        id: LoginId,
    },
    Report {
        id: LoginId,
        outcome: Outcome,
    },
    /// The instance is shutting down: drop every login (another instance takes them
    /// over) and stop.
    Stop,
}

/// What one poll found, as far as scheduling is concerned.
pub(crate) enum Outcome {
    Pending,
    SlowDown(Option<Duration>),
    RetryAfter(Option<Duration>),
    Transient(Error),
    /// The login is over (finished by the poll, or gone).
    Done,
}

/// What the poller polls: the engine, which decides what each poll means.
pub(crate) trait Polled: Send + Sync + 'static {
    /// Polls login `id` once; `last` when its deadline has come (the login must end).
    fn poll(self: Arc<Self>, id: LoginId, last: bool) -> impl Future<Output = Outcome> + Send;
    /// The deadline of `id` came before another poll was allowed (one interval after the
    /// previous one): it ends as expired without an early poll.
    fn expire(self: Arc<Self>, id: LoginId) -> impl Future<Output = ()> + Send;
    /// The poller gives up on `id` after repeated transient failures.
    fn give_up(self: Arc<Self>, id: LoginId, error: Error) -> impl Future<Output = ()> + Send;
    /// Bounds the poll tasks in flight.
    fn permits(&self) -> &Arc<Semaphore>;
    /// Where the poller's figures go.
    fn metrics(&self) -> &Metrics;
}

/// How the poller behaves (from the configuration).
#[derive(Clone, Copy)]
pub(crate) struct Pacing {
    pub slow_down_step: Duration,
    pub max_failures: u32,
}

/// One login's schedule. Kept small (40 bytes): the poller holds one per waiting login
/// (250,000 waiting logins are 250,000 of these in a table with room to spare). Times
/// are milliseconds on the poller's [`Epoch`]; the due time is the queue's
/// ([`delay_queue::Expired::deadline`]), not kept twice.
struct Entry {
    key: Option<delay_queue::Key>,
    deadline: NonZeroU64,
    last_sent: Option<NonZeroU64>,
    /// The poll interval in milliseconds (the precision Vipps and the queue use).
    interval_ms: u32,
    failures: u16,
    in_flight: bool,
    wake: bool,
}

impl Entry {
    fn interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.interval_ms))
    }

    fn set_interval(&mut self, interval: Duration) {
        self.interval_ms = u32::try_from(interval.as_millis()).unwrap_or(u32::MAX);
    }
}

/// Instants as whole milliseconds since the poller's start, rounded up (never before
/// the instant; the delay queue keeps due times to the millisecond too): 8 bytes where
/// an `Instant` takes 16. The epoch is a millisecond before the start, so that no
/// instant after it is 0 and an `Option` of one costs nothing more.
#[derive(Clone, Copy)]
struct Epoch(Instant);

impl Epoch {
    fn new() -> Epoch {
        let now = Instant::now();
        Epoch(now.checked_sub(Duration::from_millis(1)).unwrap_or(now))
    }

    fn ms(self, t: Instant) -> NonZeroU64 {
        let nanos = t.saturating_duration_since(self.0).as_nanos();
        let ms = u64::try_from(nanos.div_ceil(1_000_000)).unwrap_or(u64::MAX);
        NonZeroU64::new(ms).unwrap_or(NonZeroU64::MIN)
    }

    fn at(self, ms: NonZeroU64) -> Instant {
        self.0 + Duration::from_millis(ms.get())
    }
}

struct Poller<T> {
    target: Weak<T>,
    epoch: Epoch,
    /// Where poll tasks report; weak, so that the engine's sender alone keeps it open.
    reports: mpsc::WeakUnboundedSender<Command>,
    queue: DelayQueue<LoginId>,
    entries: HashMap<LoginId, Entry>,
    slow_down_step: Duration,
    max_failures: u32,
}

/// Starts the poller of `target`; it runs until every sender is dropped.
pub(crate) fn spawn<T: Polled>(target: Weak<T>, pacing: Pacing) -> mpsc::UnboundedSender<Command> {
    let (tx, rx) = mpsc::unbounded_channel();
    let poller = Poller {
        target,
        epoch: Epoch::new(),
        reports: tx.downgrade(),
        queue: DelayQueue::new(),
        entries: HashMap::new(),
        slow_down_step: pacing.slow_down_step,
        max_failures: pacing.max_failures,
    };
    tokio::spawn(
        poller
            .run(rx)
            .instrument(tracing::debug_span!("vipps_login_poller")),
    );
    tx
}

impl<T: Polled> Poller<T> {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        tracing::debug!("poller started");
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Command::Stop) => {
                        self.entries.clear();
                        self.set_pending_gauge();
                        break;
                    }
                    Some(cmd) => self.handle(cmd),
                    None => break,
                },
                Some(expired) = std::future::poll_fn(|cx| self.queue.poll_expired(cx)),
                    if !self.queue.is_empty() => {
                    let due = expired.deadline();
                    let id = expired.into_inner();
                    let Some(target) = self.target.upgrade() else {
                        break;
                    };
                    // Take the permit before spawning: at most `max_concurrent_polls`
                    // poll tasks exist, however far behind the poller falls.
                    let permit = match target.permits().clone().acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => break,
                    };
                    self.dispatch(target, id, due, permit);
                }
            }
        }
        tracing::debug!("poller stopped");
    }

    fn set_pending_gauge(&self) {
        if let Some(target) = self.target.upgrade() {
            target.metrics().set_pending(self.entries.len());
        }
    }

    fn schedule(
        queue: &mut DelayQueue<LoginId>,
        epoch: Epoch,
        id: &LoginId,
        e: &mut Entry,
        at: Instant,
    ) {
        let at = at.min(epoch.at(e.deadline));
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
                    deadline: self.epoch.ms(deadline),
                    last_sent: None,
                    interval_ms: 0,
                    failures: 0,
                    in_flight: false,
                    wake: false,
                };
                e.set_interval(interval);
                Self::schedule(&mut self.queue, self.epoch, &id, &mut e, first);
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
                    let at = earliest(e, Instant::now(), self.epoch);
                    Self::schedule(&mut self.queue, self.epoch, &id, e, at);
                }
            }
            Command::WakeAll => {
                let now = Instant::now();
                // A login not polled yet keeps its first poll, an interval after its start.
                for (id, e) in self
                    .entries
                    .iter_mut()
                    .filter(|(_, e)| e.last_sent.is_some())
                {
                    if e.in_flight {
                        e.wake = true;
                    } else {
                        let at = earliest(e, now, self.epoch);
                        Self::schedule(&mut self.queue, self.epoch, id, e, at);
                    }
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
            // Handled by the loop (it stops there).
            Command::Stop => {}
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
                e.interval()
            }
            Outcome::SlowDown(hint) => {
                crate::metrics::slow_down();
                e.failures = 0;
                let interval = match hint {
                    Some(h) => h.max(e.interval()),
                    None => e.interval() + self.slow_down_step,
                };
                e.set_interval(interval);
                tracing::debug!(login_id = %id, interval_ms = e.interval_ms, "slow_down");
                e.interval()
            }
            Outcome::RetryAfter(d) => {
                crate::metrics::rate_limited();
                d.unwrap_or(e.interval()).max(e.interval())
            }
            Outcome::Transient(err) => {
                e.failures = e.failures.saturating_add(1);
                if let Some(target) = self.target.upgrade() {
                    target.metrics().poll_retried();
                }
                if u32::from(e.failures) > self.max_failures {
                    self.entries.remove(&id);
                    self.set_pending_gauge();
                    if let Some(target) = self.target.upgrade() {
                        tokio::spawn(target.give_up(id, err));
                    }
                    return;
                }
                tracing::debug!(login_id = %id, failures = e.failures, error = %err.code(), "poll failed; retrying");
                backoff(e.interval(), u32::from(e.failures))
            }
        };
        let at = if std::mem::take(&mut e.wake) {
            earliest(e, now, self.epoch)
        } else {
            now + delay
        };
        Self::schedule(&mut self.queue, self.epoch, &id, e, at);
    }

    /// Starts the work for a login that fell due.
    fn dispatch(
        &mut self,
        target: Arc<T>,
        id: LoginId,
        due: Instant,
        permit: OwnedSemaphorePermit,
    ) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        e.key = None;
        let epoch = self.epoch;
        let last = epoch.ms(due) >= e.deadline;
        let now = Instant::now();
        // Vipps answers a poll sooner than `interval` (after `slow_down`s, the longer one)
        // with `slow_down`: at the deadline, a poll that would come early is not sent.
        let too_soon = e
            .last_sent
            .is_some_and(|sent| now < epoch.at(sent) + e.interval());
        if last && too_soon {
            self.entries.remove(&id);
            self.set_pending_gauge();
            drop(permit);
            tokio::spawn(target.expire(id));
            return;
        }
        e.in_flight = true;
        e.last_sent = Some(epoch.ms(now));
        let reports = self.reports.clone();
        // Not under the poller's span: the engine's poll runs in the login's own span
        // (its trace), which only the record names.
        tokio::spawn(async move {
            let outcome = {
                let _permit = permit;
                target.metrics().poll_sent(due.elapsed());
                target.poll(id.clone(), last).await
            };
            if let Some(tx) = reports.upgrade() {
                // Fails only when the poller is gone, i.e. the engine was dropped.
                let _ = tx.send(Command::Report { id, outcome });
            }
        });
    }
}

/// Now, or one interval after the previous poll, whichever is later.
fn earliest(e: &Entry, now: Instant, epoch: Epoch) -> Instant {
    match e.last_sent {
        Some(t) => (epoch.at(t) + e.interval()).max(now),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The poller holds one entry per waiting login: it stays small.
    #[test]
    fn an_entry_is_40_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 40);
    }

    #[test]
    fn epoch_milliseconds_round_up_and_back() {
        let epoch = Epoch::new();
        let t = epoch.0 + Duration::from_micros(2_500);
        assert_eq!(epoch.ms(t).get(), 3);
        assert!(epoch.at(epoch.ms(t)) >= t);
        assert_eq!(epoch.ms(epoch.0).get(), 1, "never 0");
    }

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
