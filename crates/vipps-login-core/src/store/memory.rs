//! [`MemoryStore`], the default in-process [`Store`]: a moka cache with a lifetime per
//! entry, on the configured [`Clock`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{Notification, Store, StoreError};
use crate::clock::{Clock, SystemClock};

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
