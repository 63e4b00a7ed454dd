//! A customer who changes phone number keeps their Vipps `sub` (Vipps, since January
//! 2025), so the OpenID `sub` this provider issues stays the same too, for public and
//! pairwise subject types, on both ways (CIBA and the authorization code), while
//! `phone_number` follows the new number. Over HTTP, with the simulator behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::way2::{OPERATOR, VERIFIER, authorize_url, challenge, good_params, location, param};
use common::*;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde_json::Value;
use vipps_login_core::{RateLimits, Window};
use vipps_login_provider::{ClientRegistry, Provider, SubjectMapping, VippsPhoneLogin};
use vipps_login_sim::Simulator;

/// Kari's number after the change.
const NEW_NUMBER: &str = "4791234567";
const PAIRWISE_KEY: [u8; 32] = [7u8; 32];
const CALLBACK: &str = "http://127.0.0.1/callback";

const PUBLIC: (&str, &str) = ("rp-public", "rp-public-secret");
const PAIRWISE: (&str, &str) = ("rp-pairwise", "rp-pairwise-secret");

/// One client of each subject type, both ways allowed.
const NUMBER_CHANGE_CLIENTS: &str = r#"
[[clients]]
client_id = "rp-public"
client_secret = "rp-public-secret"
grant_types = ["urn:openid:params:grant-type:ciba", "authorization_code"]
redirect_uris = ["http://127.0.0.1/callback"]
subject_type = "public"

[[clients]]
client_id = "rp-pairwise"
client_secret = "rp-pairwise-secret"
grant_types = ["urn:openid:params:grant-type:ciba", "authorization_code"]
redirect_uris = ["http://127.0.0.1/callback"]
subject_type = "pairwise"
"#;

/// The shared harness's [`Bridge`], served with [`NUMBER_CHANGE_CLIENTS`], pairwise
/// subjects keyed with [`PAIRWISE_KEY`] and both ways on.
async fn bridge_for_number_change() -> Bridge {
    let sim = Simulator::start(sim_config()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(vipps_login_core::MemoryStore::new());
    // Four logins per number in a row, by design: more than the default three per window.
    let limits = RateLimits::default().per_number(Window::new(10, Duration::from_secs(600)));
    let login = VippsPhoneLogin::new(vipps_client_on(&sim, store.clone()))
        .subject_mapping(SubjectMapping::pairwise(&PAIRWISE_KEY).unwrap())
        .rate_limits(limits)
        .unwrap();
    let provider = Provider::builder(
        base.parse().unwrap(),
        ClientRegistry::from_toml(NUMBER_CHANGE_CLIENTS).unwrap(),
        Arc::new(login.clone()),
        login.records(),
    )
    .poll_interval(Duration::from_secs(1))
    .ways(true, true)
    .operator_page(OPERATOR.parse().unwrap())
    .build()
    .unwrap();
    let app = provider.router();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Bridge {
        base,
        sim,
        provider,
        login,
        http,
        store,
    }
}

async fn verified_claims(b: &Bridge, token: &str, aud: &str) -> Value {
    let jwks: JwkSet = serde_json::from_value(b.get_json("/jwks", None).await).unwrap();
    let header = decode_header(token).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid in the JWKS");
    let mut v = Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[b.provider.issuer()]);
    decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .unwrap()
        .claims
}

/// What a relying party learns from one login: the ID token's `sub` and
/// `phone_number`, and userinfo's.
#[derive(Debug, PartialEq)]
struct Seen {
    sub: String,
    phone_number: String,
    userinfo_sub: String,
    userinfo_phone_number: String,
}

async fn seen(b: &Bridge, client: (&str, &str), tokens: &Value) -> Seen {
    let claims = verified_claims(b, tokens["id_token"].as_str().unwrap(), client.0).await;
    let info = b
        .get_json("/userinfo", Some(tokens["access_token"].as_str().unwrap()))
        .await;
    assert_eq!(claims["phone_number_verified"], true);
    Seen {
        sub: claims["sub"].as_str().unwrap().to_owned(),
        phone_number: claims["phone_number"].as_str().unwrap().to_owned(),
        userinfo_sub: info["sub"].as_str().unwrap().to_owned(),
        userinfo_phone_number: info["phone_number"].as_str().unwrap().to_owned(),
    }
}

