//! Where login state lives: the [`Store`] contract and the in-process [`MemoryStore`].
//!
//! The contract is what several instances sharing one store need, and no more: plain
//! values with a lifetime, conditional writes (insert-if-absent, compare-and-swap), an
//! atomic take, counters with expiry, small indexes with a deadline per member, and
//! notifications that reach every instance. The login engine builds every transition,
//! lease and limit from these; a store crate (such as `vipps-login-redis`) implements them
//! atomically on its server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::admission::{Admission, Admitted};
use crate::config::{Clock, SystemClock};

/// The source of a [`StoreError`], kept for operators' logs.
pub type StoreErrorSource = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of a [`Store`] backend.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend cannot be reached (connection refused or lost, server down).
    #[error("the login store cannot be reached ({message})")]
    Unavailable {
        /// What failed, in words an operator can act on.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<StoreErrorSource>,
    },
    /// The backend did not answer in time.
    #[error("the login store did not answer in time")]
    Timeout,
    /// The backend answered, but refused or failed the operation.
    #[error("the login store failed an operation ({message})")]
    Backend {
        /// What failed.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<StoreErrorSource>,
    },
    /// A stored value could not be read back (written by another version, or damaged).
    #[error("a stored value is unreadable ({0})")]
    Corrupt(String),
}

impl StoreError {
    /// A [`StoreError::Unavailable`] with its source.
    pub fn unavailable(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Unavailable {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// A [`StoreError::Backend`] with its source.
    pub fn backend(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Backend {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }
}

impl From<StoreError> for crate::Error {
    fn from(e: StoreError) -> Self {
        crate::Error::Store(e)
    }
}

/// A failure without a backend error of its own (the engine's own checks).
impl From<String> for StoreError {
    fn from(message: String) -> Self {
        StoreError::Backend {
            message,
            source: None,
        }
    }
}

impl From<&str> for StoreError {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

/// Equal when kind and message are (a source is for logs, not for comparisons).
impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
    }
}

impl Eq for StoreError {}

/// Serialised as its sentence (the source stays in this process).
impl serde::Serialize for StoreError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for StoreError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as serde::Deserialize>::deserialize(d).map(StoreError::from)
    }
}

/// A notification received from [`Store::subscribe`].
///
/// An empty message is the store's way of saying that notifications may have been lost
/// (a reconnect, or a subscriber that fell behind): a subscriber should then re-read
/// whatever it follows.
pub type Notification = Arc<[u8]>;

