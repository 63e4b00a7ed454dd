//! Way 2 helpers: a provider with the authorization-code way on, authorization
//! requests, codes completed without a phone login.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use url::Url;
use vipps_login_provider::ApprovedLogin;

use super::{Bridge, bridge_with, sim_config};

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier";
pub const OPERATOR: &str = "http://127.0.0.1:9/desk/login";

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref())
}

pub async fn way2() -> Bridge {
    way2_with(Duration::from_secs(60)).await
}

pub async fn way2_with(code_ttl: Duration) -> Bridge {
    bridge_with(
        sim_config(),
        |l| l,
        |b| {
            b.ways(true, true)
                .operator_page(OPERATOR.parse().unwrap())
                .code_ttl(code_ttl)
        },
    )
    .await
}

pub fn authorize_url(b: &Bridge, params: &[(&str, &str)]) -> Url {
    let mut u = Url::parse(&b.url("/authorize")).unwrap();
    u.query_pairs_mut().extend_pairs(params);
    u
}

pub fn good_params<'a>(
    client_id: &'a str,
    redirect_uri: &'a str,
    ch: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", "openid profile phone"),
        ("state", "st-1"),
        ("nonce", "no-1"),
        ("code_challenge", ch),
        ("code_challenge_method", "S256"),
    ]
}

pub fn location(r: &reqwest::Response) -> Url {
    Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

pub fn param(u: &Url, k: &str) -> Option<String> {
    u.query_pairs()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.into_owned())
}

/// /authorize as `params`; the authorization id handed to the operator page.
pub async fn authorization_id(b: &Bridge, params: &[(&str, &str)]) -> String {
    let r = b.http.get(authorize_url(b, params)).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let to = location(&r);
    assert!(to.as_str().starts_with(OPERATOR), "{to}");
    param(&to, "authorization").unwrap()
}

pub fn any_approved() -> ApprovedLogin {
    serde_json::from_value(json!({
        "subject": "sub-1", "claims": {"phone_number": "+4712345678"}, "scopes": ["openid", "phone"],
        "nonce": null, "amr": ["mfa"], "acr": "x", "auth_time": 1
    }))
    .unwrap()
}

/// A code for `client_id` (completed without a phone login: its content does not matter here).
pub async fn code_for(b: &Bridge, client_id: &str, redirect_uri: &str) -> String {
    let ch = challenge(VERIFIER);
    let id = authorization_id(b, &good_params(client_id, redirect_uri, &ch)).await;
    let back = b
        .provider
        .complete_authorization(&id, any_approved())
        .await
        .unwrap();
    param(&back, "code").unwrap()
}

pub async fn redeem(
    b: &Bridge,
    client: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = b.http.post(b.url("/token"));
    if let Some((id, secret)) = client {
        req = req.basic_auth(id, Some(secret));
    }
    req.form(form).send().await.unwrap()
}
