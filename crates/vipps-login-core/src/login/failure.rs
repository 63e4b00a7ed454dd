//! Why a login failed, in the form it is stored in.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, TokenError};

/// Why a login failed, as stored with it: serialisable, without sources or secrets, and
/// apart from the API [`Error`] (which keeps its source). [`to_error`](Self::to_error)
/// gives back the error a caller sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureReason {
    /// See [`Error::InvalidUser`].
    InvalidUser,
    /// See [`Error::OldApp`].
    OldApp,
    /// See [`Error::RateLimited`].
    RateLimited {
        /// How long Vipps asked us to wait.
        retry_after: Option<Duration>,
    },
    /// See [`Error::InvalidClient`].
    InvalidClient,
    /// See [`Error::UnauthorizedClient`].
    UnauthorizedClient,
    /// See [`Error::InvalidScope`].
    InvalidScope(String),
    /// See [`Error::InvalidBindingMessage`].
    InvalidBindingMessage(String),
    /// See [`Error::InvalidRequest`].
    InvalidRequest(String),
    /// See [`Error::InvalidCode`].
    InvalidCode,
    /// See [`Error::TokenVerification`].
    TokenVerification(TokenError),
    /// See [`Error::Protocol`].
    Protocol(String),
    /// See [`Error::Upstream`].
    Upstream {
        /// The HTTP status Vipps answered with.
        status: u16,
    },
    /// See [`Error::Transport`] (the source is not kept).
    Transport(String),
    /// See [`Error::Store`] (the source is not kept).
    Store(String),
    /// Any other error, by its [`code`](Error::code) and English sentence.
    Other {
        /// [`Error::code`].
        code: String,
        /// The English sentence.
        message: String,
    },
}

impl From<&Error> for FailureReason {
    fn from(e: &Error) -> Self {
        match e {
            Error::InvalidUser => FailureReason::InvalidUser,
            Error::OldApp => FailureReason::OldApp,
            Error::RateLimited { retry_after } => FailureReason::RateLimited {
                retry_after: *retry_after,
            },
            Error::InvalidClient => FailureReason::InvalidClient,
            Error::UnauthorizedClient => FailureReason::UnauthorizedClient,
            Error::InvalidScope(s) => FailureReason::InvalidScope(s.clone()),
            Error::InvalidBindingMessage(s) => FailureReason::InvalidBindingMessage(s.clone()),
            Error::InvalidRequest(s) => FailureReason::InvalidRequest(s.clone()),
            Error::InvalidCode => FailureReason::InvalidCode,
            Error::TokenVerification(t) => FailureReason::TokenVerification(t.clone()),
            Error::Protocol(s) => FailureReason::Protocol(s.clone()),
            Error::Upstream { status } => FailureReason::Upstream { status: *status },
            Error::Transport(t) => FailureReason::Transport(t.to_string()),
            Error::Store(s) => FailureReason::Store(s.to_string()),
            other => FailureReason::Other {
                code: other.code().to_owned(),
                message: other.to_string(),
            },
        }
    }
}

impl FailureReason {
    /// The error a caller sees for a login that failed for this reason.
    #[must_use]
    pub fn to_error(&self) -> Error {
        match self {
            FailureReason::InvalidUser => Error::InvalidUser,
            FailureReason::OldApp => Error::OldApp,
            FailureReason::RateLimited { retry_after } => Error::RateLimited {
                retry_after: *retry_after,
            },
            FailureReason::InvalidClient => Error::InvalidClient,
            FailureReason::UnauthorizedClient => Error::UnauthorizedClient,
            FailureReason::InvalidScope(s) => Error::InvalidScope(s.clone()),
            FailureReason::InvalidBindingMessage(s) => Error::InvalidBindingMessage(s.clone()),
            FailureReason::InvalidRequest(s) => Error::InvalidRequest(s.clone()),
            FailureReason::InvalidCode => Error::InvalidCode,
            FailureReason::TokenVerification(t) => Error::TokenVerification(t.clone()),
            FailureReason::Protocol(s) => Error::Protocol(s.clone()),
            FailureReason::Upstream { status } => Error::Upstream { status: *status },
            FailureReason::Transport(s) => Error::Transport(s.as_str().into()),
            FailureReason::Store(s) => Error::Store(crate::StoreError::Backend {
                message: s.clone(),
                source: None,
            }),
            FailureReason::Other { message, .. } => Error::Protocol(message.clone()),
        }
    }

    /// The [`Error::code`] of [`to_error`](Self::to_error).
    #[must_use]
    pub fn code(&self) -> &str {
        match self {
            FailureReason::Other { code, .. } => code,
            other => other.to_error().code(),
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.to_error(), f)
    }
}
