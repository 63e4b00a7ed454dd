//! Transport and server faults, caching, slow_down, Retry-After, webhooks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use common::*;
use serde_json::json;
use url::Url;
use vipps_login_core::{
    Error, LoginRequest, LoginStatus, Msisdn, Secret, VippsClient, sign_webhook,
};
use vipps_login_sim::{Endpoint, Fault, Policy};

fn auto(after_ms: u64) -> Policy {
    Policy::AutoApprove {
        after: Duration::from_millis(after_ms),
    }
}

#[tokio::test]
async fn poll_server_errors_are_retried() {
    let sim = sim(fast_sim().policy(auto(300))).await;
    let client = client_for(&sim);
    let started = client.start(kari()).await.unwrap();
    sim.inject_at(
        Endpoint::Token,
        Fault::ServerError {
            status: 503,
            count: 2,
        },
    );
    client.wait(&started.id).await.unwrap();
    assert!(client.poller_stats().retries >= 2);
}

#[tokio::test]
async fn persistent_poll_failures_fail_the_login() {
    let sim = sim(fast_sim()).await;
    let client = VippsClient::new(config_for(&sim).max_poll_failures(2).build().unwrap()).unwrap();
    let started = client.start(kari()).await.unwrap();
    sim.inject_at(
        Endpoint::Token,
        Fault::ServerError {
            status: 502,
            count: 100,
        },
    );
    let err = client.wait(&started.id).await.unwrap_err();
    assert_eq!(err, Error::Upstream { status: 502 });
    assert!(matches!(
        client.status(&started.id).await.unwrap(),
        LoginStatus::Failed(_)
    ));
}

/// A login auto-approved after 300 ms whose polls meet `fault` (two times): it still
/// succeeds, and the poller counts at least two retries.
async fn assert_poll_fault_is_retried(fault: Fault) {
    let sim = sim(fast_sim().policy(auto(300))).await;
    let client = client_for(&sim);
    let started = client.start(kari()).await.unwrap();
    sim.inject_at(Endpoint::Token, fault);
    client.wait(&started.id).await.unwrap();
    assert!(client.poller_stats().retries >= 2);
}

#[tokio::test]
async fn dropped_connections_on_polls_are_retried() {
    assert_poll_fault_is_retried(Fault::DropConnection { count: 2 }).await;
}

#[tokio::test]
async fn malformed_poll_answers_are_retried() {
    assert_poll_fault_is_retried(Fault::MalformedBody { count: 2 }).await;
}

#[tokio::test]
async fn start_is_never_retried() {
    let sim = sim(fast_sim()).await;
    let client = client_for(&sim);
    sim.inject_at(
        Endpoint::Backchannel,
        Fault::ServerError {
            status: 500,
            count: 1,
        },
    );
    assert_eq!(
        client.start(kari()).await.unwrap_err(),
        Error::Upstream { status: 500 }
    );
    assert_eq!(sim.stats().backchannel, 1);

    sim.inject_at(Endpoint::Backchannel, Fault::DropConnection { count: 1 });
    let err = client.start(kari()).await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(sim.stats().backchannel, 2);

    sim.inject_at(Endpoint::Backchannel, Fault::MalformedBody { count: 1 });
    let err = client.start(kari()).await.unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert_eq!(sim.stats().backchannel, 3);
    assert!(sim.pending_for(KARI).len() <= 3);
}

#[tokio::test]
async fn discovery_failures_are_not_cached() {
    let sim = sim(fast_sim().policy(auto(100))).await;
    let client = client_for(&sim);
    sim.inject_at(Endpoint::Discovery, Fault::MalformedBody { count: 1 });
    assert!(matches!(
        client.start(kari()).await.unwrap_err(),
        Error::Protocol(_)
    ));
    assert_eq!(sim.stats().backchannel, 0);
    let started = client.start(kari()).await.unwrap();
    client.wait(&started.id).await.unwrap();
    assert_eq!(sim.stats().discovery, 2);
}

