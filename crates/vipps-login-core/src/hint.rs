//! [`LoginHint`], who to log in, and the one parser of a `login_hint` as text.

use std::fmt;
use std::str::FromStr;

use crate::msisdn::{Msisdn, PhoneProblem};
use crate::{Error, Secret};

/// The longest phone-number hint looked at (an E.164 number has at most 15 digits; the
/// rest is room for a prefix and spaces).
const MAX_PHONE_HINT_LEN: usize = 64;
/// The longest customer token.
const MAX_CUSTOMER_TOKEN_LEN: usize = 512;

/// Who to log in: a phone number, or a customer token from a QR check-in.
///
/// As text (`FromStr`, [`LoginHint::parse_hint`]):
///
/// | form | meaning |
/// |---|---|
/// | `+4712345678`, `+47 123 45 678` | E.164, spaces between digits tolerated |
/// | `urn:msisdn:4712345678` | Vipps' own form (prefix in any case) |
/// | `4712345678`, `004712345678`, `12345678` | digits; 8 without a country code are Norwegian |
/// | `urn:customer-token:TOKEN` | a customer token (prefix in any case) |
///
/// ```
/// use vipps_login_core::LoginHint;
///
/// let h: LoginHint = "urn:msisdn:4712345678".parse()?;
/// assert!(matches!(&h, LoginHint::Msisdn(m) if m.as_str() == "4712345678"));
/// let h: LoginHint = "+47 123 45 678".parse()?;
/// assert_eq!(h.masked(), "47******78");
/// assert!(matches!("12345678".parse()?, LoginHint::Msisdn(_)));
/// assert!(matches!("URN:customer-token:tok-1".parse()?, LoginHint::CustomerToken(_)));
/// assert!("kari@example.com".parse::<LoginHint>().is_err());
/// # Ok::<(), vipps_login_core::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum LoginHint {
    /// `urn:msisdn:{digits}`.
    Msisdn(Msisdn),
    /// `urn:customer-token:{token}`; the token is kept secret.
    CustomerToken(Secret),
}

/// What is wrong with a `login_hint` given as text.
///
/// `Display` is a sentence part in English (no capital, no full stop); as an [`Error`]
/// it becomes [`Error::InvalidPhoneNumber`] for [`HintProblem::Phone`] and
/// [`Error::InvalidInput`] for the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HintProblem {
    /// Nothing but spaces.
    #[error("it is empty")]
    Empty,
    /// Longer than any phone number could be written.
    #[error("it is too long")]
    TooLong,
    /// Neither a phone number nor a customer token.
    #[error(
        "expected a phone number as +4712345678, 4712345678 or urn:msisdn:4712345678, or urn:customer-token:TOKEN"
    )]
    UnknownForm,
    /// Something other than digits (and spaces) after `+` or `urn:msisdn:`.
    #[error("the phone number must contain only digits after the prefix")]
    NotDigits,
    /// Digits without a country code where one is required
    /// ([`LoginHint::parse_international`]).
    #[error("the phone number needs its country code, e.g. +47 for Norway")]
    NoCountryCode,
    /// The digits are not a phone number Vipps serves.
    #[error("{0}")]
    Phone(PhoneProblem),
    /// A customer token of no characters or more than 512.
    #[error("the customer token must be 1 to 512 characters")]
    CustomerTokenLength,
    /// A customer token with a character outside `A-Z a-z 0-9 - . _ ~ : + / =`.
    #[error("the customer token contains characters that are not allowed")]
    CustomerTokenCharacters,
}

impl From<HintProblem> for Error {
    fn from(p: HintProblem) -> Error {
        match p {
            HintProblem::Phone(p) => Error::InvalidPhoneNumber(p),
            other => Error::InvalidInput(other.to_string()),
        }
    }
}

impl LoginHint {
    /// A customer token hint, validated (1–512 URL-safe characters).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] saying what is wrong.
    pub fn customer_token(token: impl Into<String>) -> Result<LoginHint, Error> {
        Ok(LoginHint::checked_customer_token(token.into())?)
    }