/// The store contract of the login engine.
///
/// Keys are short printable ASCII; values are opaque bytes. Every value has a lifetime
/// and disappears after it. Each operation is atomic on its own; the conditional ones are
/// what keeps several instances from overwriting each other.
///
/// What every implementation must hold to (and the engine relies on):
///
/// - **One key space.** Values, counters and indexes share names; a name is used for one
///   kind only. Only [`increment`](Store::increment) touches a counter's key.
/// - **Milliseconds.** Lifetimes and deadlines are kept to the millisecond (rounded up);
///   a zero lifetime means "expired at once".
/// - **A failed write has an unknown outcome.** After [`StoreError::Timeout`] or
///   [`StoreError::Unavailable`], a write (a compare-and-swap too) may have been applied.
///   Callers re-read before they conclude anything; the engine does.
/// - **Notifications are at most once, with loss reported.** An empty
///   [`Notification`] may come when nothing was lost, never fails to come after a loss
///   the store noticed. [`subscribe`](Store::subscribe) may fail while the backend is
///   away; callers retry.
///
/// ```
/// use std::time::Duration;
/// use vipps_login_core::{MemoryStore, Store};
/// # async fn demo() -> Result<(), vipps_login_core::StoreError> {
/// let store = MemoryStore::new();
/// let ttl = Duration::from_secs(60);
/// assert!(store.insert_if_absent("k", b"v1".to_vec(), ttl).await?);
/// assert!(!store.insert_if_absent("k", b"v2".to_vec(), ttl).await?);
/// assert!(store.compare_and_swap("k", b"v1", Some(b"v2".to_vec()), ttl).await?);
/// assert!(!store.compare_and_swap("k", b"v1", None, ttl).await?); // not v1 any more
/// assert_eq!(store.take("k").await?, Some(b"v2".to_vec()));
/// assert_eq!(store.get("k").await?, None);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The value stored under `key`, unless absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// What [`get`](Store::get) would answer, when the store can tell without waiting
    /// (an in-process store can, a networked one cannot), shared instead of copied;
    /// `None` (the default) means "ask `get`". Hot read paths, such as the tower layer's
    /// session check on every request, use it to skip a future and a copy of the value.
    fn get_ready(&self, key: &str) -> Option<Result<Option<Arc<[u8]>>, StoreError>> {
        let _ = key;
        None
    }

    /// Stores `value` under `key` for `ttl`, replacing any previous value and lifetime.
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError>;

    /// Deletes `key` (no error when absent).
    async fn remove(&self, key: &str) -> Result<(), StoreError>;

    /// Atomically reads and deletes `key`: of concurrent callers at most one gets the value.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` for `ttl` only when `key` holds nothing; `true` when it was written.
    async fn insert_if_absent(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Replaces the value of `key` with `new` (for `ttl`), or deletes it when `new` is
    /// `None`, but only when the current value equals `expected` byte for byte; `true`
    /// when it did. An absent key never matches.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: Option<Vec<u8>>,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Adds one to the counter `key`, creating it with lifetime `ttl` when absent (the
    /// lifetime is not extended by later increments). Returns the new count and how long
    /// the counter still lives.
    async fn increment(&self, key: &str, ttl: Duration) -> Result<(u64, Duration), StoreError>;

    /// Adds `member` to the index `key` (or moves its deadline) with deadline `until`.
    /// An index lives as long as its latest deadline plus a day.
    async fn index_add(&self, key: &str, member: &str, until: SystemTime)
    -> Result<(), StoreError>;

    /// Removes `member` from the index `key`.
    async fn index_remove(&self, key: &str, member: &str) -> Result<(), StoreError>;

    /// Every member of the index `key` with its deadline (also those past it: the caller
    /// decides what a passed deadline means).
    async fn index_members(&self, key: &str) -> Result<Vec<(String, SystemTime)>, StoreError>;

    /// Sends `message` to every subscriber of `channel`, on every instance.
    async fn publish(&self, channel: &str, message: Vec<u8>) -> Result<(), StoreError>;

    /// Receives what is published on `channel` from now on (see [`Notification`]).
    async fn subscribe(
        &self,
        channel: &str,
    ) -> Result<broadcast::Receiver<Notification>, StoreError>;

    /// A login start's limits in one step (see [`Admission`]). The default runs
    /// [`admit_step_by_step`](crate::admit_step_by_step); a store that can do it in one
    /// round trip (a server-side script) should, and must give the same answers.
    async fn admit(&self, admission: &Admission<'_>) -> Result<Admitted, StoreError> {
        crate::admission::admit_step_by_step(self, admission).await
    }
}

/// Unix milliseconds of `t` (0 before 1970).
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The time `ms` Unix milliseconds stand for.
pub(crate) fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    /// On the store's clock.
    expires_at: SystemTime,
    /// The lifetime in real time, for eviction.
    ttl: Duration,
}

struct EntryExpiry;

impl moka::Expiry<String, Entry> for EntryExpiry {
    fn expire_after_create(&self, _key: &String, value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Entry,
        _now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

type Index = HashMap<String, SystemTime>;

struct MemoryInner {
    cache: moka::sync::Cache<String, Entry>,
    indexes: Mutex<HashMap<String, Index>>,
    channels: Mutex<HashMap<String, broadcast::Sender<Notification>>>,
    clock: Arc<dyn Clock>,
}

/// The default in-process [`Store`]: a moka cache with a lifetime per entry, on the
/// configured [`Clock`].
///
/// Several [`VippsClient`](crate::VippsClient)s given clones of one `MemoryStore` behave
/// like instances sharing a store: they see each other's logins, leases and limits.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<MemoryInner>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.inner.cache.entry_count())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The default bound of [`MemoryStore::new`].
pub const DEFAULT_MEMORY_STORE_CAPACITY: u64 = 200_000;

impl MemoryStore {
    /// A store of at most [`DEFAULT_MEMORY_STORE_CAPACITY`] entries on the system clock.
    #[must_use]
    pub fn new() -> Self {
        MemoryStore::with_capacity(DEFAULT_MEMORY_STORE_CAPACITY)
    }

    /// A store holding at most `max_entries`; beyond that the least useful entries go first.
    #[must_use]
    pub fn with_capacity(max_entries: u64) -> Self {
        MemoryStore::with_clock(max_entries, Arc::new(SystemClock))
    }

    /// A store on `clock` (lifetimes end by that clock; tests move it forward).
    #[must_use]
    pub fn with_clock(max_entries: u64, clock: Arc<dyn Clock>) -> Self {
        MemoryStore {
            inner: Arc::new(MemoryInner {
                cache: moka::sync::Cache::builder()
                    .max_capacity(max_entries)
                    .expire_after(EntryExpiry)
                    .build(),
                indexes: Mutex::new(HashMap::new()),
                channels: Mutex::new(HashMap::new()),
                clock,
            }),
        }
    }

    /// Approximate number of live entries.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.inner.cache.run_pending_tasks();
        self.inner.cache.entry_count()
    }

    /// Whether the store is (approximately) empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    fn entry(&self, value: Vec<u8>, ttl: Duration) -> Entry {
        Entry {
            value: value.into(),
            expires_at: self.now() + ttl,
            ttl,
        }
    }

