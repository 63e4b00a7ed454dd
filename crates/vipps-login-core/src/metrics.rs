//! What the engine counts, named once: the Prometheus metrics (through the `metrics`
//! facade, a no-op until the application installs a recorder such as
//! `metrics-exporter-prometheus`) and this instance's own [`PollerStats`].
//!
//! Every label value comes from a closed set written in this file or in the engine's one
//! classification of how a login ended ([`LoginEnd::as_str`]): never a number, a login
//! id or anything a client sent.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use metrics_util::storage::Summary;

use crate::http::{Response, SendError};
use crate::login::{FlowKind, LoginEnd, LoginKind};

/// Names of the metrics this crate records (all prefixed `vipps_login_`).
pub mod names {
    /// Counter: logins started, by `flow` and `kind` (`vipps` or `decoy`).
    pub const LOGINS_STARTED: &str = "vipps_login_logins_started_total";
    /// Counter: logins that ended, by `flow` and `outcome` ([`LoginEnd::as_str`](crate::LoginEnd::as_str)).
    pub const LOGINS_ENDED: &str = "vipps_login_logins_ended_total";
    /// Counter: approved logins whose result was handed out, by `flow`.
    pub const LOGINS_REDEEMED: &str = "vipps_login_logins_redeemed_total";
    /// Counter: calls to Vipps, by `endpoint` and `status` (`2xx`, `4xx`, `5xx`, `other`, `error`).
    pub const VIPPS_CALLS: &str = "vipps_login_vipps_calls_total";
    /// Histogram (seconds): how long a call to Vipps took, by `endpoint`.
    pub const VIPPS_CALL_SECONDS: &str = "vipps_login_vipps_call_duration_seconds";
    /// Counter: `slow_down` answers to polls.
    pub const SLOW_DOWNS: &str = "vipps_login_vipps_slow_downs_total";
    /// Counter: HTTP 429 answers to polls.
    pub const RATE_LIMITED: &str = "vipps_login_vipps_rate_limited_total";
    /// Counter: polls sent.
    pub const POLLS: &str = "vipps_login_polls_total";
    /// Counter: polls that failed transiently and were retried.
    pub const POLL_RETRIES: &str = "vipps_login_poll_retries_total";
    /// Histogram (seconds): delay between a poll's due time and its sending.
    pub const POLL_LATENESS_SECONDS: &str = "vipps_login_poll_lateness_seconds";
    /// Gauge: logins this process' pollers hold now.
    pub const PENDING_LOGINS: &str = "vipps_login_pending_logins";
    /// Counter: store operations, by `op` and `result` (`ok`, `error`).
    pub const STORE_OPS: &str = "vipps_login_store_operations_total";
    /// Histogram (seconds): store operation latency, by `op`.
    pub const STORE_OP_SECONDS: &str = "vipps_login_store_operation_duration_seconds";
    /// Counter: logins moved to this instance from one whose lease ran out or that let go.
    pub const LEASE_TAKE_OVERS: &str = "vipps_login_lease_take_overs_total";
    /// Counter: webhook pings, by `result` (`accepted`, `refused`, `unknown_login`).
    pub const WEBHOOK_PINGS: &str = "vipps_login_webhook_pings_total";
}

