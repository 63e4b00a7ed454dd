//! Where login state lives: the [`Store`] contract, what a start's admission asks of
//! it ([`admission`]), the in-process [`MemoryStore`](memory::MemoryStore) ([`memory`]),
//! and, with the `test-util` feature, the contract as a test suite every store runs
//! (`contract`).
//!
//! The contract is what several instances sharing one store need, and no more: plain
//! values with a lifetime, conditional writes (insert-if-absent, compare-and-swap), an
//! atomic take, counters with expiry, small indexes with a deadline per member, and
//! notifications that reach every instance. The login engine builds every transition,
//! lease and limit from these; a store crate (such as `vipps-login-redis`) implements them
//! atomically on its server.

pub mod admission;
#[cfg(feature = "test-util")]
pub mod contract;
pub mod memory;
pub(crate) mod metered;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::broadcast;

use admission::{Admission, Admitted};

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
    /// The store holds as many entries as it may: new logins are refused before anything
    /// is sent to Vipps, until logins end or the capacity is raised.
    #[error(
        "the in-memory login store is full ({entries} entries, capacity {capacity}): new logins are refused until waiting ones end; raise the capacity (MemoryStore::with_capacity) or share logins in Redis"
    )]
    Full {
        /// Entries held when the write was refused.
        entries: u64,
        /// The store's capacity.
        capacity: u64,
    },
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

    /// A hint that keys starting with `prefix` are read far more often than they change
    /// (the tower layer's sessions: every request reads one). A networked store may then
    /// answer [`get_ready`](Store::get_ready) for them from memory, **only** while it
    /// learns of every change as it happens, by any instance (the Redis store: Redis'
    /// server-assisted client-side caching); a store that cannot keep such a copy right
    /// ignores it (the default).
    fn cache_reads(&self, prefix: &str) {
        let _ = prefix;
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

    /// The values of `keys`, in their order (`None` for an absent one), in one round trip
    /// where the backend can (a front end reads its session and a login together). The
    /// default reads them one by one.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }

    /// Writes `key` and then deletes `old`, in one round trip where the backend can (a
    /// session moving to a fresh id). A reader never finds neither. The default sets,
    /// then removes.
    async fn set_and_remove(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        old: &str,
    ) -> Result<(), StoreError> {
        self.set(key, value, ttl).await?;
        self.remove(old).await
    }

    /// Whether the store can take a new login: refuses with [`StoreError::Full`] when it
    /// could not promise to keep what the login will write. The engine asks before a
    /// start is sent to Vipps, so a login is refused up front rather than lost after
    /// the push. The default answers yes (a store with no fixed bound, such as Redis
    /// under `maxmemory-policy noeviction`).
    async fn check_room(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// A login start's limits in one step (see [`Admission`]). The default runs
    /// [`admit_step_by_step`]; a store that can do it in one
    /// round trip (a server-side script) should, and must give the same answers.
    async fn admit(&self, admission: &Admission<'_>) -> Result<Admitted, StoreError> {
        admit_step_by_step(self, admission).await
    }
}

/// [`Store::admit`] one operation at a time, for stores that cannot do it in one step.
/// Not atomic as a whole: each step is, which the checks need (two starts for one number
/// still get one reservation between them).
///
/// # Errors
/// What the store's operations return.
pub async fn admit_step_by_step<S: Store + ?Sized>(
    store: &S,
    admission: &Admission<'_>,
) -> Result<Admitted, StoreError> {
    if let Some(value) = store.get(admission.refuse_if_present).await? {
        return Ok(Admitted::Refused(value));
    }
    if let Some((key, value, ttl)) = admission.reserve
        && !store.insert_if_absent(key, value.to_vec(), ttl).await?
    {
        return Ok(Admitted::Reserved(store.get(key).await?));
    }
    for (counter, (key, window, allowance)) in admission.counters.iter().enumerate() {
        let (count, left) = store.increment(key, *window).await?;
        if count > *allowance {
            if let Some((key, value, _)) = admission.reserve {
                store
                    .compare_and_swap(key, value, None, Duration::from_secs(1))
                    .await?;
            }
            return Ok(Admitted::OverLimit {
                counter,
                retry_after: left,
            });
        }
    }
    Ok(Admitted::Yes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::memory::MemoryStore;
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn each_check_in_order() {
        let store = MemoryStore::new();
        let counters = [("n", MINUTE, 2), ("c", MINUTE, 1)];
        let a = Admission::new("cool")
            .reserve("mark", b"one", MINUTE)
            .counters(&counters);
        assert_eq!(store.admit(&a).await.unwrap(), Admitted::Yes);
        // The mark is held: nothing counted.
        let b = Admission::new("cool")
            .reserve("mark", b"two", MINUTE)
            .counters(&counters);
        assert_eq!(
            store.admit(&b).await.unwrap(),
            Admitted::Reserved(Some(b"one".to_vec()))
        );
        assert_eq!(store.increment("n", MINUTE).await.unwrap().0, 2);
        // Over the second counter's allowance: the mark made for it is lifted again.
        store.remove("mark").await.unwrap();
        store.remove("n").await.unwrap();
        let over = store.admit(&b).await.unwrap();
        assert!(
            matches!(over, Admitted::OverLimit { counter: 1, .. }),
            "{over:?}"
        );
        assert_eq!(store.get("mark").await.unwrap(), None);
        // A cool-down refuses before anything is written.
        store.set("cool", b"why".to_vec(), MINUTE).await.unwrap();
        assert_eq!(
            store.admit(&a).await.unwrap(),
            Admitted::Refused(b"why".to_vec())
        );
        assert_eq!(store.get("mark").await.unwrap(), None);
    }
}