    fn checked_customer_token(token: String) -> Result<LoginHint, HintProblem> {
        if token.is_empty() || token.len() > MAX_CUSTOMER_TOKEN_LEN {
            return Err(HintProblem::CustomerTokenLength);
        }
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:+/=".contains(&b))
        {
            return Err(HintProblem::CustomerTokenCharacters);
        }
        Ok(LoginHint::CustomerToken(Secret::new(token)))
    }

    /// Parses a `login_hint` in any of the forms in the type's table.
    ///
    /// # Errors
    /// The [`HintProblem`].
    pub fn parse_hint(input: &str) -> Result<LoginHint, HintProblem> {
        parse(input, CountryCode::Optional)
    }

    /// Like [`parse_hint`](Self::parse_hint), but digits without `+`, `00` or
    /// `urn:msisdn:` must begin with their country code: a bare national number is
    /// refused ([`HintProblem::NoCountryCode`]), for a service that cannot guess a
    /// country (an identity provider serving several).
    ///
    /// ```
    /// use vipps_login_core::{HintProblem, LoginHint};
    /// assert!(LoginHint::parse_international("4712345678").is_ok());
    /// assert_eq!(
    ///     LoginHint::parse_international("12345678").err(),
    ///     Some(HintProblem::NoCountryCode)
    /// );
    /// ```
    ///
    /// # Errors
    /// The [`HintProblem`].
    pub fn parse_international(input: &str) -> Result<LoginHint, HintProblem> {
        parse(input, CountryCode::Required)
    }

    pub(crate) fn to_wire(&self) -> String {
        match self {
            LoginHint::Msisdn(m) => format!("urn:msisdn:{}", m.as_str()),
            LoginHint::CustomerToken(t) => format!("urn:customer-token:{}", t.expose()),
        }
    }

