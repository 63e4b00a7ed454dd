#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vipps_login_core::SystemClock;

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};

fn verify(keys: &KeySet, token: &str) -> Result<Value, jsonwebtoken::errors::Error> {
    let header = decode_header(token)?;
    let kid = header.kid.clone().unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&keys.jwks_json()).unwrap();
    let jwk = jwks.find(&kid).expect("kid published");
    let mut v = Validation::new(header.alg);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    Ok(decode::<Value>(token, &DecodingKey::from_jwk(jwk)?, &v)?.claims)
}

#[test]
fn both_algorithms_sign_with_a_kid_and_verify_against_the_jwks() {
    let keys = KeySet::generate().unwrap();
    for alg in [SigningAlg::RS256, SigningAlg::ES256] {
        let t = keys.sign(alg, &json!({"sub": "x"})).unwrap();
        let h = decode_header(&t).unwrap();
        assert_eq!(h.alg, alg.jwt());
        assert!(
            h.kid
                .unwrap()
                .starts_with(&alg.as_str().to_ascii_lowercase())
        );
        assert_eq!(verify(&keys, &t).unwrap()["sub"], "x");
    }
    // A token signed by another key set does not verify.
    let other = KeySet::generate().unwrap();
    let t = other.sign(SigningAlg::RS256, &json!({"sub": "x"})).unwrap();
    let kid = decode_header(&t).unwrap().kid.unwrap();
    assert!(!keys.kids().contains(&kid));
}

fn memory_records() -> (Arc<vipps_login_core::MemoryStore>, Records) {
    let store = Arc::new(vipps_login_core::MemoryStore::new());
    let records = Records::sealed_with(
        store.clone(),
        Arc::new(SystemClock),
        &vipps_login_core::Secret::new("merchant secret"),
    );
    (store, records)
}

async fn until_jwks(keys: &KeySet, kid: &str) -> std::time::Duration {
    let t = std::time::Instant::now();
    while !keys.kids().iter().any(|k| k == kid) {
        assert!(t.elapsed() < Duration::from_secs(2), "{kid} not served");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t.elapsed()
}

#[tokio::test]
async fn shared_keys_are_the_same_on_every_instance_and_survive_restarts() {
    let (_store, records) = memory_records();
    // Two instances starting at once: one key set between them.
    let (a, b) = tokio::join!(KeySet::shared(&records), KeySet::shared(&records));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.kids(), b.kids());
    let token = a.sign(SigningAlg::RS256, &json!({"sub": "x"})).unwrap();
    assert_eq!(verify(&b, &token).unwrap()["sub"], "x");
    // A restart reads them back.
    drop(a);
    let restarted = KeySet::shared(&records).await.unwrap();
    assert_eq!(restarted.kids(), b.kids());
    assert_eq!(verify(&restarted, &token).unwrap()["sub"], "x");
}

#[tokio::test]
async fn a_shared_rotation_reaches_every_instance_and_keeps_old_keys() {
    let (_store, records) = memory_records();
    let a = KeySet::shared(&records).await.unwrap();
    let b = KeySet::shared(&records).await.unwrap();
    let old = a.sign(SigningAlg::ES256, &json!({"n": 1})).unwrap();
    // Not due yet: nobody rotates.
    let day = Duration::from_secs(86_400);
    assert!(!a.rotate_if_due(day, day).await.unwrap());
    assert!(a.rotate_now(Duration::from_secs(3600)).await.unwrap());
    let new = a.sign(SigningAlg::ES256, &json!({"n": 2})).unwrap();
    let new_kid = decode_header(&new).unwrap().kid.unwrap();
    let took = until_jwks(&b, &new_kid).await;
    assert!(
        took < Duration::from_secs(1),
        "B served the new key after {took:?}"
    );
    assert_eq!(b.kids().len(), 4, "old keys still published");
    assert!(verify(&b, &old).is_ok());
    // Due on both at once: one of them rotates.
    let period = Duration::from_millis(1500);
    tokio::time::sleep(period).await;
    let (ra, rb) = tokio::join!(a.rotate_if_due(period, day), b.rotate_if_due(period, day));
    assert_eq!(
        u8::from(ra.unwrap()) + u8::from(rb.unwrap()),
        1,
        "exactly one instance rotates (the lease)"
    );
}

