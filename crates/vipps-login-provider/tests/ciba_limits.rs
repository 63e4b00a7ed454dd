//! Way 1, the CIBA provider, under the engine's abuse limits (the desks' limits, counted
//! in the same store): one waiting login per number, starts per number, the cool-down
//! after a declined push; and the enumeration-resistant mode answering five quick starts
//! for a number with Vipps and one without exactly alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use vipps_login_core::{RateLimits, Window};
use vipps_login_sim::SimConfig;

/// Polls until the login has ended as `error` (the engine has seen the end).
async fn poll_until(b: &Bridge, id: &str, error: &str) {
    for _ in 0..100 {
        let r = b.poll(RP1, id).await;
        let body: Value = r.json().await.unwrap();
        if body["error"] == error {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    panic!("the login never ended as {error}");
}

#[tokio::test]
async fn a_restart_right_after_a_decline_is_refused() {
    let b = bridge().await;
    let (status, started) = b.bc_authorize(RP1, &start_form(OLA, &[])).await;
    assert_eq!(status, 200, "{started}");
    deny(&b.sim, OLA).await;
    poll_until(
        &b,
        started["auth_req_id"].as_str().unwrap(),
        "access_denied",
    )
    .await;
    // Three restarts right after the decline: each refused, and none reaches the phone.
    for _ in 0..3 {
        let (status, body) = b.bc_authorize(RP1, &start_form(OLA, &[])).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"], "access_denied", "{body}");
        assert!(
            body["error_description"].as_str().unwrap().contains(" s)"),
            "says when: {body}"
        );
    }
    assert_eq!(b.sim.pending_for(OLA).len(), 0, "no second push");
}

#[tokio::test]
async fn one_waiting_login_per_number_across_clients() {
    let b = bridge().await;
    let (status, first) = b.bc_authorize(RP1, &start_form(KARI_HINT, &[])).await;
    assert_eq!(status, 200, "{first}");
    // Another relying party, the same number: refused while the first login waits.
    let (status, body) = b.bc_authorize(RP2, &start_form(KARI_HINT, &[])).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "access_denied", "{body}");
    assert_eq!(b.sim.pending_for(KARI).len(), 1, "one push");
}

#[tokio::test]
async fn starts_per_number_are_counted() {
    let limits = RateLimits::default()
        .one_pending_per_number(false)
        .per_number(Window::new(2, Duration::from_secs(600)));
    let b = bridge_with(sim_config(), |l| l.rate_limits(limits).unwrap(), |p| p).await;
    for _ in 0..2 {
        let (status, body) = b.bc_authorize(RP1, &start_form(KARI_HINT, &[])).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = b.bc_authorize(RP2, &start_form(KARI_HINT, &[])).await;
    assert_eq!(status, 403, "the third start for the number: {body}");
    assert_eq!(b.sim.pending_for(KARI).len(), 2);
}

/// Five quick starts for `number`: each answer's status, error and the shape of its
/// success (`expires_in`, `interval`, which fields).
async fn five_starts(b: &Bridge, number: &str) -> Vec<(u16, Value)> {
    let mut answers = Vec::new();
    for _ in 0..5 {
        let (status, body) = b.bc_authorize(RP1, &start_form(number, &[])).await;
        let shape = match status {
            200 => serde_json::json!({
                "expires_in": body["expires_in"],
                "interval": body["interval"],
                "fields": body.as_object().unwrap().keys().cloned().collect::<Vec<_>>(),
            }),
            _ => body,
        };
        answers.push((status, shape));
    }
    answers
}

#[tokio::test]
async fn enumeration_resistant_starts_look_alike_with_and_without_vipps() {
    // Vipps' own timings (600 s, every 5 s), as a real merchant sees them; the number
    // without Vipps asked first, before this instance has seen a real login.
    let b = bridge_with(
        SimConfig::default(),
        |l| l.enumeration_resistant(true),
        |p| p,
    )
    .await;
    let without = five_starts(&b, "+4711111111").await;
    let with = five_starts(&b, KARI_HINT).await;
    assert_eq!(without, with);
    assert_eq!(with[0].0, 200);
    let expires_in = with[0].1["expires_in"].as_u64().unwrap();
    assert!(
        (598..=600).contains(&expires_in),
        "Vipps' expiry: {:?}",
        with[0]
    );
    assert_eq!(b.sim.pending_for(KARI).len(), 1, "one push");
}