    /// A form safe for logs (masked number, or `customer-token`).
    #[must_use]
    pub fn masked(&self) -> String {
        match self {
            LoginHint::Msisdn(m) => m.masked(),
            LoginHint::CustomerToken(_) => "customer-token".to_owned(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CountryCode {
    Optional,
    Required,
}

fn parse(input: &str, country_code: CountryCode) -> Result<LoginHint, HintProblem> {
    let hint = input.trim();
    if hint.is_empty() {
        return Err(HintProblem::Empty);
    }
    if let Some(token) = strip_prefix_ci(hint, "urn:customer-token:") {
        return LoginHint::checked_customer_token(token.to_owned());
    }
    if hint.len() > MAX_PHONE_HINT_LEN {
        return Err(HintProblem::TooLong);
    }
    let (number, international) = if let Some(rest) = strip_prefix_ci(hint, "urn:msisdn:") {
        (rest, true)
    } else if let Some(rest) = hint.strip_prefix('+') {
        (rest, true)
    } else if hint.bytes().all(|b| b.is_ascii_digit() || b == b' ') {
        (hint, false)
    } else {
        return Err(HintProblem::UnknownForm);
    };
    // Spaces are how people group digits; anything else after a prefix is not a number.
    let digits: String = number.chars().filter(|c| *c != ' ').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HintProblem::NotDigits);
    }
    let parsed = if international {
        Msisdn::try_parse(&format!("+{digits}"))
    } else {
        // A national number is at most 8 digits here (Norway and Denmark; Finland's need
        // +358 anyway), so 8 or fewer digits cannot hold a country code as well.
        if country_code == CountryCode::Required && digits.len() <= 8 {
            return Err(HintProblem::NoCountryCode);
        }
        Msisdn::try_parse(&digits)
    };
    parsed.map(LoginHint::Msisdn).map_err(HintProblem::Phone)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

impl FromStr for LoginHint {
    type Err = Error;
    /// [`LoginHint::parse_hint`], its problem as an [`Error`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(LoginHint::parse_hint(s)?)
    }
}

impl From<Msisdn> for LoginHint {
    fn from(m: Msisdn) -> Self {
        LoginHint::Msisdn(m)
    }
}

impl fmt::Display for LoginHint {
    /// The masked form, as [`LoginHint::masked`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn number(h: &str) -> String {
        match LoginHint::parse_hint(h) {
            Ok(LoginHint::Msisdn(m)) => m.as_str().to_owned(),
            other => panic!("{h}: {other:?}"),
        }
    }

    #[test]
    fn every_phone_form() {
        for h in [
            "+4712345678",
            "+47 123 45 678",
            "4712345678",
            "004712345678",
            "12345678",
            "47 12 34 56 78",
            "urn:msisdn:4712345678",
            "URN:MSISDN:4712345678",
            "urn:msisdn:47 123 45 678",
            " +4712345678 ",
        ] {
            assert_eq!(number(h), "4712345678", "{h}");
        }
        assert_eq!(number("+4587654321"), "4587654321");
        assert_eq!(number("urn:msisdn:358401234567"), "358401234567");
    }

    #[test]
    fn customer_tokens() {
        let h = LoginHint::parse_hint("urn:customer-token:tok-123").unwrap();
        assert_eq!(h.to_wire(), "urn:customer-token:tok-123");
        assert!(!format!("{h:?}").contains("tok-123"));
        assert!(matches!(
            LoginHint::parse_hint("Urn:Customer-Token:abc"),
            Ok(LoginHint::CustomerToken(_))
        ));
        assert_eq!(
            LoginHint::parse_hint("urn:customer-token:").err(),
            Some(HintProblem::CustomerTokenLength)
        );
        assert_eq!(
            LoginHint::parse_hint("urn:customer-token:a b").err(),
            Some(HintProblem::CustomerTokenCharacters)
        );
        let long = format!("urn:customer-token:{}", "t".repeat(512));
        assert!(LoginHint::parse_hint(&long).is_ok(), "512 is allowed");
        assert!(LoginHint::parse_hint(&(long + "t")).is_err());
    }

    #[test]
    fn refusals_say_why() {
        let p = |h: &str| LoginHint::parse_hint(h).err();
        assert_eq!(p(""), Some(HintProblem::Empty));
        assert_eq!(p("   "), Some(HintProblem::Empty));
        assert_eq!(p("kari@example.com"), Some(HintProblem::UnknownForm));
        assert_eq!(
            p("urn:mobilenumber:4712345678"),
            Some(HintProblem::UnknownForm)
        );
        assert_eq!(p("urn:msisdn:+4712345678"), Some(HintProblem::NotDigits));
        assert_eq!(p("+47-123"), Some(HintProblem::NotDigits));
        assert_eq!(p("urn:msisdn:"), Some(HintProblem::NotDigits));
        assert_eq!(
            p("+4412345678"),
            Some(HintProblem::Phone(PhoneProblem::UnknownCountryCode))
        );
        assert!(matches!(
            p("+47123"),
            Some(HintProblem::Phone(PhoneProblem::WrongLength { got: 3, .. }))
        ));
        assert_eq!(p(&"1".repeat(65)), Some(HintProblem::TooLong));
    }

    #[test]
    fn international_needs_a_country_code() {
        assert_eq!(
            LoginHint::parse_international("12345678").err(),
            Some(HintProblem::NoCountryCode)
        );
        assert_eq!(
            LoginHint::parse_international("1234").err(),
            Some(HintProblem::NoCountryCode)
        );
        assert!(LoginHint::parse_international("+4712345678").is_ok());
        assert!(LoginHint::parse_international("urn:msisdn:4712345678").is_ok());
        assert!(LoginHint::parse_international("4712345678").is_ok());
    }

    #[test]
    fn problems_become_errors() {
        assert!(matches!(
            "+4412345678".parse::<LoginHint>(),
            Err(Error::InvalidPhoneNumber(PhoneProblem::UnknownCountryCode))
        ));
        assert!(matches!(
            "x".parse::<LoginHint>(),
            Err(Error::InvalidInput(m)) if m.starts_with("expected a phone number")
        ));
        assert!(LoginHint::customer_token("").is_err());
        assert!(LoginHint::customer_token("abc def").is_err());
    }
}
