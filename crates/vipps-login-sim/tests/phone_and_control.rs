//! The phone page, the control API, webhooks, consent revocation and the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Uri};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufReadExt;
use vipps_login_sim::{Policy, RequestStatus, SimClient};

/// What the fake merchant received.
#[derive(Clone, Debug)]
struct Received {
    path_and_query: String,
    headers: HeaderMap,
    body: Bytes,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

/// A fake merchant: `GET /cb` echoes its query, `POST /*` records the request.
async fn merchant() -> (url::Url, Inbox) {
    let inbox: Inbox = Arc::default();
    async fn record(
        State(inbox): State<Inbox>,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> &'static str {
        inbox.lock().unwrap().push(Received {
            path_and_query: uri.path_and_query().unwrap().to_string(),
            headers,
            body,
        });
        "ok"
    }
    async fn cb(RawQuery(q): RawQuery) -> String {
        format!("merchant page: {}", q.unwrap_or_default())
    }
    let app = Router::new()
        .route("/cb", get(cb))
        .route("/hooks/vipps", post(record))
        .route("/consent", post(record))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url::Url::parse(&format!("http://{addr}/")).unwrap(), inbox)
}

async fn wait_for(inbox: &Inbox) -> Received {
    for _ in 0..200 {
        if let Some(r) = inbox.lock().unwrap().first().cloned() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nothing received");
}

async fn page(env: &Env, path: &str) -> (StatusCode, String) {
    let r = env.get(env.url(path)).await;
    (r.status(), r.text().await.unwrap())
}

/// POSTs a form as the `shop` client of the users file (client_secret_basic); the JSON
/// answer, whatever the status.
async fn post_as_shop(http: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Value {
    http.post(url)
        .basic_auth("shop", Some("shop-secret"))
        .form(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// POSTs a phone form; returns the 303 Location.
async fn press(env: &Env, path: &str, form: &[(&str, &str)]) -> String {
    let r = env.post_form(path, form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn phone_finish_in_app_with_first_time_consent() {
    let env = start(fast()).await;
    let phone = format!("_sim/phone/{KARI}");
    let (s, idle) = page(&env, &phone).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        idle.contains(r#"http-equiv="refresh""#),
        "idle page refreshes"
    );
    let r = env
        .start_raw(&[
            ("scope", "openid name email nin"),
            ("login_hint", "urn:msisdn:4712345678"),
            ("binding_message", "XYZ-42"),
        ])
        .await;
    let id = auth_req_id(r).await;
    let (_, html) = page(&env, &format!("{phone}?idle=1")).await;
    assert!(
        !html.contains("http-equiv=\"refresh\""),
        "no refresh while asking"
    );
    assert!(html.contains("id=\"push\""));
    assert!(html.contains("Demo Merchant"));
    assert!(html.contains(r#"id="binding-message">XYZ-42<"#));
    for words in [
        "Your name",
        "Your email address",
        "Your national identity number",
    ] {
        assert!(html.contains(words), "{words}");
    }
    assert!(html.contains(r#"id="consent""#));
    assert!(!html.contains(r#"id="approve""#), "consent comes first");
    let req_page = format!("/_sim/phone/{KARI}/requests/{id}");
    // approving before consenting is refused
    let r = env
        .post_form(&format!("{req_page}/approve"), &[("action", "approve")])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let to = press(&env, &format!("{req_page}/consent"), &[("consent", "yes")]).await;
    assert_eq!(to, req_page);
    let (_, html) = page(&env, &req_page).await;
    assert!(html.contains(r#"id="approve""#) && html.contains(r#"id="deny""#));
    let to = press(
        &env,
        &format!("{req_page}/approve"),
        &[("action", "approve")],
    )
    .await;
    assert_eq!(to, req_page);
    let (_, html) = page(&env, &req_page).await;
    assert!(html.contains(r#"id="done""#));
    let (s, t) = env.poll_until_done(&id).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    // the consent is remembered for this merchant
    let id2 = env.start_login(KARI, "openid name").await;
    let (_, html) = page(&env, &phone).await;
    assert!(html.contains(r#"id="approve""#) && !html.contains(r#"id="consent""#));
    // deny from the phone
    press(
        &env,
        &format!("/_sim/phone/{KARI}/requests/{id2}/deny"),
        &[],
    )
    .await;
    let (_, v) = env.poll(&id2).await;
    assert_eq!(v["error"], "access_denied");
    let (_, html) = page(&env, &format!("/_sim/phone/{KARI}/requests/{id2}")).await;
    assert!(html.contains(r#"id="denied""#));
    // another number's phone cannot see or act on it
    let (s, _) = page(&env, &format!("/_sim/phone/{OLA}/requests/{id2}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn phone_continue_in_browser_follows_redirect_with_code() {
    let env = start(fast()).await;
    let (merchant, _) = merchant().await;
    let redirect = merchant.join("cb").unwrap();
    let r = env
        .start_raw(&[
            ("scope", "openid name"),
            ("login_hint", "urn:msisdn:4798765432"),
            ("requested_flow", "login_to_webpage"),
            ("redirect_uri", redirect.as_str()),
            ("state", "a&b<c"),
        ])
        .await;
    let id = auth_req_id(r).await;
    assert_eq!(
        env.sim.request(&id).unwrap().flow,
        vipps_login_sim::RequestFlow::LoginToWebpage
    );
    let req_page = format!("/_sim/phone/{OLA}/requests/{id}");
    press(&env, &format!("{req_page}/consent"), &[]).await;
    // a browser: follows the 303 to the merchant
    let browser = reqwest::Client::new();
    let r = browser
        .post(env.url(&format!("{req_page}/approve")))
        .form(&[("action", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.url().path(), "/cb");
    let q: std::collections::HashMap<_, _> = r.url().query_pairs().into_owned().collect();
    assert_eq!(q["state"], "a&b<c");
    assert!(r.text().await.unwrap().starts_with("merchant page: code="));
    let t = env
        .post_basic(
            env.token_url(),
            &[
                ("grant_type", REDIRECT),
                ("code", &q["code"]),
                ("redirect_uri", redirect.as_str()),
            ],
        )
        .await;
    assert_eq!(t.status(), StatusCode::OK);
    // the phone now offers the continue link
    let (_, html) = page(&env, &req_page).await;
    assert!(html.contains(r#"id="continue""#));
}

#[tokio::test]
async fn push_disabled_requests_appear_when_the_app_is_opened() {
    let env = start(fast()).await;
    let id = env.start_login(PUSH_OFF, "openid").await;
    let list = env
        .get_json(&format!("_sim/requests?msisdn={PUSH_OFF}"))
        .await;
    assert_eq!(list[0]["delivered"], false);
    let (_, html) = page(&env, &format!("_sim/phone/{PUSH_OFF}?idle=1")).await;
    assert!(!html.contains(r#"id="consent""#), "no push arrives");
    assert!(html.contains(r#"id="refresh""#));
    let (_, html) = page(&env, &format!("_sim/phone/{PUSH_OFF}")).await;
    assert!(html.contains(r#"id="consent""#), "opening the app shows it");
    assert!(env.sim.request(&id).unwrap().delivered);
}

#[tokio::test]
async fn delegated_consents_on_the_phone() {
    let env = start(fast()).await;
    let id = env.start_login(KARI, "openid delegatedConsents").await;
    let req_page = format!("/_sim/phone/{KARI}/requests/{id}");
    press(&env, &format!("{req_page}/consent"), &[]).await;
    let (_, html) = page(&env, &req_page).await;
    assert!(html.contains(r#"id="dc-terms""#) && html.contains(r#"id="dc-newsletter""#));
    // the required one unticked: refused
    let r = env
        .post_form(&format!("{req_page}/approve"), &[("dc_newsletter", "on")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    press(&env, &format!("{req_page}/approve"), &[("dc_terms", "on")]).await;
    let (_, t) = env.poll_until_done(&id).await;
    let u: Value = env.userinfo_json(t["access_token"].as_str().unwrap()).await;
    let consents = &u["delegatedConsents"]["consents"];
    assert_eq!(consents[0]["accepted"], true);
    assert_eq!(consents[1]["id"], "newsletter");
    assert_eq!(consents[1]["accepted"], false);
}

#[tokio::test]
async fn phone_escapes_html() {
    let env = start(
        fast()
            .client(SimClient::new("evil", "evil-secret").name("<script>alert('x')</script> & Co")),
    )
    .await;
    let r = env
        .post_form_as(
            env.backchannel_url(),
            Some(("evil", "evil-secret")),
            &[("scope", "openid"), ("login_hint", "urn:msisdn:4712345678")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, html) = page(&env, &format!("_sim/phone/{KARI}")).await;
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co"));
    let (s, _) = page(&env, "_sim/phone/12<b>").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn control_api() {
    let env = start(fast()).await;
    let a = env.start_login(KARI, "openid name").await;
    let b = env.start_login(OLA, "openid").await;
    let list = env.get_json("_sim/requests").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let first = &list[0];
    assert_eq!(first["auth_req_id"], a.as_str());
    assert_eq!(first["msisdn"], KARI);
    assert_eq!(first["scopes"], json!(["openid", "name"]));
    assert_eq!(first["status"], "pending");
    assert_eq!(first["flow"], "finish_in_app");
    assert!(first.get("binding_message").is_some());
    let only = env.get_json(&format!("_sim/requests?msisdn={OLA}")).await;
    assert_eq!(only.as_array().unwrap().len(), 1);
    let v = env.approve(&a).await;
    assert_eq!(v["status"], "approved");
    assert_eq!(v["redirect_to"], Value::Null);
    let (s, v) = env
        .post_json(&format!("_sim/requests/{a}/approve"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, _) = env.post_json("_sim/requests/nope/approve", json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = env
        .post_json(&format!("_sim/requests/{b}/deny"), json!({}))
        .await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("denied")));
    let one = env.get_json(&format!("_sim/requests/{b}")).await;
    assert_eq!(one["status"], "denied");
    let approved = env.get_json("_sim/requests?status=approved").await;
    assert_eq!(approved.as_array().unwrap().len(), 1);
    // library view agrees
    assert_eq!(env.sim.request(&a).unwrap().status, RequestStatus::Approved);
    // stats
    env.poll_until_done(&a).await;
    let stats = env.get_json("_sim/stats").await;
    assert_eq!(stats["backchannel"], 2);
    assert!(stats["token"].as_u64().unwrap() >= 1);
    assert_eq!(stats["tokens_issued"], 1);
    assert_eq!(env.sim.stats().backchannel, 2);
    // customer tokens
    let (s, v) = env
        .post_json("_sim/customer-tokens", json!({"msisdn": KARI}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let hint = v["login_hint"].as_str().unwrap().to_owned();
    let r = env
        .start_raw(&[("scope", "openid"), ("login_hint", &hint)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn policies() {
    let env = start(fast()).await;
    let (s, v) = env
        .post_json(
            "_sim/policy",
            json!({"policy": "auto_approve", "after_ms": 100}),
        )
        .await;
    assert_eq!(
        (s, v["policy"].as_str()),
        (StatusCode::OK, Some("auto_approve"))
    );
    let id = env.start_login(KARI, "openid").await;
    let (s, _) = env.poll_until_done(&id).await;
    assert_eq!(s, StatusCode::OK);
    env.sim.set_policy(Policy::AutoDeny {
        after: Duration::from_millis(50),
    });
    assert_eq!(env.get_json("_sim/policy").await["policy"], "auto_deny");
    let id = env.start_login(KARI, "openid").await;
    let (_, v) = env.poll_until_done(&id).await;
    assert_eq!(v["error"], "access_denied");
    let (s, _) = env
        .post_json("_sim/policy", json!({"policy": "manual"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = env
        .post_json("_sim/policy", json!({"policy": "bogus"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(env.sim.policy(), Policy::Manual);
}

/// Recomputes a Vipps webhook signature with RustCrypto (not the simulator's aws-lc-rs).
fn expected_signature(
    secret: &str,
    path_and_query: &str,
    host: &str,
    date: &str,
    body: &[u8],
) -> (String, String) {
    let sha = STANDARD.encode(Sha256::digest(body));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("POST\n{path_and_query}\n{date};{host};{sha}").as_bytes());
    (sha, STANDARD.encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn webhook_ping_is_signed_as_vipps_does() {
    let env = start(fast()).await;
    let (merchant, inbox) = merchant().await;
    let hook = merchant.join("hooks/vipps?tenant=a%20b").unwrap();
    let (s, _) = env
        .post_json(
            "_sim/webhook",
            json!({"url": hook.as_str(), "secret": "whsec-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let id = env.start_login(KARI, "openid").await;
    env.approve(&id).await;
    let got = wait_for(&inbox).await;
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body, json!({"auth_req_id": id}));
    assert_eq!(got.path_and_query, "/hooks/vipps?tenant=a%20b");
    let h = |n: &str| got.headers[n].to_str().unwrap().to_owned();
    let host = h("host");
    assert_eq!(host, format!("127.0.0.1:{}", merchant.port().unwrap()));
    let date = h("x-ms-date");
    assert!(httpdate_like(&date), "{date}");
    let (sha, sig) = expected_signature("whsec-1", &got.path_and_query, &host, &date, &got.body);
    assert_eq!(h("x-ms-content-sha256"), sha);
    assert_eq!(
        h("authorization"),
        format!("HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={sig}")
    );
    // the wrong secret would not match
    let (_, other) = expected_signature("whsec-2", &got.path_and_query, &host, &date, &got.body);
    assert_ne!(other, sig);
    // the ping never carries tokens; the poll still answers once
    let (s, _) = env.poll(&id).await;
    assert_eq!(s, StatusCode::OK);
    for _ in 0..50 {
        if env.sim.stats().webhooks_sent == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(env.sim.stats().webhooks_sent, 1);
    // no webhook for the continue-in-browser variant
    inbox.lock().unwrap().clear();
    let r = env
        .start_raw(&[
            ("scope", "openid"),
            ("login_hint", "urn:msisdn:4798765432"),
            ("requested_flow", "login_to_webpage"),
            ("redirect_uri", "http://127.0.0.1/cb"),
        ])
        .await;
    let id2 = auth_req_id(r).await;
    env.sim.approve(&id2).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(inbox.lock().unwrap().is_empty());
    // the library setter works the same way
    env.sim
        .set_webhook(merchant.join("hooks/vipps").unwrap(), "s2".into());
    let id3 = env.start_login(OLA, "openid").await;
    env.sim.approve(&id3).await.unwrap();
    let got = wait_for(&inbox).await;
    let host = got.headers["host"].to_str().unwrap();
    let date = got.headers["x-ms-date"].to_str().unwrap();
    let (_, sig) = expected_signature("s2", "/hooks/vipps", host, date, &got.body);
    assert!(
        got.headers["authorization"]
            .to_str()
            .unwrap()
            .ends_with(&sig)
    );
}

fn httpdate_like(s: &str) -> bool {
    s.ends_with(" GMT") && s.len() == 29
}

#[tokio::test]
async fn consent_revoked_notification() {
    let env = start(fast()).await;
    let (merchant, inbox) = merchant().await;
    let t = env.login(KARI, "openid").await;
    let sub = {
        let p = t["id_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .to_owned();
        let v: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
        v["sub"].as_str().unwrap().to_owned()
    };
    env.post_json(
        "_sim/webhook",
        json!({"consent_revoked_url": merchant.join("consent").unwrap().as_str()}),
    )
    .await;
    let (s, v) = env
        .post_json("_sim/consent-revoked", json!({"msisdn": KARI}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["sub"], sub.as_str());
    let got = wait_for(&inbox).await;
    let jwt = std::str::from_utf8(&got.body).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[2], "", "unsigned");
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "none");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["event"], "CONSENT_REVOKED");
    assert_eq!(claims["sub"], sub.as_str());
    // the next login asks for consent again
    env.start_login(KARI, "openid").await;
    let (_, html) = page(&env, &format!("_sim/phone/{KARI}")).await;
    assert!(html.contains(r#"id="consent""#));
    // library method
    assert_eq!(
        env.sim.revoke_consent(KARI, "demo-client").await.unwrap(),
        sub
    );
    assert_eq!(env.sim.stats().consent_revoked_sent, 2);
}

fn id_token_sub(tokens: &Value) -> String {
    let p = tokens["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let v: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    v["sub"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_customer_changes_number_and_keeps_sub() {
    const NEW: &str = "4790000123";
    for config in [fast(), fast().as_documented(true)] {
        let env = start(config).await;
        let sub = id_token_sub(&env.login(KARI, "openid").await);
        assert_eq!(env.sim.sub_for("demo-client", KARI), sub);
        let other_client_sub = env.sim.sub_for("shop", KARI);
        let (s, v) = env
            .post_json(
                &format!("_sim/users/{KARI}/number"),
                json!({"new_number": NEW}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["old_number"], KARI);
        assert_eq!(v["new_number"], NEW);
        assert_eq!(v["sub"], sub.as_str());
        // the old number no longer exists
        let r = env
            .start_raw(&[("scope", "openid"), ("login_hint", "urn:msisdn:4712345678")])
            .await;
        let e = assert_error(r, 400, "invalid_request").await;
        assert_eq!(e["error_code"], "invalid_user");
        let exists = |m: &str| {
            let hint = format!("urn:msisdn:{m}");
            let env = &env;
            async move {
                let r = env
                    .post_basic(
                        env.url("vipps-login-ciba/api/v1/user-exists"),
                        &[("login_hint", hint.as_str())],
                    )
                    .await;
                r.json::<Value>().await.unwrap()["exists"].clone()
            }
        };
        assert_eq!(exists(KARI).await, false);
        assert_eq!(exists(NEW).await, true);
        // the same person logs in under the new number: same sub, consent remembered
        let id = env.start_login(NEW, "openid phoneNumber name").await;
        let (_, html) = page(&env, &format!("_sim/phone/{NEW}")).await;
        assert!(html.contains(r#"id="approve""#), "consent is remembered");
        assert!(!html.contains(r#"id="consent""#));
        env.approve(&id).await;
        let (s, t) = env.poll_until_done(&id).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(id_token_sub(&t), sub);
        let u = env.userinfo_json(t["access_token"].as_str().unwrap()).await;
        assert_eq!(u["sub"], sub.as_str());
        assert_eq!(u["phone_number"], NEW);
        assert_eq!(u["name"], "Kari Nordmann");
        assert_eq!(env.sim.sub_for("demo-client", NEW), sub);
        assert_eq!(env.sim.sub_for("shop", NEW), other_client_sub);
        // her customer token follows her
        let r = env
            .start_raw(&[
                ("scope", "openid"),
                ("login_hint", "urn:customer-token:kari-customer-token"),
            ])
            .await;
        let id = auth_req_id(r).await;
        assert_eq!(env.sim.request(&id).unwrap().msisdn, NEW);
        // refusals
        let (s, v) = env
            .post_json(
                &format!("_sim/users/{KARI}/number"),
                json!({"new_number": "4790000124"}),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
        let (s, v) = env
            .post_json(
                &format!("_sim/users/{NEW}/number"),
                json!({"new_number": "12345"}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"], "invalid_number");
        let (s, v) = env
            .post_json(
                &format!("_sim/users/{NEW}/number"),
                json!({"new_number": OLA}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
        assert_eq!(v["error"], "number_in_use");
        // the library method, back to the first number: still the same person
        env.sim.change_number(NEW, KARI).unwrap();
        assert_eq!(env.sim.sub_for("demo-client", KARI), sub);
        let t = env.login(KARI, "openid").await;
        assert_eq!(id_token_sub(&t), sub);
        assert!(matches!(
            env.sim.change_number(NEW, "4790000125"),
            Err(vipps_login_sim::SimError::NotFound)
        ));
        assert!(matches!(
            env.sim.change_number(KARI, OLA),
            Err(vipps_login_sim::SimError::NumberInUse(_))
        ));
    }
}

#[tokio::test]
async fn a_changed_number_is_gone_even_with_auto_users() {
    let env = start(fast().auto_users(true)).await;
    let old = "4791111111";
    let new = "4792222222";
    let sub = id_token_sub(&env.login(old, "openid").await);
    assert_ne!(env.sim.sub_for("demo-client", new), sub);
    env.sim.change_number(old, new).unwrap();
    let r = env
        .start_raw(&[("scope", "openid"), ("login_hint", "urn:msisdn:4791111111")])
        .await;
    let e = assert_error(r, 400, "invalid_request").await;
    assert_eq!(e["error_code"], "invalid_user");
    let t = env.login(new, "openid name").await;
    assert_eq!(id_token_sub(&t), sub);
    let u = env.userinfo_json(t["access_token"].as_str().unwrap()).await;
    assert_eq!(u["name"], "Test User 1111", "the same generated person");
}

#[tokio::test]
async fn binary_prints_issuer_first_and_serves_users_file() {
    let dir = std::env::temp_dir().join(format!("vipps-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let users = dir.join("users.toml");
    std::fs::write(
        &users,
        r#"
[[users]]
msisdn = "4790000001"
given_name = "Per"
family_name = "Hansen"
email = "per@example.com"
address = { street_address = "Storgata 1", postal_code = "0155", region = "Oslo", country = "NO" }

[[users]]
msisdn = "4790000002"
old_app = true

[[clients]]
client_id = "shop"
client_secret = "shop-secret"
name = "Shop AS"
"#,
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vipps-login-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "0.1",
            "--auto-approve-ms",
            "50",
        ])
        .arg("--users")
        .arg(&users)
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
    let issuer = url::Url::parse(&first).unwrap();
    assert_eq!(issuer.path(), "/access-management-1.0/access/");
    let http = reqwest::Client::new();
    let d: Value = http
        .get(issuer.join(".well-known/openid-configuration").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], first.as_str());
    let bc = d["backchannel_authentication_endpoint"].as_str().unwrap();
    let v: Value = post_as_shop(
        &http,
        bc,
        &[
            ("scope", "openid name address"),
            ("login_hint", "urn:msisdn:4790000001"),
        ],
    )
    .await;
    assert_eq!(v["interval"], 0.1);
    let id = v["auth_req_id"].as_str().unwrap();
    let mut tokens = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        let t: Value = post_as_shop(
            &http,
            d["token_endpoint"].as_str().unwrap(),
            &[("grant_type", CIBA), ("auth_req_id", id)],
        )
        .await;
        if t["error"] != "authorization_pending" {
            tokens = t;
            break;
        }
    }
    let u: Value = http
        .get(d["userinfo_endpoint"].as_str().unwrap())
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(u["name"], "Per Hansen");
    assert_eq!(u["address"]["region"], "Oslo");
    let v: Value = post_as_shop(
        &http,
        bc,
        &[("scope", "openid"), ("login_hint", "urn:msisdn:4790000002")],
    )
    .await;
    assert_eq!(v["error_code"], "old_app");
    child.kill().await.unwrap();
    // a broken users file is refused with a clear message
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"users": [{"msisdn": "12345"}]}"#).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vipps-login-sim"))
        .arg("--users")
        .arg(&bad)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid msisdn"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn users_file_formats() {
    let dir = std::env::temp_dir().join(format!("vipps-sim-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The example of the crate documentation, verbatim.
    let doc = include_str!("../src/lib.rs");
    let example: String = doc
        .split("//! ```toml\n")
        .nth(1)
        .unwrap()
        .split("//! ```\n")
        .next()
        .unwrap()
        .lines()
        .map(|l| {
            l.strip_prefix("//! ")
                .unwrap_or(l.trim_start_matches("//!"))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let toml_path = dir.join("users.toml");
    std::fs::write(&toml_path, &example).unwrap();
    let config = fast().users_file(&toml_path).unwrap();
    let env = start(config).await;
    let r = env
        .post_form_as(
            env.backchannel_url(),
            Some(("shop", "shop-secret")),
            &[
                ("scope", "openid"),
                ("login_hint", "urn:customer-token:per-token"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, html) = page(&env, "_sim/phone/4790000001").await;
    assert!(html.contains("Shop AS"));
    // JSON with the same structure
    let json_path = dir.join("users.json");
    std::fs::write(
        &json_path,
        r#"{"users": [{"msisdn": "4512345678", "given_name": "Lars", "push_disabled": true}]}"#,
    )
    .unwrap();
    let env = start(fast().users_file(&json_path).unwrap()).await;
    env.start_login("4512345678", "openid").await;
    assert!(!env.sim.requests()[0].delivered);
    // typos are errors, not silently ignored
    std::fs::write(
        &json_path,
        r#"{"users": [{"msisdn": "4512345678", "pushDisabled": true}]}"#,
    )
    .unwrap();
    let err = fast().users_file(&json_path).unwrap_err().to_string();
    assert!(err.contains("pushDisabled"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
