//! `--sim-auto-users`: with it, the in-process simulator takes any well-formed number as
//! a Vipps user, so a CIBA login for a number it was not given stays pending like a real
//! customer's (what the provider benchmark polls); without it, the same start is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser as _;
use serde_json::Value;

/// A bridge on the simulator with `extra` options; its issuer and the simulator's base.
async fn bridge(extra: &[&str]) -> (String, url::Url) {
    let mut args = vec![
        "identity-bridge",
        "--listen",
        "127.0.0.1:0",
        "--simulator",
        "--staff-password",
        "auto-users-staff-password",
    ];
    args.extend_from_slice(extra);
    let bridge = identity_bridge::app(identity_bridge::Options::parse_from(args))
        .await
        .unwrap();
    let out = (bridge.issuer.clone(), bridge.sim_base.clone().unwrap());
    tokio::spawn(bridge.serve());
    out
}

async fn start(issuer: &str, hint: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{issuer}/bc-authorize"))
        .basic_auth("demo-rp", Some("demo-rp-secret"))
        .form(&[("scope", "openid phone"), ("login_hint", hint)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_number_the_simulator_was_not_given_is_a_user_with_sim_auto_users() {
    let (issuer, sim) = bridge(&["--sim-auto-users"]).await;
    let res = start(&issuer, "+4790011223").await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let pending: Value = reqwest::get(sim.join("/_sim/requests?status=pending").unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let numbers: Vec<&str> = pending
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["msisdn"].as_str())
        .collect();
    assert_eq!(
        numbers,
        ["4790011223"],
        "a real pending login at the simulator"
    );
}

#[tokio::test]
async fn without_sim_auto_users_the_same_number_is_not_a_user() {
    let (issuer, _) = bridge(&[]).await;
    let res = start(&issuer, "+4790011223").await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "unknown_user_id", "{err}");
}
