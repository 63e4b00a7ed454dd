//! [`Msisdn`], the phone number a login is started for, and [`PhoneProblem`], what is
//! wrong with a number that was typed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::i18n::Language;

/// A phone number in Vipps' `msisdn` form: country code and number, digits only.
///
/// Accepted: `+47 123 45 678`, `0047 12345678`, `4712345678`, `12345678` (8 digits without
/// a prefix are Norwegian), Danish `+45` + 8 digits and Finnish `+358` + 5–10 digits.
/// Spaces, dashes, dots and parentheses between digits are ignored; anything else (a
/// letter, a character after the number) is refused with a [`PhoneProblem`] that says
/// what is wrong.
///
/// `Debug` and `Display` print the masked form (`47******78`); use [`Msisdn::as_str`] where
/// the full number is needed.
///
/// ```
/// use vipps_login_core::{Error, Msisdn, PhoneProblem};
/// let m: Msisdn = "+47 123 45 678".parse()?;
/// assert_eq!(m.as_str(), "4712345678");
/// assert_eq!(m.masked(), "47******78");
/// assert_eq!("12345678".parse::<Msisdn>()?, m);
/// assert!(matches!(
///     "+47 123 45 678x".parse::<Msisdn>(),
///     Err(Error::InvalidPhoneNumber(PhoneProblem::TrailingCharacters(_)))
/// ));
/// # Ok::<(), vipps_login_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Msisdn {
    digits: String,
    country_len: u8,
}

/// The countries whose numbers Vipps/MobilePay login accepts.
const COUNTRIES: &[(&str, u16, u8, u8)] = &[
    // (code, code as number, min national digits, max national digits)
    ("47", 47, 8, 8),
    ("45", 45, 8, 8),
    ("358", 358, 5, 10),
];

/// What is wrong with a phone number that was typed, precisely enough to tell the person
/// who typed it. `Display` is the English description (as in
/// [`Error::InvalidPhoneNumber`](crate::Error::InvalidPhoneNumber)); [`PhoneProblem::describe`] gives it in another language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PhoneProblem {
    /// Nothing was typed.
    Empty,
    /// A letter among the digits (the first one found).
    Letters(char),
    /// A character that is neither a digit nor a separator (the first one found).
    InvalidCharacter(char),
    /// A complete number followed by something that is not part of it (up to 12
    /// characters of it).
    TrailingCharacters(String),
    /// A `+` that is not the first character.
    MisplacedPlus,
    /// The number has the wrong count of digits for its country.
    WrongLength {
        /// The country code, e.g. 47.
        country_code: u16,
        /// The fewest national digits the country has.
        min: u8,
        /// The most national digits the country has.
        max: u8,
        /// The national digits typed.
        got: usize,
    },
    /// An international number from a country Vipps/MobilePay login does not serve.
    UnknownCountryCode,
    /// Digits without a country code that are not 8 (a Norwegian number).
    NoCountryCode {
        /// The digits typed.
        got: usize,
    },
}

impl PhoneProblem {
    /// The problem described in `lang`, e.g. `it contains the letter "a"; a phone number
    /// has only digits` (a sentence part, no capital, no full stop).
    #[must_use]
    pub fn describe(&self, lang: Language) -> String {
        let t = |key: &str| lang.message(key);
        match self {
            PhoneProblem::Empty => t("phone.empty").to_owned(),
            PhoneProblem::Letters(c) => lang.fill("phone.letters", &[("char", &c.to_string())]),
            PhoneProblem::InvalidCharacter(c) => {
                lang.fill("phone.character", &[("char", &c.to_string())])
            }
            PhoneProblem::TrailingCharacters(rest) => {
                lang.fill("phone.trailing", &[("rest", rest)])
            }
            PhoneProblem::MisplacedPlus => t("phone.plus").to_owned(),
            PhoneProblem::WrongLength {
                country_code,
                min,
                max,
                got,
            } => {
                let expected = if min == max {
                    min.to_string()
                } else {
                    lang.fill(
                        "phone.range",
                        &[("min", &min.to_string()), ("max", &max.to_string())],
                    )
                };
                let country = match country_code {
                    47 => t("phone.country.47"),
                    45 => t("phone.country.45"),
                    _ => t("phone.country.358"),
                };
                lang.fill(
                    "phone.length",
                    &[
                        ("country", country),
                        ("expected", &expected),
                        ("code", &country_code.to_string()),
                        ("got", &got.to_string()),
                    ],
                )
            }
            PhoneProblem::UnknownCountryCode => t("phone.unknown_country").to_owned(),
            PhoneProblem::NoCountryCode { got } => {
                lang.fill("phone.no_country_code", &[("got", &got.to_string())])
            }
        }
    }
}

