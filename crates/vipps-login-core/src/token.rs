//! Random tokens and digests: the one generator of unguessable values (login ids,
//! nonces, session ids, CSRF tokens, authorization codes, access tokens) and the one
//! SHA-256 digest in base64url (store keys, PKCE `S256`, `at_hash`, token lookups).
//!
//! ```
//! use vipps_login_core::token::{random_token, sha256_b64url};
//!
//! let t = random_token();
//! assert_eq!(t.len(), 43);
//! assert_ne!(t, random_token());
//! // RFC 7636, appendix B: the S256 challenge of this verifier.
//! assert_eq!(
//!     sha256_b64url(b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
//!     "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
//! );
//! ```

use std::fmt;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

/// A fresh 256-bit random value, base64url without padding (43 characters).
///
/// The bytes come from the operating system's generator (through aws-lc-rs); should that
/// ever fail, from `rand`'s thread generator, a CSPRNG seeded by the operating system,
/// never from anything predictable.
#[must_use]
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        bytes = rand::rng().random();
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of `bytes`, base64url without padding (43 characters).
#[must_use]
pub fn sha256_b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(sha256(bytes))
}

/// SHA-256 of `bytes`, for a value built from part of the digest (OpenID's `at_hash`
/// is the left half); [`sha256_b64url`] is the whole digest as text.
#[must_use]
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// The `nonce` a login sends to Vipps: 256 random bits, base64url, compared in constant
/// time with the one an ID token brings back.
///
/// `Debug` prints `Nonce(***)`: a nonce is not a secret once used, but a pending one is
/// what binds a token to this login.
///
/// ```
/// use vipps_login_core::Nonce;
///
/// let nonce = Nonce::generate();
/// assert_eq!(nonce.as_str().len(), 43);
/// assert!(nonce.ct_eq(nonce.as_str()));
/// assert!(!nonce.ct_eq("someone else's"));
/// assert_eq!(format!("{nonce:?}"), "Nonce(***)");
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Nonce(String);

impl Nonce {
    /// A fresh nonce from [`random_token`].
    #[must_use]
    pub fn generate() -> Nonce {
        Nonce(random_token())
    }

    /// A nonce kept earlier (read back from a stored login).
    #[must_use]
    pub fn from_stored(value: impl Into<String>) -> Nonce {
        Nonce(value.into())
    }

    /// The nonce as sent on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` is this nonce, compared in constant time (an empty nonce matches
    /// nothing).
    #[must_use]
    pub fn ct_eq(&self, other: &str) -> bool {
        !self.0.is_empty() && bool::from(self.0.as_bytes().ct_eq(other.as_bytes()))
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nonce(***)")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn tokens_are_random_and_url_safe() {
        let seen: HashSet<String> = (0..256).map(|_| random_token()).collect();
        assert_eq!(seen.len(), 256);
        for t in &seen {
            assert_eq!(t.len(), 43);
            assert!(
                t.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
                "{t}"
            );
        }
    }

    #[test]
    fn digests_are_sha256_in_base64url() {
        // SHA-256 of the empty string, base64url.
        assert_eq!(
            sha256_b64url(b""),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        assert_ne!(sha256_b64url(b"a"), sha256_b64url(b"b"));
        assert!(!sha256_b64url(b"x").contains(['+', '/', '=']));
        assert_eq!(URL_SAFE_NO_PAD.encode(sha256(b"")), sha256_b64url(b""));
        assert_eq!(sha256(b"abc")[..4], [0xba, 0x78, 0x16, 0xbf]);
    }

    #[test]
    fn nonces_compare_only_equal_values() {
        let n = Nonce::generate();
        assert!(n.ct_eq(n.as_str()));
        assert!(!n.ct_eq(&n.as_str()[..42]));
        assert!(!n.ct_eq(""));
        assert!(!Nonce::generate().ct_eq(n.as_str()));
        assert!(!Nonce::from_stored("").ct_eq(""), "empty matches nothing");
        assert!(Nonce::from_stored("abc").ct_eq("abc"));
        assert!(!format!("{n:?}").contains(n.as_str()));
        let json = serde_json::to_string(&n).unwrap_or_default();
        assert_eq!(json, format!("\"{}\"", n.as_str()));
    }
}
