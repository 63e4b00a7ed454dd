//! A [`Store`] that counts and times every operation of the store it wraps (see
//! [`metrics::names::STORE_OPS`](crate::metrics::names::STORE_OPS)). The engine wraps
//! the store it is given, so every store is measured the same way.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::admission::{Admission, Admitted};
use super::{Notification, Store, StoreError};
use crate::metrics::store_op;

/// Times `$call` on the inner store and records it as operation `$op`.
macro_rules! timed {
    ($op:literal, $call:expr) => {{
        let began = Instant::now();
        let result = $call.await;
        store_op($op, result.is_ok(), began);
        result
    }};
}

pub(crate) struct MeteredStore {
    inner: Arc<dyn Store>,
}

impl MeteredStore {
    pub(crate) fn new(inner: Arc<dyn Store>) -> MeteredStore {
        MeteredStore { inner }
    }
}

#[async_trait]
impl Store for MeteredStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        timed!("get", self.inner.get(key))
    }

    // The in-process fast path answers without waiting; it is not timed (nothing to see).
    fn get_ready(&self, key: &str) -> Option<Result<Option<Arc<[u8]>>, StoreError>> {
        self.inner.get_ready(key)
    }

    fn cache_reads(&self, prefix: &str) {
        self.inner.cache_reads(prefix);
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        timed!("get_many", self.inner.get_many(keys))
    }

    async fn set_and_remove(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        old: &str,
    ) -> Result<(), StoreError> {
        timed!(
            "set_and_remove",
            self.inner.set_and_remove(key, value, ttl, old)
        )
    }

    async fn check_room(&self) -> Result<(), StoreError> {
        timed!("check_room", self.inner.check_room())
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        timed!("set", self.inner.set(key, value, ttl))
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        timed!("remove", self.inner.remove(key))
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        timed!("take", self.inner.take(key))
    }

    async fn insert_if_absent(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        timed!(
            "insert_if_absent",
            self.inner.insert_if_absent(key, value, ttl)
        )
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: Option<Vec<u8>>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        timed!(
            "compare_and_swap",
            self.inner.compare_and_swap(key, expected, new, ttl)
        )
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<(u64, Duration), StoreError> {
        timed!("increment", self.inner.increment(key, ttl))
    }

    async fn index_add(
        &self,
        key: &str,
        member: &str,
        until: SystemTime,
    ) -> Result<(), StoreError> {
        timed!("index_add", self.inner.index_add(key, member, until))
    }

    async fn index_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        timed!("index_remove", self.inner.index_remove(key, member))
    }

    async fn index_members(&self, key: &str) -> Result<Vec<(String, SystemTime)>, StoreError> {
        timed!("index_members", self.inner.index_members(key))
    }

    async fn publish(&self, channel: &str, message: Vec<u8>) -> Result<(), StoreError> {
        timed!("publish", self.inner.publish(channel, message))
    }

    async fn subscribe(
        &self,
        channel: &str,
    ) -> Result<broadcast::Receiver<Notification>, StoreError> {
        timed!("subscribe", self.inner.subscribe(channel))
    }

    async fn admit(&self, admission: &Admission<'_>) -> Result<Admitted, StoreError> {
        timed!("admit", self.inner.admit(admission))
    }
}
