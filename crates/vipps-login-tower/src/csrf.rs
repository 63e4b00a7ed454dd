//! Random tokens and the synchronizer CSRF token check.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq as _;

/// A fresh 256-bit random token, URL-safe base64 (43 characters).
///
/// Used for session ids and CSRF tokens. Randomness comes from aws-lc-rs.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // aws-lc-rs' system RNG does not fail on supported platforms; if it ever did we
        // must not hand out a predictable token, so fall back to the cookie crate's RNG
        // (the `rand` thread RNG) through a freshly generated key.
        let key = cookie::Key::generate();
        bytes.copy_from_slice(&key.master()[..32]);
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares a submitted CSRF token with the session's, in constant time.
pub(crate) fn tokens_match(expected: &str, submitted: Option<&str>) -> bool {
    match submitted {
        Some(submitted) if !expected.is_empty() => {
            bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
        }
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_url_safe() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn compare() {
        let t = random_token();
        assert!(tokens_match(&t, Some(&t)));
        assert!(!tokens_match(&t, Some("nope")));
        assert!(!tokens_match(&t, None));
        assert!(!tokens_match("", Some("")));
    }
}
