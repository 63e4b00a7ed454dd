//! The provider's own records (authorization requests, codes, access tokens, CIBA poll
//! state, signing keys) in the core's [`Store`], on the client's clock. Logins are not
//! among them: they are the engine's.
//!
//! Every record is sealed with the engine's [`Sealer`] (AES-256-GCM, its store key bound
//! in as associated data) under a key derived from the client secret, as the engine's own
//! records are: a store dump shows no name, number or claim, and a record planted, edited
//! or copied under another key does not open (it is treated as absent). Store keys are
//! keyed hashes of what names the record, so no code, token or `auth_req_id` appears in a
//! key name either.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use vipps_login_core::token::random_token;
use vipps_login_core::{Clock, MemoryStore, Sealer, Secret, Store, SystemClock, VippsClient};

use crate::LoginError;

/// What the provider's records are sealed and named with, derived from the client secret.
const PURPOSE: &str = "vipps-login-provider records v1";

/// The provider's records (authorization requests, codes, access tokens, poll state,
/// signing keys) in the core's [`Store`], sealed, under keys `vlp:{kind}:{keyed hash}`,
/// with the clock their deadlines are read on (the client's, when they live in a
/// client's store).
#[derive(Clone)]
pub struct Records {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sealer: Arc<Sealer>,
    names: Arc<hmac::Key>,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Records")
    }
}

impl Records {
    /// Records in a fresh in-process store, sealed with a random secret (one process).
    #[must_use]
    pub fn memory() -> Records {
        Records::sealed_with(
            Arc::new(MemoryStore::new()),
            Arc::new(SystemClock),
            &Secret::new(random_token()),
        )
    }

    /// Records in the store of a core client (shared with its logins), sealed with a
    /// secret derived from the client secret: every instance of one merchant opens what
    /// the others wrote, after restarts too.
    #[must_use]
    pub fn of(client: &VippsClient) -> Records {
        Records::sealed_with(
            client.store().clone(),
            client.config().clock().clone(),
            &client.derived_secret(PURPOSE),
        )
    }

    /// Records in `store` on `clock`, sealed and named with keys derived from `secret`
    /// (every instance sharing the store must be given the same).
    #[must_use]
    pub fn sealed_with(store: Arc<dyn Store>, clock: Arc<dyn Clock>, secret: &Secret) -> Records {
        let derive = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
        let sealing = hmac::sign(&derive, b"vipps-login-provider sealing");
        let naming = hmac::sign(&derive, b"vipps-login-provider naming");
        // `Sealer::new` makes an AES-256 key of an HMAC-SHA256 tag: 32 bytes, which
        // AES-256 always accepts.
        #[allow(clippy::expect_used)]
        let sealer = Sealer::new(sealing.as_ref()).expect("AES-256 accepts any 32-byte key");
        Records {
            store,
            clock,
            sealer: Arc::new(sealer),
            names: Arc::new(hmac::Key::new(hmac::HMAC_SHA256, naming.as_ref())),
        }
    }

