//! Typed inputs and outputs: phone numbers, binding messages, scopes, login ids and states.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::{Error, Secret};

// ---------------------------------------------------------------------------------------
// Msisdn

/// A phone number in Vipps' `msisdn` form: country code and number, digits only.
///
/// Accepted: `+47 123 45 678`, `0047 12345678`, `4712345678`, `12345678` (8 digits without
/// a prefix are Norwegian), Danish `+45` + 8 digits and Finnish `+358` + 5–10 digits.
/// Spaces, dashes, dots and parentheses between digits are ignored.
///
/// `Debug` and `Display` print the masked form (`47******78`); use [`Msisdn::as_str`] where
/// the full number is needed.
///
/// ```
/// use vipps_login_core::Msisdn;
/// let m: Msisdn = "+47 123 45 678".parse()?;
/// assert_eq!(m.as_str(), "4712345678");
/// assert_eq!(m.masked(), "47******78");
/// assert_eq!("12345678".parse::<Msisdn>()?, m);
/// # Ok::<(), vipps_login_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Msisdn {
    digits: String,
    country_len: u8,
}

/// The countries whose numbers Vipps/MobilePay login accepts.
const COUNTRIES: &[(&str, &str, usize, usize)] = &[
    // (code, name, min national digits, max national digits)
    ("47", "Norwegian", 8, 8),
    ("45", "Danish", 8, 8),
    ("358", "Finnish", 5, 10),
];

impl Msisdn {
    /// Parses a phone number; see the type documentation for the accepted forms.
    pub fn parse(input: &str) -> Result<Msisdn, Error> {
        let bad = |why: String| Error::InvalidPhoneNumber(why);
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(bad("it is empty".into()));
        }
        let mut international = false;
        let mut digits = String::with_capacity(trimmed.len());
        for c in trimmed.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                '+' if digits.is_empty() && !international => international = true,
                '+' => return Err(bad("a '+' may only come first".into())),
                other => {
                    return Err(bad(format!("it contains {other:?}, which is not a digit")));
                }
            }
        }
        if digits.is_empty() {
            return Err(bad("it has no digits".into()));
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
        for (code, name, min, max) in COUNTRIES {
            if let Some(national) = digits.strip_prefix(code) {
                let n = national.len();
                if n < *min || n > *max {
                    let expected = if min == max {
                        format!("{min} digits")
                    } else {
                        format!("{min} to {max} digits")
                    };
                    return Err(bad(format!(
                        "a {name} number has {expected} after +{code}, this one has {n}"
                    )));
                }
                return Ok(Msisdn {
                    country_len: code.len() as u8,
                    digits,
                });
            }
        }
        if international {
            Err(bad(
                "the country code is not supported; use a Norwegian (+47), Danish (+45) or Finnish (+358) number"
                    .into(),
            ))
        } else {
            Err(bad(format!(
                "{} digits without a country code; give 8 digits for a Norwegian number, or start with +47, +45 or +358",
                digits.len()
            )))
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

impl FromStr for Msisdn {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Msisdn::parse(s)
    }
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

// ---------------------------------------------------------------------------------------
// BindingMessage

/// Readable characters for generated codes: no `0`/`O`, `1`/`I`/`L`, `5`/`S`, `8`/`B`.
const READABLE: &[u8] = b"234679ACDEFGHJKMNPQRTUVWXYZ";

/// A short confirmation code shown on the merchant's screen and in the app,
/// matching `^[A-Z0-9\-]{5,8}$`.
///
/// ```
/// use vipps_login_core::BindingMessage;
/// let code: BindingMessage = "4MZ-CQ3".parse()?;
/// assert_eq!(code.as_str(), "4MZ-CQ3");
/// assert!("abc".parse::<BindingMessage>().is_err());
/// let fresh = BindingMessage::generate(); // e.g. "4MZ-CQ3"
/// assert_eq!(fresh.as_str().len(), 7);
/// # Ok::<(), vipps_login_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BindingMessage(String);

impl BindingMessage {
    /// Parses and validates a binding message.
    pub fn parse(input: &str) -> Result<BindingMessage, Error> {
        let n = input.chars().count();
        if !(5..=8).contains(&n) {
            return Err(Error::InvalidBindingMessage(format!(
                "it must be 5 to 8 characters long, this one has {n}"
            )));
        }
        if let Some(c) = input
            .chars()
            .find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(Error::InvalidBindingMessage(format!(
                "{c:?} is not allowed; use capital letters A-Z, digits and '-'"
            )));
        }
        Ok(BindingMessage(input.to_owned()))
    }

    /// A fresh random code like `4MZ-CQ3`: two groups of three characters from an alphabet
    /// without look-alikes (about 28 bits of entropy), from a cryptographically secure RNG.
    #[must_use]
    pub fn generate() -> BindingMessage {
        let mut rng = rand::rng();
        let mut s = String::with_capacity(7);
        for i in 0..6 {
            if i == 3 {
                s.push('-');
            }
            let idx = rng.random_range(0..READABLE.len());
            s.push(char::from(READABLE[idx]));
        }
        BindingMessage(s)
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BindingMessage {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BindingMessage::parse(s)
    }
}

impl TryFrom<String> for BindingMessage {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        BindingMessage::parse(&s)
    }
}

impl From<BindingMessage> for String {
    fn from(b: BindingMessage) -> String {
        b.0
    }
}

impl fmt::Display for BindingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BindingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BindingMessage({})", self.0)
    }
}

