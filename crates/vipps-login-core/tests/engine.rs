//! The login engine across instances, on one shared `MemoryStore` (the same tests run on
//! Redis in `tests/` of the workspace): takeover after an instance dies, cancel racing an
//! approval, exactly-once redemption, limits every instance counts the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use url::Url;
use vipps_login_core::{
    CoolDownReason, Error, Flow, LoginContext, LoginRequest, LoginStatus, MemoryStore, Msisdn,
    RateLimits, Store, VippsClient, Window,
};
use vipps_login_sim::Policy;

fn instance(sim: &vipps_login_sim::SimHandle, store: &Arc<MemoryStore>) -> VippsClient {
    let store: Arc<dyn Store> = store.clone();
    VippsClient::with_store(
        config_for(sim)
            .poll_lease(Duration::from_millis(600))
            .build()
            .unwrap(),
        store,
    )
    .unwrap()
}

#[tokio::test]
async fn a_dead_instance_s_logins_are_taken_over() {
    let sim = sim(fast_sim()).await;
    let store = Arc::new(MemoryStore::new());
    let a = instance(&sim, &store);
    let b = instance(&sim, &store);
    b.start_background();
    let started = a.start(kari()).await.unwrap();
    let req = pending(&sim, KARI).await;
    assert!(eventually(Duration::from_secs(2), || a.poller_stats().polls > 0).await);
    let polls_by_b = b.poller_stats().polls;
    assert_eq!(polls_by_b, 0, "a live instance keeps its logins");

    drop(a); // the instance dies: no heartbeat, no poller
    let died = std::time::Instant::now();
    assert!(
        eventually(Duration::from_secs(3), || b.poller_stats().polls > 0).await,
        "b took the login over"
    );
    let took = died.elapsed();
    assert!(took < Duration::from_millis(600 + 100 + 900), "{took:?}");
    sim.approve(&req.auth_req_id).await.unwrap();
    let identity = b.wait(&started.id).await.unwrap();
    assert_eq!(identity.sub, sim.sub_for(sim.client_id(), KARI));
}

#[tokio::test]
async fn a_stopping_instance_hands_its_logins_over_at_once() {
    let sim = sim(fast_sim()).await;
    let store = Arc::new(MemoryStore::new());
    // A lease far longer than the test: only the release can hand the login over in time.
    let long = |sim| {
        let store: Arc<dyn Store> = store.clone();
        VippsClient::with_store(
            config_for(sim)
                .poll_lease(Duration::from_secs(30))
                .build()
                .unwrap(),
            store,
        )
        .unwrap()
    };
    let (a, b) = (long(&sim), long(&sim));
    b.start_background();
    let started = a.start(kari()).await.unwrap();
    let req = pending(&sim, KARI).await;
    assert!(eventually(Duration::from_secs(2), || a.poller_stats().polls > 0).await);
    // Let b's background task subscribe to the other instances first.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = std::time::Instant::now();
    a.shut_down().await.unwrap();
    assert!(
        eventually(Duration::from_secs(3), || b.poller_stats().polls > 0).await,
        "b took the login over well before the 30 s lease"
    );
    let took = stopping.elapsed();
    let polls_by_a = a.poller_stats().polls;
    sim.approve(&req.auth_req_id).await.unwrap();
    let identity = b.wait(&started.id).await.unwrap();
    assert_eq!(identity.sub, sim.sub_for(sim.client_id(), KARI));
    assert_eq!(a.poller_stats().polls, polls_by_a, "a polls no more");
    assert_eq!(a.poller_stats().scheduled, 0);
    eprintln!("hand-over on shut_down: b polled {took:?} after a released its lease");
}

#[tokio::test]
async fn cancel_racing_an_approval_has_one_outcome_everywhere() {
    for round in 0..5 {
        let sim = sim(fast_sim()).await;
        let store = Arc::new(MemoryStore::new());
        let a = instance(&sim, &store);
        let b = instance(&sim, &store);
        let started = a.start(kari()).await.unwrap();
        let req = pending(&sim, KARI).await;
        sim.approve(&req.auth_req_id).await.unwrap();
        // The poll (on a) and the cancel (on b) race.
        tokio::time::sleep(Duration::from_millis(90 + round * 5)).await;
        let cancel = b.cancel(&started.id).await;
        let final_a = a.wait(&started.id).await;
        let final_b = b.wait(&started.id).await;
        match cancel {
            Ok(()) => {
                assert_eq!(final_a.unwrap_err(), Error::Cancelled);
                assert_eq!(final_b.unwrap_err(), Error::Cancelled);
            }
            Err(e) => {
                assert_eq!(e, Error::AlreadyCompleted, "a late cancel is refused");
                assert!(
                    final_a.is_ok() && final_b.is_ok(),
                    "and the login stays approved"
                );
                assert!(matches!(
                    a.status(&started.id).await.unwrap(),
                    LoginStatus::Approved(_)
                ));
            }
        }
    }
}

