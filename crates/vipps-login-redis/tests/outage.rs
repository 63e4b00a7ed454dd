//! Redis going away and coming back: operations fail fast with `Unavailable` or
//! `Timeout` (no hang, no panic), then succeed again by themselves; subscribers are told
//! that they may have missed messages, and keep receiving.
//!
//! These tests stop and restart a redis-server of their own, `REDIS_URL` or not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Redis, eventually, unique_prefix};
use tokio::sync::broadcast;
use vipps_login_core::{Store, StoreError};
use vipps_login_redis::RedisStore;

const MINUTE: Duration = Duration::from_secs(60);
/// The store's command timeout in these tests.
const TIMEOUT: Duration = Duration::from_millis(800);

async fn store(redis: &Redis, prefix: &str) -> RedisStore {
    RedisStore::builder(redis.url())
        .prefix(prefix)
        .command_timeout(TIMEOUT)
        .build()
        .await
        .unwrap()
}

/// The next notification, within `limit`.
async fn next(rx: &mut broadcast::Receiver<std::sync::Arc<[u8]>>, limit: Duration) -> Vec<u8> {
    match tokio::time::timeout(limit, rx.recv()).await {
        Ok(Ok(n)) => n.to_vec(),
        Ok(Err(e)) => panic!("receiver failed: {e}"),
        Err(_) => panic!("no notification within {limit:?}"),
    }
}

