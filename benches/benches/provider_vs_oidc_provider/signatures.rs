//! What one ID token signature costs on this machine in each runtime: RS256 (RSA 2048,
//! PKCS#1 v1.5, SHA-256) and ES256 (P-256), with aws-lc-rs (what the bridge signs with)
//! and with Node's `crypto` (what oidc-provider signs with, through `jose`). A finished
//! token response signs one ID token, so this bounds its CPU per request from below on
//! both sides. Also RS256 as the bridge signs today: `jsonwebtoken` 11's aws-lc backend
//! parses the RSA key (`RsaKeyPair::from_der`, with its consistency checks) on every
//! signature, so that is timed too (the key parsed from PKCS#8, then one signature).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self, EcdsaKeyPair};

/// Signatures per measurement.
const SIGNATURES: u32 = 500;

/// A payload of an ID token's size.
fn payload() -> Vec<u8> {
    vec![b'a'; 600]
}

/// Microseconds per signature with aws-lc-rs: (RS256, RS256 with the key parsed each
/// time, ES256).
fn aws_lc() -> (f64, f64, f64) {
    let data = payload();
    let rng = SystemRandom::new();
    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let mut sig = vec![0; rsa.public_modulus_len()];
    let started = Instant::now();
    for _ in 0..SIGNATURES {
        rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, &data, &mut sig)
            .unwrap();
    }
    let rs256 = started.elapsed().as_secs_f64() * 1e6 / f64::from(SIGNATURES);
    let der = rsa.as_der().unwrap();
    let started = Instant::now();
    for _ in 0..SIGNATURES {
        let parsed = RsaKeyPair::from_pkcs8(der.as_ref()).unwrap();
        parsed
            .sign(&signature::RSA_PKCS1_SHA256, &rng, &data, &mut sig)
            .unwrap();
    }
    let rs256_parsed = started.elapsed().as_secs_f64() * 1e6 / f64::from(SIGNATURES);
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .unwrap();
    let started = Instant::now();
    for _ in 0..SIGNATURES {
        ec.sign(&rng, &data).unwrap();
    }
    let es256 = started.elapsed().as_secs_f64() * 1e6 / f64::from(SIGNATURES);
    (rs256, rs256_parsed, es256)
}

/// The same with Node's `crypto`, pinned to `core`: its printed line.
fn node(node: &str, node_dir: &Path, core: usize) -> String {
    let script = format!(
        "const c = require('node:crypto');
         const data = Buffer.alloc(600, 97);
         const time = (key) => {{
           for (let i = 0; i < 50; i += 1) c.sign('sha256', data, key);
           const t = process.hrtime.bigint();
           for (let i = 0; i < {SIGNATURES}; i += 1) c.sign('sha256', data, key);
           return Number(process.hrtime.bigint() - t) / 1000 / {SIGNATURES};
         }};
         const rsa = c.generateKeyPairSync('rsa', {{ modulusLength: 2048 }}).privateKey;
         const ec = c.generateKeyPairSync('ec', {{ namedCurve: 'P-256' }}).privateKey;
         console.log(`RS256 ${{time(rsa).toFixed(1)}} µs, ES256 ${{time({{ key: ec, dsaEncoding: 'ieee-p1363' }}).toFixed(1)}} µs`);"
    );
    Command::new("taskset")
        .args(["-c", &core.to_string(), node, "-e", &script])
        .current_dir(node_dir)
        .output()
        .map(|o| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout).trim(),
                String::from_utf8_lossy(&o.stderr).trim()
            )
        })
        .unwrap_or_else(|e| format!("node failed: {e}"))
}

/// Prints one signature's time in each runtime.
pub async fn report(node_bin: &str, node_dir: &Path) {
    let (rs256, rs256_parsed, es256) = tokio::task::spawn_blocking(aws_lc).await.unwrap();
    let node_bin = node_bin.to_owned();
    let node_dir = node_dir.to_path_buf();
    let node_line = tokio::task::spawn_blocking(move || node(&node_bin, &node_dir, 1))
        .await
        .unwrap();
    println!(
        "\none signature (a 600-byte payload, {SIGNATURES} in a row): aws-lc-rs (the bridge) RS256 {rs256:.1} µs (with the key parsed first, as jsonwebtoken 11 does per signature: {rs256_parsed:.1} µs), ES256 {es256:.1} µs; Node crypto (oidc-provider) {node_line}"
    );
}
