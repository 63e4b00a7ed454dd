//! Abuse limits: starts per phone number and per client IP, one pending login per number,
//! and a cool-down after a push was declined or ignored.
//!
//! The counters live in process memory (moka caches with idle expiry), so with several
//! instances behind a load balancer each instance counts on its own; put a sticky
//! balancer or an edge limiter in front when that matters.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A sliding window: at most `max` events per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Events allowed in any `period`.
    pub max: u32,
    /// The window length.
    pub period: Duration,
}

impl Window {
    /// At most `max` starts in any `period`.
    #[must_use]
    pub const fn new(max: u32, period: Duration) -> Self {
        Self { max, period }
    }
}

/// The abuse limits of a [`VippsLoginLayer`](crate::VippsLoginLayer).
///
/// The defaults stop push spam without getting in a clerk's way: 3 starts per number per
/// 10 minutes, 30 starts per client IP per 10 minutes, one pending login per number,
/// 60 s cool-down after a declined push and 5 minutes after an ignored (expired) one.
///
/// ```
/// use std::time::Duration;
/// use vipps_login_tower::{RateLimits, Window};
/// let limits = RateLimits::default()
///     .per_number(Window::new(5, Duration::from_secs(900)))
///     .declined_cool_down(Duration::from_secs(30));
/// # let _ = limits;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct RateLimits {
    pub(crate) per_number: Window,
    pub(crate) per_ip: Window,
    pub(crate) declined_cool_down: Duration,
    pub(crate) ignored_cool_down: Duration,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_number: Window::new(3, Duration::from_secs(600)),
            per_ip: Window::new(30, Duration::from_secs(600)),
            declined_cool_down: Duration::from_secs(60),
            ignored_cool_down: Duration::from_secs(300),
        }
    }
}

impl RateLimits {
    /// Starts allowed per phone number.
    pub fn per_number(mut self, window: Window) -> Self {
        self.per_number = window;
        self
    }

    /// Starts allowed per client IP (see [`ClientIp`](crate::ClientIp) for where the IP
    /// comes from).
    pub fn per_ip(mut self, window: Window) -> Self {
        self.per_ip = window;
        self
    }

    /// How long a number cannot be pushed to again after the customer declined.
    pub fn declined_cool_down(mut self, cool_down: Duration) -> Self {
        self.declined_cool_down = cool_down;
        self
    }

    /// How long a number cannot be pushed to again after a push expired unanswered.
    pub fn ignored_cool_down(mut self, cool_down: Duration) -> Self {
        self.ignored_cool_down = cool_down;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        for (name, w) in [("per_number", self.per_number), ("per_ip", self.per_ip)] {
            if w.max == 0 {
                return Err(format!("rate limit {name}: max must be at least 1"));
            }
            if w.period.is_zero() {
                return Err(format!("rate limit {name}: period must not be zero"));
            }
        }
        Ok(())
    }
}

/// Why a start was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A login for this number is still pending (its login id as text).
    Pending {
        login_id: String,
        retry_after: Duration,
    },
    /// Too many starts or a cool-down.
    Limited { retry_after: Duration },
}

type Log = Arc<Mutex<VecDeque<Instant>>>;

