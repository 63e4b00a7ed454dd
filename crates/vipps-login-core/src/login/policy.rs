//! Abuse limits, kept in the [`Store`](crate::Store) so that every instance counts the
//! same: one waiting login per phone number, starts per number and per client key in a
//! window, a cool-down after a push the customer declined or did not answer, and Vipps'
//! user-exists questions per client key.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::keys;
use crate::clock::{from_unix_ms, unix_ms};
use crate::error::CoolDownReason;
use crate::{Error, Store};

/// A fixed window: at most `max` starts per `period`, counted from the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Starts allowed in one window.
    pub max: u32,
    /// The window length.
    pub period: Duration,
}

impl Window {
    /// At most `max` starts per `period`.
    #[must_use]
    pub const fn new(max: u32, period: Duration) -> Self {
        Self { max, period }
    }
}

/// The abuse limits the engine applies to every start
/// ([`VippsClient::with_limits`](crate::VippsClient::with_limits)).
///
/// [`RateLimits::default`] stops push spam without getting in a clerk's way: one waiting
/// login per number, 3 starts per number and 30 per client key (a till, an IP address,
/// a relying party) per 10 minutes, 60 s after a declined push and 30 s after an
/// unanswered one. A customer who did not answer most likely did not see the push, so
/// the clerk may ask again soon; one who declined said no. Vipps' user-exists pre-check
/// ([`VippsClient::user_exists_from`](crate::VippsClient::user_exists_from)) answers at
/// most 30 questions per client key per 10 minutes: it tells whether a number has Vipps
/// without a push, so unlimited it would let anyone list which numbers do.
///
/// ```
/// use std::time::Duration;
/// use vipps_login_core::{RateLimits, Window};
/// let limits = RateLimits::default()
///     .per_number(Window::new(5, Duration::from_secs(900)))
///     .declined_cool_down(Duration::from_secs(30));
/// # let _ = limits;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct RateLimits {
    pub(crate) one_pending_per_number: bool,
    pub(crate) per_number: Option<Window>,
    pub(crate) per_client: Option<Window>,
    pub(crate) callbacks_per_client: Option<Window>,
    pub(crate) user_exists_per_client: Option<Window>,
    pub(crate) declined_cool_down: Duration,
    pub(crate) ignored_cool_down: Duration,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            one_pending_per_number: true,
            per_number: Some(Window::new(3, Duration::from_secs(600))),
            per_client: Some(Window::new(30, Duration::from_secs(600))),
            callbacks_per_client: Some(Window::new(30, Duration::from_secs(600))),
            user_exists_per_client: Some(Window::new(30, Duration::from_secs(600))),
            declined_cool_down: Duration::from_secs(60),
            ignored_cool_down: Duration::from_secs(30),
        }
    }
}

impl RateLimits {
    /// No limits at all (the bare client's default: scripts and tests decide themselves).
    pub fn none() -> Self {
        Self {
            one_pending_per_number: false,
            per_number: None,
            per_client: None,
            callbacks_per_client: None,
            user_exists_per_client: None,
            declined_cool_down: Duration::ZERO,
            ignored_cool_down: Duration::ZERO,
        }
    }

    /// Starts allowed per phone number.
    pub fn per_number(mut self, window: Window) -> Self {
        self.per_number = Some(window);
        self
    }

    /// Starts allowed per client key (see [`LoginContext::client_key`](crate::LoginContext::client_key)).
    pub fn per_client(mut self, window: Window) -> Self {
        self.per_client = Some(window);
        self
    }

    /// No limit per client key (a caller that counts its clients itself, or whose client
    /// key names a whole relying party rather than one till).
    pub fn no_per_client(mut self) -> Self {
        self.per_client = None;
        self
    }

    /// Continue-in-browser callbacks allowed per client key (the phone browser's address;
    /// default 30 in 10 minutes). A genuine customer makes one per login; the limit stops
    /// a client that tries `state`s or codes from costing store reads without end.
    pub fn callbacks_per_client(mut self, window: Window) -> Self {
        self.callbacks_per_client = Some(window);
        self
    }

    /// User-exists questions allowed per client key
    /// ([`VippsClient::user_exists_from`](crate::VippsClient::user_exists_from); default
    /// 30 in 10 minutes). Every question counts, also one answered from the cache: the
    /// limit is on what a client may learn, not only on calls to Vipps.
    pub fn user_exists_per_client(mut self, window: Window) -> Self {
        self.user_exists_per_client = Some(window);
        self
    }

