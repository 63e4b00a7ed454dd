//! Where login state lives: a byte key-value store with expiry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// A failure of a [`Store`] backend (connection lost, timeout, ...).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

impl From<StoreError> for crate::Error {
    fn from(e: StoreError) -> Self {
        crate::Error::Store(e.0)
    }
}

/// A byte key-value store with a lifetime per entry.
///
/// [`VippsClient`](crate::VippsClient) keeps each login's record here (keyed by
/// [`LoginId`](crate::LoginId)), so that a shared store such as Redis can back several
/// instances. Keys are short printable ASCII; values are opaque bytes. The tower layer keeps
/// its sessions in the same store.
///
/// ```
/// use std::time::Duration;
/// use vipps_login_core::{MemoryStore, Store};
/// # async fn demo() -> Result<(), vipps_login_core::StoreError> {
/// let store = MemoryStore::new();
/// store.set("k", b"v".to_vec(), Duration::from_secs(60)).await?;
/// assert_eq!(store.take("k").await?, Some(b"v".to_vec()));
/// assert_eq!(store.get("k").await?, None);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The value stored under `key`, unless absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `value` under `key` for `ttl`, replacing any previous value and lifetime.
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError>;
    /// Deletes `key` (no error when absent).
    async fn remove(&self, key: &str) -> Result<(), StoreError>;
    /// Atomically reads and deletes `key`: of concurrent callers at most one gets the value.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
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

/// The default in-process [`Store`]: a moka cache with a lifetime per entry.
#[derive(Clone)]
pub struct MemoryStore {
    cache: moka::future::Cache<String, Entry>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl MemoryStore {
    /// An unbounded store (entries leave when their lifetime ends).
    #[must_use]
    pub fn new() -> Self {
        MemoryStore {
            cache: moka::future::Cache::builder()
                .expire_after(EntryExpiry)
                .build(),
        }
    }

    /// A store holding at most `max_entries`; beyond that the least useful entries go first.
    #[must_use]
    pub fn with_capacity(max_entries: u64) -> Self {
        MemoryStore {
            cache: moka::future::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(EntryExpiry)
                .build(),
        }
    }

    /// Approximate number of live entries.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Whether the store is (approximately) empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        Ok(self.cache.get(key).await.map(|e| e.value.to_vec()))
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        self.cache
            .insert(
                key.to_owned(),
                Entry {
                    value: value.into(),
                    ttl,
                },
            )
            .await;
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.cache.invalidate(key).await;
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.cache.remove(key).await.map(|e| e.value.to_vec()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ttl_and_take() {
        let s = MemoryStore::new();
        s.set("a", vec![1], Duration::from_millis(50))
            .await
            .unwrap();
        s.set("b", vec![2], Duration::from_secs(60)).await.unwrap();
        assert_eq!(s.get("a").await.unwrap(), Some(vec![1]));
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(s.get("a").await.unwrap(), None);
        assert_eq!(s.take("b").await.unwrap(), Some(vec![2]));
        assert_eq!(s.take("b").await.unwrap(), None);
        s.set("c", vec![3], Duration::from_secs(60)).await.unwrap();
        s.remove("c").await.unwrap();
        assert_eq!(s.get("c").await.unwrap(), None);
    }

    #[tokio::test]
    async fn take_is_single_use_under_concurrency() {
        let s = MemoryStore::new();
        s.set("k", vec![9], Duration::from_secs(60)).await.unwrap();
        let mut handles = Vec::new();
        for _ in 0..16 {
            let s = s.clone();
            handles.push(tokio::spawn(async move { s.take("k").await.unwrap() }));
        }
        let mut got = 0;
        for h in handles {
            if h.await.unwrap().is_some() {
                got += 1;
            }
        }
        assert_eq!(got, 1);
    }
}
