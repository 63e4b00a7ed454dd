//! ID-token verification: every negative case, end to end through a login and offline.
//!
//! Hostile tokens the simulator cannot produce are crafted here and handed out by the
//! test proxy in place of the simulator's ID token (the proxy adds the test keys from
//! `tests/fixtures` to the JWKS, so a token signed with them has a valid signature).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};
use url::Url;
use vipps_login_core::{
    Clock, Error, Flow, IdTokenVerifier, Jwks, LoginRequest, LoginStatus, Msisdn, TokenError,
};
use vipps_login_sim::{Fault, Policy};

fn auto() -> Policy {
    Policy::AutoApprove {
        after: Duration::from_millis(100),
    }
}

/// Runs one finish-in-app login whose ID token is replaced by `rewrite(sim claims)`.
async fn login_with(
    rewrite: impl Fn(&Map<String, Value>) -> String + Send + Sync + 'static,
) -> Result<(), Error> {
    let (sim, proxy) = sim_behind_proxy(fast_sim().policy(auto())).await;
    proxy.rewrite_id_token(rewrite);
    let client = client_for(&sim);
    let started = client.start(kari()).await.unwrap();
    let r = client.wait(&started.id).await.map(|_| ());
    if let Err(e) = &r {
        assert!(matches!(
            client.status(&started.id).await.unwrap(),
            LoginStatus::Failed(f) if f.to_error() == *e
        ));
        if *e != Error::TokenVerification(TokenError::SubjectMismatch) {
            assert_eq!(sim.stats().userinfo, 0, "no userinfo for a rejected token");
        }
    }
    r
}

fn with(claims: &Map<String, Value>, key: &str, value: Value) -> Map<String, Value> {
    let mut c = claims.clone();
    c.insert(key.into(), value);
    c
}

