//! ID tokens verified by an independent library (openidconnect, RustCrypto) against the
//! JWKS, key rotation, and every injected fault.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use openidconnect::core::{
    CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{AdditionalClaims, ClientId, IdToken, IssuerUrl, Nonce};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vipps_login_sim::{Endpoint, Fault, SimClient};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VippsClaims {
    auth_req_id: Option<String>,
    #[serde(rename = "authReqId")]
    auth_req_id_camel: Option<String>,
    sid: Option<String>,
}
impl AdditionalClaims for VippsClaims {}

type VippsIdToken = IdToken<
    VippsClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

fn header(jwt: &str) -> Value {
    let h = jwt.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}

fn payload(jwt: &str) -> Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

/// Verifies `jwt` with openidconnect: signature against `jwks`, iss, aud, exp, nonce.
fn verify(
    env: &Env,
    jwks: &Value,
    jwt: &str,
    client_id: &str,
    nonce: Option<&str>,
) -> Result<VippsClaims, String> {
    let keys: CoreJsonWebKeySet = serde_json::from_value(jwks.clone()).unwrap();
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(client_id.to_owned()),
        IssuerUrl::new(env.sim.issuer().to_string()).unwrap(),
        keys,
    )
    .set_allowed_algs([
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    ])
    .set_issue_time_verifier_fn(|iat| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        if (iat.timestamp() - now).abs() > 60 {
            Err(format!("iat {} too far from now {now}", iat.timestamp()))
        } else {
            Ok(())
        }
    });
    let token: VippsIdToken = jwt.parse().map_err(|e| format!("{e:?}"))?;
    let claims = match nonce {
        Some(n) => token.claims(&verifier, &Nonce::new(n.to_owned())),
        None => token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
    }
    .map_err(|e| format!("{e}"))?;
    Ok(claims.additional_claims().clone())
}

#[tokio::test]
async fn rs256_poll_tokens_verify() {
    let env = start(fast()).await;
    let id = env.start_login(KARI, "openid name").await;
    env.approve(&id).await;
    let (_, t) = env.poll_until_done(&id).await;
    let jwt = t["id_token"].as_str().unwrap();
    let h = header(jwt);
    assert_eq!(h["alg"], "RS256");
    assert_eq!(h["kid"], env.sim.kids().0);
    let jwks = env.jwks().await;
    let extra = verify(&env, &jwks, jwt, "demo-client", Some("n-1")).unwrap();
    assert_eq!(extra.auth_req_id.as_deref(), Some(id.as_str()));
    assert!(extra.sid.is_some());
    // wrong nonce, wrong audience
    assert!(verify(&env, &jwks, jwt, "demo-client", Some("other")).is_err());
    assert!(verify(&env, &jwks, jwt, "someone-else", Some("n-1")).is_err());
    let p = payload(jwt);
    for claim in [
        "iss",
        "aud",
        "sub",
        "iat",
        "exp",
        "nonce",
        "auth_req_id",
        "sid",
    ] {
        assert!(p.get(claim).is_some(), "{claim} missing: {p}");
    }
    // the access token is opaque, and userinfo's sub matches
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(at.split('.').count(), 1);
    let u: Value = env.userinfo_json(at).await;
    assert_eq!(u["sub"], p["sub"]);
    assert_eq!(u["sid"], p["sid"]);
}

#[tokio::test]
async fn es256_redirect_tokens_verify() {
    let env = start(fast()).await;
    let (id, t) = env
        .redirect_login(&[
            ("scope", "openid"),
            ("login_hint", "urn:msisdn:4712345678"),
            ("requested_flow", "login_to_webpage"),
            ("redirect_uri", "http://[::1]:4000/cb"),
            ("nonce", "n-2"),
        ])
        .await;
    let jwt = t["id_token"].as_str().unwrap();
    assert_eq!(header(jwt)["alg"], "ES256");
    assert_eq!(header(jwt)["kid"], env.sim.kids().1);
    let extra = verify(&env, &env.jwks().await, jwt, "demo-client", Some("n-2")).unwrap();
    assert_eq!(extra.auth_req_id.as_deref(), Some(id.as_str()));
    assert!(extra.auth_req_id_camel.is_none());
}

