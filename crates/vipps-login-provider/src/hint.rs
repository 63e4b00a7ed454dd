//! `login_hint` parsing: which customer a relying party asks to log in.

use vipps_login_core::Msisdn;

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
    let hint = hint.trim();
    if hint.is_empty() {
        return Err(LoginError::InvalidHint("it is empty".into()));
    }
    if hint.len() > 64 {
        return Err(LoginError::InvalidHint("it is too long".into()));
    }
    let (number, international) = if let Some(rest) = strip_prefix_ci(hint, "urn:msisdn:") {
        (rest, true)
    } else if let Some(rest) = hint.strip_prefix('+') {
        (rest, true)
    } else if hint.bytes().all(|b| b.is_ascii_digit() || b == b' ') {
        (hint, false)
    } else {
        return Err(LoginError::InvalidHint(
            "expected a phone number as +4712345678, 4712345678 or urn:msisdn:4712345678".into(),
        ));
    };
    let digits: String = number.chars().filter(|c| *c != ' ').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LoginError::InvalidHint(
            "the phone number must contain only digits after the prefix".into(),
        ));
    }
    if !international && digits.len() <= 8 {
        return Err(LoginError::InvalidHint(
            "the phone number needs its country code, e.g. +47 for Norway".into(),
        ));
    }
    Msisdn::parse(&format!("+{digits}")).map_err(|e| LoginError::InvalidHint(inner_reason(&e)))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Core's sentence without its own wrapping, e.g. "a Norwegian number has 8 digits ...".
fn inner_reason(e: &vipps_login_core::Error) -> String {
    match e {
        vipps_login_core::Error::InvalidPhoneNumber(why) => why.to_string(),
        other => other.to_string(),
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
    }
}
