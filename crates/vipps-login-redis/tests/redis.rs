//! What only the Redis store promises: namespaced keys that all have a lifetime, counters
//! that report Redis' own PTTL, notifications between instances, counted round trips,
//! and errors an operator can act on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Redis, unique_prefix};
use redis::AsyncCommands;
use vipps_login_core::{Store, StoreError};
use vipps_login_redis::RedisStore;

const MINUTE: Duration = Duration::from_secs(60);
const DAY_MS: i64 = 86_400_000;

fn unix_ms(t: SystemTime) -> i64 {
    i64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

#[tokio::test]
async fn every_key_is_namespaced_and_has_a_lifetime() {
    let redis = Redis::start();
    let prefix = unique_prefix();
    let s = redis.store_with_prefix(&prefix).await;
    s.set("value", b"v".to_vec(), MINUTE).await.unwrap();
    s.insert_if_absent("inserted", b"v".to_vec(), MINUTE)
        .await
        .unwrap();
    s.set("swapped", b"v".to_vec(), MINUTE).await.unwrap();
    s.compare_and_swap("swapped", b"v", Some(b"w".to_vec()), MINUTE)
        .await
        .unwrap();
    s.increment("counter", MINUTE).await.unwrap();
    s.increment("counter", MINUTE).await.unwrap();
    let latest = SystemTime::now() + Duration::from_secs(7_200);
    s.index_add("index", "a", SystemTime::now() + Duration::from_secs(60))
        .await
        .unwrap();
    s.index_add("index", "b", latest).await.unwrap();

    let mut conn = redis.inspect().await;
    let keys: Vec<String> = conn.keys(format!("{prefix}*")).await.unwrap();
    let keys: BTreeSet<String> = keys.into_iter().collect();
    let expected: BTreeSet<String> = ["value", "inserted", "swapped", "counter", "index"]
        .iter()
        .map(|k| format!("{prefix}{k}"))
        .collect();
    assert_eq!(keys, expected);
    for key in &keys {
        let pttl: i64 = conn.pttl(key).await.unwrap();
        assert!(pttl > 0, "{key} has no lifetime (PTTL {pttl})");
        if !key.ends_with("index") {
            assert!(pttl <= 60_000, "{key}: PTTL {pttl}");
        }
    }
    // The index lives until its latest deadline plus a day.
    let pttl: i64 = conn.pttl(format!("{prefix}index")).await.unwrap();
    let want = unix_ms(latest) + DAY_MS - unix_ms(SystemTime::now());
    assert!(
        (pttl - want).abs() < 2_000,
        "index PTTL {pttl}, want about {want}"
    );
    // Moving the latest deadline earlier shortens the index's life with it.
    s.index_add("index", "b", SystemTime::now()).await.unwrap();
    let pttl: i64 = conn.pttl(format!("{prefix}index")).await.unwrap();
    let want = 60_000 + DAY_MS;
    assert!(
        (pttl - want).abs() < 2_000,
        "index PTTL {pttl}, want about {want}"
    );

    // Another prefix is another namespace, for values and notifications alike.
    let other = redis.store_with_prefix(&unique_prefix()).await;
    assert_eq!(other.get("value").await.unwrap(), None);
    assert!(other.index_members("index").await.unwrap().is_empty());
    assert_eq!(other.increment("counter", MINUTE).await.unwrap().0, 1);
}

#[tokio::test]
async fn counters_report_the_lifetime_redis_keeps() {
    let redis = Redis::start();
    let prefix = unique_prefix();
    let s = redis.store_with_prefix(&prefix).await;
    let (n, left) = s
        .increment("c", Duration::from_millis(1_500))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let mut conn = redis.inspect().await;
    let pttl: i64 = conn.pttl(format!("{prefix}c")).await.unwrap();
    let left_ms = i64::try_from(left.as_millis()).unwrap();
    assert!(
        left_ms >= pttl && left_ms - pttl < 200,
        "{left_ms} vs PTTL {pttl}"
    );
    // A counter someone left without a lifetime gets one on its next increment.
    let _: () = conn.set(format!("{prefix}bare"), 41).await.unwrap();
    let (n, left) = s.increment("bare", MINUTE).await.unwrap();
    assert_eq!((n, left), (42, MINUTE));
    let pttl: i64 = conn.pttl(format!("{prefix}bare")).await.unwrap();
    assert!(pttl > 59_000, "PTTL {pttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_travel_between_instances() {
    let redis = Redis::start();
    let prefix = unique_prefix();
    let a = redis.store_with_prefix(&prefix).await;
    let b = redis.store_with_prefix(&prefix).await;
    let stranger = redis.store_with_prefix(&unique_prefix()).await;
    let mut on_a = a.subscribe("login:1").await.unwrap();
    let mut on_b = b.subscribe("login:1").await.unwrap();
    stranger
        .publish("login:1", b"not for you".to_vec())
        .await
        .unwrap();
    b.publish("login:1", b"approved".to_vec()).await.unwrap();
    for rx in [&mut on_a, &mut on_b] {
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(&*got.unwrap().unwrap(), b"approved");
    }
    // Many in a row arrive whole and in order.
    for i in 0..100u32 {
        a.publish("login:1", i.to_be_bytes().to_vec())
            .await
            .unwrap();
    }
    for i in 0..100u32 {
        let got = tokio::time::timeout(Duration::from_secs(5), on_b.recv()).await;
        assert_eq!(&*got.unwrap().unwrap(), i.to_be_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_nobody_listens_to_is_unsubscribed() {
    let redis = Redis::start();
    let prefix = unique_prefix();
    let a = redis.store_with_prefix(&prefix).await;
    drop(a.subscribe("gone").await.unwrap());
    let mut conn = redis.inspect().await;
    let numsub = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(format!("{prefix}gone"))
        .clone();
    let count = |v: Vec<(String, i64)>| v[0].1;
    assert_eq!(count(numsub.query_async(&mut conn).await.unwrap()), 1);
    // Its next message finds no receiver: the store unsubscribes.
    a.publish("gone", b"x".to_vec()).await.unwrap();
    let mut left = 1;
    for _ in 0..100 {
        left = count(numsub.query_async(&mut conn).await.unwrap());
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left, 0, "still subscribed");
    // Subscribing again works as the first time. (Had it raced the unsubscribing, the
    // store would have subscribed again and said so with an empty notification first.)
    let mut rx = a.subscribe("gone").await.unwrap();
    a.publish("gone", b"back".to_vec()).await.unwrap();
    let got = loop {
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        let got = got.unwrap().unwrap();
        if !got.is_empty() {
            break got;
        }
    };
    assert_eq!(&*got, b"back");
}

#[tokio::test]
async fn round_trips_are_counted() {
    let redis = Redis::start();
    let s = redis.store().await;
    assert_eq!(s.round_trips(), 0);
    s.get("k").await.unwrap();
    assert_eq!(s.round_trips(), 1);
    s.set("k", b"v".to_vec(), MINUTE).await.unwrap();
    s.compare_and_swap("k", b"v", None, MINUTE).await.unwrap();
    let after_first_script = s.round_trips();
    // 2 or 3: EVALSHA, plus EVAL when this server did not know the script yet.
    assert!(
        (3..=4).contains(&after_first_script),
        "{after_first_script}"
    );
    s.compare_and_swap("k", b"v", None, MINUTE).await.unwrap();
    assert_eq!(
        s.round_trips(),
        after_first_script + 1,
        "a known script is one trip"
    );
    let clone = s.clone();
    clone.increment("c", MINUTE).await.unwrap();
    let before = s.round_trips();
    let _rx = s.subscribe("ch").await.unwrap();
    assert_eq!(s.round_trips(), before + 1, "SUBSCRIBE");
    let _rx2 = s.subscribe("ch").await.unwrap();
    assert_eq!(
        s.round_trips(),
        before + 1,
        "a channel already subscribed costs nothing"
    );
    // A server that forgot its scripts costs one EVAL more, and still answers.
    let mut conn = redis.inspect().await;
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let before = s.round_trips();
    s.set("k", b"v".to_vec(), MINUTE).await.unwrap();
    assert!(s.compare_and_swap("k", b"v", None, MINUTE).await.unwrap());
    assert_eq!(s.round_trips(), before + 3);
}

#[tokio::test]
async fn a_redis_that_is_not_there_is_named_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}");
    let started = Instant::now();
    let err = RedisStore::connect(url.clone()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let StoreError::Unavailable { message, .. } = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert_eq!(
        message,
        &format!(
            "cannot reach Redis at redis://:***@127.0.0.1:{port}: connection refused; \
             check that Redis runs and REDIS_URL is right"
        )
    );
    assert!(!format!("{err} {err:?}").contains("hunter2"));
    let builder = RedisStore::builder(url.clone());
    assert!(!format!("{builder:?}").contains("hunter2"));

    // Lazily built, it starts without Redis and fails each operation quickly instead.
    let lazy = RedisStore::builder(url)
        .lazy(true)
        .command_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    assert!(!format!("{lazy:?}").contains("hunter2"));
    let started = Instant::now();
    let err = lazy.get("k").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable { .. } | StoreError::Timeout),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(!format!("{err} {err:?}").contains("hunter2"));
}

#[tokio::test]
async fn a_missing_or_wrong_password_is_named_as_such() {
    let redis = Redis::start_own_with(&["--requirepass", "s3cret"]);
    let port = redis.port();
    for (url, says) in [
        (
            format!("redis://127.0.0.1:{port}"),
            "wants a password; put it in REDIS_URL",
        ),
        (
            format!("redis://:hunter2@127.0.0.1:{port}"),
            "refused our credentials; check the user name and password in REDIS_URL",
        ),
    ] {
        let err = RedisStore::connect(url.clone()).await.unwrap_err();
        let StoreError::Unavailable { message, .. } = &err else {
            panic!("{url}: expected Unavailable, got {err:?}");
        };
        assert!(message.contains(says), "{message}");
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
    }
    let s = RedisStore::connect(format!("redis://:s3cret@127.0.0.1:{port}"))
        .await
        .unwrap();
    s.set("k", b"v".to_vec(), MINUTE).await.unwrap();
    assert!(!format!("{s:?}").contains("s3cret"));
}

#[tokio::test]
async fn unusable_configuration_fails_at_build() {
    for url in ["http://127.0.0.1:6379", "not a url"] {
        let err = RedisStore::connect(url).await.unwrap_err();
        let StoreError::Unavailable { message, .. } = &err else {
            panic!("{url}: expected Unavailable, got {err:?}");
        };
        assert!(message.contains("fix REDIS_URL"), "{message}");
    }
    let err = RedisStore::builder("redis://127.0.0.1:1")
        .command_timeout(Duration::ZERO)
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("timeout"), "{err}");
}

#[tokio::test]
async fn a_key_of_another_kind_is_a_backend_error_and_a_bad_counter_corrupt() {
    let redis = Redis::start();
    let s = redis.store().await;
    s.set("k", b"v".to_vec(), MINUTE).await.unwrap();
    let err = s.index_add("k", "m", SystemTime::now()).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    let err = s.increment("k", MINUTE).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    // A counter that holds what no increment could have made is corrupt, not a count.
    let mut conn = redis.inspect().await;
    let _: () = conn.set(format!("{}neg", s.prefix()), -5).await.unwrap();
    let err = s.increment("neg", MINUTE).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    // The store goes on answering.
    assert_eq!(s.get("k").await.unwrap(), Some(b"v".to_vec()));
}
