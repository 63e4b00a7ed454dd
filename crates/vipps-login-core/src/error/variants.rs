//! The error types: [`Error`] with its code, HTTP status and wait, and the
//! [`TokenError`] and [`TransportError`] it carries. Its sentences (its `Display`
//! included) are in `sentence.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::msisdn::PhoneProblem;
use crate::store::StoreError;

/// Everything that can go wrong, one variant per situation a caller may want to handle.
///
/// * [`Error::code`] is a stable `snake_case` identifier for logs, JSON and exit codes.
/// * [`Error::status`] is the HTTP status a web front end should answer with.
/// * [`Error::retry_after`] says how long to wait when waiting helps.
/// * `Display` is one plain sentence that a cashier or a call-center agent can act on;
///   [`Error::sentence`] gives it in Norwegian, Danish, Finnish or English.
///
/// No variant ever carries a token, a secret or a full phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Error {
    /// The phone number could not be understood; the [`PhoneProblem`] says what is wrong.
    InvalidPhoneNumber(PhoneProblem),
    /// The binding message (confirmation code) is not 5–8 of `A-Z`, `0-9` and `-`.
    InvalidBindingMessage(String),
    /// A requested scope is unknown or not allowed.
    InvalidScope(String),
    /// Some other input was rejected before anything was sent to Vipps.
    InvalidInput(String),
    /// The customer said no in the app.
    Declined,
    /// The customer did not confirm in time.
    Expired,
    /// The number has no usable Vipps/MobilePay account (none, inactive, or under 15).
    InvalidUser,
    /// The customer's app is too old for merchant-initiated login.
    OldApp,
    /// Too many logins were started for this customer (HTTP 429), or Vipps asked us to slow down.
    RateLimited {
        /// How long Vipps asked us to wait, when it said so.
        retry_after: Option<Duration>,
    },
    /// Vipps did not accept our client credentials.
    InvalidClient,
    /// The client is not allowed to use merchant-initiated login (or this flow).
    UnauthorizedClient,
    /// Vipps refused the request as malformed; the text is Vipps' own description.
    InvalidRequest(String),
    /// No login with this id exists (never started here, or forgotten after its lifetime).
    LoginNotFound,
    /// The login was cancelled by the merchant.
    Cancelled,
    /// The login already finished; a result or a code can be used only once.
    AlreadyCompleted,
    /// Vipps did not accept the code from the browser (unknown, expired or already used).
    InvalidCode,
    /// The ID token (or the userinfo that goes with it) failed verification.
    TokenVerification(TokenError),
    /// Vipps answered something this client does not understand.
    Protocol(String),
    /// Vipps answered with a server error.
    Upstream {
        /// The HTTP status Vipps answered with.
        status: u16,
    },
    /// Vipps could not be reached (connection failure, timeout, answer too large).
    Transport(TransportError),
    /// The configuration is incomplete or invalid; the text names the setting.
    Config(String),
    /// The login store (memory, or Redis shared by several instances) failed or cannot
    /// be reached; nothing was half-written.
    Store(StoreError),
    /// A login is already waiting for this phone number (one at a time per number).
    LoginPending {
        /// When that login runs out at the latest.
        retry_after: Option<Duration>,
    },
    /// The number was pushed to recently and the customer declined or did not answer;
    /// pushing again right away would pester them.
    CoolingDown {
        /// What happened to the last push.
        reason: CoolDownReason,
        /// When a new push may be sent.
        retry_after: Duration,
    },
    /// The login has not finished yet: there is no result to hand out.
    NotFinished,
    /// A browser came back with a `state` that matches no login waiting for the phone's
    /// browser (forged, missing, replayed, or expired). Nothing was sent to Vipps.
    UnknownCallback,
    /// A webhook request was refused (unsigned, wrongly signed, or too old).
    WebhookRejected(String),
}

/// Why a number is in a cool-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CoolDownReason {
    /// The customer declined the last login.
    Declined,
    /// The customer did not answer the last login before it expired.
    Ignored,
}