#[tokio::test]
async fn camel_case_auth_req_id_option() {
    let env = start(fast().camel_case_auth_req_id(true)).await;
    let (id, t) = env
        .redirect_login(&[
            ("scope", "openid"),
            ("login_hint", "urn:msisdn:4712345678"),
            ("requested_flow", "login_to_webpage"),
            ("redirect_uri", "http://localhost/cb"),
        ])
        .await;
    let extra = verify(
        &env,
        &env.jwks().await,
        t["id_token"].as_str().unwrap(),
        "demo-client",
        None,
    )
    .unwrap();
    assert_eq!(extra.auth_req_id_camel.as_deref(), Some(id.as_str()));
    assert!(extra.auth_req_id.is_none());
}

#[tokio::test]
async fn sub_is_stable_per_client_and_user() {
    let env = start(fast().client(SimClient::new("other", "other-secret"))).await;
    let a = payload(
        env.login(KARI, "openid").await["id_token"]
            .as_str()
            .unwrap(),
    );
    let b = payload(
        env.login(KARI, "openid").await["id_token"]
            .as_str()
            .unwrap(),
    );
    let c = payload(env.login(OLA, "openid").await["id_token"].as_str().unwrap());
    assert_eq!(a["sub"], b["sub"]);
    assert_ne!(a["sub"], c["sub"]);
    assert_ne!(a["sid"], b["sid"]);
    assert_eq!(a["sub"], env.sim.sub_for("demo-client", KARI));
    assert_ne!(
        env.sim.sub_for("other", KARI),
        env.sim.sub_for("demo-client", KARI)
    );
    // same across simulator restarts (same seed)
    let env2 = start(fast()).await;
    assert_eq!(env2.sim.sub_for("demo-client", KARI), a["sub"]);
}

