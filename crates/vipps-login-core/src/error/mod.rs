//! The one error type of this crate; its sentences in every language are in
//! `sentence.rs`, the parsers that report through it in `parse.rs`.

mod parse;
pub(crate) mod sentence;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::i18n::Language;
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Error {
    /// The phone number could not be understood; the [`PhoneProblem`] says what is wrong.
    #[error("The phone number is not valid: {0}.")]
    InvalidPhoneNumber(PhoneProblem),
    /// The binding message (confirmation code) is not 5–8 of `A-Z`, `0-9` and `-`.
    #[error("The confirmation code is not valid: {0}.")]
    InvalidBindingMessage(String),
    /// A requested scope is unknown or not allowed.
    #[error("The requested information (scope) is not valid: {0}.")]
    InvalidScope(String),
    /// Some other input was rejected before anything was sent to Vipps.
    #[error("The login request is not valid: {0}.")]
    InvalidInput(String),
    /// The customer said no in the app.
    #[error("The customer declined the login in the Vipps app.")]
    Declined,
    /// The customer did not confirm in time.
    #[error(
        "The login expired before the customer confirmed it in the Vipps app; start a new one."
    )]
    Expired,
    /// The number has no usable Vipps/MobilePay account (none, inactive, or under 15).
    #[error(
        "This phone number cannot log in with Vipps (no account, inactive, or not eligible); identify the customer another way."
    )]
    InvalidUser,
    /// The customer's app is too old for merchant-initiated login.
    #[error("The customer's Vipps app is too old; ask them to update it and try again.")]
    OldApp,
    /// Too many logins were started for this customer (HTTP 429), or Vipps asked us to slow down.
    #[error("{}", rate_limited_sentence(*retry_after))]
    RateLimited {
        /// How long Vipps asked us to wait, when it said so.
        retry_after: Option<Duration>,
    },
    /// Vipps did not accept our client credentials.
    #[error(
        "Vipps rejected this merchant's client credentials; check VIPPS_CLIENT_ID and VIPPS_CLIENT_SECRET."
    )]
    InvalidClient,
    /// The client is not allowed to use merchant-initiated login (or this flow).
    #[error(
        "This merchant's Vipps Login client is not allowed to start logins from a phone number; ask Vipps to enable merchant-initiated login."
    )]
    UnauthorizedClient,
    /// Vipps refused the request as malformed; the text is Vipps' own description.
    #[error("Vipps refused the login request as invalid: {0}.")]
    InvalidRequest(String),
    /// No login with this id exists (never started here, or forgotten after its lifetime).
    #[error("This login is unknown or too old; start a new one.")]
    LoginNotFound,
    /// The login was cancelled by the merchant.
    #[error("The login was cancelled.")]
    Cancelled,
    /// The login already finished; a result or a code can be used only once.
    #[error("This login has already been completed; start a new one.")]
    AlreadyCompleted,
    /// Vipps did not accept the code from the browser (unknown, expired or already used).
    #[error("The login code from the browser is invalid or was already used; start a new login.")]
    InvalidCode,
    /// The ID token (or the userinfo that goes with it) failed verification.
    #[error("Vipps' answer could not be verified ({0}); the login was not accepted.")]
    TokenVerification(#[source] TokenError),
    /// Vipps answered something this client does not understand.
    #[error("Vipps answered in an unexpected way ({0}); try again later.")]
    Protocol(String),
    /// Vipps answered with a server error.
    #[error("Vipps is not answering properly right now (HTTP {status}); try again in a moment.")]
    Upstream {
        /// The HTTP status Vipps answered with.
        status: u16,
    },
    /// Vipps could not be reached (connection failure, timeout, answer too large).
    #[error("Vipps could not be reached ({0}); check the network and try again.")]
    Transport(#[source] TransportError),
    /// The configuration is incomplete or invalid; the text names the setting.
    #[error("The Vipps login configuration is invalid: {0}.")]
    Config(String),
    /// The login store (memory, or Redis shared by several instances) failed or cannot
    /// be reached; nothing was half-written.
    #[error(
        "The login store is not available ({0}); try again in a few seconds. If it persists, check that the store (Redis) runs and is reachable."
    )]
    Store(#[source] StoreError),
    /// A login is already waiting for this phone number (one at a time per number).
    #[error(
        "A login is already waiting for this customer's confirmation; cancel it or wait until it ends."
    )]
    LoginPending {
        /// When that login runs out at the latest.
        retry_after: Option<Duration>,
    },
    /// The number was pushed to recently and the customer declined or did not answer;
    /// pushing again right away would pester them.
    #[error("{}", cool_down_sentence(*reason, *retry_after))]
    CoolingDown {
        /// What happened to the last push.
        reason: CoolDownReason,
        /// When a new push may be sent.
        retry_after: Duration,
    },
    /// The login has not finished yet: there is no result to hand out.
    #[error("The customer has not confirmed the login yet.")]
    NotFinished,
    /// A browser came back with a `state` that matches no login waiting for the phone's
    /// browser (forged, missing, replayed, or expired). Nothing was sent to Vipps.
    #[error("This link does not belong to a login waiting on this phone; start a new login.")]
    UnknownCallback,
    /// A webhook request was refused (unsigned, wrongly signed, or too old).
    #[error("The webhook call was refused: {0}.")]
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

/// The English sentence of [`Error::CoolingDown`], its `Display`: the catalog's, as
/// [`Error::sentence`] gives it in every language.
fn cool_down_sentence(reason: CoolDownReason, retry_after: Duration) -> String {
    Error::CoolingDown {
        reason,
        retry_after,
    }
    .sentence(Language::En)
    .into_owned()
}

/// The English sentence of [`Error::RateLimited`], its `Display`.
fn rate_limited_sentence(retry_after: Option<Duration>) -> String {
    Error::RateLimited { retry_after }
        .sentence(Language::En)
        .into_owned()
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn sentences_are_plain() {
        assert_eq!(
            Error::OldApp.to_string(),
            "The customer's Vipps app is too old; ask them to update it and try again."
        );
        let e = Error::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(e.code(), "rate_limited");
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
        assert!(e.to_string().contains("wait 30 seconds"));
    }

    #[test]
    fn sources_are_kept() {
        use std::error::Error as _;
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::Transport(TransportError::new("connection failed", io));
        let source = e.source().expect("the transport error");
        assert_eq!(source.to_string(), "connection failed");
        assert_eq!(
            source.source().expect("the io error").to_string(),
            "refused"
        );
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e: Error = StoreError::unavailable("redis at 127.0.0.1:1", io).into();
        let inner = e.source().and_then(|s| s.source()).expect("the io error");
        assert_eq!(inner.to_string(), "refused");
        let e = Error::TokenVerification(TokenError::Nonce);
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("ID token nonce does not match")
        );
    }

    #[test]
    fn serde_round_trip() {
        let e = Error::TokenVerification(TokenError::Nonce);
        let json = serde_json::to_string(&e).unwrap_or_default();
        let back: Error = serde_json::from_str(&json).unwrap_or(Error::Cancelled);
        assert_eq!(back, e);
    }
}