impl Error {
    /// A stable, `snake_case` identifier of this error, e.g. `"declined"` or `"rate_limited"`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidPhoneNumber(_) => "invalid_phone_number",
            Error::InvalidBindingMessage(_) => "invalid_binding_message",
            Error::InvalidScope(_) => "invalid_scope",
            Error::InvalidInput(_) => "invalid_input",
            Error::Declined => "declined",
            Error::Expired => "expired",
            Error::InvalidUser => "invalid_user",
            Error::OldApp => "old_app",
            Error::RateLimited { .. } => "rate_limited",
            Error::InvalidClient => "invalid_client",
            Error::UnauthorizedClient => "unauthorized_client",
            Error::InvalidRequest(_) => "invalid_request",
            Error::LoginNotFound => "login_not_found",
            Error::Cancelled => "cancelled",
            Error::AlreadyCompleted => "already_completed",
            Error::InvalidCode => "invalid_code",
            Error::TokenVerification(_) => "token_verification",
            Error::Protocol(_) => "protocol",
            Error::Upstream { .. } => "upstream",
            Error::Transport(_) => "transport",
            Error::Config(_) => "config",
            Error::Store(_) => "store",
            Error::WebhookRejected(_) => "webhook_rejected",
            Error::LoginPending { .. } => "login_pending",
            Error::CoolingDown { .. } => "cooling_down",
            Error::NotFinished => "not_finished",
            Error::UnknownCallback => "unknown_callback",
        }
    }

    /// The HTTP status a web front end should answer with for this error.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Error::InvalidPhoneNumber(_)
            | Error::InvalidBindingMessage(_)
            | Error::InvalidScope(_)
            | Error::InvalidInput(_)
            | Error::InvalidCode => StatusCode::BAD_REQUEST,
            Error::Declined => StatusCode::FORBIDDEN,
            Error::Expired => StatusCode::GONE,
            Error::InvalidUser | Error::OldApp => StatusCode::UNPROCESSABLE_ENTITY,
            Error::RateLimited { .. } | Error::LoginPending { .. } | Error::CoolingDown { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Error::NotFinished => StatusCode::CONFLICT,
            Error::UnknownCallback => StatusCode::BAD_REQUEST,
            Error::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::LoginNotFound => StatusCode::NOT_FOUND,
            Error::Cancelled | Error::AlreadyCompleted => StatusCode::CONFLICT,
            Error::WebhookRejected(_) => StatusCode::UNAUTHORIZED,
            Error::InvalidClient
            | Error::UnauthorizedClient
            | Error::InvalidRequest(_)
            | Error::TokenVerification(_)
            | Error::Protocol(_)
            | Error::Upstream { .. } => StatusCode::BAD_GATEWAY,
            Error::Transport(_) => StatusCode::GATEWAY_TIMEOUT,
            Error::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// How long to wait before trying again, when Vipps said so.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after } | Error::LoginPending { retry_after } => {
                *retry_after
            }
            Error::CoolingDown { retry_after, .. } => Some(*retry_after),
            // A full store empties as waiting logins end: minutes, not seconds.
            Error::Store(StoreError::Full { .. }) => Some(Duration::from_secs(30)),
            Error::Store(_) => Some(Duration::from_secs(5)),
            _ => None,
        }
    }

    /// Whether the error concerns the input or the customer (not this system or Vipps).
    #[must_use]
    pub fn is_customer_facing(&self) -> bool {
        matches!(
            self,
            Error::InvalidPhoneNumber(_)
                | Error::InvalidBindingMessage(_)
                | Error::InvalidScope(_)
                | Error::InvalidInput(_)
                | Error::Declined
                | Error::Expired
                | Error::InvalidUser
                | Error::OldApp
                | Error::RateLimited { .. }
                | Error::LoginPending { .. }
                | Error::CoolingDown { .. }
        )
    }
}

/// Why an ID token (or the userinfo fetched with it) was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenError {
    /// Not a well-formed compact JWS (three base64url parts, JSON header and claims).
    Malformed(String),
    /// The header names an algorithm outside the allow-list (RS256, ES256).
    Algorithm(String),
    /// No key in the JWKS has the token's `kid` (even after one refetch).
    UnknownKey,
    /// The key with this `kid` does not fit the algorithm (type, curve or `alg`).
    KeyMismatch,
    /// The signature does not verify.
    Signature,
    /// `iss` is not exactly our issuer.
    Issuer,
    /// `aud` does not contain our client id.
    Audience,
    /// `exp` is in the past (beyond the allowed clock skew).
    Expired,
    /// `iat` (or `nbf`) is in the future (beyond the allowed clock skew).
    NotYetValid,
    /// A required claim is missing or has the wrong type.
    MissingClaim(String),
    /// `nonce` does not match the one we sent.
    Nonce,
    /// `auth_req_id` does not match a login started here (browser variant).
    AuthReqId,
    /// userinfo's `sub` differs from the ID token's.
    SubjectMismatch,
    /// The login asked for the verified number and Vipps' is missing or not the number
    /// the login was started for.
    PhoneNumber,
}

impl std::error::Error for TokenError {}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Malformed(why) => write!(f, "malformed ID token: {why}"),
            TokenError::Algorithm(alg) => write!(f, "ID token algorithm {alg} is not allowed"),
            TokenError::UnknownKey => f.write_str("ID token signed with an unknown key"),
            TokenError::KeyMismatch => f.write_str("ID token key does not fit its algorithm"),
            TokenError::Signature => f.write_str("ID token signature is invalid"),
            TokenError::Issuer => f.write_str("ID token issuer is wrong"),
            TokenError::Audience => f.write_str("ID token is meant for another client"),
            TokenError::Expired => f.write_str("ID token has expired"),
            TokenError::NotYetValid => f.write_str("ID token is not valid yet"),
            TokenError::MissingClaim(c) => write!(f, "ID token claim {c} is missing or invalid"),
            TokenError::Nonce => f.write_str("ID token nonce does not match"),
            TokenError::AuthReqId => {
                f.write_str("ID token does not belong to a login started here")
            }
            TokenError::SubjectMismatch => {
                f.write_str("userinfo belongs to another user than the ID token")
            }
            TokenError::PhoneNumber => {
                f.write_str("the verified phone number is not the one the login was started for")
            }
        }
    }
}

/// Why Vipps could not be reached: a sentence an operator can act on, and the HTTP
/// client's own error as [`source`](std::error::Error::source) when there is one.
#[derive(Debug, Clone)]
pub struct TransportError {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl TransportError {
    /// `message` caused by `source`.
    pub fn new(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        TransportError {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// The sentence, without the source.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Equal when the sentences are (a source is for logs, not for comparisons).
impl PartialEq for TransportError {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for TransportError {}

impl From<String> for TransportError {
    fn from(message: String) -> Self {
        TransportError {
            message,
            source: None,
        }
    }
}

impl From<&str> for TransportError {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

/// Serialised as its sentence (the source stays in this process).
impl Serialize for TransportError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.message)
    }
}

impl<'de> Deserialize<'de> for TransportError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(TransportError::from)
    }
}

/// The source of a store, network or verification failure (kept for operators' logs).
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store(e) => Some(e),
            Error::Transport(e) => Some(e),
            Error::TokenVerification(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl From<TokenError> for Error {
    fn from(e: TokenError) -> Self {
        Error::TokenVerification(e)
    }
}
