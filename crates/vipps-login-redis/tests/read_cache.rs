//! Read-mostly keys kept in process (`Store::cache_reads`, Redis' client-side caching):
//! answered without a round trip while unchanged, and never once anyone changed them,
//! Redis restarted, or the cache was turned off.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Redis, eventually, unique_prefix};
use vipps_login_core::Store;
use vipps_login_redis::RedisStore;

const MINUTE: Duration = Duration::from_secs(60);
const CACHED: &str = "session:";
/// Longer than the tracking connection's check interval and its timeout.
const NOTICED_WITHIN: Duration = Duration::from_secs(5);

async fn store(redis: &Redis, prefix: &str, cache: bool) -> RedisStore {
    let store = RedisStore::builder(redis.url())
        .prefix(prefix)
        .command_timeout(Duration::from_millis(800))
        .cache_reads(cache)
        .build()
        .await
        .unwrap();
    store.cache_reads(CACHED);
    store
}

/// Reads `key` until `store` answers it from memory; that answer.
async fn cached(store: &RedisStore, key: &str) -> Arc<[u8]> {
    eventually(NOTICED_WITHIN, || async {
        store.get(key).await.unwrap();
        store.get_ready(key).map(|r| r.unwrap().unwrap())
    })
    .await
    .0
}

/// What `store` answers from memory for `key`, if anything.
fn in_memory(store: &RedisStore, key: &str) -> Option<Vec<u8>> {
    store.get_ready(key).map(|r| r.unwrap().unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_keys_cost_no_round_trip_and_a_change_elsewhere_drops_them() {
    let redis = Redis::start();
    let prefix = unique_prefix();
    let (a, b) = (
        store(&redis, &prefix, true).await,
        store(&redis, &prefix, true).await,
    );
    a.set("session:1", b"v1".to_vec(), MINUTE).await.unwrap();
    a.set("other", b"x".to_vec(), MINUTE).await.unwrap();
    assert_eq!(&*cached(&b, "session:1").await, b"v1");
    let trips = b.round_trips();
    for _ in 0..100 {
        assert_eq!(in_memory(&b, "session:1").as_deref(), Some(&b"v1"[..]));
    }
    assert_eq!(
        b.round_trips(),
        trips,
        "answered from memory: no round trip"
    );
    // Only the prefix asked for is kept.
    assert_eq!(b.get("other").await.unwrap().as_deref(), Some(&b"x"[..]));
    assert!(b.get_ready("other").is_none());

    // Another instance changes it: Redis pushes the invalidation before it answers A.
    a.set("session:1", b"v2".to_vec(), MINUTE).await.unwrap();
    eventually(NOTICED_WITHIN, || async {
        in_memory(&b, "session:1").is_none().then_some(())
    })
    .await;
    assert_eq!(
        b.get("session:1").await.unwrap().as_deref(),
        Some(&b"v2"[..])
    );
    assert_eq!(&*cached(&b, "session:1").await, b"v2");
    // ... and deletes it (a logout).
    a.remove("session:1").await.unwrap();
    eventually(NOTICED_WITHIN, || async {
        in_memory(&b, "session:1").is_none().then_some(())
    })
    .await;
    assert_eq!(b.get("session:1").await.unwrap(), None);
    assert!(
        b.get_ready("session:1").is_none(),
        "an absent key is not kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_writes_drop_the_copy_before_they_return() {
    let redis = Redis::start();
    let prefix = unique_prefix();
    let a = store(&redis, &prefix, true).await;
    let key = "session:own";
    a.set(key, b"v1".to_vec(), MINUTE).await.unwrap();
    cached(&a, key).await;
    a.set(key, b"v2".to_vec(), MINUTE).await.unwrap();
    assert_ne!(in_memory(&a, key).as_deref(), Some(&b"v1"[..]), "set");

    cached(&a, key).await;
    assert!(
        a.compare_and_swap(key, b"v2", Some(b"v3".to_vec()), MINUTE)
            .await
            .unwrap()
    );
    assert_ne!(in_memory(&a, key).as_deref(), Some(&b"v2"[..]), "swap");

    cached(&a, key).await;
    a.set_and_remove("session:next", b"n".to_vec(), MINUTE, key)
        .await
        .unwrap();
    assert!(in_memory(&a, key).is_none(), "set_and_remove's old key");
    assert_eq!(a.get(key).await.unwrap(), None);

    cached(&a, "session:next").await;
    assert_eq!(
        a.take("session:next").await.unwrap().as_deref(),
        Some(&b"n"[..])
    );
    assert!(in_memory(&a, "session:next").is_none(), "take");

    a.set(key, b"v4".to_vec(), MINUTE).await.unwrap();
    cached(&a, key).await;
    a.remove(key).await.unwrap();
    assert!(in_memory(&a, key).is_none(), "remove");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_redis_empties_the_cache_until_tracking_is_back() {
    let mut redis = Redis::start_own();
    let prefix = unique_prefix();
    let a = store(&redis, &prefix, true).await;
    a.set("session:r", b"before".to_vec(), MINUTE)
        .await
        .unwrap();
    cached(&a, "session:r").await;
    // Restarted empty (no persistence in these tests): what was kept is gone with it.
    redis.restart();
    eventually(NOTICED_WITHIN, || async {
        in_memory(&a, "session:r").is_none().then_some(())
    })
    .await;
    let read = eventually(NOTICED_WITHIN, || async { a.get("session:r").await.ok() })
        .await
        .0;
    assert_eq!(read, None, "the restarted Redis is empty");
    // Tracking comes back on the new connection: written values are kept again.
    a.set("session:r", b"after".to_vec(), MINUTE).await.unwrap();
    assert_eq!(&*cached(&a, "session:r").await, b"after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turned_off_every_read_goes_to_redis() {
    let redis = Redis::start();
    let prefix = unique_prefix();
    let a = store(&redis, &prefix, false).await;
    a.set("session:off", b"v".to_vec(), MINUTE).await.unwrap();
    for _ in 0..5 {
        assert_eq!(
            a.get("session:off").await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert!(a.get_ready("session:off").is_none());
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let trips = a.round_trips();
    a.get("session:off").await.unwrap();
    assert!(a.get_ready("session:off").is_none());
    assert_eq!(a.round_trips(), trips + 1);
}
