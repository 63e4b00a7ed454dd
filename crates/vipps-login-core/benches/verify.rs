//! ID-token verification throughput: our verifier (allow-list, key lookup by `kid`,
//! signature through jsonwebtoken's aws-lc-rs backend, then `iss`, `aud`, `exp`, `iat`,
//! `nonce`, `auth_req_id`) against the baseline of decoding and verifying the same token
//! with bare `jsonwebtoken` (signature, `exp`, `iss`, `aud`), for RS256 and ES256.
//!
//! Both sides decode the claims into a `serde_json::Map`, run on one thread, and use the
//! throwaway test keys from `tests/fixtures`. A third side is the raw signature check
//! (aws-lc-rs with the key parsed and the signature decoded beforehand), the floor of
//! any verifier. After criterion's report, interleaved rounds (A B, B A, …) print the
//! median ratios with their spread, and callgrind counts instructions per verification.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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

/// The raw signature check the verifier is held to: the aws-lc-rs verification of the
/// token's signing input with a key parsed beforehand and the signature decoded
/// beforehand. Everything else our verifier does comes on top of this.
struct Raw {
    key: ParsedPublicKey,
    input: String,
    signature: Vec<u8>,
}

fn raw_case(c: &Case) -> Raw {
    let jwks_doc: Value = serde_json::from_str(JWKS).unwrap();
    let key = if c.name == "RS256" {
        let jwk = &jwks_doc["keys"][0];
        let d = |k: &str| URL_SAFE_NO_PAD.decode(jwk[k].as_str().unwrap()).unwrap();
        RsaPublicKeyComponents {
            n: d("n"),
            e: d("e"),
        }
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .unwrap()
    } else {
        let jwk = &jwks_doc["keys"][1];
        let d = |k: &str| URL_SAFE_NO_PAD.decode(jwk[k].as_str().unwrap()).unwrap();
        let mut point = vec![4];
        point.extend(d("x"));
        point.extend(d("y"));
        ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).unwrap()
    };
    let (input, sig) = c.token.rsplit_once('.').unwrap();
    Raw {
        key,
        input: input.to_owned(),
        signature: URL_SAFE_NO_PAD.decode(sig).unwrap(),
    }
}

fn raw(r: &Raw) {
    r.key
        .verify_sig(black_box(r.input.as_bytes()), black_box(&r.signature))
        .unwrap();
}

fn main() {
    let cases = [
        case("RS256", Algorithm::RS256),
        case("ES256", Algorithm::ES256),
    ];
    let raws = [raw_case(&cases[0]), raw_case(&cases[1])];
    if let Some((variant, n)) = measure::instructions_mode() {
        let (alg, side) = variant.split_once('/').unwrap();
        let i = usize::from(alg == "ES256");
        let (c, r) = (&cases[i], &raws[i]);
        // Once outside the measured section (first-use initialisation).
        ours(c);
        bare(c);
        raw(r);
        match side {
            "ours" => measure::callgrind_measured_section(n, || ours(c)),
            "bare" => measure::callgrind_measured_section(n, || bare(c)),
            _ => measure::callgrind_measured_section(n, || raw(r)),
        }
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    for (c, r) in cases.iter().zip(&raws) {
        let mut group = criterion.benchmark_group(format!("id_token_verify/{}", c.name));
        group.throughput(Throughput::Elements(1));
        group.bench_function("vipps_login_core", |b| b.iter(|| ours(c)));
        group.bench_function("bare_jsonwebtoken", |b| b.iter(|| bare(c)));
        group.bench_function("raw_signature_check", |b| b.iter(|| raw(r)));
        group.finish();
    }
    criterion.final_summary();

    // Without `--bench` (`cargo test --benches`) criterion runs each benchmark once; skip
    // the side-by-side then.
    if !std::env::args().any(|a| a == "--bench") || std::env::args().any(|a| a == "--list") {
        return;
    }
    let (rounds, batch) = if measure::quick() {
        (11, 2_000)
    } else {
        (31, 4_000)
    };
    println!("\nID-token verification, one thread, interleaved rounds of {batch}:");
    for (c, r) in cases.iter().zip(&raws) {
        let vs_bare = measure::interleaved(
            rounds,
            batch,
            |n| (0..n).for_each(|_| ours(c)),
            |n| {
                (0..n).for_each(|_| bare(c));
            },
        );
        println!("{} {}", c.name, vs_bare.line("ours", "bare_jsonwebtoken"));
        let vs_raw = measure::interleaved(
            rounds,
            batch,
            |n| (0..n).for_each(|_| ours(c)),
            |n| {
                (0..n).for_each(|_| raw(r));
            },
        );
        println!("{} {}", c.name, vs_raw.line("ours", "raw_signature_check"));
    }
    let variants = [
        "RS256/raw",
        "RS256/ours",
        "RS256/bare",
        "ES256/raw",
        "ES256/ours",
        "ES256/bare",
    ];
    match measure::count_instructions(&variants, 20, 220, &[]) {
        Ok(counts) => {
            println!("\ninstructions per verification (callgrind, (I(220) - I(20)) / 200):");
            for chunk in counts.chunks(3) {
                let raw = chunk[0].1;
                for (name, count) in chunk {
                    println!(
                        "{name:<12} {count:>10.0}   {:>7.4}x the raw check",
                        count / raw
                    );
                }
            }
        }
        Err(e) => println!("\ninstruction counts skipped: {e}"),
    }
}

/// The workspace's side-by-side measurement (`benches/src/measure.rs`), compiled into
/// this bench from its file: the core crate cannot depend on the benches crate, and one
/// copy of the code is enough.
#[allow(dead_code)]
#[path = "../../../benches/src/measure.rs"]
mod measure;
