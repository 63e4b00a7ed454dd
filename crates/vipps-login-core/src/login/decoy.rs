//! What a decoy login claims (the enumeration-resistant mode): the expiry and poll
//! interval Vipps gave the last real login, so that its answer looks like a real one's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::LoginRequest;
use crate::wire::Started;

/// How long a push lasts when the request names no `requested_expiry` (Vipps' default):
/// the number's waiting mark is held that long at most, and a decoy claims it until Vipps
/// has named one.
pub(crate) const VIPPS_DEFAULT_EXPIRY: Duration = Duration::from_secs(600);
/// The poll interval a decoy claims until Vipps has named one: Vipps' default.
const VIPPS_DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// The expiry and poll interval Vipps gave the last real login this instance started,
/// which a decoy claims so that its answer looks like a real one's.
#[derive(Debug)]
pub(crate) struct UsualStart {
    /// Vipps' expiry for a start without `requested_expiry`, in ms.
    expires_in_ms: AtomicU64,
    /// Vipps' poll interval, in ms.
    interval_ms: AtomicU64,
}

impl Default for UsualStart {
    fn default() -> Self {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        UsualStart {
            expires_in_ms: AtomicU64::new(ms(VIPPS_DEFAULT_EXPIRY)),
            interval_ms: AtomicU64::new(ms(VIPPS_DEFAULT_INTERVAL)),
        }
    }
}

impl UsualStart {
    /// Remembers what Vipps answered a real start of `request`.
    pub(crate) fn learn(&self, request: &LoginRequest, started: &Started) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if request.requested_expiry.is_none() {
            self.expires_in_ms
                .store(ms(started.expires_in), Ordering::Relaxed);
        }
        self.interval_ms
            .store(ms(started.interval), Ordering::Relaxed);
    }

    /// What a decoy for `request` claims: the request's expiry (Vipps grants it as asked)
    /// or Vipps' usual one, and Vipps' usual interval.
    pub(crate) fn decoy(&self, request: &LoginRequest) -> Started {
        let usual = |a: &AtomicU64| Duration::from_millis(a.load(Ordering::Relaxed));
        Started {
            auth_req_id: String::new(),
            expires_in: request
                .requested_expiry
                .unwrap_or_else(|| usual(&self.expires_in_ms)),
            interval: usual(&self.interval_ms),
        }
    }
}