/// Registers the descriptions of this crate's metrics with the installed recorder (call
/// once after installing it; recording works without).
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(names::LOGINS_STARTED, "Logins started, by flow and kind.");
    describe_counter!(
        names::LOGINS_ENDED,
        "Logins that ended, by flow and outcome."
    );
    describe_counter!(
        names::LOGINS_REDEEMED,
        "Approved logins whose result was handed out."
    );
    describe_counter!(
        names::VIPPS_CALLS,
        "Calls to Vipps, by endpoint and status class."
    );
    describe_histogram!(
        names::VIPPS_CALL_SECONDS,
        Unit::Seconds,
        "Latency of calls to Vipps."
    );
    describe_counter!(
        names::SLOW_DOWNS,
        "slow_down answers from Vipps' token endpoint."
    );
    describe_counter!(
        names::RATE_LIMITED,
        "HTTP 429 answers from Vipps' token endpoint."
    );
    describe_counter!(names::POLLS, "Token-endpoint polls sent.");
    describe_counter!(
        names::POLL_RETRIES,
        "Polls that failed transiently and were retried."
    );
    describe_histogram!(
        names::POLL_LATENESS_SECONDS,
        Unit::Seconds,
        "Delay between a poll's due time and its sending."
    );
    describe_gauge!(
        names::PENDING_LOGINS,
        "Logins the pollers of this process hold now."
    );
    describe_counter!(names::STORE_OPS, "Store operations, by kind and result.");
    describe_histogram!(
        names::STORE_OP_SECONDS,
        Unit::Seconds,
        "Latency of store operations."
    );
    describe_counter!(
        names::LEASE_TAKE_OVERS,
        "Logins taken over from another instance."
    );
    describe_counter!(names::WEBHOOK_PINGS, "Webhook pings, by result.");
}

/// Which Vipps endpoint a call went to.
#[derive(Clone, Copy)]
pub(crate) enum VippsEndpoint {
    Backchannel,
    Token,
    Userinfo,
    UserExists,
}

impl VippsEndpoint {
    fn as_str(self) -> &'static str {
        match self {
            VippsEndpoint::Backchannel => "backchannel",
            VippsEndpoint::Token => "token",
            VippsEndpoint::Userinfo => "userinfo",
            VippsEndpoint::UserExists => "user_exists",
        }
    }
}

/// Records one call to Vipps that was sent at `sent`.
pub(crate) fn vipps_call(
    endpoint: VippsEndpoint,
    result: &Result<Response, SendError>,
    sent: Instant,
) {
    let status = match result {
        Ok(r) if r.status.is_success() => "2xx",
        Ok(r) if r.status.is_client_error() => "4xx",
        Ok(r) if r.status.is_server_error() => "5xx",
        Ok(_) => "other",
        Err(_) => "error",
    };
    let endpoint = endpoint.as_str();
    metrics::counter!(names::VIPPS_CALLS, "endpoint" => endpoint, "status" => status).increment(1);
    metrics::histogram!(names::VIPPS_CALL_SECONDS, "endpoint" => endpoint)
        .record(sent.elapsed().as_secs_f64());
}

pub(crate) fn flow_label(flow: FlowKind) -> &'static str {
    match flow {
        FlowKind::FinishInApp => "finish_in_app",
        FlowKind::ContinueInBrowser => "continue_in_browser",
    }
}

pub(crate) fn login_started(flow: FlowKind, kind: LoginKind) {
    let kind = match kind {
        LoginKind::Vipps => "vipps",
        LoginKind::Decoy => "decoy",
    };
    metrics::counter!(names::LOGINS_STARTED, "flow" => flow_label(flow), "kind" => kind)
        .increment(1);
}

pub(crate) fn login_ended(flow: FlowKind, end: &LoginEnd) {
    metrics::counter!(names::LOGINS_ENDED, "flow" => flow_label(flow), "outcome" => end.as_str())
        .increment(1);
}

pub(crate) fn login_redeemed(flow: FlowKind) {
    metrics::counter!(names::LOGINS_REDEEMED, "flow" => flow_label(flow)).increment(1);
}

pub(crate) fn slow_down() {
    metrics::counter!(names::SLOW_DOWNS).increment(1);
}

pub(crate) fn rate_limited() {
    metrics::counter!(names::RATE_LIMITED).increment(1);
}

pub(crate) fn lease_take_over() {
    metrics::counter!(names::LEASE_TAKE_OVERS).increment(1);
}

/// How a webhook ping was answered.
pub(crate) fn webhook_ping(result: &'static str) {
    metrics::counter!(names::WEBHOOK_PINGS, "result" => result).increment(1);
}

/// Records one store operation of kind `op` that began at `began`.
pub(crate) fn store_op(op: &'static str, ok: bool, began: Instant) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!(names::STORE_OPS, "op" => op, "result" => result).increment(1);
    metrics::histogram!(names::STORE_OP_SECONDS, "op" => op).record(began.elapsed().as_secs_f64());
}

