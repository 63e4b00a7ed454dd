//! In-memory storage primitives of the model: poison-tolerant lock helpers and a map
//! sharded over several mutexes.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

const SHARDS: usize = 32;

// Poisoning is ignored so that one panicking handler does not turn every later request
// into a panic too.

/// Locks `m`, ignoring poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks `m`, ignoring poisoning.
pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `m`, ignoring poisoning.
pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

/// A string-keyed map split over several mutexes so that many concurrent logins do not
/// contend on one lock.
pub(crate) struct Sharded<V> {
    shards: Vec<Mutex<HashMap<String, V>>>,
    hasher: RandomState,
}

impl<V> Sharded<V> {
    pub(crate) fn new() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// The locked shard that holds `key`.
    pub(crate) fn shard(&self, key: &str) -> MutexGuard<'_, HashMap<String, V>> {
        let i = (self.hasher.hash_one(key) as usize) % self.shards.len();
        lock(&self.shards[i])
    }

    /// Every shard, locked one after the other (for scans and purges).
    pub(crate) fn each_shard(&self) -> impl Iterator<Item = MutexGuard<'_, HashMap<String, V>>> {
        self.shards.iter().map(lock)
    }
}
