//! The error the protocol endpoints answer, produced by the model and rendered by the
//! HTTP layer.

use std::time::Duration;

/// An error the protocol endpoints answer.
#[derive(Debug)]
pub(crate) struct OAuthError {
    pub(crate) status: u16,
    pub(crate) error: &'static str,
    pub(crate) error_code: Option<&'static str>,
    pub(crate) description: String,
    pub(crate) retry_after: Option<u64>,
    /// The new polling interval, sent with `slow_down`.
    pub(crate) interval: Option<Duration>,
}

impl OAuthError {
    pub(crate) fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            error_code: None,
            description: description.into(),
            retry_after: None,
            interval: None,
        }
    }

    pub(crate) fn bad(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError::new(400, error, description)
    }
}