/// This instance's poller figures, kept beside the Prometheus ones so that one process
/// running several clients (tests, benchmarks) can tell them apart.
pub(crate) struct Metrics {
    polls: AtomicU64,
    retries: AtomicU64,
    pending: AtomicUsize,
    /// Poll lateness in microseconds (DDSketch, about 1 % relative error).
    lateness: Mutex<Summary>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Metrics {
            polls: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            lateness: Mutex::new(Summary::with_defaults()),
        }
    }

    fn lateness(&self) -> std::sync::MutexGuard<'_, Summary> {
        self.lateness
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A poll is being sent, `lateness` after it fell due.
    pub(crate) fn poll_sent(&self, lateness: Duration) {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.lateness().add(lateness.as_micros() as f64);
        metrics::counter!(names::POLLS).increment(1);
        metrics::histogram!(names::POLL_LATENESS_SECONDS).record(lateness.as_secs_f64());
    }

    pub(crate) fn poll_retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::POLL_RETRIES).increment(1);
    }

    /// The poller now holds `now` logins.
    pub(crate) fn set_pending(&self, now: usize) {
        let before = self.pending.swap(now, Ordering::Relaxed);
        // The gauge sums every engine of the process: each moves it by its own change.
        metrics::gauge!(names::PENDING_LOGINS).increment(now as f64 - before as f64);
    }

    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    pub(crate) fn reset_lateness(&self) {
        *self.lateness() = Summary::with_defaults();
    }

    pub(crate) fn snapshot(&self) -> PollerStats {
        let lateness = self.lateness();
        let at = |q: f64| {
            lateness.quantile(q).map_or(Duration::ZERO, |us| {
                Duration::from_micros(us.max(0.0) as u64)
            })
        };
        PollerStats {
            polls: self.polls.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            scheduled: self.pending.load(Ordering::Relaxed),
            lateness_samples: lateness.count() as u64,
            lateness_p50: at(0.50),
            lateness_p99: at(0.99),
            lateness_max: at(1.0),
        }
    }
}

/// What the shared background poller has done so far (see
/// [`VippsClient::poller_stats`](crate::VippsClient::poller_stats)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollerStats {
    /// Token-endpoint polls sent.
    pub polls: u64,
    /// Polls that failed transiently (5xx, connection, garbled answer) and were retried.
    pub retries: u64,
    /// Logins the poller currently holds (waiting for a poll or for their expiry).
    pub scheduled: usize,
    /// Polls whose lateness was measured.
    pub lateness_samples: u64,
    /// Median delay between a poll's due time and the moment it was sent.
    pub lateness_p50: Duration,
    /// 99th percentile of that delay.
    pub lateness_p99: Duration,
    /// Largest such delay (within the sketch's ~1 % relative error).
    pub lateness_max: Duration,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lateness_quantiles_within_the_sketch_error() {
        let m = Metrics::new();
        for ms in 1..=100u64 {
            m.poll_sent(Duration::from_millis(ms));
        }
        let s = m.snapshot();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        assert_eq!(s.polls, 100);
        assert_eq!(s.lateness_samples, 100);
        assert!(
            (49.0..=51.5).contains(&ms(s.lateness_p50)),
            "{:?}",
            s.lateness_p50
        );
        assert!(
            (98.0..=101.0).contains(&ms(s.lateness_p99)),
            "{:?}",
            s.lateness_p99
        );
        assert!(
            (99.0..=101.0).contains(&ms(s.lateness_max)),
            "{:?}",
            s.lateness_max
        );
        m.reset_lateness();
        assert_eq!(m.snapshot().lateness_samples, 0);
        assert_eq!(m.snapshot().polls, 100);
    }

    #[test]
    fn the_pending_figure_follows_each_engine() {
        let m = Metrics::new();
        m.set_pending(3);
        m.set_pending(1);
        assert_eq!(m.snapshot().scheduled, 1);
    }
}
