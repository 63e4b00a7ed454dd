//! `login_hint` parsing: which customer a relying party asks to log in, through core's
//! one parser ([`LoginHint::parse_international`]).

use vipps_login_core::{HintProblem, LoginHint, Msisdn};

use crate::LoginError;

/// Parses a CIBA `login_hint` into a phone number.
///
/// Accepted: E.164 (`+4712345678`), digits with the country code (`4712345678`), and
/// `urn:msisdn:4712345678` (the form Vipps itself uses). Spaces are tolerated between
/// digits. A bare national number without a country code is refused, since a relying
/// party serving several countries cannot be guessed for.
///
/// ```
/// use vipps_login_provider::parse_login_hint;
/// assert_eq!(parse_login_hint("+4712345678")?.as_str(), "4712345678");
/// assert_eq!(parse_login_hint("urn:msisdn:4712345678")?.as_str(), "4712345678");
/// assert_eq!(parse_login_hint("4712345678")?.as_str(), "4712345678");
/// assert!(parse_login_hint("kari@example.com").is_err());
/// assert!(parse_login_hint("12345678").is_err());
/// # Ok::<(), vipps_login_provider::LoginError>(())
/// ```
pub fn parse_login_hint(hint: &str) -> Result<Msisdn, LoginError> {
    match LoginHint::parse_international(hint) {
        Ok(LoginHint::Msisdn(m)) => Ok(m),
        // A customer token is Vipps' own, not a relying party's: only numbers come here.
        Ok(_)
        | Err(
            HintProblem::UnknownForm
            | HintProblem::CustomerTokenLength
            | HintProblem::CustomerTokenCharacters,
        ) => Err(LoginError::InvalidHint(
            "expected a phone number as +4712345678, 4712345678 or urn:msisdn:4712345678".into(),
        )),
        Err(problem) => Err(LoginError::InvalidHint(problem.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn accepted_forms() {
        for h in [
            "+4712345678",
            "+47 123 45 678",
            "4712345678",
            "urn:msisdn:4712345678",
            "URN:MSISDN:4712345678",
            " +4712345678 ",
        ] {
            assert_eq!(parse_login_hint(h).unwrap().as_str(), "4712345678", "{h}");
        }
        assert_eq!(
            parse_login_hint("+4587654321").unwrap().as_str(),
            "4587654321"
        );
        assert_eq!(
            parse_login_hint("urn:msisdn:358401234567")
                .unwrap()
                .as_str(),
            "358401234567"
        );
    }

    #[test]
    fn refused_forms_say_why() {
        for (h, needle) in [
            ("", "empty"),
            ("kari@example.com", "expected a phone number"),
            ("12345678", "country code"),
            ("+4412345678", "country code is not supported"),
            ("+47123", "8 digits"),
            ("urn:msisdn:+4712345678", "only digits"),
            ("urn:mobilenumber:4712345678", "expected a phone number"),
            ("+47-123", "only digits"),
        ] {
            let e = parse_login_hint(h).unwrap_err();
            assert!(
                matches!(&e, LoginError::InvalidHint(why) if why.contains(needle)),
                "{h}: {e}"
            );
        }
        let long = "+47".to_owned() + &"1".repeat(80);
        assert!(parse_login_hint(&long).is_err());
        for token in ["urn:customer-token:abc", "urn:customer-token:"] {
            let e = parse_login_hint(token).unwrap_err();
            assert!(
                matches!(&e, LoginError::InvalidHint(why) if why.contains("expected a phone number")),
                "{token}: {e}"
            );
        }
    }
}
