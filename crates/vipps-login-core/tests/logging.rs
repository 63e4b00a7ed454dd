//! No secret, token or full phone number in any log line, at TRACE level, including the
//! logs of the HTTP stack (reqwest's `log` records are captured through tracing-log).
//!
//! One test in this binary: it installs the global subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use common::*;
use url::Url;
use vipps_login_core::{Error, Flow, LoginHint, LoginRequest, Msisdn, VippsClient};
use vipps_login_sim::Policy;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_secret_is_logged() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .unwrap();

    let (sim, proxy) = sim_behind_proxy(fast_sim().policy(Policy::AutoApprove {
        after: Duration::from_millis(150),
    }))
    .await;
    let client = VippsClient::new(config_for(&sim).build().unwrap()).unwrap();
    let kari = Msisdn::parse(KARI).unwrap();

    // Variant 1, full profile.
    let started = client
        .start(
            LoginRequest::new(kari.clone()).scopes(
                "name email phoneNumber nin address birthDate"
                    .parse()
                    .unwrap(),
            ),
        )
        .await
        .unwrap();
    let identity = client.wait(&started.id).await.unwrap();
    assert!(identity.userinfo.nin.is_some());

    // Customer token.
    let token = sim.customer_token(KARI).unwrap();
    let started = client
        .start(LoginRequest::new(
            LoginHint::customer_token(token.clone()).unwrap(),
        ))
        .await
        .unwrap();
    client.wait(&started.id).await.unwrap();

    // Variant 2.
    sim.set_policy(Policy::Manual);
    client
        .start(
            LoginRequest::new(kari.clone()).flow(Flow::ContinueInBrowser {
                redirect_uri: Url::parse("http://127.0.0.1:9/cb").unwrap(),
            }),
        )
        .await
        .unwrap();
    let req = pending(&sim, KARI).await;
    let code = code_of(&sim.approve(&req.auth_req_id).await.unwrap().unwrap());
    exchange(&client, &code).await.unwrap();

    // Refusals and the user-exists check.
    let err = client
        .start(LoginRequest::new(Msisdn::parse("4711111111").unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err, Error::InvalidUser);
    assert!(client.user_exists(&kari).await.unwrap());

    tokio::time::sleep(Duration::from_millis(100)).await;
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    if let Ok(path) = std::env::var("VIPPS_LOG_DUMP") {
        std::fs::write(path, &logs).unwrap();
    }

    // The capture works and reaches the HTTP stack.
    assert!(logs.contains("login started"), "our events are captured");
    assert!(logs.contains("login_id="), "events carry the login id");
    assert!(
        logs.contains("reqwest") || logs.contains("hyper"),
        "HTTP stack logs are captured"
    );
    assert!(logs.contains("47******78"), "numbers appear masked");

    let mut forbidden: Vec<String> = vec![
        sim.client_secret().to_owned(),
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            sim.client_id(),
            sim.client_secret()
        )),
        KARI.to_owned(),
        KARI[2..].to_owned(),
        "4711111111".to_owned(),
        token,
        code.code.clone(),
        code.state
            .clone()
            .unwrap_or_else(|| "no-state-in-this-mode".to_owned()),
        req.auth_req_id.clone(),
    ];
    let seen = proxy.seen_tokens();
    assert_eq!(seen.len(), 3);
    for (access, id) in seen {
        forbidden.push(access);
        forbidden.push(id.rsplit('.').next().unwrap().to_owned());
        forbidden.push(id);
    }
    if let Some(nin) = &identity.userinfo.nin {
        forbidden.push(nin.clone());
    }
    for needle in &forbidden {
        assert!(
            !logs.contains(needle.as_str()),
            "a log line contains a secret ({} chars): {}",
            needle.len(),
            logs.lines()
                .find(|l| l.contains(needle.as_str()))
                .unwrap_or("")
        );
    }
}
