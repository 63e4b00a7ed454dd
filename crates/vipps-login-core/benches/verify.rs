//! ID-token verification throughput: our verifier (allow-list, key lookup by `kid`,
//! signature through jsonwebtoken's aws-lc-rs backend, then `iss`, `aud`, `exp`, `iat`,
//! `nonce`, `auth_req_id`) against the baseline of decoding and verifying the same token
//! with bare `jsonwebtoken` (signature, `exp`, `iss`, `aud`), for RS256 and ES256.
//!
//! Both sides decode the claims into a `serde_json::Map`, run on one thread, and use the
//! throwaway test keys from `tests/fixtures`. After criterion's report, a short
//! side-by-side run prints verifications per second and the ratio.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, Throughput};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};
use vipps_login_core::{IdTokenVerifier, Jwks};

const RSA_PEM: &str = include_str!("../tests/fixtures/rsa.pem");
const EC_PEM: &str = include_str!("../tests/fixtures/ec.pem");
const JWKS: &str = include_str!("../tests/fixtures/jwks.json");
const ISSUER: &str = "https://apitest.vipps.no/access-management-1.0/access/";
const CLIENT: &str = "bench-client";
const NONCE: &str = "mK1b3L8q3r9zQ0p7xV2yW5tU4sR6oN8m";

struct Case {
    name: &'static str,
    token: String,
    ours: IdTokenVerifier,
    bare_key: DecodingKey,
    bare_validation: Validation,
}

fn claims() -> Map<String, Value> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Shaped like a Vipps ID token.
    let v = json!({
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "c06c4afe-d9e1-4c5d-939a-177d752a0944",
        "iat": now,
        "exp": now + 3600,
        "auth_time": now,
        "nonce": NONCE,
        "sid": "a9e1c4f0-3b7d-4b8e-9a5e-1d2c3b4a5f6e",
        "jti": "4d5e6f70-8192-4a3b-9c4d-5e6f708192a3",
        "amr": ["pwd"],
        "at_hash": "f0Jx3k1L2m3N4o5P6q7R8s",
        "auth_req_id": "b1f3b2d6-1c2e-4f7a-8b9c-0d1e2f3a4b5c",
    });
    v.as_object().unwrap().clone()
}

fn case(name: &'static str, alg: Algorithm) -> Case {
    let jwks_doc: Value = serde_json::from_str(JWKS).unwrap();
    let (kid, enc, dec) = match alg {
        Algorithm::RS256 => {
            let jwk = &jwks_doc["keys"][0];
            (
                "test:rsa",
                EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap(),
                DecodingKey::from_rsa_components(
                    jwk["n"].as_str().unwrap(),
                    jwk["e"].as_str().unwrap(),
                )
                .unwrap(),
            )
        }
        _ => {
            let jwk = &jwks_doc["keys"][1];
            (
                "test:ec",
                EncodingKey::from_ec_pem(EC_PEM.as_bytes()).unwrap(),
                DecodingKey::from_ec_components(
                    jwk["x"].as_str().unwrap(),
                    jwk["y"].as_str().unwrap(),
                )
                .unwrap(),
            )
        }
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    let token = jsonwebtoken::encode(&header, &claims(), &enc).unwrap();
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[CLIENT]);
    Case {
        name,
        token,
        ours: IdTokenVerifier::new(ISSUER, CLIENT, Jwks::from_json(JWKS.as_bytes()).unwrap()),
        bare_key: dec,
        bare_validation: validation,
    }
}

fn ours(c: &Case) {
    let v = c.ours.verify(black_box(&c.token), Some(NONCE)).unwrap();
    black_box(v);
}

fn bare(c: &Case) {
    let d = jsonwebtoken::decode::<Map<String, Value>>(
        black_box(&c.token),
        &c.bare_key,
        &c.bare_validation,
    )
    .unwrap();
    black_box(d);
}

fn per_second(f: impl Fn(), window: Duration) -> f64 {
    for _ in 0..200 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < window {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let cases = [
        case("RS256", Algorithm::RS256),
        case("ES256", Algorithm::ES256),
    ];
    let mut criterion = Criterion::default().configure_from_args();
    for c in &cases {
        let mut group = criterion.benchmark_group(format!("id_token_verify/{}", c.name));
        group.throughput(Throughput::Elements(1));
        group.bench_function("vipps_login_core", |b| b.iter(|| ours(c)));
        group.bench_function("bare_jsonwebtoken", |b| b.iter(|| bare(c)));
        group.finish();
    }
    criterion.final_summary();

    // Without `--bench` (`cargo test --benches`) criterion runs each benchmark once; skip
    // the side-by-side then.
    if !std::env::args().any(|a| a == "--bench") || std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("\nID-token verification, one thread (verifications per second):");
    println!(
        "{:<7} {:>14} {:>18} {:>8}",
        "alg", "ours", "bare jsonwebtoken", "ratio"
    );
    for c in &cases {
        let window = Duration::from_secs(2);
        let o = per_second(|| ours(c), window);
        let b = per_second(|| bare(c), window);
        println!("{:<7} {:>14.0} {:>18.0} {:>8.3}", c.name, o, b, o / b);
    }
}