fn assert_down(what: &str, err: &StoreError) {
    assert!(
        matches!(err, StoreError::Unavailable { .. } | StoreError::Timeout),
        "{what}: expected Unavailable or Timeout, got {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_is_announced_with_an_empty_notification() {
    let mut redis = Redis::start_own();
    let prefix = unique_prefix();
    let a = store(&redis, &prefix).await;
    let mut rx = a.subscribe("login:1").await.unwrap();
    a.set("k", b"v".to_vec(), MINUTE).await.unwrap();
    redis.restart();
    let announced = next(&mut rx, Duration::from_secs(10)).await;
    assert!(
        announced.is_empty(),
        "expected the empty notification, got {announced:?}"
    );
    // The command connection noticed the restart by itself and reconnected: the first
    // write after it succeeds (the restarted Redis is empty: no persistence here).
    assert!(
        a.insert_if_absent("k", b"w".to_vec(), MINUTE)
            .await
            .unwrap()
    );
    assert_eq!(a.get("k").await.unwrap(), Some(b"w".to_vec()));
    // Resubscribed: what another instance publishes now arrives.
    let b = store(&redis, &prefix).await;
    b.publish("login:1", b"approved".to_vec()).await.unwrap();
    assert_eq!(next(&mut rx, Duration::from_secs(5)).await, b"approved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_fast_and_recovers_by_itself() {
    let mut redis = Redis::start_own();
    let prefix = unique_prefix();
    let a = store(&redis, &prefix).await;
    a.set("k", b"v".to_vec(), MINUTE).await.unwrap();
    let mut rx = a.subscribe("ch").await.unwrap();

    redis.stop();
    for round in 0..2 {
        let started = Instant::now();
        let ops: Vec<(&str, Result<(), StoreError>)> = vec![
            ("get", a.get("k").await.map(drop)),
            ("set", a.set("k", b"w".to_vec(), MINUTE).await),
            ("take", a.take("k").await.map(drop)),
            (
                "compare_and_swap",
                a.compare_and_swap("k", b"v", None, MINUTE).await.map(drop),
            ),
            ("increment", a.increment("c", MINUTE).await.map(drop)),
            ("index_members", a.index_members("i").await.map(drop)),
            ("publish", a.publish("ch", b"x".to_vec()).await),
            ("subscribe", a.subscribe("new").await.map(drop)),
        ];
        let took = started.elapsed();
        let kinds: Vec<String> = ops
            .iter()
            .map(|(what, outcome)| match outcome {
                Err(StoreError::Timeout) => format!("{what}: timeout"),
                Err(StoreError::Unavailable { .. }) => format!("{what}: unavailable"),
                other => format!("{what}: {other:?}"),
            })
            .collect();
        eprintln!("round {round} with Redis down, 8 operations in {took:?}: {kinds:?}");
        for (what, outcome) in ops {
            assert_down(&format!("{what} (round {round})"), &outcome.unwrap_err());
        }
        assert!(took < 8 * TIMEOUT + Duration::from_secs(1), "{took:?}");
    }
    // Each of those returned within the command timeout (plus scheduling slack).
    let started = Instant::now();
    let err = a.get("k").await.unwrap_err();
    assert_down("get", &err);
    assert!(
        started.elapsed() < TIMEOUT + Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    if let StoreError::Unavailable { message, .. } = &err {
        assert!(message.contains(redis.url()), "{message}");
        assert!(message.contains("check that Redis runs"), "{message}");
    }

    redis.restart();
    let (_, took) = eventually(Duration::from_secs(10), || async {
        a.set("k", b"back".to_vec(), MINUTE).await.ok()
    })
    .await;
    eprintln!("operations succeeded again {took:?} after Redis was back");
    assert_eq!(a.get("k").await.unwrap(), Some(b"back".to_vec()));
    assert_eq!(a.increment("c", MINUTE).await.unwrap().0, 1);
    assert!(
        a.compare_and_swap("k", b"back", None, MINUTE)
            .await
            .unwrap()
    );

    // The subscriber heard of the outage, and hears what follows it.
    let announced = next(&mut rx, Duration::from_secs(10)).await;
    assert!(
        announced.is_empty(),
        "expected the empty notification, got {announced:?}"
    );
    let b = store(&redis, &prefix).await;
    b.publish("ch", b"after".to_vec()).await.unwrap();
    assert_eq!(next(&mut rx, Duration::from_secs(5)).await, b"after");
    let mut fresh = a.subscribe("new").await.unwrap();
    b.publish("new", b"hello".to_vec()).await.unwrap();
    assert_eq!(next(&mut fresh, Duration::from_secs(5)).await, b"hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_store_starts_before_redis_does() {
    let mut redis = Redis::start_own();
    redis.stop();
    let a = RedisStore::builder(redis.url())
        .prefix(unique_prefix())
        .command_timeout(TIMEOUT)
        .lazy(true)
        .build()
        .await
        .unwrap();
    assert_down("get", &a.get("k").await.unwrap_err());
    assert_down("subscribe", &a.subscribe("ch").await.unwrap_err());
    redis.restart();
    eventually(Duration::from_secs(10), || async {
        a.set("k", b"v".to_vec(), MINUTE).await.ok()
    })
    .await;
    assert_eq!(a.get("k").await.unwrap(), Some(b"v".to_vec()));
    let (mut rx, _) = eventually(Duration::from_secs(10), || async {
        a.subscribe("ch").await.ok()
    })
    .await;
    a.publish("ch", b"up".to_vec()).await.unwrap();
    assert_eq!(next(&mut rx, Duration::from_secs(5)).await, b"up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_keep_idle_subscriptions_and_drop_abandoned_ones() {
    let redis = Redis::start_own();
    let prefix = unique_prefix();
    let a = store(&redis, &prefix).await;
    let mut rx = a.subscribe("quiet").await.unwrap();
    drop(a.subscribe("abandoned").await.unwrap());
    let mut conn = redis.inspect().await;
    let subscribers =
        |counts: Vec<(String, i64)>| counts.into_iter().map(|(_, n)| n).collect::<Vec<_>>();
    let numsub = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(format!("{prefix}quiet"))
        .arg(format!("{prefix}abandoned"))
        .clone();
    assert_eq!(
        subscribers(numsub.query_async(&mut conn).await.unwrap()),
        vec![1, 1]
    );
    // Past the first health check (every 10 s): the connection answered its PING, so
    // nothing was announced, and the channel nobody listens to was unsubscribed.
    tokio::time::sleep(Duration::from_millis(11_500)).await;
    assert!(
        matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Empty)),
        "a healthy connection was treated as lost"
    );
    assert_eq!(
        subscribers(numsub.query_async(&mut conn).await.unwrap()),
        vec![1, 0]
    );
    a.publish("quiet", b"still here".to_vec()).await.unwrap();
    assert_eq!(next(&mut rx, Duration::from_secs(5)).await, b"still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_does_not_answer_times_out() {
    let redis = Redis::start_own();
    let a = store(&redis, &unique_prefix()).await;
    a.set("k", b"v".to_vec(), MINUTE).await.unwrap();
    let mut conn = redis.inspect().await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(2_000)
        .arg("ALL")
        .query_async(&mut conn)
        .await
        .unwrap();
    let started = Instant::now();
    let err = a.get("k").await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, StoreError::Timeout), "{err:?}");
    assert!(
        took >= TIMEOUT && took < TIMEOUT + Duration::from_millis(400),
        "{took:?}"
    );
    // Answering again, the same store goes on as if nothing happened.
    eventually(Duration::from_secs(5), || async { a.get("k").await.ok() }).await;
    assert_eq!(a.get("k").await.unwrap(), Some(b"v".to_vec()));
}