impl fmt::Display for PhoneProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(Language::En))
    }
}

/// The digits of `input` as far as they go, or the problem; `Ok` also for an incomplete
/// number (the country and length are checked by [`Msisdn::from_digits`]).
fn scan(input: &str) -> Result<(String, bool), PhoneProblem> {
    let mut international = false;
    let mut digits = String::with_capacity(input.len());
    for (i, c) in input.char_indices() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            '+' if digits.is_empty() && !international => international = true,
            other => {
                // A whole number before it: the rest is trailing garbage.
                let before = &input[..i];
                if !digits.is_empty()
                    && other != '+'
                    && scan(before)
                        .and_then(|(d, intl)| Msisdn::from_digits(d, intl))
                        .is_ok()
                {
                    let rest: String = input[i..].trim_end().chars().take(12).collect();
                    return Err(PhoneProblem::TrailingCharacters(rest));
                }
                return Err(match other {
                    '+' => PhoneProblem::MisplacedPlus,
                    c if c.is_alphabetic() => PhoneProblem::Letters(c),
                    c => PhoneProblem::InvalidCharacter(c),
                });
            }
        }
    }
    Ok((digits, international))
}

impl Msisdn {
    /// Parses a phone number, as [`Msisdn::parse`] does, with the [`PhoneProblem`] alone
    /// as the error.
    ///
    /// ```
    /// use vipps_login_core::{Msisdn, PhoneProblem};
    /// assert_eq!(Msisdn::try_parse("0047 12345678")?.as_str(), "4712345678");
    /// assert_eq!(Msisdn::try_parse(" "), Err(PhoneProblem::Empty));
    /// # Ok::<(), PhoneProblem>(())
    /// ```
    ///
    /// # Errors
    /// The [`PhoneProblem`].
    pub fn try_parse(input: &str) -> Result<Msisdn, PhoneProblem> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneProblem::Empty);
        }
        scan(trimmed).and_then(|(digits, international)| Msisdn::from_digits(digits, international))
    }

    fn from_digits(mut digits: String, international: bool) -> Result<Msisdn, PhoneProblem> {
        if digits.is_empty() {
            return Err(PhoneProblem::Empty);
        }
        let international = if !international && digits.starts_with("00") {
            digits.drain(..2);
            true
        } else {
            international
        };
        if !international && digits.len() == 8 {
            // A bare 8-digit number is Norwegian.
            digits.insert_str(0, "47");
            return Ok(Msisdn {
                digits,
                country_len: 2,
            });
        }
        for (code, number, min, max) in COUNTRIES {
            if let Some(national) = digits.strip_prefix(code) {
                let n = national.len();
                if n < usize::from(*min) || n > usize::from(*max) {
                    return Err(PhoneProblem::WrongLength {
                        country_code: *number,
                        min: *min,
                        max: *max,
                        got: n,
                    });
                }
                return Ok(Msisdn {
                    country_len: code.len() as u8,
                    digits,
                });
            }
        }
        if international {
            Err(PhoneProblem::UnknownCountryCode)
        } else {
            Err(PhoneProblem::NoCountryCode { got: digits.len() })
        }
    }

    /// The digits with country code, no `+`, e.g. `4712345678`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.digits
    }

    /// The country code, e.g. `47`.
    #[must_use]
    pub fn country_code(&self) -> &str {
        &self.digits[..usize::from(self.country_len)]
    }

    /// The number for logs: country code and the last two digits, e.g. `47******78`.
    #[must_use]
    pub fn masked(&self) -> String {
        mask_digits(&self.digits, usize::from(self.country_len))
    }

    /// The E.164 form, e.g. `+4712345678`.
    #[must_use]
    pub fn e164(&self) -> String {
        format!("+{}", self.digits)
    }
}

pub(crate) fn mask_digits(digits: &str, keep_front: usize) -> String {
    let n = digits.len();
    if n <= keep_front + 2 {
        return "*".repeat(n);
    }
    let mut s = String::with_capacity(n);
    s.push_str(&digits[..keep_front]);
    s.extend(std::iter::repeat_n('*', n - keep_front - 2));
    s.push_str(&digits[n - 2..]);
    s
}