#[tokio::test]
async fn discovery_and_jwks_are_cached() {
    let sim = sim(fast_sim().policy(auto(50))).await;
    let client = client_for(&sim);
    // Concurrent first use collapses into one fetch each.
    let starts = (0..5).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.start(kari()).await })
    });
    let mut ids = Vec::new();
    for s in starts.collect::<Vec<_>>() {
        match s.await.unwrap() {
            Ok(started) => ids.push(started.id),
            Err(e) => assert!(matches!(e, Error::RateLimited { .. })),
        }
    }
    for id in &ids {
        client.wait(id).await.unwrap();
    }
    for _ in 0..3 {
        let started = client.start(kari()).await.unwrap();
        client.wait(&started.id).await.unwrap();
    }
    let s = sim.stats();
    assert_eq!((s.discovery, s.jwks), (1, 1), "{s:?}");
}

#[tokio::test]
async fn key_rotation_refetches_jwks_once() {
    let sim = sim(fast_sim().policy(auto(50))).await;
    let client = client_for(&sim);
    let started = client.start(kari()).await.unwrap();
    client.wait(&started.id).await.unwrap();
    sim.rotate_keys();
    for _ in 0..2 {
        let started = client.start(kari()).await.unwrap();
        client.wait(&started.id).await.unwrap();
    }
    assert_eq!(sim.stats().jwks, 2);
}

#[tokio::test]
async fn slow_down_widens_the_interval() {
    let (sim, proxy) = sim_behind_proxy(fast_sim()).await;
    let client = client_for(&sim);
    let started = client.start(kari()).await.unwrap();
    // One slow_down without a hint (+100 ms step), then one naming an interval.
    proxy.respond(400, json!({"error": "slow_down"}));
    proxy.respond(400, json!({"error": "slow_down", "interval": 0.6}));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let t = Instant::now();
    let polls = client.poller_stats().polls;
    // 2 scripted answers, then at 0.6 s between polls: at most ~3 polls in 1.3 s.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let during = client.poller_stats().polls - polls;
    assert!(during <= 4, "{during} polls in {:?}", t.elapsed());
    let req = sim.pending_for(KARI).pop().unwrap();
    sim.approve(&req.auth_req_id).await.unwrap();
    client.wait(&started.id).await.unwrap();
}

#[tokio::test]
async fn retry_after_on_a_poll_is_honoured() {
    let (sim, proxy) = sim_behind_proxy(fast_sim().policy(auto(100))).await;
    let client = client_for(&sim);
    proxy.push(TokenAction::Respond {
        status: 429,
        headers: vec![("retry-after", "1".into())],
        body: String::new(),
    });
    let t = Instant::now();
    let started = client.start(kari()).await.unwrap();
    client.wait(&started.id).await.unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(client.poller_stats().polls, 2);
}

#[tokio::test]
async fn oversized_and_redirect_answers_are_not_followed() {
    let (sim, proxy) = sim_behind_proxy(fast_sim().policy(auto(300))).await;
    let client =
        VippsClient::new(config_for(&sim).max_response_bytes(4096).build().unwrap()).unwrap();
    let started = client.start(kari()).await.unwrap();
    proxy.push(TokenAction::Respond {
        status: 200,
        headers: vec![("content-type", "application/json".into())],
        body: format!("{{\"pad\":\"{}\"}}", "x".repeat(100_000)),
    });
    proxy.push(TokenAction::Respond {
        status: 302,
        headers: vec![("location", "/evil".into())],
        body: String::new(),
    });
    client.wait(&started.id).await.unwrap();
    assert_eq!(client.poller_stats().retries, 2);
    assert!(
        !proxy
            .script
            .lock()
            .unwrap()
            .paths
            .iter()
            .any(|p| p == "/evil")
    );
}

// ---------------------------------------------------------------------------------------
// Webhooks

#[derive(Clone)]
struct Hook {
    client: VippsClient,
    results: Arc<Mutex<Vec<Result<(), Error>>>>,
}

