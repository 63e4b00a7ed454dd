//! Where Vipps' documents leave a behaviour open, the client works with every reading:
//! a browser that comes back without `state`, a browser login never polled (Vipps answers
//! its token endpoint once), and polls never sooner than `interval`, also at the deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use url::Url;
use vipps_login_core::{Error, Flow, LoginRequest, LoginStatus};

fn browser(req: LoginRequest) -> LoginRequest {
    req.flow(Flow::ContinueInBrowser {
        redirect_uri: Url::parse("http://127.0.0.1:9/continue").unwrap(),
    })
}

#[tokio::test]
async fn a_browser_back_without_state_completes_the_login_its_code_belongs_to() {
    let sim = sim(fast_sim()).await;
    let client = client_for(&sim);
    let started = client.start(browser(kari())).await.unwrap();
    let cb = approve_for_code(&sim, KARI).await;

    // A forged code: Vipps refuses it, the login still waits.
    assert_eq!(
        client
            .complete_browser_code("forged-code", Some("203.0.113.7"))
            .await
            .unwrap_err(),
        Error::InvalidCode
    );
    assert!(matches!(
        client.status(&started.id).await.unwrap(),
        LoginStatus::AwaitingBrowser
    ));

    let (view, identity) = client
        .complete_browser_code(&cb.code, Some("203.0.113.7"))
        .await
        .unwrap();
    assert_eq!(view.id, started.id);
    assert!(!identity.sub.is_empty());
    assert_eq!(
        sim.stats().code_exchanges,
        2,
        "the forged one and the genuine one"
    );

    // The same link again: refused before any call to Vipps.
    assert_eq!(
        client
            .complete_browser_code(&cb.code, Some("203.0.113.7"))
            .await
            .unwrap_err(),
        Error::UnknownCallback
    );
    assert_eq!(
        sim.stats().code_exchanges,
        2,
        "no second exchange of a code"
    );
    let redeemed = client.redeem(&started.id, "").await.unwrap();
    assert_eq!(redeemed.sub, identity.sub);
}

#[tokio::test]
async fn a_code_for_a_login_of_another_merchant_instance_store_completes_nothing_here() {
    // Two clients with separate stores: the code of a login started by one is refused
    // by the other (its auth_req_id names no login waiting there).
    let sim = sim(fast_sim()).await;
    let ours = client_for(&sim);
    let theirs = client_for(&sim);
    let started = theirs.start(browser(kari())).await.unwrap();
    let cb = approve_for_code(&sim, KARI).await;
    assert_eq!(
        ours.complete_browser_code(&cb.code, None)
            .await
            .unwrap_err(),
        Error::UnknownCallback
    );
    assert!(matches!(
        theirs.status(&started.id).await.unwrap(),
        LoginStatus::AwaitingBrowser
    ));
}

#[tokio::test]
async fn a_browser_login_is_never_polled_and_expires_at_its_deadline() {
    let sim = sim(fast_sim().expires_in(Duration::from_secs(1))).await;
    let client = client_for(&sim);
    let started = client.start(browser(kari())).await.unwrap();
    assert_eq!(client.wait(&started.id).await.unwrap_err(), Error::Expired);
    assert_eq!(sim.stats().token, 0, "no token call for a browser login");
}

#[tokio::test]
async fn no_poll_comes_sooner_than_the_interval_even_at_the_deadline() {
    // Polls at about 0.3, 0.6 and 0.9 s; the deadline (1 s) falls inside the next
    // interval, so the login expires there without an early fourth poll.
    let (sim, proxy) = sim_behind_proxy(
        fast_sim()
            .interval(Duration::from_millis(300))
            .expires_in(Duration::from_secs(1)),
    )
    .await;
    let client = client_for(&sim);
    let started = client.start(kari()).await.unwrap();
    assert_eq!(client.wait(&started.id).await.unwrap_err(), Error::Expired);
    let times = proxy.script.lock().unwrap().token_times.clone();
    assert!(!times.is_empty());
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(295),
            "a poll came after {gap:?}"
        );
    }
}