#[tokio::test]
async fn crafted_but_valid_token_is_accepted() {
    // Proves the harness: the same claims re-signed with a test key pass.
    login_with(|c| sign(Algorithm::ES256, TEST_EC_KID, c))
        .await
        .unwrap();
    login_with(|c| sign(Algorithm::RS256, TEST_RSA_KID, c))
        .await
        .unwrap();
    // aud as an array containing us (with azp) is fine.
    login_with(|c| {
        let aud = c["aud"].clone();
        let c = with(c, "aud", json!([aud.clone(), "other-client"]));
        sign(Algorithm::RS256, TEST_RSA_KID, &with(&c, "azp", aud))
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn wrong_issuer() {
    let r = login_with(resign_with(
        Algorithm::RS256,
        "iss",
        json!("https://evil.example/"),
    ))
    .await;
    assert_eq!(r, Err(Error::TokenVerification(TokenError::Issuer)));
    // Trailing-slash variants are not "close enough".
    let r = login_with(|c| {
        let iss = c["iss"].as_str().unwrap().trim_end_matches('/').to_owned();
        sign(Algorithm::RS256, TEST_RSA_KID, &with(c, "iss", json!(iss)))
    })
    .await;
    assert_eq!(r, Err(Error::TokenVerification(TokenError::Issuer)));
}

#[tokio::test]
async fn wrong_audience() {
    let r = login_with(resign_with(Algorithm::RS256, "aud", json!("other"))).await;
    assert_eq!(r, Err(Error::TokenVerification(TokenError::Audience)));
    let r = login_with(resign_with(Algorithm::RS256, "aud", json!(["a", "b"]))).await;
    assert_eq!(r, Err(Error::TokenVerification(TokenError::Audience)));
}

/// A present `nonce` must be ours; an absent one is accepted (CIBA defines no `nonce`,
/// and Vipps does not say it comes back).
#[tokio::test]
async fn nonce_checked_when_present_accepted_when_absent() {
    let r = login_with(resign_with(Algorithm::RS256, "nonce", json!("not-ours"))).await;
    assert_eq!(r, Err(Error::TokenVerification(TokenError::Nonce)));
    let r = login_with(resign_with(Algorithm::RS256, "nonce", json!(42))).await;
    assert_eq!(r, Err(Error::TokenVerification(TokenError::Nonce)));
    let r = login_with(resign_with(Algorithm::RS256, "nonce", json!(""))).await;
    assert_eq!(r, Err(Error::TokenVerification(TokenError::Nonce)));
    let r = login_with(|c| {
        let mut c = c.clone();
        c.remove("nonce");
        sign(Algorithm::RS256, TEST_RSA_KID, &c)
    })
    .await;
    assert_eq!(r, Ok(()), "Vipps may leave the nonce out");
}

#[tokio::test]
async fn alg_none_and_hmac_with_the_public_key() {
    let r = login_with(|c| raw_jws(&json!({"alg": "none", "typ": "JWT"}), c, b"")).await;
    assert_eq!(
        r,
        Err(Error::TokenVerification(TokenError::Algorithm(
            "none".into()
        )))
    );
    let r = login_with(|c| hs256_with_public_key(TEST_RSA_KID, c)).await;
    assert_eq!(
        r,
        Err(Error::TokenVerification(TokenError::Algorithm(
            "HS256".into()
        )))
    );
    // An allowed alg naming a key of the other type.
    let r = login_with(|c| {
        let t = sign(Algorithm::RS256, TEST_RSA_KID, c);
        let mut parts: Vec<&str> = t.split('.').collect();
        let h = base64_url(&json!({"alg": "ES256", "kid": TEST_RSA_KID}).to_string());
        parts[0] = &h;
        parts.join(".")
    })
    .await;
    assert_eq!(r, Err(Error::TokenVerification(TokenError::KeyMismatch)));
}

fn base64_url(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn malformed_tokens() {
    for bad in ["abc", "a.b", "a.b.c.d", "!!!.e30.x", "e30.e30.", ""] {
        let bad = bad.to_owned();
        let r = login_with(move |_| bad.clone()).await;
        assert!(
            matches!(
                r,
                Err(Error::TokenVerification(TokenError::Malformed(_)))
                    | Err(Error::Protocol(_))
                    | Err(Error::TokenVerification(TokenError::UnknownKey))
            ),
            "{r:?}"
        );
    }
    // Claims that are not JSON under a valid signature.
    let r = login_with(|_| {
        let header = base64_url(&json!({"alg": "RS256", "kid": TEST_RSA_KID}).to_string());
        let payload = base64_url("not json");
        let input = format!("{header}.{payload}");
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap();
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::RS256).unwrap();
        format!("{input}.{sig}")
    })
    .await;
    assert!(
        matches!(r, Err(Error::TokenVerification(TokenError::Malformed(_)))),
        "{r:?}"
    );
}

#[tokio::test]
async fn userinfo_of_another_subject() {
    let r = login_with(resign_with(Algorithm::RS256, "sub", json!("else"))).await;
    assert_eq!(
        r,
        Err(Error::TokenVerification(TokenError::SubjectMismatch))
    );
}

#[tokio::test]
async fn wrong_key_with_the_same_kid() {
    let sim = sim(fast_sim().policy(auto())).await;
    let client = client_for(&sim);
    sim.inject(Fault::WrongSigningKey);
    let started = client.start(kari()).await.unwrap();
    let err = client.wait(&started.id).await.unwrap_err();
    assert_eq!(err, Error::TokenVerification(TokenError::Signature));
    // A bad signature is not an unknown key: no JWKS refetch.
    assert_eq!(sim.stats().jwks, 1);
}

#[tokio::test]
async fn expired_and_future_tokens() {
    let sim = sim(fast_sim().policy(auto())).await;
    let client = client_for(&sim);
    sim.inject(Fault::ClockSkew(-7200));
    let started = client.start(kari()).await.unwrap();
    assert_eq!(
        client.wait(&started.id).await.unwrap_err(),
        Error::TokenVerification(TokenError::Expired)
    );
    sim.clear_faults();
    sim.inject(Fault::ClockSkew(7200));
    let started = client.start(kari()).await.unwrap();
    assert_eq!(
        client.wait(&started.id).await.unwrap_err(),
        Error::TokenVerification(TokenError::NotYetValid)
    );
    // Within the allowed skew is fine.
    sim.clear_faults();
    sim.inject(Fault::ClockSkew(30));
    let started = client.start(kari()).await.unwrap();
    client.wait(&started.id).await.unwrap();
}

#[tokio::test]
async fn unknown_kid_after_one_rate_limited_refetch() {
    let (sim, proxy) = sim_behind_proxy(fast_sim().policy(auto())).await;
    proxy.rewrite_id_token(|c| {
        // Signed by a key the JWKS does not list under this kid.
        sign(Algorithm::RS256, "public:00000000-unknown", c)
    });
    let client = client_for(&sim);
    for _ in 0..2 {
        let started = client.start(kari()).await.unwrap();
        assert_eq!(
            client.wait(&started.id).await.unwrap_err(),
            Error::TokenVerification(TokenError::UnknownKey)
        );
    }
    // One initial fetch, one refetch for the first unknown kid, none for the second.
    assert_eq!(sim.stats().jwks, 2);
}

#[tokio::test]
async fn browser_variant_auth_req_id_must_match() {
    let (sim, proxy) = sim_behind_proxy(fast_sim()).await;
    let client = client_for(&sim);
    let browser = |req: LoginRequest| {
        req.flow(Flow::ContinueInBrowser {
            redirect_uri: Url::parse("http://127.0.0.1:9/cb").unwrap(),
        })
    };

    // auth_req_id of another request.
    proxy.rewrite_id_token(resign_with(
        Algorithm::ES256,
        "auth_req_id",
        json!("someone-else"),
    ));
    let started = client.start(browser(kari())).await.unwrap();
    let c = approve_for_code(&sim, KARI).await;
    assert_eq!(
        exchange(&client, &c).await.unwrap_err(),
        Error::TokenVerification(TokenError::AuthReqId)
    );
    assert!(matches!(
        client.status(&started.id).await.unwrap(),
        LoginStatus::AwaitingBrowser
    ));

    // Both spellings, disagreeing.
    proxy.rewrite_id_token(resign_with(
        Algorithm::ES256,
        "authReqId",
        json!("someone-else"),
    ));
    let started = client
        .start(browser(LoginRequest::new(Msisdn::parse(OLA).unwrap())))
        .await
        .unwrap();
    let c = approve_for_code(&sim, OLA).await;
    assert_eq!(
        exchange(&client, &c).await.unwrap_err(),
        Error::TokenVerification(TokenError::AuthReqId)
    );

    // Missing entirely.
    proxy.rewrite_id_token(|c| {
        let mut c = c.clone();
        c.remove("auth_req_id");
        c.remove("authReqId");
        sign(Algorithm::ES256, TEST_EC_KID, &c)
    });
    let started2 = client
        .start(browser(LoginRequest::new(
            Msisdn::parse("4587654321").unwrap(),
        )))
        .await
        .unwrap();
    let c = approve_for_code(&sim, "4587654321").await;
    assert_eq!(
        exchange(&client, &c).await.unwrap_err(),
        Error::TokenVerification(TokenError::AuthReqId)
    );

    // Nonce mismatch on a matching auth_req_id fails that login.
    proxy.rewrite_id_token(resign_with(Algorithm::ES256, "nonce", json!("forged")));
    let started3 = client
        .start(browser(LoginRequest::new(
            Msisdn::parse("358401234567").unwrap(),
        )))
        .await
        .unwrap();
    let c = approve_for_code(&sim, "358401234567").await;
    assert_eq!(
        exchange(&client, &c).await.unwrap_err(),
        Error::TokenVerification(TokenError::Nonce)
    );
    assert!(matches!(
        client.status(&started3.id).await.unwrap(),
        LoginStatus::Failed(_)
    ));
    let _ = (started, started2);
}

// ---------------------------------------------------------------------------------------
// Offline, through the public verifier

#[derive(Debug)]
struct FixedClock(SystemTime);
impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

fn verifier() -> IdTokenVerifier {
    IdTokenVerifier::new(
        "https://issuer.example/",
        "client-1",
        Jwks::from_json(TEST_JWKS.as_bytes()).unwrap(),
    )
}

fn verr(token: &str, nonce: Option<&str>) -> TokenError {
    match verifier().verify(token, nonce) {
        Err(Error::TokenVerification(e)) => e,
        other => panic!("{other:?}"),
    }
}

#[test]
fn offline_verifier_checks_everything() {
    let c = claims("https://issuer.example/", "client-1", Some("n1"));
    for (alg, kid) in [
        (Algorithm::RS256, TEST_RSA_KID),
        (Algorithm::ES256, TEST_EC_KID),
    ] {
        let v = verifier().verify(&sign(alg, kid, &c), Some("n1")).unwrap();
        assert_eq!(v.sub, "test-sub");
    }
    let t = |m: &Map<String, Value>| sign(Algorithm::RS256, TEST_RSA_KID, m);
    assert_eq!(
        verr(&t(&with(&c, "iss", json!("x"))), None),
        TokenError::Issuer
    );
    assert_eq!(
        verr(&t(&with(&c, "aud", json!("x"))), None),
        TokenError::Audience
    );
    assert_eq!(verr(&t(&c), Some("n2")), TokenError::Nonce);
    let old = now_secs() - 3600;
    assert_eq!(
        verr(&t(&with(&c, "exp", json!(old))), None),
        TokenError::Expired
    );
    assert_eq!(
        verr(&t(&with(&c, "iat", json!(now_secs() + 3600))), None),
        TokenError::NotYetValid
    );
    assert_eq!(
        verr(&t(&with(&c, "nbf", json!(now_secs() + 3600))), None),
        TokenError::NotYetValid
    );
    // 30 s in the past is within the default 60 s skew.
    assert!(
        verifier()
            .verify(&t(&with(&c, "exp", json!(now_secs() - 30))), None)
            .is_ok()
    );
    let strict = verifier().clock_skew(Duration::ZERO);
    assert!(
        strict
            .verify(&t(&with(&c, "exp", json!(now_secs() - 30))), None)
            .is_err()
    );
    // The verifier's clock decides.
    let future = verifier().clock(Arc::new(FixedClock(
        SystemTime::now() + Duration::from_secs(7200),
    )));
    assert!(matches!(
        future.verify(&t(&c), None),
        Err(Error::TokenVerification(TokenError::Expired))
    ));
    let mut missing = c.clone();
    missing.remove("exp");
    assert_eq!(
        verr(&t(&missing), None),
        TokenError::MissingClaim("exp".into())
    );
    assert_eq!(
        verr(&t(&with(&c, "exp", json!("soon"))), None),
        TokenError::MissingClaim("exp".into())
    );
    assert_eq!(
        verr(&raw_jws(&json!({"alg": "none"}), &c, b""), None),
        TokenError::Algorithm("none".into())
    );
    assert_eq!(
        verr(&hs256_with_public_key(TEST_RSA_KID, &c), None),
        TokenError::Algorithm("HS256".into())
    );
    assert_eq!(
        verr(&sign(Algorithm::RS256, "nope", &c), None),
        TokenError::UnknownKey
    );
    // Signature of another token spliced onto these claims.
    let a = t(&c);
    let b = t(&with(&c, "sub", json!("admin")));
    let spliced = format!(
        "{}.{}",
        b.rsplit_once('.').unwrap().0,
        a.rsplit_once('.').unwrap().1
    );
    assert_eq!(verr(&spliced, None), TokenError::Signature);
    assert!(matches!(verr("x.y", None), TokenError::Malformed(_)));
    assert!(matches!(
        verr(&"a".repeat(20_000), None),
        TokenError::Malformed(_)
    ));
    let crit = raw_jws(
        &json!({"alg": "RS256", "kid": TEST_RSA_KID, "crit": ["exp"]}),
        &c,
        b"x",
    );
    assert!(matches!(verr(&crit, None), TokenError::Malformed(_)));
}
