//! The staff sign-in through the organisation's OpenID provider, without the provider
//! (the browser test against a real Keycloak staff realm is in `tests/keycloak`): only
//! the guarded prefix is for staff, a request without a session is sent to the sign-in
//! or refused, a session cookie not sealed by the app opens nothing, a callback without
//! this browser's sign-in under way is refused, and a provider that does not answer is
//! said so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use example_support::staff_oidc::{StaffOidc, StaffOidcConfig};
use url::Url;
use vipps_login_core::Secret;

async fn app() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = Url::parse(&format!("http://{addr}/")).unwrap();
    // Nothing listens on port 9: the provider does not answer.
    let config = StaffOidcConfig::new(
        Url::parse("http://127.0.0.1:9/realms/staff").unwrap(),
        "identity-bridge",
        Secret::new("a-client-secret"),
        "bridge-operators",
    );
    let gate = StaffOidc::new(
        config,
        cookie::Key::generate(),
        false,
        &base,
        "/staff",
        "/operator",
    )
    .await
    .unwrap();
    let router = Router::new()
        .route("/operator/login", get(|| async { "type a number" }))
        .route("/operator/api/start", post(|| async { "push sent" }))
        .route("/operator/static/style.css", get(|| async { "css" }))
        .route("/token", post(|| async { "public" }))
        .layer(axum::middleware::from_fn_with_state(
            gate,
            StaffOidc::require,
        ));
    tokio::spawn(example_support::serve::serve(listener, router));
    addr
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn only_a_sealed_session_opens_the_operator_pages() {
    let addr = app().await;
    let b = browser();
    let url = |p: &str| format!("http://{addr}{p}");

    let res = b
        .get(url("/operator/login"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        "/staff/sign-in?return_to=%2Foperator%2Flogin"
    );
    let res = b
        .post(url("/operator/api/start"))
        .json(&serde_json::json!({ "phone": "4712345678" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "staff_only"
    );

    // A session cookie the app did not seal opens nothing.
    let forged = r#"{"sub":"someone","name":null,"until":99999999999}"#;
    let res = b
        .post(url("/operator/api/start"))
        .header("cookie", format!("staff_session={forged}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Outside the guarded prefix, and its static files, stay public.
    let res = b.post(url("/token")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "public");
    let res = b
        .get(url("/operator/static/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_callback_without_a_sign_in_under_way_is_refused() {
    let addr = app().await;
    let res = browser()
        .get(format!(
            "http://{addr}/staff/callback?state=guessed&code=stolen"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"failed\""), "{page}");
    assert!(!page.contains("id=\"who\""));
}

#[tokio::test]
async fn a_provider_that_does_not_answer_is_said_so() {
    let addr = app().await;
    let res = browser()
        .get(format!(
            "http://{addr}/staff/sign-in?return_to=/operator/login"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let page = res.text().await.unwrap();
    assert!(page.contains("cannot be reached right now"), "{page}");
}

#[tokio::test]
async fn sign_out_removes_the_session_cookie() {
    let addr = app().await;
    let res = browser()
        .get(format!("http://{addr}/staff/sign-out"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let gone = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(gone.starts_with("staff_session="), "{gone}");
    assert!(gone.contains("Max-Age=0"), "{gone}");
}