/// Way 1: a CIBA login of `msisdn` as `client`, approved on the simulated phone.
async fn ciba_login(b: &Bridge, client: (&str, &str), msisdn: &str) -> Seen {
    let hint = format!("+{msisdn}");
    let (status, started) = b.bc_authorize(client, &start_form(&hint, &[])).await;
    assert_eq!(status, 200, "{started}");
    let id = started["auth_req_id"].as_str().unwrap().to_owned();
    approve(&b.sim, msisdn).await;
    // The first poll soon after the approval, later ones one interval (1 s) apart.
    for wait_ms in std::iter::once(250).chain(std::iter::repeat_n(1100, 20)) {
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        let r = b.poll(client, &id).await;
        if r.status() == 200 {
            let tokens: Value = r.json().await.unwrap();
            return seen(b, client, &tokens).await;
        }
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "authorization_pending", "{body}");
    }
    panic!("no tokens for {msisdn} at {}", client.0);
}

/// Way 2: an authorization-code login of `msisdn` as `client` (the operator page played
/// by the shared helper), the code redeemed with PKCE.
async fn code_login(b: &Bridge, client: (&str, &str), msisdn: &str) -> Seen {
    let ch = challenge(VERIFIER);
    let r = b
        .http
        .get(authorize_url(b, &good_params(client.0, CALLBACK, &ch)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let back = operator_logs_in(b, &location(&r), msisdn).await;
    let code = param(&back, "code").unwrap();
    let r = b
        .post_basic(
            "/token",
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    seen(b, client, &tokens).await
}

fn seen_as(sub: &str, msisdn: &str) -> Seen {
    Seen {
        sub: sub.to_owned(),
        phone_number: format!("+{msisdn}"),
        userinfo_sub: sub.to_owned(),
        userinfo_phone_number: format!("+{msisdn}"),
    }
}

#[tokio::test]
async fn the_sub_stays_and_the_phone_number_follows_a_number_change() {
    let b = bridge_for_number_change().await;
    let vipps_sub = b.sim.sub_for(b.sim.client_id(), KARI);
    let pairwise = SubjectMapping::pairwise(&PAIRWISE_KEY).unwrap();
    // What each client must see: Vipps' `sub` for the public one, the keyed hash of it
    // for the pairwise one.
    let expected_sub = |client: &str| match client {
        "rp-public" => vipps_sub.clone(),
        _ => pairwise.subject(client, &vipps_sub),
    };
    assert_ne!(expected_sub(PAIRWISE.0), vipps_sub);

    for client in [PUBLIC, PAIRWISE] {
        let sub = expected_sub(client.0);
        assert_eq!(ciba_login(&b, client, KARI).await, seen_as(&sub, KARI));
        assert_eq!(code_login(&b, client, KARI).await, seen_as(&sub, KARI));
    }

    // Kari changes number at Vipps: the same person, the same Vipps `sub`.
    b.sim.change_number(KARI, NEW_NUMBER).unwrap();
    assert_eq!(b.sim.sub_for(b.sim.client_id(), NEW_NUMBER), vipps_sub);

    for client in [PUBLIC, PAIRWISE] {
        let sub = expected_sub(client.0);
        assert_eq!(
            ciba_login(&b, client, NEW_NUMBER).await,
            seen_as(&sub, NEW_NUMBER),
            "CIBA at {}",
            client.0
        );
        assert_eq!(
            code_login(&b, client, NEW_NUMBER).await,
            seen_as(&sub, NEW_NUMBER),
            "authorization code at {}",
            client.0
        );
    }

    // The old number is no one's now: no login starts for it.
    let (status, refused) = b.bc_authorize(PUBLIC, &start_form(KARI_HINT, &[])).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"], "unknown_user_id", "{refused}");
}
