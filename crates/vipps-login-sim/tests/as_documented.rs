//! The as-documented mode (`SimConfig::as_documented`) next to the default mode: nonce,
//! state, one token response per continue-in-browser login, gateway 429s, ID-token
//! lifetime and e-mail, late and repeated webhook pings; and the binary's flag.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufReadExt;
use url::Url;
use vipps_login_sim::{Endpoint, Fault, SimConfig, UserRecord};

fn documented() -> SimConfig {
    fast().as_documented(true)
}

fn payload(jwt: &str) -> Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

fn id_token_claims(tokens: &Value) -> Value {
    payload(tokens["id_token"].as_str().unwrap())
}

/// A continue-in-browser start form for Kari with `state` and `nonce`.
fn redirect_form(redirect_uri: &str) -> Vec<(&str, &str)> {
    vec![
        ("scope", "openid email"),
        ("login_hint", "urn:msisdn:4712345678"),
        ("requested_flow", "login_to_webpage"),
        ("redirect_uri", redirect_uri),
        ("state", "st-1"),
        ("nonce", "n-1"),
    ]
}

fn query(u: &Url) -> HashMap<String, String> {
    u.query_pairs().into_owned().collect()
}

#[tokio::test]
async fn nonce_comes_back_in_the_default_mode_only() {
    for (config, expected) in [(fast(), Some("n-1")), (documented(), None)] {
        let env = start(config).await;
        // finish in app (start_login sends nonce=n-1)
        let t = env.login(KARI, "openid").await;
        let c = id_token_claims(&t);
        assert_eq!(c.get("nonce").and_then(Value::as_str), expected, "{c}");
        // continue in browser
        let (_, t) = env
            .redirect_login(&redirect_form("http://127.0.0.1/cb"))
            .await;
        let c = id_token_claims(&t);
        assert_eq!(c.get("nonce").and_then(Value::as_str), expected, "{c}");
        assert!(c["auth_req_id"].is_string());
    }
}