// ---------------------------------------------------------------------------------------
// Scopes

/// One piece of information a login may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Scope {
    /// `openid` (always included).
    OpenId,
    /// `name`: `name`, `given_name`, `family_name`.
    Name,
    /// `address`.
    Address,
    /// `birthDate`.
    BirthDate,
    /// `email`: `email`, `email_verified`.
    Email,
    /// `phoneNumber`.
    PhoneNumber,
    /// `nin`: national identity number.
    Nin,
    /// `delegatedConsents`.
    DelegatedConsents,
}

impl Scope {
    /// Every known scope.
    pub const ALL: [Scope; 8] = [
        Scope::OpenId,
        Scope::Name,
        Scope::Address,
        Scope::BirthDate,
        Scope::Email,
        Scope::PhoneNumber,
        Scope::Nin,
        Scope::DelegatedConsents,
    ];

    /// The wire name, e.g. `phoneNumber`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::OpenId => "openid",
            Scope::Name => "name",
            Scope::Address => "address",
            Scope::BirthDate => "birthDate",
            Scope::Email => "email",
            Scope::PhoneNumber => "phoneNumber",
            Scope::Nin => "nin",
            Scope::DelegatedConsents => "delegatedConsents",
        }
    }
}

impl FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "nnin" {
            return Err(Error::InvalidScope(
                "the legacy scope nnin is not supported; ask for nin instead".into(),
            ));
        }
        Scope::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Scope::ALL.iter().map(|k| k.as_str()).collect();
                Error::InvalidScope(format!(
                    "{s:?} is not a known scope (known: {})",
                    known.join(", ")
                ))
            })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of scopes of a login; always contains `openid`.
///
/// ```
/// use vipps_login_core::{Scope, Scopes};
/// let s: Scopes = "name phoneNumber".parse()?;
/// assert_eq!(s.to_string(), "openid name phoneNumber");
/// assert!(s.contains(Scope::Name));
/// assert!("openid nnin".parse::<Scopes>().is_err());
/// # Ok::<(), vipps_login_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Only `openid`.
    #[must_use]
    pub fn openid() -> Scopes {
        Scopes(vec![Scope::OpenId])
    }

    /// Adds a scope (no effect if present).
    #[must_use]
    pub fn with(mut self, scope: Scope) -> Scopes {
        if !self.0.contains(&scope) {
            self.0.push(scope);
            self.0.sort();
        }
        self
    }

    /// Whether the set contains `scope`.
    #[must_use]
    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// The scopes, `openid` first.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl Default for Scopes {
    fn default() -> Self {
        Scopes::openid()
    }
}

impl FromStr for Scopes {
    type Err = Error;
    /// Space- (or comma-) separated scope names; `openid` is added when missing.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut scopes = Scopes::openid();
        for name in s
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|p| !p.is_empty())
        {
            scopes = scopes.with(name.parse()?);
        }
        Ok(scopes)
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        iter.into_iter().fold(Scopes::openid(), Scopes::with)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// LoginHint

/// Who to log in: a phone number, or a customer token from a QR check-in.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum LoginHint {
    /// `urn:msisdn:{digits}`.
    Msisdn(Msisdn),
    /// `urn:customer-token:{token}`; the token is kept secret.
    CustomerToken(Secret),
}

