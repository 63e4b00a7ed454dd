//! How a client proves itself: no secret (public), a secret kept as its SHA-256, or one
//! hashed at rest with PBKDF2-HMAC-SHA256 (aws-lc-rs); checked in constant time.
//!
//! One hashed format, with a capped cost: a client secret is checked on every token
//! request, by anyone who sends one, so its cost is a cost the bridge pays for attackers
//! too. [`DEFAULT_ITERATIONS`] is what [`hash_secret`] (and the bridge's `--hash-secret`)
//! writes and what an unknown `client_id` pays; a registry asking for more than
//! [`MAX_ITERATIONS`] is refused at load. A fast hash alone would do for generated
//! 256-bit secrets, but a registry cannot tell a generated secret from a chosen one; a
//! capped PBKDF2 keeps a leaked registry file from handing out chosen secrets, and the
//! token endpoint bounds how many checks run at once (see the kernel's client
//! authentication).

use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use subtle::ConstantTimeEq as _;
use vipps_login_core::token::sha256;

/// The PBKDF2 iterations [`hash_secret`] uses by default, and the cost of the check an
/// unknown `client_id` pays. A client hashed with more iterations costs more to check
/// than an unknown id, so its existence can be told by timing: hash every client at this
/// cost (as `--hash-secret` does).
pub const DEFAULT_ITERATIONS: u32 = 10_000;

/// The most PBKDF2 iterations a registry may ask for (a hash asking for more is refused
/// when the registry is read): a check is paid on every request with a secret.
pub const MAX_ITERATIONS: u32 = 100_000;

/// The fewest iterations [`hash_secret`] writes.
const MIN_ITERATIONS: u32 = 1000;

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

    /// A credential no secret matches, checked for unknown client ids so that timing
    /// does not tell which ids exist: a PBKDF2 check at [`DEFAULT_ITERATIONS`] (the cost
    /// of a client hashed as recommended, never more), or a SHA-256 one when `hashed` is
    /// false (a registry of plain secrets only).
    pub(crate) fn decoy(hashed: bool) -> Credential {
        if !hashed {
            return Credential::Plain([0; 32]);
        }
        Credential::Pbkdf2 {
            iterations: NonZeroU32::new(DEFAULT_ITERATIONS).unwrap_or(NonZeroU32::MIN),
            salt: vec![0; 16],
            hash: vec![0; 32],
        }
    }

    /// Whether the secret is hashed with PBKDF2.
    pub(crate) fn is_hashed(&self) -> bool {
        matches!(self, Credential::Pbkdf2 { .. })
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
/// Client secrets should be long random strings (e.g. 32 random bytes, base64url); then
/// [`DEFAULT_ITERATIONS`] are plenty, and every token request stays cheap. `iterations`
/// is kept between 1000 and [`MAX_ITERATIONS`] (what a registry accepts).
///
/// ```
/// use vipps_login_provider::{DEFAULT_ITERATIONS, hash_secret};
/// let h = hash_secret("a-long-random-client-secret", DEFAULT_ITERATIONS);
/// assert!(h.starts_with("pbkdf2-sha256:10000:"));
/// assert!(hash_secret("a-long-random-client-secret", u32::MAX).starts_with("pbkdf2-sha256:100000:"));
/// ```
#[must_use]
pub fn hash_secret(secret: &str, iterations: u32) -> String {
    let iterations = NonZeroU32::new(iterations.clamp(MIN_ITERATIONS, MAX_ITERATIONS))
        .unwrap_or(NonZeroU32::MIN);
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

/// Why a `client_secret_hash` is refused.
pub(crate) enum HashRefusal {
    /// Not `pbkdf2-sha256:ITERATIONS:SALT:HASH`.
    Malformed,
    /// More iterations than [`MAX_ITERATIONS`].
    TooCostly(u32),
}

/// Reads a `client_secret_hash` made by [`hash_secret`].
pub(crate) fn parse_hash(s: &str) -> Result<Credential, HashRefusal> {
    let credential = parse_hash_format(s).ok_or(HashRefusal::Malformed)?;
    match credential.iterations() {
        Some(i) if i.get() > MAX_ITERATIONS => Err(HashRefusal::TooCostly(i.get())),
        _ => Ok(credential),
    }
}

fn parse_hash_format(s: &str) -> Option<Credential> {
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
