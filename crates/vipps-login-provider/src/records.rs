//! The provider's own records (authorization requests, codes, access tokens, CIBA poll
//! state) in the core's [`Store`], on the client's clock. Logins are not among them:
//! they are the engine's.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use vipps_login_core::{Clock, MemoryStore, Store, SystemClock, VippsClient};

use crate::LoginError;

/// The provider's records (authorization requests, codes, access tokens, poll state) in the core's
/// [`Store`], JSON-encoded under keys starting with `vlp:`, with the clock their
/// deadlines are read on (the client's, when they live in a client's store).
#[derive(Clone)]
pub struct Records {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Records")
    }
}

impl Records {
    /// Records in a fresh in-process store.
    #[must_use]
    pub fn memory() -> Records {
        Records {
            store: Arc::new(MemoryStore::new()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Records in the store of a core client (shared with its logins).
    #[must_use]
    pub fn of(client: &VippsClient) -> Records {
        Records {
            store: client.store().clone(),
            clock: client.config().clock().clone(),
        }
    }

    /// Unix milliseconds now, on the records' clock: what their deadlines are kept in.
    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.unix_ms()
    }

    fn key(kind: &str, id: &str) -> String {
        format!("vlp:{kind}:{id}")
    }

    /// Stores `value` under (`kind`, `id`) for `ttl`.
    pub async fn put<T: Serialize + Sync>(
        &self,
        kind: &str,
        id: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), LoginError> {
        let bytes = serde_json::to_vec(value).map_err(|_| store_failed())?;
        self.store
            .set(&Self::key(kind, id), bytes, ttl)
            .await
            .map_err(|_| store_failed())
    }

    /// The value under (`kind`, `id`), if present and readable.
    pub async fn get<T: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>, LoginError> {
        let v = self
            .store
            .get(&Self::key(kind, id))
            .await
            .map_err(|_| store_failed())?;
        Ok(v.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Atomically reads and deletes: of concurrent callers at most one gets the value.
    pub async fn take<T: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>, LoginError> {
        let v = self
            .store
            .take(&Self::key(kind, id))
            .await
            .map_err(|_| store_failed())?;
        Ok(v.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Stores `value` under (`kind`, `id`) for `ttl` unless something is there: whether
    /// it was stored (of concurrent callers, exactly one is first).
    pub(crate) async fn claim<T: Serialize + Sync>(
        &self,
        kind: &str,
        id: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<bool, LoginError> {
        let bytes = serde_json::to_vec(value).map_err(|_| store_failed())?;
        self.store
            .insert_if_absent(&Self::key(kind, id), bytes, ttl)
            .await
            .map_err(|_| store_failed())
    }

    /// Counts one more under (`kind`, `id`) in a window of `ttl` from the first: the count.
    pub(crate) async fn increment(
        &self,
        kind: &str,
        id: &str,
        ttl: Duration,
    ) -> Result<u64, LoginError> {
        self.store
            .increment(&Self::key(kind, id), ttl)
            .await
            .map(|(n, _)| n)
            .map_err(|_| store_failed())
    }

    /// Deletes (`kind`, `id`).
    pub async fn remove(&self, kind: &str, id: &str) -> Result<(), LoginError> {
        self.store
            .remove(&Self::key(kind, id))
            .await
            .map_err(|_| store_failed())
    }
}

pub(crate) fn store_failed() -> LoginError {
    LoginError::Upstream("the login store failed".into())
}
