//! The SPI: what an identity server calls to log a customer in with Vipps.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vipps_login_core::token::{random_token, sha256_b64url};
use vipps_login_core::{BindingMessage, Msisdn};

use crate::registry::{StartLimit, SubjectType};
use crate::{LoginError, OidcScopes};

/// Phone-number login as an identity server sees it: start, check, cancel, redeem once.
///
/// Implemented over Vipps by [`VippsPhoneLogin`](crate::VippsPhoneLogin); the facades of
/// this crate ([`ciba`](crate::ciba), [`authcode`](crate::authcode)) drive any
/// implementation. Every call but `start` names the `owner` (the relying party's client
/// id) the login was started for; a login is invisible to other owners.
#[async_trait]
pub trait PhoneLogin: Send + Sync + 'static {
    /// Starts a login: the push goes to the customer's phone.
    async fn start(&self, request: StartRequest) -> Result<StartedPhoneLogin, LoginError>;
    /// Where the login stands. `Approved` is reported only after the Vipps ID token was
    /// verified and the verified number is the one the login was started for.
    async fn check(&self, handle: &LoginHandle, owner: &str) -> Result<LoginCheck, LoginError>;
    /// Cancels a pending login (the customer's push simply expires).
    async fn cancel(&self, handle: &LoginHandle, owner: &str) -> Result<(), LoginError>;
    /// Takes the approved result: exactly one caller gets it; afterwards the handle is
    /// [`LoginError::NotFound`].
    async fn redeem(&self, handle: &LoginHandle, owner: &str) -> Result<ApprovedLogin, LoginError>;
    /// Whether logins can be started now (the provider's readiness includes it). The
    /// default has nothing to check.
    async fn readiness(&self) -> vipps_login_core::health::Readiness {
        vipps_login_core::health::Readiness::default()
    }
}

/// What to start: built with [`StartRequest::new`] and its setters.
#[derive(Debug, Clone)]
#[must_use]
#[non_exhaustive]
pub struct StartRequest {
    /// The relying party's client id.
    pub owner: String,
    /// The customer's phone number (see [`parse_login_hint`](crate::parse_login_hint)).
    pub hint: Msisdn,
    /// The code to show on both screens; generated when `None`.
    pub binding_message: Option<BindingMessage>,
    /// The OpenID scopes asked for.
    pub scopes: OidcScopes,
    /// How long the customer has (60–900 s).
    pub requested_expiry: Option<Duration>,
    /// The relying party's `nonce`, echoed into its ID token.
    pub nonce: Option<String>,
    /// Starts this owner may make per window.
    pub start_limit: Option<StartLimit>,
    /// Which `sub` this owner sees.
    pub subject_type: SubjectType,
}

impl StartRequest {
    /// A login for `hint` on behalf of `owner`.
    pub fn new(owner: impl Into<String>, hint: Msisdn, scopes: OidcScopes) -> Self {
        StartRequest {
            owner: owner.into(),
            hint,
            binding_message: None,
            scopes,
            requested_expiry: None,
            nonce: None,
            start_limit: None,
            subject_type: SubjectType::Public,
        }
    }

    /// The code shown on both screens.
    pub fn binding_message(mut self, message: Option<BindingMessage>) -> Self {
        self.binding_message = message;
        self
    }

    /// How long the customer has.
    pub fn requested_expiry(mut self, expiry: Option<Duration>) -> Self {
        self.requested_expiry = expiry;
        self
    }

    /// The relying party's nonce.
    pub fn nonce(mut self, nonce: Option<String>) -> Self {
        self.nonce = nonce;
        self
    }

    /// The owner's start limit.
    pub fn start_limit(mut self, limit: Option<StartLimit>) -> Self {
        self.start_limit = limit;
        self
    }

    /// Public or pairwise subjects for this owner.
    pub fn subject_type(mut self, subject_type: SubjectType) -> Self {
        self.subject_type = subject_type;
        self
    }
}

/// Parses a relying party's `binding_message` the way Vipps would judge it
/// (`^[A-Z0-9\-]{5,8}$`).
pub fn parse_binding_message(message: &str) -> Result<BindingMessage, LoginError> {
    BindingMessage::parse(message).map_err(|e| match e {
        vipps_login_core::Error::InvalidBindingMessage(why) => {
            LoginError::InvalidBindingMessage(why)
        }
        other => LoginError::InvalidBindingMessage(other.to_string()),
    })
}

/// A started login: its handle and what to tell the relying party.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StartedPhoneLogin {
    /// The handle (the CIBA facade's `auth_req_id`).
    pub handle: LoginHandle,
    /// The code on both screens (the one given, or a generated one).
    pub binding_message: BindingMessage,
    /// How long the customer has.
    pub expires_in: Duration,
    /// How often the relying party may poll.
    pub interval: Duration,
}

/// The opaque handle of one login: 256 random bits, base64url (43 characters).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LoginHandle(String);

impl LoginHandle {
    /// A fresh random handle.
    #[must_use]
    pub fn generate() -> LoginHandle {
        LoginHandle(random_token())
    }

    /// Parses a handle a client sent back; `None` if it cannot be one of ours.
    #[must_use]
    pub fn parse(s: &str) -> Option<LoginHandle> {
        (s.len() == 43
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| LoginHandle(s.to_owned()))
    }

    /// The handle as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key a store holds this handle's records under: its SHA-256, so that a store
    /// dump does not hand out usable `auth_req_id`s.
    #[must_use]
    pub fn store_key(&self) -> String {
        sha256_b64url(self.0.as_bytes())
    }
}

impl TryFrom<String> for LoginHandle {
    type Error = LoginError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        LoginHandle::parse(&s).ok_or(LoginError::NotFound)
    }
}

impl From<LoginHandle> for String {
    fn from(h: LoginHandle) -> String {
        h.0
    }
}

impl fmt::Debug for LoginHandle {
    /// Only the first 6 characters: enough to follow a login in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoginHandle({}…)", self.0.get(..6).unwrap_or(""))
    }
}

/// Where a login stands.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LoginCheck {
    /// The customer has not answered yet.
    Pending,
    /// Approved and verified; [`PhoneLogin::redeem`] takes the result.
    Approved(Box<ApprovedLogin>),
    /// The customer declined.
    Denied,
    /// Nobody answered in time.
    Expired,
    /// It failed (cancelled, phone mismatch, Vipps or verification failure).
    Failed(LoginError),
}

/// An approved, verified login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApprovedLogin {
    /// The `sub` for this owner (after subject mapping).
    pub subject: String,
    /// The standard claims of the granted scopes (without `sub`).
    pub claims: Map<String, Value>,
    /// The scopes granted.
    pub scopes: OidcScopes,
    /// The relying party's nonce.
    pub nonce: Option<String>,
    /// Authentication methods (`amr`), e.g. `["mfa", "swk"]`.
    pub amr: Vec<String>,
    /// Authentication context class (`acr`).
    pub acr: String,
    /// When the customer approved (Unix seconds).
    pub auth_time: u64,
}