#[tokio::test]
async fn keys_in_the_store_that_do_not_open_are_an_error_not_new_keys() {
    let (store, records) = memory_records();
    let key = records.store_key("keys", "signing");
    vipps_login_core::Store::set(
        &*store,
        &key,
        b"{\"keys\":[]}".to_vec(),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let e = KeySet::shared(&records).await.unwrap_err();
    assert!(e.to_string().contains("do not open"), "{e}");
}

#[test]
fn configured_keys_sign_with_thumbprint_kids_and_publish_the_rest() {
    use aws_lc_rs::encoding::AsDer as _;
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let rsa_pem = pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        rsa.as_der().unwrap().as_ref().to_vec(),
    ));
    let ec = material::SigningKey::generate(SigningAlg::ES256).unwrap();
    let ec_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", ec.pkcs8.clone()));
    let older = material::SigningKey::generate(SigningAlg::ES256).unwrap();
    let older_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", older.pkcs8.clone()));
    let inputs = || {
        vec![
            ("keys.pem".to_owned(), format!("{rsa_pem}{ec_pem}")),
            ("old.pem".to_owned(), older_pem.clone()),
        ]
    };
    let one = KeySet::from_private_keys(inputs()).unwrap();
    let two = KeySet::from_private_keys(inputs()).unwrap();
    assert_eq!(
        one.kids(),
        two.kids(),
        "same keys, same kids on every instance"
    );
    assert_eq!(one.kids().len(), 3);
    let t = one.sign(SigningAlg::ES256, &json!({"sub": "x"})).unwrap();
    assert_eq!(verify(&two, &t).unwrap()["sub"], "x");
    let rotated = one.rotate_now(Duration::from_secs(1));
    assert!(
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(rotated)
            .is_err()
    );

    // An EC JWK with `d`.
    let jwk = {
        let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &ec.pkcs8,
        )
        .unwrap();
        use aws_lc_rs::encoding::AsBigEndian as _;
        let d = pair.private_key().as_be_bytes().unwrap();
        let mut j = ec.jwk.clone();
        j["d"] = json!(URL_SAFE_NO_PAD.encode(d.as_ref()));
        j["kid"] = json!("operator-ec-1");
        j.to_string()
    };
    let from_jwk = KeySet::from_private_keys([("jwk".to_owned(), jwk)]).unwrap();
    assert_eq!(from_jwk.kids(), vec!["operator-ec-1".to_owned()]);
    assert!(!from_jwk.has(SigningAlg::RS256));
    let bad = KeySet::from_private_keys([("env".to_owned(), "hello".to_owned())]).unwrap_err();
    assert!(bad.to_string().contains("env"), "{bad}");
}

#[test]
fn rotation_keeps_old_public_keys_for_the_grace_period() {
    let keys = KeySet::generate().unwrap();
    let old = keys.sign(SigningAlg::RS256, &json!({"n": 1})).unwrap();
    keys.rotate(Duration::from_millis(300)).unwrap();
    assert_eq!(keys.kids().len(), 4);
    assert!(verify(&keys, &old).is_ok(), "old token still verifies");
    let new = keys.sign(SigningAlg::RS256, &json!({"n": 2})).unwrap();
    assert_ne!(
        decode_header(&old).unwrap().kid,
        decode_header(&new).unwrap().kid
    );
    std::thread::sleep(Duration::from_millis(350));
    let jwks: Value = serde_json::from_str(&keys.jwks_json()).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert!(verify(&keys, &new).is_ok());
    let rsa = &jwks["keys"][0];
    assert_eq!(rsa["kty"], "RSA");
    assert_eq!(rsa["e"], "AQAB");
    assert!(rsa.get("d").is_none(), "no private parts");
}