pub(crate) struct Limiter {
    limits: RateLimits,
    numbers: moka::sync::Cache<String, Log>,
    ips: moka::sync::Cache<IpAddr, Log>,
    cool_downs: moka::sync::Cache<String, Instant>,
    pending: moka::sync::Cache<String, (String, Instant)>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn remaining(until: Instant, now: Instant) -> Duration {
    until.saturating_duration_since(now)
}

/// Prunes `log` to `window` and returns how long until a slot frees, or `None` if one is free.
fn window_full(log: &mut VecDeque<Instant>, window: Window, now: Instant) -> Option<Duration> {
    while let Some(&first) = log.front() {
        if now.duration_since(first) >= window.period {
            log.pop_front();
        } else {
            break;
        }
    }
    if log.len() >= window.max as usize {
        log.front()
            .map(|&first| remaining(first + window.period, now))
    } else {
        None
    }
}

fn lock(log: &Log) -> std::sync::MutexGuard<'_, VecDeque<Instant>> {
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Limiter {
    pub(crate) fn new(limits: RateLimits) -> Self {
        let longest_cool_down = limits
            .declined_cool_down
            .max(limits.ignored_cool_down)
            .max(Duration::from_secs(1));
        Self {
            numbers: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(limits.per_number.period)
                .build(),
            ips: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(limits.per_ip.period)
                .build(),
            cool_downs: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(longest_cool_down)
                .build(),
            pending: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            limits,
        }
    }

    /// Checks every limit for a start by `number` from `ip` and, when allowed, counts it.
    pub(crate) fn try_start(&self, number: &str, ip: Option<IpAddr>) -> Result<(), Refusal> {
        let now = Instant::now();
        if let Some(until) = self.cool_downs.get(number)
            && until > now
        {
            return Err(Refusal::Limited {
                retry_after: remaining(until, now),
            });
        }
        if let Some((login_id, until)) = self.pending.get(number)
            && until > now
        {
            return Err(Refusal::Pending {
                login_id,
                retry_after: remaining(until, now),
            });
        }
        let number_log = self
            .numbers
            .get_with(number.to_owned(), || Arc::new(Mutex::new(VecDeque::new())));
        let ip_log = ip.map(|ip| {
            self.ips
                .get_with(ip, || Arc::new(Mutex::new(VecDeque::new())))
        });
        let mut number_guard = lock(&number_log);
        if let Some(retry_after) = window_full(&mut number_guard, self.limits.per_number, now) {
            return Err(Refusal::Limited { retry_after });
        }
        if let Some(ip_log) = &ip_log {
            let mut ip_guard = lock(ip_log);
            if let Some(retry_after) = window_full(&mut ip_guard, self.limits.per_ip, now) {
                return Err(Refusal::Limited { retry_after });
            }
            ip_guard.push_back(now);
        }
        number_guard.push_back(now);
        Ok(())
    }

    /// Remembers that `number` has a pending login until `until`.
    pub(crate) fn set_pending(&self, number: &str, login_id: String, until: Instant) {
        self.pending.insert(number.to_owned(), (login_id, until));
    }

    /// Forgets the pending login of `number` if it is `login_id`.
    pub(crate) fn clear_pending(&self, number: &str, login_id: &str) {
        if let Some((current, _)) = self.pending.get(number)
            && current == login_id
        {
            self.pending.invalidate(number);
        }
    }

    /// Starts the cool-down after a declined push.
    pub(crate) fn declined(&self, number: &str) {
        self.cool_down(number, self.limits.declined_cool_down);
    }

    /// Starts the cool-down after an ignored (expired) push.
    pub(crate) fn ignored(&self, number: &str) {
        self.cool_down(number, self.limits.ignored_cool_down);
    }

    fn cool_down(&self, number: &str, length: Duration) {
        if !length.is_zero() {
            self.cool_downs
                .insert(number.to_owned(), Instant::now() + length);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn limiter() -> Limiter {
        Limiter::new(
            RateLimits::default()
                .per_number(Window::new(2, Duration::from_secs(60)))
                .per_ip(Window::new(3, Duration::from_secs(60))),
        )
    }

    #[test]
    fn per_number_window() {
        let l = limiter();
        let ip = Some(IpAddr::from([127, 0, 0, 1]));
        assert_eq!(l.try_start("4712345678", ip), Ok(()));
        assert_eq!(l.try_start("4712345678", ip), Ok(()));
        match l.try_start("4712345678", ip) {
            Err(Refusal::Limited { retry_after }) => {
                assert!(retry_after > Duration::from_secs(58));
            }
            other => panic!("unexpected {other:?}"),
        }
        // The refused start did not count against the IP: one more number fits.
        assert_eq!(l.try_start("4798765432", ip), Ok(()));
        assert!(matches!(
            l.try_start("4798765433", ip),
            Err(Refusal::Limited { .. })
        ));
        // Another IP is not affected.
        assert_eq!(
            l.try_start("4798765433", Some(IpAddr::from([10, 0, 0, 1]))),
            Ok(())
        );
    }

    #[test]
    fn pending_and_cool_down() {
        let l = limiter();
        assert_eq!(l.try_start("4712345678", None), Ok(()));
        l.set_pending(
            "4712345678",
            "abc".into(),
            Instant::now() + Duration::from_secs(30),
        );
        assert!(matches!(
            l.try_start("4712345678", None),
            Err(Refusal::Pending { login_id, .. }) if login_id == "abc"
        ));
        l.clear_pending("4712345678", "other");
        assert!(matches!(
            l.try_start("4712345678", None),
            Err(Refusal::Pending { .. })
        ));
        l.clear_pending("4712345678", "abc");
        l.declined("4712345678");
        assert!(matches!(
            l.try_start("4712345678", None),
            Err(Refusal::Limited { retry_after }) if retry_after > Duration::from_secs(50)
        ));
    }

    #[test]
    fn rejects_zero_limits() {
        assert!(
            RateLimits::default()
                .per_ip(Window::new(0, Duration::from_secs(1)))
                .validate()
                .is_err()
        );
        assert!(RateLimits::default().validate().is_ok());
    }
}