impl LoginHint {
    /// A customer token hint, validated (1–512 URL-safe characters).
    pub fn customer_token(token: impl Into<String>) -> Result<LoginHint, Error> {
        let token: String = token.into();
        if token.is_empty() || token.len() > 512 {
            return Err(Error::InvalidInput(
                "the customer token must be 1 to 512 characters".into(),
            ));
        }
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:+/=".contains(&b))
        {
            return Err(Error::InvalidInput(
                "the customer token contains characters that are not allowed".into(),
            ));
        }
        Ok(LoginHint::CustomerToken(Secret::new(token)))
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

impl From<Msisdn> for LoginHint {
    fn from(m: Msisdn) -> Self {
        LoginHint::Msisdn(m)
    }
}

// ---------------------------------------------------------------------------------------
// LoginId

/// The opaque, unguessable id of one login (256 random bits, base64url, 43 characters).
///
/// Safe to put in URLs and cookies; it is never the upstream `auth_req_id`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LoginId(Arc<str>);

impl LoginId {
    /// A fresh random id.
    #[must_use]
    pub fn generate() -> LoginId {
        LoginId(random_token().into())
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub(crate) fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    URL_SAFE_NO_PAD.encode(bytes)
}

impl FromStr for LoginId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 43
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Ok(LoginId(s.into()))
        } else {
            Err(Error::LoginNotFound)
        }
    }
}

impl TryFrom<String> for LoginId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<LoginId> for String {
    fn from(id: LoginId) -> String {
        id.0.to_string()
    }
}

impl fmt::Display for LoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoginId({})", self.0)
    }
}

// ---------------------------------------------------------------------------------------
// LoginRequest

/// How the login ends after the customer confirms.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flow {
    /// Variant 1: the login ends in the app; the result comes by polling (or webhook).
    FinishInApp,
    /// Variant 2: the phone's browser opens `redirect_uri?code=…`; call
    /// [`VippsClient::complete_browser`](crate::VippsClient::complete_browser) with its
    /// `state` and `code`.
    ContinueInBrowser {
        /// Pre-registered redirect URI (`https`, or `http` on loopback).
        redirect_uri: Url,
    },
}

/// What to ask Vipps for; built with [`LoginRequest::new`] and its setters.
#[derive(Debug, Clone)]
#[must_use]
pub struct LoginRequest {
    pub(crate) hint: LoginHint,
    pub(crate) scopes: Scopes,
    pub(crate) binding_message: Option<BindingMessage>,
    pub(crate) requested_expiry: Option<Duration>,
    pub(crate) flow: Flow,
    pub(crate) state: Option<String>,
}

impl LoginRequest {
    /// A login for `hint` with scope `openid`, no binding message, finishing in the app.
    pub fn new(hint: impl Into<LoginHint>) -> LoginRequest {
        LoginRequest {
            hint: hint.into(),
            scopes: Scopes::openid(),
            binding_message: None,
            requested_expiry: None,
            flow: Flow::FinishInApp,
            state: None,
        }
    }

    /// The information to ask for.
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// The code shown on the merchant's screen and in the app.
    pub fn binding_message(mut self, message: BindingMessage) -> Self {
        self.binding_message = Some(message);
        self
    }

    /// How long the customer has to confirm (60–900 s; Vipps' default is 600 s).
    pub fn requested_expiry(mut self, expiry: Duration) -> Self {
        self.requested_expiry = Some(expiry);
        self
    }

    /// Finish in the app (default) or continue in the phone's browser.
    pub fn flow(mut self, flow: Flow) -> Self {
        self.flow = flow;
        self
    }

