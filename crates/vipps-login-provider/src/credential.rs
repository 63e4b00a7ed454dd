//! How a client proves itself: no secret (public), a secret kept as its SHA-256, or one
//! hashed at rest with PBKDF2-HMAC-SHA256 (aws-lc-rs); checked in constant time.

use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use subtle::ConstantTimeEq as _;
use vipps_login_core::token::sha256;

/// How a client proves itself.
pub(crate) enum Credential {
    /// A public client: no secret.
    None,
    /// A secret given in plain text in the registry, kept as its SHA-256.
    Plain([u8; 32]),
    /// A secret hashed at rest (see [`hash_secret`]).
    Pbkdf2 {
        iterations: NonZeroU32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

impl Credential {
    /// A secret given in plain text.
    pub(crate) fn plain(secret: &str) -> Credential {
        Credential::Plain(sha256(secret.as_bytes()))
    }

    /// Whether `secret` is this credential's, in constant time. A public client never
    /// authenticates with a secret.
    pub(crate) fn verify(&self, secret: &str) -> bool {
        match self {
            Credential::None => false,
            Credential::Plain(expected) => {
                let given = sha256(secret.as_bytes());
                bool::from(given.ct_eq(expected))
            }
            Credential::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => pbkdf2::verify(
                pbkdf2::PBKDF2_HMAC_SHA256,
                *iterations,
                salt,
                secret.as_bytes(),
                hash,
            )
            .is_ok(),
        }
    }

    /// A credential of the same cost as this one that no secret matches (checked for
    /// unknown client ids, so that timing does not tell which ids exist); `None` unless
    /// this one is hashed.
    pub(crate) fn decoy(&self) -> Option<Credential> {
        match self {
            Credential::Pbkdf2 {
                iterations, salt, ..
            } => Some(Credential::Pbkdf2 {
                iterations: *iterations,
                salt: salt.clone(),
                hash: vec![0; 32],
            }),
            _ => None,
        }
    }

    /// The PBKDF2 iterations, for a hashed secret.
    pub(crate) fn iterations(&self) -> Option<NonZeroU32> {
        match self {
            Credential::Pbkdf2 { iterations, .. } => Some(*iterations),
            _ => None,
        }
    }
}

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

/// Reads a `client_secret_hash` made by [`hash_secret`]; `None` when it is not one.
pub(crate) fn parse_hash(s: &str) -> Option<Credential> {
    let mut parts = s.split(':');
    if parts.next() != Some("pbkdf2-sha256") {
        return None;
    }
    let iterations = parts
        .next()
        .and_then(|i| i.parse::<u32>().ok())
        .and_then(NonZeroU32::new)?;
    let salt = parts.next().and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())?;
    let hash = parts
        .next()
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .filter(|h| h.len() == 32)?;
    if parts.next().is_some() || salt.len() < 8 {
        return None;
    }
    Some(Credential::Pbkdf2 {
        iterations,
        salt,
        hash,
    })
}
