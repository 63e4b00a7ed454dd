//! Poller instrumentation: counters and a lock-free lateness histogram.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two (relative error below 1/64).
const SUB: u64 = 64;
const LINEAR: u64 = 2 * SUB;
const OCTAVES: u64 = 40;
const BUCKETS: usize = (LINEAR + OCTAVES * SUB) as usize;

/// A log-linear histogram of microseconds (like HdrHistogram, about 1.5 % resolution).
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
}

impl Histogram {
    pub(crate) fn new() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }

    fn index(us: u64) -> usize {
        if us < LINEAR {
            return us as usize;
        }
        let e = u64::from(63 - us.leading_zeros()); // >= 7
        let shift = e - 6;
        let m = (us >> shift) & (SUB - 1);
        let i = LINEAR + (e - 7) * SUB + m;
        (i as usize).min(BUCKETS - 1)
    }

    /// Upper bound (exclusive) of bucket `i`, in microseconds.
    fn upper(i: usize) -> u64 {
        let i = i as u64;
        if i < LINEAR {
            return i + 1;
        }
        let e = (i - LINEAR) / SUB + 7;
        let m = (i - LINEAR) % SUB;
        let shift = e - 6;
        (SUB + m + 1) << shift
    }

    pub(crate) fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if let Some(b) = self.buckets.get(Self::index(us)) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.max.fetch_max(us, Ordering::Relaxed);
    }

    pub(crate) fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The value at quantile `q` (0..=1), as the upper bound of its bucket.
    pub(crate) fn quantile(&self, q: f64) -> Duration {
        let total = self.count();
        if total == 0 {
            return Duration::ZERO;
        }
        let target = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= target {
                let us = Self::upper(i).min(self.max.load(Ordering::Relaxed).max(1));
                return Duration::from_micros(us);
            }
        }
        Duration::from_micros(self.max.load(Ordering::Relaxed))
    }

    pub(crate) fn max(&self) -> Duration {
        Duration::from_micros(self.max.load(Ordering::Relaxed))
    }

    #[cfg_attr(not(feature = "test-util"), allow(dead_code))]
    pub(crate) fn reset(&self) {
        for b in self.buckets.iter() {
            b.store(0, Ordering::Relaxed);
        }
        self.max.store(0, Ordering::Relaxed);
    }
}

pub(crate) struct Metrics {
    pub polls: AtomicU64,
    pub retries: AtomicU64,
    pub pending: AtomicUsize,
    pub lateness: Histogram,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Metrics {
            polls: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            lateness: Histogram::new(),
        }
    }

    pub(crate) fn snapshot(&self) -> PollerStats {
        PollerStats {
            polls: self.polls.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            scheduled: self.pending.load(Ordering::Relaxed),
            lateness_samples: self.lateness.count(),
            lateness_p50: self.lateness.quantile(0.50),
            lateness_p99: self.lateness.quantile(0.99),
            lateness_max: self.lateness.max(),
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
    /// Largest such delay.
    pub lateness_max: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for us in [
            0u64,
            1,
            50,
            127,
            128,
            129,
            1000,
            4095,
            4096,
            50_000,
            1_000_000,
            10_000_000_000,
        ] {
            let i = Histogram::index(us);
            assert!(i >= last);
            last = i;
            let up = Histogram::upper(i);
            assert!(up > us, "{us} -> {i} -> {up}");
            assert!((up - us) as f64 <= (us as f64 / 60.0).max(1.0), "{us} {up}");
        }
    }

    #[test]
    fn quantiles() {
        let h = Histogram::new();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile(0.5).as_secs_f64() * 1000.0;
        let p99 = h.quantile(0.99).as_secs_f64() * 1000.0;
        assert!((49.0..=51.5).contains(&p50), "{p50}");
        assert!((98.0..=100.5).contains(&p99), "{p99}");
        assert_eq!(h.max(), Duration::from_millis(100));
        h.reset();
        assert_eq!(h.count(), 0);
    }
}
