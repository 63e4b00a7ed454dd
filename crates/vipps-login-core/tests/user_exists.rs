//! Vipps' user-exists pre-check counted per client key
//! ([`RateLimits::user_exists_per_client`]): every question counts (cached or not), a
//! question over the limit sends nothing, and instances sharing a store count together.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use vipps_login_core::{Error, MemoryStore, Msisdn, RateLimits, Store, VippsClient, Window};

const NO_ACCOUNT: &str = "4711111111";

fn number(n: &str) -> Msisdn {
    Msisdn::parse(n).unwrap()
}

fn retry_after(e: &Error) -> Duration {
    match e {
        Error::RateLimited {
            retry_after: Some(d),
        } => *d,
        other => panic!("expected rate_limited with a wait, got {other:?}"),
    }
}

#[tokio::test]
async fn questions_are_counted_per_client_key_and_refused_before_anything_is_sent() {
    let sim = sim(fast_sim()).await;
    let client = client_for(&sim)
        .with_limits(
            RateLimits::default().user_exists_per_client(Window::new(3, Duration::from_secs(60))),
        )
        .unwrap();
    let till = Some("till-1");
    assert!(client.user_exists_from(&number(KARI), till).await.unwrap());
    // From the cache, and still counted.
    assert!(client.user_exists_from(&number(KARI), till).await.unwrap());
    assert!(
        !client
            .user_exists_from(&number(NO_ACCOUNT), till)
            .await
            .unwrap()
    );
    assert_eq!(sim.stats().user_exists, 2);

    // The fourth question of this till: refused with the wait, and Vipps never asked.
    let refused = client
        .user_exists_from(&number(OLA), till)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "rate_limited");
    let wait = retry_after(&refused);
    assert!(
        wait >= Duration::from_secs(1) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert_eq!(sim.stats().user_exists, 2, "nothing sent over the limit");
    assert_eq!(sim.stats().backchannel, 0, "a question never pushes");

    // Another till has its own count; a question without a key counts against nobody.
    assert!(
        client
            .user_exists_from(&number(OLA), Some("till-2"))
            .await
            .unwrap()
    );
    for _ in 0..5 {
        assert!(client.user_exists_from(&number(OLA), None).await.unwrap());
        assert!(client.user_exists(&number(OLA)).await.unwrap());
    }
    assert_eq!(sim.stats().user_exists, 3);
}

#[tokio::test]
async fn the_default_is_30_questions_per_client_key_in_10_minutes() {
    let sim = sim(fast_sim()).await;
    let client = client_for(&sim).with_limits(RateLimits::default()).unwrap();
    for i in 0..30 {
        assert!(
            client
                .user_exists_from(&number(KARI), Some("ip:192.0.2.7"))
                .await
                .unwrap(),
            "question {i}"
        );
    }
    let refused = client
        .user_exists_from(&number(KARI), Some("ip:192.0.2.7"))
        .await
        .unwrap_err();
    let wait = retry_after(&refused);
    assert!(
        wait > Duration::from_secs(590) && wait <= Duration::from_secs(600),
        "{wait:?}"
    );
    // The bare client (no limits) counts nothing.
    let bare = client_for(&sim);
    for _ in 0..40 {
        assert!(
            bare.user_exists_from(&number(KARI), Some("ip:192.0.2.7"))
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn instances_sharing_a_store_count_together_and_the_window_ends() {
    let sim = sim(fast_sim()).await;
    let store = Arc::new(MemoryStore::new());
    let limits =
        RateLimits::default().user_exists_per_client(Window::new(2, Duration::from_secs(1)));
    let instance = || {
        let store: Arc<dyn Store> = store.clone();
        VippsClient::with_store(config_for(&sim).build().unwrap(), store)
            .unwrap()
            .with_limits(limits.clone())
            .unwrap()
    };
    let (a, b) = (instance(), instance());
    assert!(
        a.user_exists_from(&number(KARI), Some("till"))
            .await
            .unwrap()
    );
    assert!(
        b.user_exists_from(&number(OLA), Some("till"))
            .await
            .unwrap()
    );
    let refused = a
        .user_exists_from(&number(OLA), Some("till"))
        .await
        .unwrap_err();
    assert!(retry_after(&refused) <= Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        a.user_exists_from(&number(OLA), Some("till"))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_window_that_allows_nothing_is_refused() {
    let sim = sim(fast_sim()).await;
    let zero =
        RateLimits::default().user_exists_per_client(Window::new(0, Duration::from_secs(60)));
    let e = client_for(&sim).with_limits(zero).unwrap_err();
    assert!(e.to_string().contains("user_exists_per_client"), "{e}");
    let no_period = RateLimits::default().user_exists_per_client(Window::new(5, Duration::ZERO));
    assert!(client_for(&sim).with_limits(no_period).is_err());
}