#[tokio::test]
async fn two_hundred_logins_are_each_redeemed_exactly_once() {
    let sim = sim(fast_sim()
        .auto_users(true)
        .max_pending_per_user(1000)
        .policy(Policy::AutoApprove {
            after: Duration::from_millis(200),
        }))
    .await;
    let store = Arc::new(MemoryStore::new());
    let instances: Vec<VippsClient> = (0..3).map(|_| instance(&sim, &store)).collect();
    let mut ids = Vec::new();
    for i in 0..200u32 {
        let m = Msisdn::parse(&format!("479{i:07}")).unwrap();
        let client = &instances[i as usize % 3];
        let ctx = LoginContext::new(format!("owner-{i}"));
        ids.push(
            client
                .start_login(LoginRequest::new(m), ctx)
                .await
                .unwrap()
                .id,
        );
    }
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        for client in &instances {
            let (client, id) = (client.clone(), id.clone());
            let owner = format!("owner-{i}");
            tasks.push(tokio::spawn(async move {
                // Waiting does not redeem; once redeemed elsewhere, it says so.
                match client.wait(&id).await {
                    Ok(_) | Err(Error::AlreadyCompleted) => {}
                    Err(e) => panic!("{e:?}"),
                }
                client.redeem(&id, &owner).await
            }));
        }
    }
    let mut redeemed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => redeemed += 1,
            Err(e) => assert_eq!(e, Error::AlreadyCompleted),
        }
    }
    assert_eq!(redeemed, 200);
    assert_eq!(sim.stats().tokens_issued, 200);
}

#[tokio::test]
async fn one_waiting_login_per_number_in_both_flows_on_every_instance() {
    let sim = sim(fast_sim()).await;
    let store = Arc::new(MemoryStore::new());
    let a = instance(&sim, &store)
        .with_limits(RateLimits::default())
        .unwrap();
    let b = instance(&sim, &store)
        .with_limits(RateLimits::default())
        .unwrap();
    let browser = || {
        kari().flow(Flow::ContinueInBrowser {
            redirect_uri: Url::parse("http://127.0.0.1:9/cb").unwrap(),
        })
    };
    let first = a.start(browser()).await.unwrap();
    let backchannel = sim.stats().backchannel;
    for client in [&a, &b] {
        assert!(matches!(
            client.start(browser()).await.unwrap_err(),
            Error::LoginPending { .. }
        ));
        assert!(matches!(
            client.start(kari()).await.unwrap_err(),
            Error::LoginPending { .. }
        ));
    }
    assert_eq!(sim.stats().backchannel, backchannel, "no second push");
    // The browser variant is never polled (Vipps answers its token endpoint once): the
    // clerk cancels it, and the number is free for the next login.
    b.cancel(&first.id).await.unwrap();
    assert_eq!(sim.stats().token, 0, "no token call for a browser login");
    let second = b.start(kari()).await.unwrap();
    // Declined: the number cools down, with a sentence that says so.
    let req = sim
        .requests()
        .into_iter()
        .find(|r| r.redirect_uri.is_none() && r.status == vipps_login_sim::RequestStatus::Pending)
        .unwrap();
    sim.deny(&req.auth_req_id).await.unwrap();
    assert_eq!(a.wait(&second.id).await.unwrap_err(), Error::Declined);
    let err = b.start(kari()).await.unwrap_err();
    match &err {
        Error::CoolingDown {
            reason,
            retry_after,
        } => {
            assert_eq!(*reason, CoolDownReason::Declined);
            assert!(*retry_after > Duration::from_secs(55));
        }
        other => panic!("{other:?}"),
    }
    // The wait is rounded up: a clerk who waits as long as it says is not refused again.
    let sentence = err.to_string();
    assert!(
        sentence.starts_with("The customer declined the last request; wait 0:5")
            || sentence.starts_with("The customer declined the last request; wait 1:00"),
        "{sentence}"
    );
}

#[tokio::test]
async fn starts_per_number_are_counted_across_instances() {
    let sim = sim(fast_sim()).await;
    let store = Arc::new(MemoryStore::new());
    let limits = RateLimits::default()
        .one_pending_per_number(false)
        .per_number(Window::new(2, Duration::from_secs(60)));
    let a = instance(&sim, &store).with_limits(limits.clone()).unwrap();
    let b = instance(&sim, &store).with_limits(limits).unwrap();
    a.start(kari()).await.unwrap();
    b.start(kari()).await.unwrap();
    let err = a.start(kari()).await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after: Some(d) } if d <= Duration::from_secs(60))
    );
}

#[tokio::test]
async fn a_webhook_ping_on_any_instance_wakes_the_poller() {
    let sim = slow_polling_sim().await;
    let store = Arc::new(MemoryStore::new());
    let secret = "webhook-secret-for-tests";
    let with_secret = || {
        let store: Arc<dyn Store> = store.clone();
        VippsClient::with_store(
            config_for(&sim)
                .webhook_secret(vipps_login_core::Secret::new(secret))
                .build()
                .unwrap(),
            store,
        )
        .unwrap()
    };
    let (a, b) = (with_secret(), with_secret());
    let started = a.start(kari()).await.unwrap();
    let req = pending(&sim, KARI).await;
    sim.approve(&req.auth_req_id).await.unwrap();
    // The ping reaches b, which does not poll this login.
    let body = serde_json::to_vec(&serde_json::json!({"auth_req_id": req.auth_req_id})).unwrap();
    let path = "/vipps/webhook";
    let host = "merchant.example";
    let (date, sha, auth) = vipps_login_core::sign_webhook(
        &vipps_login_core::Secret::new(secret),
        path,
        host,
        std::time::SystemTime::now(),
        &body,
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("x-ms-date", date.parse().unwrap());
    headers.insert("x-ms-content-sha256", sha.parse().unwrap());
    headers.insert("authorization", auth.parse().unwrap());
    b.handle_webhook(&http::Method::POST, path, host, &headers, &body)
        .await
        .unwrap();
    let identity = tokio::time::timeout(Duration::from_secs(3), a.wait(&started.id))
        .await
        .expect("woken long before the 20 s interval")
        .unwrap();
    assert_eq!(identity.sub, sim.sub_for(sim.client_id(), KARI));
    assert_eq!(b.poller_stats().polls, 0);
}
