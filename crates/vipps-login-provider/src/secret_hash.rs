//! Client secrets hashed at rest: PBKDF2-HMAC-SHA256 from aws-lc-rs.

use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;

use crate::registry::{Credential, RegistryError};

/// Hashes a client secret for `client_secret_hash`:
/// `pbkdf2-sha256:{iterations}:{salt, base64url}:{hash, base64url}`.
///
/// Client secrets should be long random strings; then 10 000 iterations are plenty, and
/// every token request stays cheap.
///
/// ```
/// use vipps_login_provider::hash_secret;
/// let h = hash_secret("a-long-random-client-secret", 10_000);
/// assert!(h.starts_with("pbkdf2-sha256:10000:"));
/// ```
#[must_use]
pub fn hash_secret(secret: &str, iterations: u32) -> String {
    let iterations = NonZeroU32::new(iterations.max(1000)).unwrap_or(NonZeroU32::MIN);
    let salt: [u8; 16] = rand::rng().random();
    let mut out = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        secret.as_bytes(),
        &mut out,
    );
    format!(
        "pbkdf2-sha256:{iterations}:{}:{}",
        URL_SAFE_NO_PAD.encode(salt),
        URL_SAFE_NO_PAD.encode(out)
    )
}

pub(crate) fn parse_hash(client: &str, s: &str) -> Result<Credential, RegistryError> {
    let bad = || {
        RegistryError(format!(
            "client {client}: client_secret_hash must be pbkdf2-sha256:ITERATIONS:SALT:HASH (base64url)"
        ))
    };
    let mut parts = s.split(':');
    if parts.next() != Some("pbkdf2-sha256") {
        return Err(bad());
    }
    let iterations = parts
        .next()
        .and_then(|i| i.parse::<u32>().ok())
        .and_then(NonZeroU32::new)
        .ok_or_else(bad)?;
    let salt = parts
        .next()
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .ok_or_else(bad)?;
    let hash = parts
        .next()
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .filter(|h| h.len() == 32)
        .ok_or_else(bad)?;
    if parts.next().is_some() || salt.len() < 8 {
        return Err(bad());
    }
    Ok(Credential::Pbkdf2 {
        iterations,
        salt,
        hash,
    })
}
