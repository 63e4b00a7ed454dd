//! The synchronizer CSRF token check (the tokens are core's
//! [`random_token`](vipps_login_core::token::random_token)s).

use subtle::ConstantTimeEq as _;

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
    use vipps_login_core::token::random_token;

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
