//! The bridge's signing keys from configuration: files and the variable's text, the same
//! JWKS on every instance given them, precise refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::encoding::AsDer as _;
use clap::Parser as _;
use identity_bridge::{AppError, Options, app};
use serde_json::Value;

fn pkcs8_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

fn operator_keys() -> String {
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let ec = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    format!(
        "{}{}",
        pkcs8_pem(rsa.as_der().unwrap().as_ref()),
        pkcs8_pem(ec.as_ref())
    )
}

async fn bridge(args: &[&str]) -> Result<String, AppError> {
    let mut all = vec!["identity-bridge", "--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let b = app(Options::parse_from(all)).await?;
    let base = format!("http://{}", b.local_addr().unwrap());
    tokio::spawn(b.serve());
    Ok(base)
}

async fn jwks(base: &str) -> (Vec<String>, String) {
    let r = reqwest::get(format!("{base}/jwks")).await.unwrap();
    let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    let kids = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    (kids, cache)
}

#[tokio::test]
async fn configured_keys_give_every_instance_the_same_jwks() {
    let dir = std::env::temp_dir().join(format!("bridge-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keys.pem");
    let text = operator_keys();
    std::fs::write(&file, &text).unwrap();
    let path = file.to_str().unwrap();

    let from_file = bridge(&["--signing-key", path]).await.unwrap();
    let from_text = bridge(&["--signing-keys", &text]).await.unwrap();
    let (kids, cache) = jwks(&from_file).await;
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert_eq!(
        jwks(&from_text).await.0,
        kids,
        "the same keys, the same kids"
    );
    assert!(cache.contains("max-age="), "{cache}");
    // Without keys, each bridge without a shared store has its own.
    let own = bridge(&[]).await.unwrap();
    assert!(jwks(&own).await.0.iter().all(|k| !kids.contains(k)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bad_key_options_are_refused_with_what_to_fix() {
    let missing = bridge(&["--signing-key", "/nonexistent/keys.pem"])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("--signing-key /nonexistent/keys.pem"),
        "{missing}"
    );
    let not_a_key = bridge(&["--signing-keys", "hello"])
        .await
        .unwrap_err()
        .to_string();
    assert!(not_a_key.contains("BRIDGE_SIGNING_KEYS"), "{not_a_key}");
    let short = bridge(&["--key-rotation-secs", "10"])
        .await
        .unwrap_err()
        .to_string();
    assert!(short.contains("--key-rotation-secs"), "{short}");
}
