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
    /// A phone number is not one Vipps accepts (47 + 8, 45 + 8 or 358 + 5 to 10 digits).
    #[error("{0:?} is not a valid phone number (47 + 8, 45 + 8 or 358 + 5 to 10 digits)")]
    InvalidNumber(String),
    /// A phone number belongs to another user.
    #[error("the number {0:?} belongs to another user")]
    NumberInUse(String),
    /// A notification could not be delivered.
    #[error("delivery failed: {0}")]
    Delivery(String),
}
