//! Parsers of this crate's vocabulary that answer with an [`Error`]: the conversions
//! sit here, beside the error, so that the typed values (`msisdn.rs`, `i18n/`) never
//! need to know the error type that wraps their problems.

use std::str::FromStr;

use super::Error;
use crate::i18n::Language;
use crate::msisdn::{Msisdn, PhoneProblem};

impl From<PhoneProblem> for Error {
    fn from(p: PhoneProblem) -> Error {
        Error::InvalidPhoneNumber(p)
    }
}

impl Msisdn {
    /// Parses a phone number; see the type documentation for the accepted forms.
    ///
    /// # Errors
    /// [`Error::InvalidPhoneNumber`] with the [`PhoneProblem`] ([`Msisdn::try_parse`]
    /// gives the problem alone).
    pub fn parse(input: &str) -> Result<Msisdn, Error> {
        Ok(Msisdn::try_parse(input)?)
    }
}

impl FromStr for Msisdn {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Msisdn::parse(s)
    }
}

impl FromStr for Language {
    type Err = Error;
    /// A language tag, as [`Language::from_tag`] reads it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Language::from_tag(s).ok_or_else(|| {
            Error::Config(format!(
                "language {s:?} is not offered; use nb, da, fi or en"
            ))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        Msisdn::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn phone_problems_read_as_the_error_sentence() {
        assert_eq!(
            err("kari"),
            "The phone number is not valid: it contains the letter \"k\"; a phone number has only digits."
        );
        assert!(err("").contains("empty"));
        assert!(matches!(
            "+47 123 45 678x".parse::<Msisdn>(),
            Err(Error::InvalidPhoneNumber(PhoneProblem::TrailingCharacters(
                _
            )))
        ));
        assert_eq!(
            "12345678".parse::<Msisdn>().map(|m| m.e164()),
            Ok("+4712345678".to_owned())
        );
    }

    #[test]
    fn languages_parse_from_their_tags() {
        assert_eq!("nb-NO".parse::<Language>(), Ok(Language::Nb));
        assert!(matches!(
            "sv".parse::<Language>(),
            Err(Error::Config(m)) if m.contains("nb, da, fi or en")
        ));
    }
}
