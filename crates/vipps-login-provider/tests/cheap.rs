//! Cheap for the attacker means cheap for us: anonymous `/authorize` stores nothing,
//! PKCE from every client (unless the registry exempts one), failed client
//! authentications throttled per source, secret checks bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use common::way2::*;
use common::*;
use serde_json::Value;
use vipps_login_provider::{
    ClientRegistry, MAX_ITERATIONS, Provider, ProviderBuilder, VippsPhoneLogin, hash_secret,
};

#[tokio::test]
async fn a_flood_of_anonymous_authorization_requests_stores_nothing() {
    let b = way2().await;
    let ch = challenge(VERIFIER);
    let params = good_params("rp-1", "http://127.0.0.1/callback", &ch);
    let before = b.store.len();
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.push(authorization_id(&b, &params).await);
    }
    assert_eq!(b.store.len(), before, "no record per anonymous request");
    // Each still reaches the operator page, as its own request.
    let pending = b.provider.authorization(&ids[0]).await.expect("opens");
    assert_eq!(pending.client_id, "rp-1");
    assert_eq!(pending.state.as_deref(), Some("st-1"));
    assert_ne!(ids[0], ids[1]);
    // The operator acts: now (and only now) something is kept, and the request is used.
    let back = b
        .provider
        .complete_authorization(&ids[0], any_approved())
        .await
        .unwrap();
    assert!(param(&back, "code").is_some());
    assert!(b.provider.authorization(&ids[0]).await.is_none(), "used");
    let again = b
        .provider
        .complete_authorization(&ids[0], any_approved())
        .await
        .unwrap_err();
    assert_eq!(again.error, "invalid_request");
    assert!(
        b.provider
            .deny_authorization(&ids[0], "late")
            .await
            .is_err()
    );
    // Another request is not affected by that one's use.
    assert!(b.provider.authorization(&ids[1]).await.is_some());
}

#[tokio::test]
async fn an_edited_or_foreign_authorization_request_does_not_open() {
    let b = way2().await;
    let other = way2().await;
    let ch = challenge(VERIFIER);
    let params = good_params("rp-1", "http://127.0.0.1/callback", &ch);
    let id = authorization_id(&b, &params).await;
    let mut edited = id.clone().into_bytes();
    let at = edited.len() / 2;
    edited[at] = if edited[at] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    assert!(b.provider.authorization(&edited).await.is_none());
    assert!(
        b.provider
            .complete_authorization(&edited, any_approved())
            .await
            .is_err()
    );
    // Sealed with another provider's (random) key: does not open here.
    assert!(other.provider.authorization(&id).await.is_none());
    assert!(b.provider.authorization("").await.is_none());
    assert!(b.provider.authorization(&"A".repeat(5000)).await.is_none());
}

#[tokio::test]
async fn the_longest_state_and_nonce_reach_the_operator_page() {
    let b = way2().await;
    let ch = challenge(VERIFIER);
    let state = "s".repeat(512);
    let nonce = "n".repeat(256);
    let mut params = good_params("rp-1", "http://127.0.0.1:65535/callback", &ch);
    params.retain(|(k, _)| *k != "state" && *k != "nonce");
    params.push(("state", &state));
    params.push(("nonce", &nonce));
    let id = authorization_id(&b, &params).await;
    let pending = b.provider.authorization(&id).await.unwrap();
    assert_eq!(pending.state.as_deref(), Some(state.as_str()));
}

#[tokio::test]
async fn a_request_too_long_for_the_operator_page_goes_back_to_the_client() {
    let long_cb = format!("https://rp.example/{}", "p".repeat(1200));
    let registry = format!(
        "[[clients]]\nclient_id = \"long\"\nclient_secret = \"long-secret\"\ngrant_types = [\"authorization_code\"]\nredirect_uris = [\"{long_cb}\"]\n"
    );
    let (base, _provider) = serve_provider(&registry, |b| {
        b.ways(false, true).operator_page(OPERATOR.parse().unwrap())
    })
    .await;
    let ch = challenge(VERIFIER);
    let state = "s".repeat(512);
    let mut params = good_params("long", &long_cb, &ch);
    params.retain(|(k, _)| *k != "state");
    params.push(("state", &state));
    let mut u = url::Url::parse(&format!("{base}/authorize")).unwrap();
    u.query_pairs_mut().extend_pairs(&params);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(u).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.as_str().starts_with(&long_cb), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));
    assert!(
        param(&to, "error_description")
            .unwrap()
            .contains("too long")
    );
    assert_eq!(param(&to, "state"), Some(state));
}

#[tokio::test]
async fn pkce_is_required_from_a_confidential_client_too() {
    let b = way2().await;
    let ch = challenge(VERIFIER);
    let without: Vec<_> = good_params("rp-1", "http://127.0.0.1/callback", &ch)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let r = b
        .http
        .get(authorize_url(&b, &without))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.as_str().starts_with("http://127.0.0.1/callback"), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));
    assert!(param(&to, "error_description").unwrap().contains("PKCE"));
    assert_eq!(param(&to, "state").as_deref(), Some("st-1"));
}

