//! Errors of the simulator's library API.

use crate::request::RequestStatus;

/// Errors of the simulator's library API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// No request (or client) with that id.
    #[error("no such login request")]
    NotFound,
    /// The request is no longer pending.
    #[error("the login request is {0:?}, not pending")]
    NotPending(RequestStatus),
    /// A required delegated consent was not accepted.
    #[error("the consent {0:?} is required")]
    ConsentRequired(String),
    /// Binding the listener failed.
    #[error("cannot listen: {0}")]
    Bind(#[from] std::io::Error),
    /// Key generation or signing failed.
    #[error("key error: {0}")]
    Keys(String),
    /// The users file cannot be read or parsed.
    #[error("users file: {0}")]
    UsersFile(String),
    /// The configuration is inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// A notification could not be delivered.
    #[error("delivery failed: {0}")]
    Delivery(String),
}
