//! Load check: many concurrent pending logins over HTTP. Ignored by default; run with
//! `cargo test -p vipps-login-sim --release --test load -- --ignored --nocapture`
//! (`SIM_LOAD_N` sets the number of logins, default 100000).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::Semaphore;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "load test; run explicitly"]
async fn many_concurrent_pending_logins() {
    let n: usize = std::env::var("SIM_LOAD_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let env = Arc::new(start(fast().auto_users(true).expires_in(Duration::from_secs(600))).await);
    let gate = Arc::new(Semaphore::new(256));
    let t = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let env = env.clone();
        let permit = gate.clone().acquire_owned().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let hint = format!("urn:msisdn:47{:08}", 10_000_000 + i);
            let r = env
                .start_raw(&[("scope", "openid name"), ("login_hint", &hint)])
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            drop(permit);
            r.json::<Value>().await.unwrap()["auth_req_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }));
    }
    let mut ids = Vec::with_capacity(n);
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    let started = t.elapsed();
    assert_eq!(env.sim.stats().pending, n as u64);
    // Polls and approvals stay fast with n pending.
    let t = Instant::now();
    for id in ids.iter().step_by((n / 1000).max(1)) {
        let (_, v) = env.poll(id).await;
        assert_eq!(v["error"], "authorization_pending");
        env.sim.approve(id).await.unwrap();
    }
    let sampled = t.elapsed();
    eprintln!(
        "{n} pending logins started in {started:?} ({:.0}/s); 1000 polls+approvals in {sampled:?}",
        n as f64 / started.as_secs_f64()
    );
}
