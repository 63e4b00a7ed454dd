//! Errors: the SPI's [`LoginError`] and the OAuth error answer, [`OAuthError`].

use std::borrow::Cow;
use std::time::Duration;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// Why a call of the [`PhoneLogin`](crate::PhoneLogin) SPI did not succeed.
///
/// No variant carries a token, a secret or a full phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The login hint is not a phone number this bridge understands.
    #[error("the login_hint is not a phone number: {0}")]
    InvalidHint(String),
    /// The binding message is one Vipps would refuse.
    #[error("the binding_message is not valid: {0}")]
    InvalidBindingMessage(String),
    /// A requested scope is unknown or not allowed for this client.
    #[error("the scope is not valid: {0}")]
    InvalidScope(String),
    /// Another request parameter is invalid (e.g. `requested_expiry`).
    #[error("the request is not valid: {0}")]
    InvalidRequest(String),
    /// The number cannot log in with Vipps (no account, inactive, under 15, app too old).
    #[error("this phone number cannot log in with Vipps")]
    UnknownUser,
    /// Too many logins were started (for this client or this number).
    #[error("too many logins were started; try again later")]
    RateLimited {
        /// How long to wait, when known.
        retry_after: Option<Duration>,
    },
    /// No such login for this owner: never started, started by someone else, expired
    /// long ago, or already redeemed.
    #[error("the login is unknown, belongs to another client, or was already used")]
    NotFound,
    /// [`redeem`](crate::PhoneLogin::redeem) was called before the customer approved.
    #[error("the login is not approved (yet)")]
    NotApproved,
    /// Vipps' verified phone number is not the number the login was started for.
    #[error("the verified phone number is not the one the login was started for")]
    PhoneMismatch,
    /// The login was cancelled.
    #[error("the login was cancelled")]
    Cancelled,
    /// Vipps (or the login store) failed; the text is safe to show an operator.
    #[error("the login failed: {0}")]
    Upstream(String),
}

/// An OAuth 2.0 / OpenID error answer: `{"error", "error_description"}` with its status.
///
/// Token-endpoint answers carry `Cache-Control: no-store`; `invalid_client` carries
/// `WWW-Authenticate: Basic` (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `error` code, e.g. `invalid_grant`.
    pub error: &'static str,
    /// The human-readable `error_description`.
    pub description: Cow<'static, str>,
}

impl OAuthError {
    /// An error with status 400.
    pub fn bad(error: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
        }
    }

    /// `invalid_request` (400).
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::bad("invalid_request", description)
    }

    /// `invalid_client` (401): unknown client or wrong secret (the answer does not say which).
    #[must_use]
    pub fn invalid_client() -> Self {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "client authentication failed".into(),
        }
    }

    /// `invalid_grant` (400).
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::bad("invalid_grant", description)
    }

    /// A server-side failure (`server_error`, 500 — or 503 `temporarily_unavailable`).
    pub fn server(description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: description.into(),
        }
    }

    /// The OAuth answer for an SPI error at the backchannel endpoint (CIBA §13).
    #[must_use]
    pub fn from_start(e: &LoginError) -> Self {
        let text = e.to_string();
        match e {
            LoginError::InvalidHint(_) => Self::bad("unknown_user_id", text),
            LoginError::InvalidBindingMessage(_) => Self::bad("invalid_binding_message", text),
            LoginError::InvalidScope(_) => Self::bad("invalid_scope", text),
            LoginError::InvalidRequest(_) => Self::invalid_request(text),
            LoginError::UnknownUser => Self::bad("unknown_user_id", text),
            // CIBA §13 has no "try later" for the backchannel endpoint (`slow_down` is the
            // token endpoint's): the OP refuses the request, saying when it may be asked
            // again. The same answer for a number with or without Vipps.
            LoginError::RateLimited { retry_after } => OAuthError {
                status: StatusCode::FORBIDDEN,
                error: "access_denied",
                description: match retry_after {
                    Some(wait) => format!("{text} (in {} s)", wait.as_secs().max(1)).into(),
                    None => text.into(),
                },
            },
            LoginError::NotFound
            | LoginError::NotApproved
            | LoginError::PhoneMismatch
            | LoginError::Cancelled
            | LoginError::Upstream(_) => OAuthError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: "temporarily_unavailable",
                description: text.into(),
            },
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

impl std::error::Error for OAuthError {}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.error,
            "error_description": self.description,
        });
        let mut resp = (self.status, Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"vipps-login-provider\""),
            );
        }
        resp
    }
}