    /// An opaque value sent as `state` (at most 256 printable ASCII characters).
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// Checks everything that can be checked before sending.
    pub(crate) fn validate(&self, allow_http_loopback: bool) -> Result<(), Error> {
        if let Some(e) = self.requested_expiry {
            let secs = e.as_secs();
            if !(60..=900).contains(&secs) || e.subsec_nanos() != 0 {
                return Err(Error::InvalidInput(format!(
                    "the expiry must be a whole number of seconds from 60 to 900, not {:?}",
                    e
                )));
            }
        }
        if let Some(s) = &self.state
            && (s.is_empty() || s.len() > 256 || !s.bytes().all(|b| (0x21..0x7f).contains(&b)))
        {
            return Err(Error::InvalidInput(
                "the state must be 1 to 256 printable ASCII characters without spaces".into(),
            ));
        }
        if let Flow::ContinueInBrowser { redirect_uri } = &self.flow {
            if redirect_uri.fragment().is_some() {
                return Err(Error::InvalidInput(
                    "the redirect URI must not have a fragment".into(),
                ));
            }
            match redirect_uri.scheme() {
                "https" => {}
                "http" if allow_http_loopback && crate::config::is_loopback(redirect_uri) => {}
                _ => {
                    return Err(Error::InvalidInput(
                        "the redirect URI must use https (http only on loopback against a local issuer)"
                            .into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// StartedLogin, LoginStatus

/// A login that Vipps accepted: the push is on its way to the customer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StartedLogin {
    /// Our id for it; use with [`VippsClient::status`](crate::VippsClient::status),
    /// [`watch`](crate::VippsClient::watch), [`wait`](crate::VippsClient::wait).
    pub id: LoginId,
    /// The code to show on the merchant's screen, when one was sent.
    pub binding_message: Option<BindingMessage>,
    /// When the customer's time to confirm runs out.
    pub expires_at: SystemTime,
    /// How often Vipps allows polling for this login.
    pub interval: Duration,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        Msisdn::parse(s).unwrap().as_str().to_owned()
    }
    fn err(s: &str) -> String {
        Msisdn::parse(s).unwrap_err().to_string()
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
    }

    #[test]
    fn msisdn_errors_say_what_is_wrong() {
        assert!(err("").contains("empty"));
        assert!(
            err("+47 1234 567").contains("Norwegian number has 8 digits after +47, this one has 7")
        );
        assert!(err("+46 70 123 45 67").contains("country code is not supported"));
        assert!(err("4712a45678").contains("'a'"));
        assert!(err("1234567").contains("7 digits without a country code"));
        assert!(err("+358 1234").contains("Finnish number has 5 to 10 digits"));
        assert!(err("+45 1234567").contains("Danish"));
        assert!(err("+47+123").contains("'+'"));
    }

    #[test]
    fn msisdn_masked() {
        let m = Msisdn::parse("4712345678").unwrap();
        assert_eq!(m.masked(), "47******78");
        assert_eq!(format!("{m:?}"), "Msisdn(47******78)");
        assert_eq!(format!("{m}"), "47******78");
        assert_eq!(
            Msisdn::parse("358401234567").unwrap().masked(),
            "358*******67"
        );
        assert_eq!(m.country_code(), "47");
    }

    #[test]
    fn binding_messages() {
        for s in ["4MZ-CQ3", "ABCDE", "ABCDEFGH", "12-34"] {
            assert!(BindingMessage::parse(s).is_ok(), "{s}");
        }
        for s in ["ABCD", "ABCDEFGHI", "abcde", "AB CD", "ÆØÅAB"] {
            assert!(BindingMessage::parse(s).is_err(), "{s}");
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let b = BindingMessage::generate();
            assert!(BindingMessage::parse(b.as_str()).is_ok());
            assert!(!b.as_str().contains(['0', 'O', '1', 'I']));
            seen.insert(b);
        }
        assert!(seen.len() > 990);
    }

    #[test]
    fn scopes() {
        let s: Scopes = "openid name phoneNumber".parse().unwrap();
        assert_eq!(s.to_string(), "openid name phoneNumber");
        let s: Scopes = "email,name".parse().unwrap();
        assert_eq!(s.to_string(), "openid name email");
        assert!(
            matches!("nnin".parse::<Scopes>(), Err(Error::InvalidScope(m)) if m.contains("nin instead"))
        );
        assert!("phone".parse::<Scopes>().is_err());
        assert_eq!(Scopes::default().to_string(), "openid");
    }

    #[test]
    fn login_ids() {
        let id = LoginId::generate();
        assert_eq!(id.as_str().len(), 43);
        assert_eq!(id.to_string().parse::<LoginId>().unwrap(), id);
        assert!("../etc".parse::<LoginId>().is_err());
        assert_ne!(LoginId::generate(), id);
    }

    #[test]
    fn request_validation() {
        let m = Msisdn::parse("4712345678").unwrap();
        let r = LoginRequest::new(m.clone()).requested_expiry(Duration::from_secs(30));
        assert!(matches!(r.validate(false), Err(Error::InvalidInput(_))));
        let r = LoginRequest::new(m.clone()).state("has space");
        assert!(r.validate(false).is_err());
        let r = LoginRequest::new(m.clone()).flow(Flow::ContinueInBrowser {
            redirect_uri: Url::parse("http://127.0.0.1/cb").unwrap(),
        });
        assert!(r.validate(false).is_err());
        assert!(r.validate(true).is_ok());
        assert!(LoginHint::customer_token("").is_err());
        assert!(LoginHint::customer_token("abc def").is_err());
        let h = LoginHint::customer_token("tok-123").unwrap();
        assert_eq!(h.to_wire(), "urn:customer-token:tok-123");
        assert!(!format!("{h:?}").contains("tok-123"));
    }
}
