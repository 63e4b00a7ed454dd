//! The cost of a failed client authentication: what the provider pays for a request with
//! a wrong secret (a known client) or any secret (an unknown `client_id`), on one core.
//!
//! - `unknown id`: the decoy check an unknown `client_id` pays (PBKDF2 at
//!   `DEFAULT_ITERATIONS`, however costly the registered clients are);
//! - `known id, wrong secret`: a client hashed as `--hash-secret` hashes;
//! - `known id at the cap`: a client hashed at `MAX_ITERATIONS`, the most a registry
//!   accepts;
//! - `before: unknown id, 600k registered`: what an unknown id paid before the cap and the
//!   fixed decoy, with a client hashed at 600 000 iterations registered (PBKDF2 at
//!   600 000 iterations, computed directly: such a registry is now refused).
//!
//! `cargo bench -p vipps-login-provider --bench client_auth`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2;
use criterion::Criterion;
use vipps_login_provider::{ClientRegistry, DEFAULT_ITERATIONS, MAX_ITERATIONS, hash_secret};

const SECRET: &str = "a-long-random-client-secret-of-32-bytes";

fn registry() -> ClientRegistry {
    let mut toml = String::new();
    for (id, iterations) in [("default", DEFAULT_ITERATIONS), ("at-cap", MAX_ITERATIONS)] {
        toml.push_str(&format!(
            "[[clients]]\nclient_id = \"{id}\"\nclient_secret_hash = \"{}\"\ngrant_types = [\"urn:openid:params:grant-type:ciba\"]\n",
            hash_secret(SECRET, iterations)
        ));
    }
    ClientRegistry::from_toml(&toml).unwrap()
}

fn benches(c: &mut Criterion) {
    let reg = registry();
    let mut g = c.benchmark_group("failed client authentication");
    g.bench_function("unknown id", |b| {
        b.iter(|| {
            assert!(
                reg.authenticate(black_box("nobody"), black_box(SECRET))
                    .is_none()
            )
        });
    });
    g.bench_function("known id, wrong secret", |b| {
        b.iter(|| {
            assert!(
                reg.authenticate(black_box("default"), black_box("wrong"))
                    .is_none()
            )
        });
    });
    g.bench_function("known id at the cap, wrong secret", |b| {
        b.iter(|| {
            assert!(
                reg.authenticate(black_box("at-cap"), black_box("wrong"))
                    .is_none()
            )
        });
    });
    g.sample_size(10);
    g.bench_function("before: unknown id, 600k registered", |b| {
        let iterations = NonZeroU32::new(600_000).unwrap();
        b.iter(|| {
            pbkdf2::verify(
                pbkdf2::PBKDF2_HMAC_SHA256,
                iterations,
                &[0; 16],
                black_box(SECRET.as_bytes()),
                &[0; 32],
            )
            .is_err()
        });
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
