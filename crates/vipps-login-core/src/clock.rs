//! Wall-clock time: the injectable [`Clock`] and the one set of Unix-time conversions
//! every crate of this workspace uses (stored records, cookies, tokens and pages keep
//! times as Unix seconds or milliseconds).
//!
//! Read "now" through the [`Clock`] you were given (a client's is
//! [`Config::clock`](crate::Config::clock)), so that tests can move time without
//! sleeping; fall back to [`SystemClock`] only where no client is in reach.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use vipps_login_core::clock::{duration_ms, from_unix_ms, unix_ms, unix_secs};
//! use vipps_login_core::{Clock, SystemClock};
//!
//! let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
//! assert_eq!(unix_ms(t), 1_700_000_000_123);
//! assert_eq!(unix_secs(t), 1_700_000_000);
//! assert_eq!(from_unix_ms(unix_ms(t)), t);
//! assert_eq!(duration_ms(Duration::from_secs(2)), 2_000);
//! assert!(SystemClock.unix_secs() > 1_700_000_000);
//! ```

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time, so tests can move time without sleeping.
///
/// Used for ID-token `exp`/`iat` checks, webhook date checks, login expiry timestamps,
/// store lifetimes, sessions and bearer tokens. Scheduling of polls uses tokio's clock.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current time in whole Unix seconds (0 before 1970).
    fn unix_secs(&self) -> u64 {
        unix_secs(self.now())
    }

    /// The current time in Unix milliseconds (0 before 1970).
    fn unix_ms(&self) -> u64 {
        unix_ms(self.now())
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Unix milliseconds of `t` (0 before 1970; `u64::MAX` past what fits).
#[must_use]
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, duration_ms)
}

/// Whole milliseconds of `d` (`u64::MAX` past what fits), as stored deadlines and
/// intervals keep them.
#[must_use]
pub fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The time `ms` Unix milliseconds stand for.
#[must_use]
pub fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// Whole Unix seconds of `t`, rounded down (0 before 1970).
#[must_use]
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The time `secs` Unix seconds stand for.
#[must_use]
pub fn from_unix_secs(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Unix seconds of `t` with their fraction, negative before 1970: what JWT time claims
/// (`exp`, `iat`, `nbf`, which may carry a fraction) are compared with.
#[must_use]
pub fn unix_secs_f64(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct At(SystemTime);

    impl Clock for At {
        fn now(&self) -> SystemTime {
            self.0
        }
    }

    #[test]
    fn conversions_round_trip() {
        let t = from_unix_ms(1_234_567);
        assert_eq!(unix_ms(t), 1_234_567);
        assert_eq!(unix_secs(t), 1_234);
        assert_eq!(from_unix_secs(1_234), from_unix_ms(1_234_000));
        assert!((unix_secs_f64(t) - 1_234.567).abs() < 1e-9);
        assert_eq!(duration_ms(Duration::from_micros(2_999)), 2);
        assert_eq!(duration_ms(Duration::MAX), u64::MAX);
    }

    #[test]
    fn before_1970_reads_as_zero_or_negative() {
        let before = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(unix_ms(before), 0);
        assert_eq!(unix_secs(before), 0);
        assert!((unix_secs_f64(before) + 1.5).abs() < 1e-9);
    }

    #[test]
    fn a_clock_reads_unix_time_from_its_own_now() {
        let clock = At(from_unix_ms(86_400_250));
        assert_eq!(clock.unix_ms(), 86_400_250);
        assert_eq!(clock.unix_secs(), 86_400);
        let far = At(UNIX_EPOCH + Duration::from_secs(100_000_000_000_000_000));
        assert_eq!(far.unix_ms(), u64::MAX, "saturates instead of wrapping");
    }
}
