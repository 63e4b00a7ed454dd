//! [`RequestedExpiry`]: how long the customer has to confirm, as Vipps accepts it.

use std::fmt;
use std::time::Duration;

/// Vipps' `requested_expiry`: a whole number of seconds from 60 to 900 (Vipps' own
/// default, when none is sent, is 600).
///
/// ```
/// use std::time::Duration;
/// use vipps_login_core::RequestedExpiry;
///
/// let e = RequestedExpiry::new(Duration::from_secs(120))?;
/// assert_eq!(e.as_secs(), 120);
/// assert!(RequestedExpiry::new(Duration::from_secs(30)).is_err());
/// assert!(RequestedExpiry::new(Duration::from_millis(120_500)).is_err());
/// assert_eq!(RequestedExpiry::clamp(Duration::from_secs(3_600)), RequestedExpiry::MAX);
/// # Ok::<(), vipps_login_core::ExpiryOutOfRange>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestedExpiry(u16);

impl RequestedExpiry {
    /// The shortest expiry Vipps accepts: 60 seconds.
    pub const MIN: RequestedExpiry = RequestedExpiry(60);
    /// The longest expiry Vipps accepts: 900 seconds.
    pub const MAX: RequestedExpiry = RequestedExpiry(900);

    /// `expiry`, when it is a whole number of seconds from [`MIN`](Self::MIN) to
    /// [`MAX`](Self::MAX).
    ///
    /// # Errors
    /// [`ExpiryOutOfRange`] otherwise.
    pub fn new(expiry: Duration) -> Result<RequestedExpiry, ExpiryOutOfRange> {
        let secs = expiry.as_secs();
        if expiry.subsec_nanos() == 0 && (Self::MIN.as_secs()..=Self::MAX.as_secs()).contains(&secs)
        {
            // In range, so it fits.
            u16::try_from(secs)
                .map(RequestedExpiry)
                .map_err(|_| ExpiryOutOfRange(expiry))
        } else {
            Err(ExpiryOutOfRange(expiry))
        }
    }

    /// `secs` seconds, as [`new`](Self::new) checks them.
    ///
    /// # Errors
    /// [`ExpiryOutOfRange`] outside 60–900.
    pub fn from_secs(secs: u64) -> Result<RequestedExpiry, ExpiryOutOfRange> {
        RequestedExpiry::new(Duration::from_secs(secs))
    }

    /// The nearest expiry Vipps accepts: whole seconds (rounded down), at least
    /// [`MIN`](Self::MIN) and at most [`MAX`](Self::MAX). For a deadline set elsewhere
    /// (an identity server's own) that must fit Vipps' range.
    #[must_use]
    pub fn clamp(expiry: Duration) -> RequestedExpiry {
        let secs = expiry
            .as_secs()
            .clamp(Self::MIN.as_secs(), Self::MAX.as_secs());
        RequestedExpiry(u16::try_from(secs).unwrap_or(Self::MAX.0))
    }

    /// The expiry in seconds.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0 as u64
    }

    /// The expiry as a [`Duration`].
    #[must_use]
    pub const fn as_duration(self) -> Duration {
        Duration::from_secs(self.as_secs())
    }
}

impl From<RequestedExpiry> for Duration {
    fn from(e: RequestedExpiry) -> Duration {
        e.as_duration()
    }
}

impl fmt::Display for RequestedExpiry {
    /// Seconds, e.g. `120 s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} s", self.0)
    }
}

/// A duration that is not a [`RequestedExpiry`]; `Display` says the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the expiry must be a whole number of seconds from 60 to 900, not {0:?}")]
pub struct ExpiryOutOfRange(pub Duration);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_from_60_to_900() {
        for s in [60, 61, 600, 899, 900] {
            assert_eq!(
                RequestedExpiry::from_secs(s).map(RequestedExpiry::as_secs),
                Ok(s)
            );
        }
        for s in [0, 1, 59, 901, 3_600, u64::MAX] {
            assert_eq!(
                RequestedExpiry::from_secs(s),
                Err(ExpiryOutOfRange(Duration::from_secs(s))),
                "{s}"
            );
        }
        assert!(RequestedExpiry::new(Duration::from_millis(60_001)).is_err());
        assert!(RequestedExpiry::new(Duration::from_millis(899_999)).is_err());
        assert_eq!(RequestedExpiry::MIN.as_duration(), Duration::from_secs(60));
        assert_eq!(
            Duration::from(RequestedExpiry::MAX),
            Duration::from_secs(900)
        );
    }

    #[test]
    fn clamp_fits_any_duration_into_the_range() {
        let c = |ms: u64| RequestedExpiry::clamp(Duration::from_millis(ms)).as_secs();
        assert_eq!(c(0), 60);
        assert_eq!(c(59_500), 60);
        assert_eq!(c(60_999), 60);
        assert_eq!(c(299_999), 299);
        assert_eq!(c(900_500), 900);
        assert_eq!(RequestedExpiry::clamp(Duration::MAX), RequestedExpiry::MAX);
    }

    #[test]
    fn the_refusal_says_the_rule() {
        let e = RequestedExpiry::from_secs(30).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the expiry must be a whole number of seconds from 60 to 900, not 30s"
        );
    }
}
