//! [`MemoryStore`], the default in-process [`Store`]: a sharded map with a lifetime per
//! entry, on the configured [`Clock`], that never drops a live entry to make room.
//!
//! A store of state is not a cache: a login the engine accepted must still be there at
//! its first poll. So the store has a capacity (entries), and at capacity it refuses new
//! logins *before* anything is sent to Vipps ([`Store::check_room`]); what a login
//! already admitted writes afterwards goes into a headroom above the capacity. Expired
//! entries are dropped when read and swept when the store runs full.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{Notification, Store, StoreError};
use crate::clock::{Clock, SystemClock};

/// One value. Times are kept as nanoseconds since the Unix epoch on the store's clock
/// (exact, and half the size of a `SystemTime`): a waiting login is an entry here, so
/// every byte of it counts once per login.
#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    expires_at: Nanos,
}

/// Nanoseconds since the Unix epoch (0 before it; `u64::MAX` after the year 2554).
type Nanos = u64;

fn nanos(t: SystemTime) -> Nanos {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn nanos_of(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

type Shard = HashMap<Box<str>, Entry>;
/// An index's members and their deadlines.
type Index = HashMap<Box<str>, Nanos>;

/// Shards of the map: concurrent requests rarely wait for each other's lock.
const SHARDS: usize = 32;

/// A full store sweeps expired entries at most this often (a sweep reads every entry).
const SWEEP_EVERY: Duration = Duration::from_millis(250);

struct MemoryInner {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    /// Entries held (live, or expired and not yet swept), over all shards.
    entries: AtomicU64,
    capacity: u64,
    last_sweep: Mutex<Option<Instant>>,
    indexes: Mutex<HashMap<String, Index>>,
    channels: Mutex<HashMap<String, broadcast::Sender<Notification>>>,
    clock: Arc<dyn Clock>,
}

/// The default in-process [`Store`]: a sharded map with a lifetime per entry, on the
/// configured [`Clock`]. It never evicts a live entry.
///
/// Its capacity counts entries: a waiting login holds one (its sealed record) and, with
/// the per-number limits on (as the layer has them), up to four more (its number's mark
/// and counters); a staff session one. At capacity, [`check_room`](Store::check_room)
/// refuses new logins before anything is sent to Vipps ([`StoreError::Full`]: 503 with
/// `Retry-After` at the layer, `temporarily_unavailable` at the provider); logins already
/// admitted may write into a headroom of a quarter of the capacity above it, and only
/// past that is a write of a new key refused. Expired entries are dropped when read and
/// swept when the store runs full.
///
/// Memory: a waiting login costs about 1 KiB in process, the engine's part included
/// (its sealed record of about 250 bytes and its key here, its index entry, its shares of
/// the tables, and its entry in the poller): 0.91 KiB per login measured with 250,000
/// waiting (`benches/benches/pending_logins.rs`; `login_memory` says where the bytes go).
/// A capacity of `n` entries is thus about `n` KiB at most without per-number limits.
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
            .field("entries", &self.inner.entries.load(Ordering::Relaxed))
            .field("capacity", &self.inner.capacity)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The default capacity of [`MemoryStore::new`], in entries (40,000 to 200,000 waiting
/// logins, depending on the limits in force).
pub const DEFAULT_MEMORY_STORE_CAPACITY: u64 = 200_000;

impl MemoryStore {
    /// A store of [`DEFAULT_MEMORY_STORE_CAPACITY`] entries on the system clock.
    #[must_use]
    pub fn new() -> Self {
        MemoryStore::with_capacity(DEFAULT_MEMORY_STORE_CAPACITY)
    }

    /// A store refusing new logins once it holds `max_entries` entries (see the type's
    /// documentation for the headroom above it).
    #[must_use]
    pub fn with_capacity(max_entries: u64) -> Self {
        MemoryStore::with_clock(max_entries, Arc::new(SystemClock))
    }

    /// A store on `clock` (lifetimes end by that clock; tests move it forward).
    #[must_use]
    pub fn with_clock(max_entries: u64, clock: Arc<dyn Clock>) -> Self {
        MemoryStore {
            inner: Arc::new(MemoryInner {
                shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                hasher: RandomState::new(),
                entries: AtomicU64::new(0),
                capacity: max_entries.max(1),
                last_sweep: Mutex::new(None),
                indexes: Mutex::new(HashMap::new()),
                channels: Mutex::new(HashMap::new()),
                clock,
            }),
        }
    }

    /// Number of live entries (expired ones are swept first).
    #[must_use]
    pub fn len(&self) -> u64 {
        self.sweep();
        self.inner.entries.load(Ordering::Relaxed)
    }

    /// Whether the store holds no live entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity: at this many entries new logins are refused.
    #[must_use]
    pub fn capacity(&self) -> u64 {
        self.inner.capacity
    }

    /// The most entries ever held: the capacity and its headroom for admitted logins.
    fn ceiling(&self) -> u64 {
        self.inner.capacity.saturating_add(self.inner.capacity / 4)
    }

    fn now(&self) -> Nanos {
        nanos(self.inner.clock.now())
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let i = usize::try_from(self.inner.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        lock(&self.inner.shards[i])
    }

    /// Drops every expired entry (a pass over all of them).
    fn sweep(&self) {
        *lock(&self.inner.last_sweep) = Some(Instant::now());
        let now = self.now();
        for shard in &*self.inner.shards {
            let mut shard = lock(shard);
            let before = shard.len();
            shard.retain(|_, e| e.expires_at > now);
            let gone = (before - shard.len()) as u64;
            self.inner.entries.fetch_sub(gone, Ordering::Relaxed);
        }
    }

    /// Whether the store holds fewer than `limit` entries, sweeping expired ones first
    /// (at most every [`SWEEP_EVERY`]) when it seems not to.
    fn below(&self, limit: u64) -> bool {
        if self.inner.entries.load(Ordering::Relaxed) < limit {
            return true;
        }
        let due = lock(&self.inner.last_sweep).is_none_or(|t| t.elapsed() >= SWEEP_EVERY);
        if due {
            self.sweep();
        }
        self.inner.entries.load(Ordering::Relaxed) < limit
    }

    fn full(&self) -> StoreError {
        StoreError::Full {
            entries: self.inner.entries.load(Ordering::Relaxed),
            capacity: self.inner.capacity,
        }
    }

    /// Applies `f` to the entry of `key` (`None` when absent or expired) under its shard's
    /// lock; `f` answers what to leave there. A write of a new key is refused past the
    /// ceiling.
    fn update<R>(
        &self,
        key: &str,
        f: impl FnOnce(Option<&Entry>) -> (Write, R),
    ) -> Result<R, StoreError> {
        // Sweeping takes every shard's lock, so it happens before this key's is held.
        let ceiling = self.ceiling();
        self.below(ceiling);
        let now = self.now();
        let mut shard = self.shard(key);
        let held = shard.get(key);
        let live = held.filter(|e| e.expires_at > now);
        let present = held.is_some();
        let (write, result) = f(live);
        match write {
            Write::Keep => {}
            Write::Put(entry) => {
                if let Some(slot) = shard.get_mut(key) {
                    *slot = entry;
                } else if self.inner.entries.load(Ordering::Relaxed) < ceiling {
                    shard.insert(key.into(), entry);
                    self.inner.entries.fetch_add(1, Ordering::Relaxed);
                } else {
                    return Err(self.full());
                }
            }
            Write::Remove => {
                if present && shard.remove(key).is_some() {
                    self.inner.entries.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        Ok(result)
    }

    fn entry(&self, value: Vec<u8>, ttl: Duration) -> Entry {
        Entry {
            value: value.into(),
            expires_at: self.now().saturating_add(nanos_of(ttl)),
        }
    }

    /// The live value of `key` (expired entries count as absent).
    fn live(&self, key: &str) -> Option<Arc<[u8]>> {
        let now = self.now();
        self.shard(key)
            .get(key)
            .filter(|e| e.expires_at > now)
            .map(|e| e.value.clone())
    }
}

/// What [`MemoryStore::update`] leaves under a key.
enum Write {
    Keep,
    Put(Entry),
    Remove,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.live(key).map(|v| v.to_vec()))
    }

    fn get_ready(&self, key: &str) -> Option<Result<Option<Arc<[u8]>>, StoreError>> {
        Some(Ok(self.live(key)))
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        let entry = self.entry(value, ttl);
        self.update(key, |_| (Write::Put(entry), ()))
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.update(key, |_| (Write::Remove, ()))
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.update(key, |live| (Write::Remove, live.map(|e| e.value.to_vec())))
    }

    async fn insert_if_absent(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let fresh = self.entry(value, ttl);
        self.update(key, |live| match live {
            Some(_) => (Write::Keep, false),
            None => (Write::Put(fresh), true),
        })
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: Option<Vec<u8>>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let replacement = new.map(|v| self.entry(v, ttl));
        self.update(key, |live| match live {
            Some(e) if *e.value == *expected => match replacement {
                Some(r) => (Write::Put(r), true),
                None => (Write::Remove, true),
            },
            _ => (Write::Keep, false),
        })
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<(u64, Duration), StoreError> {
        let now = self.now();
        self.update(key, |live| {
            let (count, expires_at) = match live {
                Some(e) => {
                    // Decimal text, as Redis keeps counters.
                    let current = std::str::from_utf8(&e.value)
                        .ok()
                        .and_then(|t| t.parse::<u64>().ok())
                        .unwrap_or(0);
                    (current + 1, e.expires_at)
                }
                None => (1, now.saturating_add(nanos_of(ttl))),
            };
            let left = Duration::from_nanos(expires_at.saturating_sub(now));
            let entry = Entry {
                value: count.to_string().into_bytes().into(),
                expires_at,
            };
            (Write::Put(entry), (count, left))
        })
    }

    async fn check_room(&self) -> Result<(), StoreError> {
        if self.below(self.inner.capacity) {
            Ok(())
        } else {
            Err(self.full())
        }
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
            .insert(member.into(), nanos(until));
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
        let day = nanos_of(Duration::from_secs(86_400));
        let now = self.now();
        let mut indexes = lock(&self.inner.indexes);
        let Some(index) = indexes.get_mut(key) else {
            return Ok(Vec::new());
        };
        // Members a day past their deadline are forgotten, as the index's lifetime says.
        index.retain(|_, until| until.saturating_add(day) > now);
        Ok(index
            .iter()
            .map(|(m, t)| (m.to_string(), UNIX_EPOCH + Duration::from_nanos(*t)))
            .collect())
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
#[path = "memory_tests.rs"]
mod tests;