    /// Whether a number may have only one waiting login at a time (default on).
    pub fn one_pending_per_number(mut self, on: bool) -> Self {
        self.one_pending_per_number = on;
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

    /// Checks the limits for sense: a window allows at least one start in a non-zero period.
    pub fn validate(&self) -> Result<(), Error> {
        for (name, w) in [
            ("per_number", self.per_number),
            ("per_client", self.per_client),
            ("callbacks_per_client", self.callbacks_per_client),
            ("user_exists_per_client", self.user_exists_per_client),
        ] {
            if let Some(w) = w {
                if w.max == 0 {
                    return Err(Error::Config(format!(
                        "rate limit {name}: max must be at least 1"
                    )));
                }
                if w.period.is_zero() {
                    return Err(Error::Config(format!(
                        "rate limit {name}: period must not be zero"
                    )));
                }
            }
        }
        Ok(())
    }

    fn cool_down(&self, reason: CoolDownReason) -> Duration {
        match reason {
            CoolDownReason::Declined => self.declined_cool_down,
            CoolDownReason::Ignored => self.ignored_cool_down,
        }
    }
}

/// The cool-downs a login carries in its record, so that whichever instance sees it end
/// applies the limits it was started under.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub(crate) struct CoolDowns {
    pub declined_ms: u64,
    pub ignored_ms: u64,
}

impl From<&RateLimits> for CoolDowns {
    fn from(l: &RateLimits) -> Self {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        CoolDowns {
            declined_ms: ms(l.cool_down(CoolDownReason::Declined)),
            ignored_ms: ms(l.cool_down(CoolDownReason::Ignored)),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CoolDownMark {
    reason: CoolDownReason,
    until_ms: u64,
}

/// Refuses a start while the number cools down after a declined or unanswered push.
pub(crate) async fn check_cool_down(
    store: &dyn Store,
    number_key: &str,
    now: SystemTime,
) -> Result<(), Error> {
    match store.get(&keys::cool_down(number_key)).await? {
        Some(bytes) => cool_down_refusal(&bytes, now).map_or(Ok(()), Err),
        None => Ok(()),
    }
}

/// The refusal a stored cool-down mark means at `now`; `None` when it has run out (or
/// cannot be read).
pub(crate) fn cool_down_refusal(mark: &[u8], now: SystemTime) -> Option<Error> {
    let mark = serde_json::from_slice::<CoolDownMark>(mark).ok()?;
    let until = from_unix_ms(mark.until_ms);
    (until > now).then(|| Error::CoolingDown {
        reason: mark.reason,
        retry_after: until.duration_since(now).unwrap_or(Duration::ZERO),
    })
}

/// The windows a start counts against, in order, with their store keys.
pub(crate) fn windows(
    limits: &RateLimits,
    number_key: &str,
    client_key: Option<&str>,
) -> Vec<(String, Window)> {
    let mut windows = Vec::with_capacity(2);
    if let Some(w) = limits.per_number {
        windows.push((keys::count_number(number_key), w));
    }
    if let (Some(w), Some(key)) = (limits.per_client, client_key) {
        windows.push((keys::count_client(key), w));
    }
    windows
}

/// Counts a start that may go ahead against the per-number and per-client windows.
pub(crate) async fn count_starts(
    store: &dyn Store,
    limits: &RateLimits,
    number_key: &str,
    client_key: Option<&str>,
) -> Result<(), Error> {
    for (key, w) in windows(limits, number_key, client_key) {
        check_window(store, &key, w).await?;
    }
    Ok(())
}

/// Counts a continue-in-browser callback from `client_key` against its window.
pub(crate) async fn count_callback(
    store: &dyn Store,
    limits: &RateLimits,
    client_key: Option<&str>,
) -> Result<(), Error> {
    if let (Some(w), Some(key)) = (limits.callbacks_per_client, client_key) {
        check_window(store, &keys::count_callback(key), w).await?;
    }
    Ok(())
}

/// Counts a user-exists question from `client_key` against its window.
pub(crate) async fn count_user_exists(
    store: &dyn Store,
    limits: &RateLimits,
    client_key: Option<&str>,
) -> Result<(), Error> {
    if let (Some(w), Some(key)) = (limits.user_exists_per_client, client_key) {
        check_window(store, &keys::count_user_exists(key), w).await?;
    }
    Ok(())
}

async fn check_window(store: &dyn Store, key: &str, w: Window) -> Result<(), Error> {
    let (count, left) = store.increment(key, w.period).await?;
    if count > u64::from(w.max) {
        return Err(over_limit(left));
    }
    Ok(())
}

/// The refusal of a start over a window that ends in `left` (at least a second).
pub(crate) fn over_limit(left: Duration) -> Error {
    Error::RateLimited {
        retry_after: Some(left.max(Duration::from_secs(1))),
    }
}

/// Starts the number's cool-down after a declined or unanswered push.
pub(crate) async fn start_cool_down(
    store: &dyn Store,
    number_key: &str,
    cool_downs: CoolDowns,
    reason: CoolDownReason,
    now: SystemTime,
) -> Result<(), Error> {
    let ms = match reason {
        CoolDownReason::Declined => cool_downs.declined_ms,
        CoolDownReason::Ignored => cool_downs.ignored_ms,
    };
    if ms == 0 {
        return Ok(());
    }
    let length = Duration::from_millis(ms);
    let mark = CoolDownMark {
        reason,
        until_ms: unix_ms(now + length),
    };
    let bytes = serde_json::to_vec(&mark).unwrap_or_default();
    store
        .set(&keys::cool_down(number_key), bytes, length)
        .await?;
    Ok(())
}