async fn hook(
    State(h): State<Hook>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> impl IntoResponse {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let r = h
        .client
        .handle_webhook(&method, pq, &host, &headers, &body)
        .await;
    let status = match &r {
        Ok(()) => StatusCode::OK,
        Err(e) => e.status(),
    };
    h.results.lock().unwrap().push(r);
    status
}

async fn serve_hook(client: VippsClient) -> (Url, Arc<Mutex<Vec<Result<(), Error>>>>) {
    let results = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/hooks/vipps", axum::routing::post(hook))
        .with_state(Hook {
            client,
            results: results.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (
        Url::parse(&format!("http://{addr}/hooks/vipps?src=vipps")).unwrap(),
        results,
    )
}

#[tokio::test]
async fn webhook_ping_wakes_the_login() {
    // A long interval: without the ping the first poll would come after 20 s.
    let sim = slow_polling_sim().await;
    let client = webhook_client(&sim, "hook-secret");
    let (url, results) = serve_hook(client.clone()).await;
    sim.set_webhook(url, "hook-secret".into());
    let started = client.start(kari()).await.unwrap();
    let other = client
        .start(LoginRequest::new(Msisdn::parse(OLA).unwrap()))
        .await
        .unwrap();
    let req = pending(&sim, KARI).await;
    let t = Instant::now();
    sim.approve(&req.auth_req_id).await.unwrap();
    client.wait(&started.id).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(
        sim.stats().token,
        1,
        "exactly one poll, for the pinged login"
    );
    assert!(matches!(
        client.status(&other.id).await.unwrap(),
        LoginStatus::Pending
    ));
    assert!(matches!(results.lock().unwrap().as_slice(), [Ok(())]));
}

#[tokio::test]
async fn webhook_with_a_bad_signature_is_refused() {
    let sim = slow_polling_sim().await;
    let client = webhook_client(&sim, "hook-secret");
    let (url, results) = serve_hook(client.clone()).await;
    sim.set_webhook(url.clone(), "another-secret".into());
    let started = client.start(kari()).await.unwrap();
    let req = pending(&sim, KARI).await;
    sim.approve(&req.auth_req_id).await.unwrap();
    assert!(
        eventually(Duration::from_secs(2), || !results
            .lock()
            .unwrap()
            .is_empty())
        .await
    );
    assert!(matches!(
        results.lock().unwrap()[0],
        Err(Error::WebhookRejected(_))
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sim.stats().token, 0);
    assert!(sim.stats().webhooks_failed >= 1);
    assert!(matches!(
        client.status(&started.id).await.unwrap(),
        LoginStatus::Pending
    ));

    // Direct calls: unsigned, stale, tampered, and a good one for an unknown login.
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let body = format!("{{\"auth_req_id\":\"{}\"}}", req.auth_req_id);
    let unsigned = client
        .handle_webhook(
            &Method::POST,
            "/hooks/vipps?src=vipps",
            &host,
            &HeaderMap::new(),
            body.as_bytes(),
        )
        .await;
    assert!(matches!(unsigned, Err(Error::WebhookRejected(_))));
    let secret = Secret::new("hook-secret");
    let headers_for = |date: std::time::SystemTime, body: &str| {
        let (d, s, a) = sign_webhook(
            &secret,
            "/hooks/vipps?src=vipps",
            &host,
            date,
            body.as_bytes(),
        );
        let mut h = HeaderMap::new();
        h.insert("x-ms-date", d.parse().unwrap());
        h.insert("x-ms-content-sha256", s.parse().unwrap());
        h.insert("authorization", a.parse().unwrap());
        h
    };
    let stale = headers_for(
        std::time::SystemTime::now() - Duration::from_secs(3600),
        &body,
    );
    let r = client
        .handle_webhook(
            &Method::POST,
            "/hooks/vipps?src=vipps",
            &host,
            &stale,
            body.as_bytes(),
        )
        .await;
    assert!(matches!(r, Err(Error::WebhookRejected(m)) if m.contains("too old")));
    let good = headers_for(std::time::SystemTime::now(), &body);
    let tampered = body.replace('}', ",\"x\":1}");
    let r = client
        .handle_webhook(
            &Method::POST,
            "/hooks/vipps?src=vipps",
            &host,
            &good,
            tampered.as_bytes(),
        )
        .await;
    assert!(matches!(r, Err(Error::WebhookRejected(_))));
    // The correctly signed ping now wakes the login.
    let r = client
        .handle_webhook(
            &Method::POST,
            "/hooks/vipps?src=vipps",
            &host,
            &good,
            body.as_bytes(),
        )
        .await;
    assert!(r.is_ok(), "{r:?}");
    client.wait(&started.id).await.unwrap();
    let unknown = r#"{"auth_req_id":"nope"}"#;
    let h = headers_for(std::time::SystemTime::now(), unknown);
    let r = client
        .handle_webhook(
            &Method::POST,
            "/hooks/vipps?src=vipps",
            &host,
            &h,
            unknown.as_bytes(),
        )
        .await;
    assert_eq!(r, Err(Error::LoginNotFound));
}