    /// The store the records live in.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock the records' deadlines are read on.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Unix milliseconds now, on the records' clock: what their deadlines are kept in.
    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.unix_ms()
    }

    /// The store key of (`kind`, `id`): `vlp:{kind}:` and a keyed hash of both, so that
    /// the key names neither the id nor anything computable from it without the secret.
    #[must_use]
    pub fn store_key(&self, kind: &str, id: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.names);
        ctx.update(kind.as_bytes());
        ctx.update(&[0]);
        ctx.update(id.as_bytes());
        format!("vlp:{kind}:{}", URL_SAFE_NO_PAD.encode(ctx.sign().as_ref()))
    }

    fn seal<T: Serialize>(&self, key: &str, value: &T) -> Result<Vec<u8>, LoginError> {
        let plain = serde_json::to_vec(value).map_err(|_| store_failed())?;
        self.sealer.seal(key, &plain).map_err(|_| store_failed())
    }

    /// The value sealed in `bytes` for `key`; `None` (and a warning naming the kind, not
    /// the id) when it does not open or does not parse: planted, edited, copied from
    /// another key, or written with another secret.
    fn open<T: DeserializeOwned>(&self, kind: &str, key: &str, bytes: &[u8]) -> Option<T> {
        let Ok(plain) = self.sealer.open(key, bytes) else {
            tracing::warn!(
                kind,
                "a provider record does not open (planted, edited, copied, or sealed with another secret); treated as absent"
            );
            return None;
        };
        match serde_json::from_slice(&plain) {
            Ok(v) => Some(v),
            Err(_) => {
                tracing::warn!(
                    kind,
                    "a provider record opens but is unreadable (another version?); treated as absent"
                );
                None
            }
        }
    }

    /// Stores `value` under (`kind`, `id`) for `ttl`.
    pub async fn put<T: Serialize + Sync>(
        &self,
        kind: &str,
        id: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), LoginError> {
        let key = self.store_key(kind, id);
        let bytes = self.seal(&key, value)?;
        self.store
            .set(&key, bytes, ttl)
            .await
            .map_err(|_| store_failed())
    }

    /// Stores `value` under (`kind`, `id`) for `ttl` only when nothing is there; `true`
    /// when it was written.
    pub async fn insert_if_absent<T: Serialize + Sync>(
        &self,
        kind: &str,
        id: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<bool, LoginError> {
        let key = self.store_key(kind, id);
        let bytes = self.seal(&key, value)?;
        self.store
            .insert_if_absent(&key, bytes, ttl)
            .await
            .map_err(|_| store_failed())
    }

    /// The value under (`kind`, `id`), if present and it opens.
    pub async fn get<T: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>, LoginError> {
        Ok(self.get_versioned(kind, id).await?.map(|(v, _)| v))
    }

    /// The value under (`kind`, `id`) with its stored bytes, for a later
    /// [`replace`](Self::replace).
    pub(crate) async fn get_versioned<T: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<(T, Vec<u8>)>, LoginError> {
        let key = self.store_key(kind, id);
        let bytes = self.store.get(&key).await.map_err(|_| store_failed())?;
        Ok(bytes.and_then(|b| self.open(kind, &key, &b).map(|v| (v, b))))
    }

    /// Replaces the value under (`kind`, `id`) with `value` for `ttl`, only when the
    /// stored bytes are still `read` (what [`get_versioned`](Self::get_versioned) gave);
    /// `true` when it did.
    pub(crate) async fn replace<T: Serialize + Sync>(
        &self,
        kind: &str,
        id: &str,
        read: &[u8],
        value: &T,
        ttl: Duration,
    ) -> Result<bool, LoginError> {
        let key = self.store_key(kind, id);
        let bytes = self.seal(&key, value)?;
        self.store
            .compare_and_swap(&key, read, Some(bytes), ttl)
            .await
            .map_err(|_| store_failed())
    }

    /// Atomically reads and deletes: of concurrent callers at most one gets the value.
    pub async fn take<T: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>, LoginError> {
        let key = self.store_key(kind, id);
        let v = self.store.take(&key).await.map_err(|_| store_failed())?;
        Ok(v.and_then(|b| self.open(kind, &key, &b)))
    }

    /// Counts one more under (`kind`, `id`) in a window of `ttl` from the first: the count.
    pub(crate) async fn increment(
        &self,
        kind: &str,
        id: &str,
        ttl: Duration,
    ) -> Result<u64, LoginError> {
        self.store
            .increment(&self.store_key(kind, id), ttl)
            .await
            .map(|(n, _)| n)
            .map_err(|_| store_failed())
    }

    /// Deletes (`kind`, `id`).
    pub async fn remove(&self, kind: &str, id: &str) -> Result<(), LoginError> {
        self.store
            .remove(&self.store_key(kind, id))
            .await
            .map_err(|_| store_failed())
    }
}

pub(crate) fn store_failed() -> LoginError {
    LoginError::Upstream("the login store failed".into())
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