impl fmt::Debug for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Msisdn({})", self.masked())
    }
}

impl fmt::Display for Msisdn {
    /// Masked; see [`Msisdn::as_str`] for the full number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        Msisdn::try_parse(s).unwrap().as_str().to_owned()
    }
    /// The problem's English description (the error's sentence is tested with the
    /// error, in `error/parse.rs`).
    fn err(s: &str) -> String {
        Msisdn::try_parse(s).unwrap_err().to_string()
    }
    fn problem(s: &str) -> PhoneProblem {
        match Msisdn::try_parse(s) {
            Err(p) => p,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn msisdn_forms() {
        assert_eq!(ok("+47 123 45 678"), "4712345678");
        assert_eq!(ok("0047 12345678"), "4712345678");
        assert_eq!(ok("004712345678"), "4712345678");
        assert_eq!(ok("4712345678"), "4712345678");
        assert_eq!(ok("12345678"), "4712345678");
        assert_eq!(ok("123 45 678"), "4712345678");
        assert_eq!(ok("+45 87 65 43 21"), "4587654321");
        assert_eq!(ok("4587654321"), "4587654321");
        assert_eq!(ok("+358 40 123 4567"), "358401234567");
        assert_eq!(ok("358401234567"), "358401234567");
        assert_eq!(ok("+358 12345"), "35812345");
        assert_eq!(ok("(+47) 123-45-678"), "+4712345678"[1..].to_owned());
        assert_eq!(ok(" +47 123 45 678 "), "4712345678");
    }

    #[test]
    fn msisdn_errors_say_what_is_wrong() {
        assert!(err("").contains("empty"));
        assert!(
            err("+47 1234 567").contains("Norwegian number has 8 digits after +47, this one has 7")
        );
        assert!(err("+46 70 123 45 67").contains("country code is not supported"));
        assert!(err("1234567").contains("7 digits without a country code"));
        assert!(err("+358 1234").contains("Finnish number has 5 to 10 digits"));
        assert!(err("+45 1234567").contains("Danish"));
        assert!(err("+47+123").contains("'+'"));
    }

    #[test]
    fn letters_are_named_not_dropped() {
        assert_eq!(problem("abc"), PhoneProblem::Letters('a'));
        assert_eq!(problem("4712a45678"), PhoneProblem::Letters('a'));
        assert_eq!(
            err("kari"),
            "it contains the letter \"k\"; a phone number has only digits"
        );
        assert_eq!(problem("47#12345678"), PhoneProblem::InvalidCharacter('#'));
        assert!(!err("abc").contains("empty"));
    }

    #[test]
    fn trailing_characters_are_refused() {
        assert_eq!(
            problem("+47 123 45 678x"),
            PhoneProblem::TrailingCharacters("x".into())
        );
        assert_eq!(
            problem("12345678 ext 12"),
            PhoneProblem::TrailingCharacters("ext 12".into())
        );
        assert!(err("+47 123 45 678x").contains("\"x\" after the number"));
        let long = format!("+4712345678{}", "z".repeat(100));
        assert!(matches!(problem(&long), PhoneProblem::TrailingCharacters(r) if r.len() == 12));
    }

    #[test]
    fn problems_in_every_language() {
        let p = PhoneProblem::WrongLength {
            country_code: 47,
            min: 8,
            max: 8,
            got: 7,
        };
        assert_eq!(
            p.describe(Language::Nb),
            "et norsk nummer har 8 sifre etter +47, dette har 7"
        );
        assert_eq!(
            p.describe(Language::Da),
            "et norsk nummer har 8 cifre efter +47, dette har 7"
        );
        assert!(
            p.describe(Language::Fi)
                .starts_with("norjalaisessa numerossa")
        );
        assert!(
            PhoneProblem::Letters('x')
                .describe(Language::Nb)
                .contains("bokstaven «x»")
        );
    }

    #[test]
    fn msisdn_masked() {
        let m = Msisdn::try_parse("4712345678").unwrap();
        assert_eq!(m.masked(), "47******78");
        assert_eq!(format!("{m:?}"), "Msisdn(47******78)");
        assert_eq!(format!("{m}"), "47******78");
        assert_eq!(
            Msisdn::try_parse("358401234567").unwrap().masked(),
            "358*******67"
        );
        assert_eq!(m.country_code(), "47");
    }
}