#[tokio::test]
async fn wrong_signing_key_fails_verification() {
    let env = start(fast()).await;
    let jwks = env.jwks().await;
    env.sim.inject(Fault::WrongSigningKey);
    let jwt = env.login(KARI, "openid").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(header(&jwt)["kid"], env.sim.kids().0, "same kid");
    let err = verify(&env, &jwks, &jwt, "demo-client", Some("n-1")).unwrap_err();
    assert!(err.to_lowercase().contains("signature"), "{err}");
    // also via the control API, for the ES256 redirect variant
    env.sim.clear_faults();
    let ok = env.login(KARI, "openid").await;
    verify(
        &env,
        &jwks,
        ok["id_token"].as_str().unwrap(),
        "demo-client",
        Some("n-1"),
    )
    .unwrap();
    let (s, _) = env
        .post_json("_sim/faults", json!({"fault": "wrong_signing_key"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let bad = env.login(KARI, "openid").await;
    assert!(
        verify(
            &env,
            &jwks,
            bad["id_token"].as_str().unwrap(),
            "demo-client",
            Some("n-1")
        )
        .is_err()
    );
}

#[tokio::test]
async fn clock_skew_shifts_iat_and_exp() {
    let env = start(fast()).await;
    let jwks = env.jwks().await;
    env.sim.inject(Fault::ClockSkew(600));
    let jwt = env.login(KARI, "openid").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let p = payload(&jwt);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let iat = p["iat"].as_i64().unwrap();
    assert!((iat - now - 600).abs() <= 5, "iat {iat} now {now}");
    assert_eq!(p["exp"].as_i64().unwrap() - iat, 3600);
    assert!(verify(&env, &jwks, &jwt, "demo-client", Some("n-1")).is_err());
    // far in the past: expired
    env.sim.clear_faults();
    let (s, _) = env
        .post_json(
            "_sim/faults",
            json!({"fault": "clock_skew", "seconds": -7200}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let jwt = env.login(KARI, "openid").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let err = verify(&env, &jwks, &jwt, "demo-client", Some("n-1")).unwrap_err();
    assert!(err.to_lowercase().contains("expired"), "{err}");
}

#[tokio::test]
async fn key_rotation() {
    let env = start(fast()).await;
    let old_jwks = env.jwks().await;
    let (old_rs, old_es) = env.sim.kids();
    env.sim.rotate_keys();
    let (rs, es) = env.sim.kids();
    assert_ne!(rs, old_rs);
    assert_ne!(es, old_es);
    let jwt = env.login(KARI, "openid").await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(header(&jwt)["kid"], rs);
    // a cached JWKS does not know the new key; a fresh one does (old keys stay published)
    assert!(verify(&env, &old_jwks, &jwt, "demo-client", Some("n-1")).is_err());
    let jwks = env.jwks().await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        [rs.as_str(), es.as_str(), old_rs.as_str(), old_es.as_str()]
    );
    verify(&env, &jwks, &jwt, "demo-client", Some("n-1")).unwrap();
    // over the control API
    let r = env.post_empty("_sim/keys/rotate").await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["kids"]["RS256"], env.sim.kids().0);
    assert_ne!(env.sim.kids().0, rs);
}

#[tokio::test]
async fn latency_fault() {
    let env = start(fast()).await;
    env.sim.inject_at(
        Endpoint::Discovery,
        Fault::Latency(Duration::from_millis(300)),
    );
    let disco = env
        .sim
        .issuer()
        .join(".well-known/openid-configuration")
        .unwrap();
    let t = Instant::now();
    let r = env.get(disco.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(300));
    // other endpoints are not delayed
    let t = Instant::now();
    env.jwks().await;
    assert!(t.elapsed() < Duration::from_millis(250));
    // control API, all endpoints
    env.sim.clear_faults();
    env.post_json("_sim/faults", json!({"fault": "latency", "ms": 200}))
        .await;
    let t = Instant::now();
    env.jwks().await;
    assert!(t.elapsed() >= Duration::from_millis(200));
    let r = env
        .http
        .delete(env.url("_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["faults"], json!([]));
    let t = Instant::now();
    env.jwks().await;
    assert!(t.elapsed() < Duration::from_millis(200));
}

#[tokio::test]
async fn server_error_fault_counts_down() {
    let env = start(fast()).await;
    let id = env.start_login(KARI, "openid").await;
    env.sim.inject_at(
        Endpoint::Token,
        Fault::ServerError {
            status: 503,
            count: 2,
        },
    );
    // discovery is not affected
    env.get_json("access-management-1.0/access/.well-known/openid-configuration")
        .await;
    for _ in 0..2 {
        let (s, v) = env.poll(&id).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(v["error"], "server_error");
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (s, v) = env.poll(&id).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "authorization_pending");
    // control API, default status 500, all endpoints
    let (s, v) = env
        .post_json("_sim/faults", json!({"fault": "server_error", "count": 1}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["faults"][0]["status"], 500);
    let r = env
        .get(env.sim.issuer().join(".well-known/jwks.json").unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    env.jwks().await;
    assert!(env.get_json("_sim/faults").await["faults"] == json!([]));
}

#[tokio::test]
async fn malformed_body_fault() {
    let env = start(fast()).await;
    env.sim.inject(Fault::MalformedBody { count: 1 });
    let r = env
        .get(env.sim.issuer().join(".well-known/jwks.json").unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<Value>().await.is_err());
    env.jwks().await;
    // scoped over the control API
    env.post_json(
        "_sim/faults",
        json!({"fault": "malformed_body", "count": 1, "endpoint": "backchannel"}),
    )
    .await;
    let r = env
        .start_raw(&[("scope", "openid"), ("login_hint", "urn:msisdn:4712345678")])
        .await;
    assert!(r.json::<Value>().await.is_err());
}

#[tokio::test]
async fn drop_connection_fault() {
    let env = start(fast()).await;
    env.sim
        .inject_at(Endpoint::Userinfo, Fault::DropConnection { count: 1 });
    let t = env.login(KARI, "openid").await;
    let at = t["access_token"].as_str().unwrap();
    let r = env
        .http
        .get(env.userinfo_url())
        .bearer_auth(at)
        .send()
        .await;
    let e = r.unwrap_err();
    assert!(!e.is_status(), "{e}");
    let r = env.userinfo(Some(at)).await;
    assert_eq!(r.status(), StatusCode::OK);
    env.post_json(
        "_sim/faults",
        json!({"fault": "drop_connection", "count": 1, "endpoint": "user_exists"}),
    )
    .await;
    let r = env
        .http
        .post(env.url("vipps-login-ciba/api/v1/user-exists"))
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[("login_hint", "urn:msisdn:4712345678")])
        .send()
        .await;
    assert!(r.is_err());
    assert_eq!(env.sim.stats().user_exists, 1);
}