#[tokio::test]
async fn a_client_registered_without_pkce_logs_in_without_it() {
    let b = way2().await;
    let cb = "https://rp.example/legacy";
    let without: Vec<_> = good_params("no-pkce", cb, "unused")
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let id = authorization_id(&b, &without).await;
    let back = b
        .provider
        .complete_authorization(&id, any_approved())
        .await
        .unwrap();
    let code = param(&back, "code").unwrap();
    let r = redeem(
        &b,
        Some(("no-pkce", "no-pkce-secret")),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", cb),
        ],
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // It may still send PKCE, and then it is checked.
    let ch = challenge(VERIFIER);
    let id = authorization_id(&b, &good_params("no-pkce", cb, &ch)).await;
    let back = b
        .provider
        .complete_authorization(&id, any_approved())
        .await
        .unwrap();
    let code = param(&back, "code").unwrap();
    let r = redeem(
        &b,
        Some(("no-pkce", "no-pkce-secret")),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", cb),
            (
                "code_verifier",
                "a-wrong-verifier-that-is-long-enough-to-be-a-verifier",
            ),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
}

/// A provider for the clients of `registry`, built by `configure`, served with peer
/// addresses; its base URL.
async fn serve_provider(
    registry: &str,
    configure: impl FnOnce(ProviderBuilder) -> ProviderBuilder,
) -> (String, Provider) {
    let sim = common::sim().await;
    let store = Arc::new(vipps_login_core::MemoryStore::new());
    let login = VippsPhoneLogin::new(vipps_client_on(&sim, store));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let provider = configure(Provider::builder(
        base.parse().unwrap(),
        ClientRegistry::from_toml(registry).unwrap(),
        Arc::new(login.clone()),
        login.records(),
    ))
    .build()
    .unwrap();
    let app = provider.router();
    tokio::spawn(async move {
        let _sim = sim;
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    (base, provider)
}

/// An HTTP client whose requests come from `ip` (a loopback address of its own).
fn client_from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .build()
        .unwrap()
}

/// A token request with a bogus code: `invalid_grant` when the client authenticated.
async fn token_with(http: &reqwest::Client, b: &Bridge, secret: &str) -> (u16, Value) {
    let r = http
        .post(b.url("/token"))
        .basic_auth("rp-1", Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", "http://127.0.0.1/callback"),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn failed_client_authentications_are_throttled_per_source_only() {
    let b = way2().await;
    let attacker = client_from(Ipv4Addr::new(127, 0, 0, 1));
    let elsewhere = client_from(Ipv4Addr::new(127, 0, 0, 2));
    // The free failures: plain 401s.
    for _ in 0..5 {
        let (status, body) = token_with(&attacker, &b, "wrong-secret").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
    }
    // The next failure makes the source wait; while it waits, nothing is checked, not
    // even the right secret.
    let (status, _) = token_with(&attacker, &b, "wrong-secret").await;
    assert_eq!(status, 401);
    let (status, body) = token_with(&attacker, &b, "rp-1-secret").await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("try again in"),
        "{body}"
    );
    // The same client from elsewhere is not locked out.
    let (status, body) = token_with(&elsewhere, &b, "rp-1-secret").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // After the wait (2 s for the first), the source may try again.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = token_with(&attacker, &b, "rp-1-secret").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // Another failure doubles the wait.
    let (status, _) = token_with(&attacker, &b, "wrong-secret").await;
    assert_eq!(status, 401);
    let (status, body) = token_with(&attacker, &b, "rp-1-secret").await;
    assert_eq!(status, 429);
    let secs: u64 = body["error_description"]
        .as_str()
        .unwrap()
        .split("try again in ")
        .nth(1)
        .and_then(|t| t.trim_end_matches(" s").parse().ok())
        .unwrap();
    assert!((3..=4).contains(&secs), "{body}");
}

#[tokio::test]
async fn secret_checks_beyond_the_bound_are_refused_at_once_not_queued() {
    // One costly client, so that checks overlap; at most one check at a time.
    let hash = hash_secret("a-long-random-client-secret", MAX_ITERATIONS);
    let registry = format!(
        "[[clients]]\nclient_id = \"costly\"\nclient_secret_hash = \"{hash}\"\ngrant_types = [\"urn:openid:params:grant-type:ciba\"]\n"
    );
    let (base, _provider) = serve_provider(&registry, |b| b.max_concurrent_secret_checks(1)).await;
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let http = http.clone();
        let url = format!("{base}/token");
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .basic_auth("costly", Some("a-long-random-client-secret"))
                .form(&[
                    ("grant_type", "urn:openid:params:grant-type:ciba"),
                    ("auth_req_id", "x"),
                ])
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            )
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert!(
        answers
            .iter()
            .any(|(s, e)| *s == 503 && e == "temporarily_unavailable"),
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .any(|(s, e)| *s == 400 && e == "invalid_grant"),
        "at least one check ran: {answers:?}"
    );
    assert!(
        answers.iter().all(|(s, _)| *s == 503 || *s == 400),
        "{answers:?}"
    );
}
