//! The in-memory store at capacity: a login it accepted is never lost (the store does
//! not evict live entries to make room), and a login it cannot keep is refused before
//! anything is sent to Vipps, with a sentence naming the setting.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use vipps_login_core::{Error, LoginRequest, MemoryStore, Msisdn, Store, StoreError, VippsClient};

/// A distinct simulated customer per index (the simulator makes them up on demand).
fn customer(i: usize) -> Msisdn {
    Msisdn::parse(&format!("479{i:05}")).unwrap()
}

#[tokio::test]
async fn a_full_store_refuses_up_front_and_every_accepted_login_completes() {
    let sim = sim(fast_sim()
        .auto_users(true)
        .expires_in(Duration::from_secs(60)))
    .await;
    let store = Arc::new(MemoryStore::with_capacity(40));
    let shared: Arc<dyn Store> = store.clone();
    let client = VippsClient::with_store(config_for(&sim).build().unwrap(), shared).unwrap();

    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..60 {
        match client.start(LoginRequest::new(customer(i))).await {
            Ok(started) => accepted.push((i, started.id)),
            Err(e) => {
                assert_eq!(e.code(), "store", "{e:?}");
                assert_eq!(e.status(), http::StatusCode::SERVICE_UNAVAILABLE);
                assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
                assert!(
                    matches!(&e, Error::Store(StoreError::Full { capacity: 40, .. })),
                    "{e:?}"
                );
                let sentence = e.to_string();
                assert!(
                    sentence.contains("capacity 40") && sentence.contains("with_capacity"),
                    "the sentence names the setting: {sentence}"
                );
                refused += 1;
            }
        }
    }
    assert!(
        accepted.len() >= 4 && refused >= 1,
        "a store of 40 entries takes a few logins and refuses the rest: {} accepted, {refused} refused",
        accepted.len()
    );
    // Nothing was sent for a refused start: Vipps saw exactly the accepted ones.
    assert_eq!(sim.stats().backchannel, accepted.len() as u64);

    // Every accepted login completes: approve them all, then each ends with an identity.
    for (i, _) in &accepted {
        let req = pending(&sim, customer(*i).as_str()).await;
        sim.approve(&req.auth_req_id).await.unwrap();
    }
    for (i, id) in &accepted {
        let identity = tokio::time::timeout(Duration::from_secs(20), client.wait(id))
            .await
            .unwrap_or_else(|_| panic!("login {i} did not finish"))
            .unwrap_or_else(|e| panic!("login {i} was lost: {e:?}"));
        assert!(!identity.sub.is_empty());
    }
}

#[tokio::test]
async fn a_full_store_keeps_live_entries_and_makes_room_from_expired_ones() {
    let store = MemoryStore::with_capacity(10);
    let long = Duration::from_secs(600);
    for i in 0..10 {
        store.set(&format!("k{i}"), vec![1], long).await.unwrap();
    }
    assert!(matches!(
        store.check_room().await,
        Err(StoreError::Full {
            entries: 10,
            capacity: 10
        })
    ));
    // The headroom (a quarter) takes what admitted logins still write; past it, a new key
    // is refused and an existing one can still be rewritten.
    for i in 10..12 {
        store.set(&format!("k{i}"), vec![1], long).await.unwrap();
    }
    assert!(matches!(
        store.set("k12", vec![1], long).await,
        Err(StoreError::Full { .. })
    ));
    store.set("k0", vec![2], long).await.unwrap();
    for i in 0..12 {
        assert!(
            store.get(&format!("k{i}")).await.unwrap().is_some(),
            "k{i} kept"
        );
    }
    // Ended entries make room again.
    for i in 0..5 {
        store.remove(&format!("k{i}")).await.unwrap();
    }
    store.check_room().await.unwrap();
    assert_eq!(store.len(), 7);
}