#[tokio::test]
async fn state_comes_back_on_the_redirect_in_the_default_mode_only() {
    for (config, documented) in [(fast(), false), (documented(), true)] {
        let env = start(config).await;
        let form = redirect_form("http://127.0.0.1:9/continue?x=1");
        // through the control API
        let id = auth_req_id(env.start_raw(&form).await).await;
        let v = env.approve(&id).await;
        let to = Url::parse(v["redirect_to"].as_str().unwrap()).unwrap();
        assert_eq!(to.path(), "/continue");
        let q = query(&to);
        assert_eq!(q["x"], "1", "the merchant's own query stays");
        assert!(q.contains_key("code"));
        if documented {
            assert_eq!(q.len(), 2, "{to}: code only");
            assert!(!q.contains_key("state"));
        } else {
            assert_eq!(q["state"], "st-1");
        }
        assert_eq!(
            env.sim.request(&id).unwrap().redirect_to.as_deref(),
            Some(to.as_str())
        );
        // through the library API
        let id = auth_req_id(env.start_raw(&form).await).await;
        let to = env.sim.approve(&id).await.unwrap().unwrap();
        assert_eq!(query(&to).contains_key("state"), !documented, "{to}");
        // through the phone: the 303 after the approve button
        let id = auth_req_id(env.start_raw(&form).await).await;
        let base = format!("_sim/phone/{KARI}/requests/{id}");
        let r = env.post_form(&format!("{base}/approve"), &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let loc = Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        assert_eq!(loc.path(), "/continue");
        assert_eq!(query(&loc).contains_key("state"), !documented, "{loc}");
    }
}

#[tokio::test]
async fn default_mode_keeps_the_redirect_tokens_for_the_code_exchange() {
    let env = start(fast()).await;
    let id = auth_req_id(env.start_raw(&redirect_form("http://127.0.0.1/cb")).await).await;
    let to = env.sim.approve(&id).await.unwrap().unwrap();
    let (s, p) = env.poll(&id).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(p["error"], "authorization_pending");
    let r = env.exchange_code(&code_of(&to)).await;
    assert_eq!(r.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (_, p) = env.poll(&id).await;
    assert_eq!(p["error"], "invalid_grant");
}

#[tokio::test]
async fn as_documented_a_poll_spends_the_redirect_variants_one_token_response() {
    let env = start(documented()).await;
    let id = auth_req_id(env.start_raw(&redirect_form("http://127.0.0.1/cb")).await).await;
    // before the customer acts, a poll is pending as usual
    let (_, p) = env.poll(&id).await;
    assert_eq!(p["error"], "authorization_pending");
    let to = env.sim.approve(&id).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (s, t) = env.poll(&id).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert!(t["access_token"].is_string() && t["id_token"].is_string());
    assert_eq!(id_token_claims(&t)["auth_req_id"], id.as_str());
    // the phone's code is worth nothing now; later polls neither
    let r = env.exchange_code(&code_of(&to)).await;
    assert_error(r, 400, "invalid_grant").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (s, p) = env.poll(&id).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(p["error"], "invalid_grant");
    assert_eq!(env.sim.stats().tokens_issued, 1);
}

#[tokio::test]
async fn as_documented_the_code_exchange_spends_it_too() {
    let env = start(documented()).await;
    let id = auth_req_id(env.start_raw(&redirect_form("http://127.0.0.1/cb")).await).await;
    let to = env.sim.approve(&id).await.unwrap().unwrap();
    let code = code_of(&to);
    let r = env.exchange_code(&code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    assert_eq!(id_token_claims(&t)["auth_req_id"], id.as_str());
    let (_, p) = env.poll(&id).await;
    assert_eq!(p["error"], "invalid_grant");
    let r = env.exchange_code(&code).await;
    assert_error(r, 400, "invalid_grant").await;
    assert_eq!(env.sim.stats().tokens_issued, 1);
    // the finish-in-app variant is unchanged: one poll answer, then invalid_grant
    let id = env.start_login(OLA, "openid").await;
    env.approve(&id).await;
    let (s, _) = env.poll_until_done(&id).await;
    assert_eq!(s, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (_, p) = env.poll(&id).await;
    assert_eq!(p["error"], "invalid_grant");
}

#[tokio::test]
async fn too_many_pending_logins_as_the_gateway_answers_it() {
    let hint = ("login_hint", "urn:msisdn:4712345678");
    // default mode: an OAuth error
    let env = start(fast().max_pending_per_user(1)).await;
    env.start_login(KARI, "openid").await;
    let r = env.start_raw(&[("scope", "openid"), hint]).await;
    assert!(r.headers().contains_key("retry-after"));
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_error(r, 429, "too_many_requests").await;
    // as documented: plain text, Retry-After kept
    let env = start(documented().max_pending_per_user(1)).await;
    env.start_login(KARI, "openid").await;
    let r = env.start_raw(&[("scope", "openid"), hint]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(r.headers()["content-type"], "text/plain");
    let body = r.text().await.unwrap();
    assert_eq!(body, "Too Many Requests");
    assert!(serde_json::from_str::<Value>(&body).is_err());
    // other users are not affected
    env.start_login(OLA, "openid").await;
}

#[tokio::test]
async fn injected_429_is_plain_text_as_documented_only() {
    for (config, documented) in [(fast(), false), (documented(), true)] {
        let env = start(config).await;
        env.sim.inject_at(
            Endpoint::Token,
            Fault::ServerError {
                status: 429,
                count: 1,
            },
        );
        let r = env
            .post_basic(env.token_url(), &[("grant_type", CIBA)])
            .await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        if documented {
            assert_eq!(r.headers()["content-type"], "text/plain");
            assert_eq!(r.text().await.unwrap(), "Too Many Requests");
        } else {
            assert_error(r, 429, "server_error").await;
        }
        // other injected statuses keep their JSON body in both modes
        env.sim.inject_at(
            Endpoint::Token,
            Fault::ServerError {
                status: 503,
                count: 1,
            },
        );
        let r = env
            .post_basic(env.token_url(), &[("grant_type", CIBA)])
            .await;
        assert_error(r, 503, "server_error").await;
    }
}

#[tokio::test]
async fn id_token_lifetime_and_email() {
    let no_mail = UserRecord::new("4790000009").named("Uten", "Post");
    let ttl = Duration::from_secs(120);
    for (config, documented) in [
        (fast().id_token_ttl(ttl).user(no_mail.clone()), false),
        (documented().id_token_ttl(ttl).user(no_mail), true),
    ] {
        let env = start(config).await;
        let lifetime = if documented { 3600 } else { 120 };
        // finish in app, email granted
        let c = id_token_claims(&env.login(KARI, "openid email").await);
        assert_eq!(
            c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
            lifetime
        );
        if documented {
            assert_eq!(c["email"], "kari.nordmann@example.com");
            assert_eq!(c["email_verified"], true);
        } else {
            assert!(c.get("email").is_none() && c.get("email_verified").is_none());
        }
        // userinfo still has it, in both modes
        let t = env.login(OLA, "openid email").await;
        let u = env.userinfo_json(t["access_token"].as_str().unwrap()).await;
        assert_eq!(u["email"], "ola.nordmann@example.com");
        // email not granted: never in the ID token
        let c = id_token_claims(&env.login(OLA, "openid name").await);
        assert!(c.get("email").is_none() && c.get("email_verified").is_none());
        assert!(
            c.get("name").is_none(),
            "no profile claims beyond e-mail: {c}"
        );
        // an unverified address says so
        let c = id_token_claims(&env.login(FINN, "openid email").await);
        if documented {
            assert_eq!(c["email"], "matti.virtanen@example.fi");
            assert_eq!(c["email_verified"], false);
        }
        // a user without e-mail: no claim
        let c = id_token_claims(&env.login("4790000009", "openid email").await);
        assert!(c.get("email").is_none() && c.get("email_verified").is_none());
        // continue in browser too
        let (_, t) = env
            .redirect_login(&redirect_form("http://127.0.0.1/cb"))
            .await;
        let c = id_token_claims(&t);
        assert_eq!(
            c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
            lifetime
        );
        assert_eq!(c.get("email").is_some(), documented, "{c}");
    }
}

/// What the fake merchant's webhook received, and when.
type Inbox = Arc<Mutex<Vec<(Instant, String, HeaderMap, Bytes)>>>;

async fn webhook_receiver() -> (Url, Inbox) {
    let inbox: Inbox = Arc::default();
    async fn record(
        State(inbox): State<Inbox>,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> &'static str {
        let pq = uri.path_and_query().unwrap().to_string();
        inbox
            .lock()
            .unwrap()
            .push((Instant::now(), pq, headers, body));
        "ok"
    }
    let app = Router::new()
        .route("/hooks/vipps", post(record))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = Url::parse(&format!("http://{addr}/hooks/vipps")).unwrap();
    (url, inbox)
}

/// Whether a received ping carries a valid Vipps signature with `secret`.
fn signed_with(secret: &str, path_and_query: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let h = |n: &str| headers[n].to_str().unwrap().to_owned();
    let sha = STANDARD.encode(Sha256::digest(body));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(
        format!(
            "POST\n{path_and_query}\n{};{};{sha}",
            h("x-ms-date"),
            h("host")
        )
        .as_bytes(),
    );
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    h("x-ms-content-sha256") == sha
        && h("authorization")
            == format!(
                "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={sig}"
            )
}

async fn wait_for_count(inbox: &Inbox, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while inbox.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "fewer than {n} deliveries");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn webhook_pings_come_late_and_twice_as_documented() {
    let (hook, inbox) = webhook_receiver().await;
    let env = start(
        documented()
            .webhook(hook.clone(), "whsec")
            .webhook_delay(Duration::from_millis(300))
            .webhook_redelivery_delay(Duration::from_millis(400)),
    )
    .await;
    let id = env.start_login(KARI, "openid").await;
    let approved = Instant::now();
    env.approve(&id).await;
    // late: a poll right after the approval beats the ping
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        inbox.lock().unwrap().is_empty(),
        "the first ping came early"
    );
    let (s, _) = env.poll(&id).await;
    assert_eq!(s, StatusCode::OK);
    wait_for_count(&inbox, 2, Duration::from_secs(5)).await;
    let got = inbox.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert!(got[0].0 >= approved + Duration::from_millis(300));
    assert!(got[1].0 >= got[0].0 + Duration::from_millis(400));
    for (_, pq, headers, body) in &got {
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v, json!({"auth_req_id": id}));
        assert!(signed_with("whsec", pq, headers, body));
    }
    // the token call a ping triggers now finds the tokens gone
    let (_, p) = env.poll(&id).await;
    assert_eq!(p["error"], "invalid_grant");
    assert_eq!(env.sim.stats().webhooks_sent, 2);
    // no more deliveries come
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(inbox.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn webhook_redelivery_defaults_to_twice_the_delay() {
    let (hook, inbox) = webhook_receiver().await;
    let env = start(
        documented()
            .webhook(hook, "whsec")
            .webhook_delay(Duration::from_millis(200)),
    )
    .await;
    let id = env.start_login(OLA, "openid").await;
    env.approve(&id).await;
    wait_for_count(&inbox, 2, Duration::from_secs(5)).await;
    let got = inbox.lock().unwrap().clone();
    assert!(got[1].0 >= got[0].0 + Duration::from_millis(400));
}

#[tokio::test]
async fn default_mode_sends_each_webhook_ping_once_at_once() {
    let (hook, inbox) = webhook_receiver().await;
    // the delays are as-documented settings: the default mode ignores them
    let env = start(
        fast()
            .webhook(hook, "whsec")
            .webhook_delay(Duration::from_secs(5)),
    )
    .await;
    let id = env.start_login(KARI, "openid").await;
    env.approve(&id).await;
    wait_for_count(&inbox, 1, Duration::from_secs(2)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(inbox.lock().unwrap().len(), 1);
    assert_eq!(env.sim.stats().webhooks_sent, 1);
}

#[tokio::test]
async fn binary_as_documented_flag() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vipps-login-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "0.1",
            "--as-documented",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let issuer = Url::parse(&first).unwrap();
    let base = issuer.join("/").unwrap();
    let http = reqwest::Client::new();
    let start: Value = http
        .post(
            base.join("vipps-login-ciba/api/backchannel/authentication")
                .unwrap(),
        )
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&redirect_form("http://127.0.0.1/cb"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = start["auth_req_id"].as_str().unwrap();
    let v: Value = http
        .post(base.join(&format!("_sim/requests/{id}/approve")).unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let to = Url::parse(v["redirect_to"].as_str().unwrap()).unwrap();
    assert!(!query(&to).contains_key("state"), "{to}");
    // the poll gets the one token response, without nonce
    tokio::time::sleep(Duration::from_millis(150)).await;
    let t: Value = http
        .post(issuer.join("oauth2/token").unwrap())
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[("grant_type", CIBA), ("auth_req_id", id)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let c = id_token_claims(&t);
    assert!(c.get("nonce").is_none(), "{c}");
    assert_eq!(c["email"], "kari.nordmann@example.com");
    child.kill().await.unwrap();
}
