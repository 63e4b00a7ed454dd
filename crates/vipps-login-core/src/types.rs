//! Typed inputs and outputs: phone numbers, binding messages, scopes, login ids and states.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng as _;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::https_url::is_loopback;
use crate::{Error, LoginHint, RequestedExpiry};

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
        LoginId(crate::token::random_token().into())
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
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

    /// How long the customer has to confirm: a whole number of seconds from 60 to 900
    /// ([`RequestedExpiry`] checks it when the login starts; Vipps' default is 600 s).
    /// A [`RequestedExpiry`] converts with `.into()`.
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
            RequestedExpiry::new(e).map_err(|e| Error::InvalidInput(e.to_string()))?;
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
                "http" if allow_http_loopback && is_loopback(redirect_uri) => {}
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
    use crate::Msisdn;

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
        let r = LoginRequest::new(m.clone()).requested_expiry(Duration::from_millis(60_500));
        assert!(
            matches!(r.validate(false), Err(Error::InvalidInput(e)) if e.contains("whole number"))
        );
        assert!(
            LoginRequest::new(m)
                .requested_expiry(RequestedExpiry::MAX.into())
                .validate(false)
                .is_ok()
        );
        let h = LoginHint::customer_token("tok-123").unwrap();
        assert_eq!(h.to_wire(), "urn:customer-token:tok-123");
    }
}