    /// The live entry of `key` (expired entries count as absent).
    fn live(&self, key: &str) -> Option<Entry> {
        let now = self.now();
        self.inner.cache.get(key).filter(|e| e.expires_at > now)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.live(key).map(|e| e.value.to_vec()))
    }

    fn get_ready(&self, key: &str) -> Option<Result<Option<Arc<[u8]>>, StoreError>> {
        Some(Ok(self.live(key).map(|e| e.value)))
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        self.inner
            .cache
            .insert(key.to_owned(), self.entry(value, ttl));
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.inner.cache.invalidate(key);
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = self.now();
        Ok(self
            .inner
            .cache
            .remove(key)
            .filter(|e| e.expires_at > now)
            .map(|e| e.value.to_vec()))
    }

    async fn insert_if_absent(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let fresh = self.entry(value, ttl);
        let mut written = false;
        self.inner
            .cache
            .entry(key.to_owned())
            .and_compute_with(|current| match current {
                Some(e) if e.value().expires_at > now => moka::ops::compute::Op::Nop,
                _ => {
                    written = true;
                    moka::ops::compute::Op::Put(fresh)
                }
            });
        Ok(written)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: Option<Vec<u8>>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let replacement = new.map(|v| self.entry(v, ttl));
        let mut swapped = false;
        self.inner
            .cache
            .entry(key.to_owned())
            .and_compute_with(|current| match current {
                Some(e) if e.value().expires_at > now && *e.value().value == *expected => {
                    swapped = true;
                    match replacement {
                        Some(r) => moka::ops::compute::Op::Put(r),
                        None => moka::ops::compute::Op::Remove,
                    }
                }
                _ => moka::ops::compute::Op::Nop,
            });
        Ok(swapped)
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<(u64, Duration), StoreError> {
        let now = self.now();
        let mut result = (0, ttl);
        self.inner
            .cache
            .entry(key.to_owned())
            .and_compute_with(|current| {
                let (count, expires_at, real_ttl) = match current {
                    Some(e) if e.value().expires_at > now => {
                        // Decimal text, as Redis keeps counters.
                        let current = std::str::from_utf8(&e.value().value)
                            .ok()
                            .and_then(|t| t.parse::<u64>().ok())
                            .unwrap_or(0);
                        let left = e
                            .value()
                            .expires_at
                            .duration_since(now)
                            .unwrap_or(Duration::ZERO);
                        (current + 1, e.value().expires_at, left)
                    }
                    _ => (1, now + ttl, ttl),
                };
                result = (count, real_ttl);
                moka::ops::compute::Op::Put(Entry {
                    value: count.to_string().into_bytes().into(),
                    expires_at,
                    ttl: real_ttl,
                })
            });
        Ok(result)
    }

    async fn index_add(
        &self,
        key: &str,
        member: &str,
        until: SystemTime,
    ) -> Result<(), StoreError> {
        lock(&self.inner.indexes)
            .entry(key.to_owned())
            .or_default()
            .insert(member.to_owned(), until);
        Ok(())
    }

    async fn index_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let mut indexes = lock(&self.inner.indexes);
        if let Some(index) = indexes.get_mut(key) {
            index.remove(member);
            if index.is_empty() {
                indexes.remove(key);
            }
        }
        Ok(())
    }

    async fn index_members(&self, key: &str) -> Result<Vec<(String, SystemTime)>, StoreError> {
        let day = Duration::from_secs(86_400);
        let now = self.now();
        let mut indexes = lock(&self.inner.indexes);
        let Some(index) = indexes.get_mut(key) else {
            return Ok(Vec::new());
        };
        // Members a day past their deadline are forgotten, as the index's lifetime says.
        index.retain(|_, until| *until + day > now);
        Ok(index.iter().map(|(m, t)| (m.clone(), *t)).collect())
    }

    async fn publish(&self, channel: &str, message: Vec<u8>) -> Result<(), StoreError> {
        if let Some(tx) = lock(&self.inner.channels).get(channel) {
            // No receiver is not an error: nobody listens right now.
            let _ = tx.send(message.into());
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        channel: &str,
    ) -> Result<broadcast::Receiver<Notification>, StoreError> {
        Ok(lock(&self.inner.channels)
            .entry(channel.to_owned())
            .or_insert_with(|| broadcast::channel(4096).0)
            .subscribe())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct ManualClock(Mutex<SystemTime>);

    impl Clock for ManualClock {
        fn now(&self) -> SystemTime {
            *lock(&self.0)
        }
    }

    #[tokio::test]
    async fn lifetimes_follow_the_injected_clock() {
        let clock = Arc::new(ManualClock(Mutex::new(SystemTime::now())));
        let s = MemoryStore::with_clock(100, clock.clone());
        s.set("a", vec![1], Duration::from_secs(30)).await.unwrap();
        let (n, left) = s.increment("c", Duration::from_secs(60)).await.unwrap();
        assert_eq!((n, left), (1, Duration::from_secs(60)));
        *lock(&clock.0) += Duration::from_secs(31);
        assert_eq!(s.get("a").await.unwrap(), None);
        assert!(
            s.insert_if_absent("a", vec![2], Duration::from_secs(30))
                .await
                .unwrap()
        );
        let (n, left) = s.increment("c", Duration::from_secs(60)).await.unwrap();
        assert_eq!((n, left), (2, Duration::from_secs(29)));
        *lock(&clock.0) += Duration::from_secs(30);
        assert_eq!(
            s.increment("c", Duration::from_secs(60)).await.unwrap().0,
            1
        );
    }

    #[tokio::test]
    async fn ready_reads_answer_as_get_does_and_share_the_value() {
        let s = MemoryStore::new();
        assert_eq!(s.get_ready("k").unwrap().unwrap(), None);
        s.set("k", b"v1".to_vec(), Duration::from_secs(60))
            .await
            .unwrap();
        let a = s.get_ready("k").unwrap().unwrap().unwrap();
        let b = s.get_ready("k").unwrap().unwrap().unwrap();
        assert_eq!(&*a, b"v1");
        assert!(
            Arc::ptr_eq(&a, &b),
            "an unchanged value is shared, not copied"
        );
        s.set("k", b"v1".to_vec(), Duration::from_secs(60))
            .await
            .unwrap();
        let c = s.get_ready("k").unwrap().unwrap().unwrap();
        assert!(!Arc::ptr_eq(&a, &c), "a rewrite is a new value");
        s.remove("k").await.unwrap();
        assert_eq!(s.get_ready("k").unwrap().unwrap(), None);
    }

    #[tokio::test]
    async fn conditional_writes() {
        let s = MemoryStore::new();
        let ttl = Duration::from_secs(60);
        assert!(!s.compare_and_swap("k", b"x", None, ttl).await.unwrap());
        assert!(s.insert_if_absent("k", b"x".to_vec(), ttl).await.unwrap());
        assert!(!s.compare_and_swap("k", b"y", None, ttl).await.unwrap());
        assert!(s.compare_and_swap("k", b"x", None, ttl).await.unwrap());
        assert_eq!(s.get("k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn take_and_swap_are_single_winner_under_concurrency() {
        let s = MemoryStore::new();
        s.set("k", vec![9], Duration::from_secs(60)).await.unwrap();
        s.set("v", vec![0], Duration::from_secs(60)).await.unwrap();
        let mut handles = Vec::new();
        for i in 0..16u8 {
            let s = s.clone();
            handles.push(tokio::spawn(async move {
                let took = s.take("k").await.unwrap().is_some();
                let swapped = s
                    .compare_and_swap("v", &[0], Some(vec![i + 1]), Duration::from_secs(60))
                    .await
                    .unwrap();
                (took, swapped)
            }));
        }
        let (mut took, mut swapped) = (0, 0);
        for h in handles {
            let (t, w) = h.await.unwrap();
            took += usize::from(t);
            swapped += usize::from(w);
        }
        assert_eq!((took, swapped), (1, 1));
    }

    #[tokio::test]
    async fn indexes_and_notifications() {
        let s = MemoryStore::new();
        let t = SystemTime::now();
        s.index_add("i", "a", t).await.unwrap();
        s.index_add("i", "b", t).await.unwrap();
        s.index_remove("i", "a").await.unwrap();
        assert_eq!(
            s.index_members("i").await.unwrap(),
            vec![("b".to_owned(), t)]
        );
        let mut rx = s.subscribe("ch").await.unwrap();
        s.publish("ch", b"hello".to_vec()).await.unwrap();
        assert_eq!(&*rx.recv().await.unwrap(), b"hello");
    }
}
