//! The decoded-session memo of the pass-through path: a bounded map from a cookie's exact
//! value to what it decoded to, with entries forgotten after [`IDLE`] without use.
//!
//! Not moka, on purpose: this lookup happens on every request and is followed by the
//! store read that decides whether the entry may be used at all (see
//! [`crate::passthrough`]), so it needs no eviction policy of its own beyond a bound and an
//! idle limit. A read lock and one probe cost about a fifth of a moka read with its
//! access recording and clock reads.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

/// Entries unused this long (seconds) are forgotten at the next sweep.
pub(crate) const IDLE: u64 = 600;
/// At most this many entries; when full, idle ones go first, then all.
pub(crate) const CAPACITY: usize = 10_000;
/// Sweeps for idle entries run at most this often (seconds), on insert.
const SWEEP_EVERY: u64 = 60;

/// One value with the (Unix) second it was last used.
struct Slot<V> {
    value: Arc<V>,
    used: AtomicU64,
}

/// A bounded map from cookie values to `V`.
pub(crate) struct Memo<V> {
    map: RwLock<HashMap<Box<[u8]>, Slot<V>, TailHash>>,
    last_sweep: AtomicU64,
}

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo {
            map: RwLock::new(HashMap::with_hasher(TailHash::default())),
            last_sweep: AtomicU64::new(0),
        }
    }
}

impl<V> Memo<V> {
    /// The value for `key`, marked as used at `now` (Unix seconds).
    pub(crate) fn get(&self, key: &[u8], now: u64) -> Option<Arc<V>> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let slot = map.get(key)?;
        // Written only when the second changed: no shared cache line written per request.
        if slot.used.load(Ordering::Relaxed) != now {
            slot.used.store(now, Ordering::Relaxed);
        }
        Some(Arc::clone(&slot.value))
    }

    /// Remembers `value` for `key` at `now` (Unix seconds).
    pub(crate) fn insert(&self, key: Box<[u8]>, value: Arc<V>, now: u64) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let due = now.saturating_sub(self.last_sweep.load(Ordering::Relaxed)) >= SWEEP_EVERY;
        if due || map.len() >= CAPACITY {
            map.retain(|_, slot| now.saturating_sub(slot.used.load(Ordering::Relaxed)) < IDLE);
            self.last_sweep.store(now, Ordering::Relaxed);
            if map.len() >= CAPACITY {
                // Everything is in use: start afresh (each entry is one decoding away).
                map.clear();
            }
        }
        map.insert(
            key,
            Slot {
                value,
                used: AtomicU64::new(now),
            },
        );
    }

    /// Forgets `key`.
    pub(crate) fn remove(&self, key: &[u8]) {
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// How many entries there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Hashes a cookie value by its length and its last [`TAIL`] bytes only, with the
/// standard keyed SipHash; equality still compares the whole value. Entries are made
/// only for values that authenticated, whose tails (the AES-GCM tag) the server's
/// encryption made unpredictable, so no one can fill a bucket with chosen values; a
/// chosen value can only be looked up, and misses.
#[derive(Clone, Default)]
pub(crate) struct TailHash(std::hash::RandomState);

/// How many trailing bytes of a cookie value are hashed.
const TAIL: usize = 16;

impl BuildHasher for TailHash {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

/// The hasher of [`TailHash`].
pub(crate) struct TailHasher(std::hash::DefaultHasher);

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let from = bytes.len().saturating_sub(TAIL);
        self.0.write(&bytes[from..]);
    }

    fn write_usize(&mut self, n: usize) {
        // The length prefix of a slice.
        self.0.write_usize(n);
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(s: &str) -> Box<[u8]> {
        s.as_bytes().into()
    }

    #[test]
    fn exact_values_only_and_forgets_on_remove() {
        let m: Memo<u32> = Memo::default();
        m.insert(key("abcdefghijklmnopqrstuvwxyz"), Arc::new(1), 1_000);
        assert_eq!(*m.get(b"abcdefghijklmnopqrstuvwxyz", 1_000).unwrap(), 1);
        // Same tail (same hash), another value: not a hit.
        assert!(m.get(b"Xbcdefghijklmnopqrstuvwxyz", 1_000).is_none());
        assert!(m.get(b"abcdefghijklmnopqrstuvwxy", 1_000).is_none());
        m.remove(b"abcdefghijklmnopqrstuvwxyz");
        assert!(m.get(b"abcdefghijklmnopqrstuvwxyz", 1_000).is_none());
    }

    #[test]
    fn idle_entries_are_swept_and_the_size_is_bounded() {
        let m: Memo<u32> = Memo::default();
        m.insert(key("old"), Arc::new(1), 1_000);
        m.insert(key("kept"), Arc::new(2), 1_000);
        // "kept" is used later; "old" is not.
        assert!(m.get(b"kept", 1_000 + IDLE - 1).is_some());
        m.insert(key("new"), Arc::new(3), 1_000 + IDLE + 1);
        assert!(
            m.get(b"old", 1_000 + IDLE + 1).is_none(),
            "idle entry swept"
        );
        assert!(m.get(b"kept", 1_000 + IDLE + 1).is_some());
        for i in 0..CAPACITY + 10 {
            m.insert(key(&format!("k{i}")), Arc::new(0), 5_000);
        }
        assert!(m.len() <= CAPACITY);
    }
}
