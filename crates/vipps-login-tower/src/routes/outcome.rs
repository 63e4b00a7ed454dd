//! How a login's end is shown: result pages and JSON errors, one [`Outcome`] each.

use std::time::Duration;

use http::StatusCode;
use vipps_login_core::{Error, LoginStatus};

/// A final answer: the `data-status` of `#result` (and the JSON `error`/`status` code),
/// a heading, a sentence, an HTTP status.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub status: &'static str,
    pub heading: String,
    pub message: String,
    pub http: StatusCode,
    pub retry_after: Option<Duration>,
}

impl Outcome {
    pub(crate) fn new(
        status: &'static str,
        heading: &str,
        message: impl Into<String>,
        http: StatusCode,
    ) -> Self {
        Self {
            status,
            heading: heading.to_owned(),
            message: message.into(),
            http,
            retry_after: None,
        }
    }

    pub(crate) fn declined() -> Self {
        Self::new(
            "declined",
            "Login declined",
            Error::Declined.to_string(),
            StatusCode::OK,
        )
    }

    pub(crate) fn expired() -> Self {
        Self::new(
            "expired",
            "Login expired",
            Error::Expired.to_string(),
            StatusCode::OK,
        )
    }

    pub(crate) fn cancelled() -> Self {
        Self::new(
            "cancelled",
            "Login cancelled",
            "The login was cancelled. Nothing was shared.",
            StatusCode::OK,
        )
    }

    pub(crate) fn continued_in_browser() -> Self {
        Self::new(
            "continued_in_browser",
            "The customer continues on their phone",
            "The customer confirmed in Vipps and continues in their phone's browser.",
            StatusCode::OK,
        )
    }

    /// A cancel that came after the login was decided: 409, the login is left as it is.
    pub(crate) fn too_late_to_cancel() -> Self {
        Self::new(
            "already_completed",
            "Too late to cancel",
            "The customer answered before the cancel arrived; the login stays as it is.",
            StatusCode::CONFLICT,
        )
    }

    pub(crate) fn rate_limited(retry_after: Duration, message: impl Into<String>) -> Self {
        let mut o = Self::new(
            "rate_limited",
            "Please wait",
            message,
            StatusCode::TOO_MANY_REQUESTS,
        );
        o.retry_after = Some(retry_after.max(Duration::from_secs(1)));
        o
    }

    pub(crate) fn csrf() -> Self {
        Self::new(
            "csrf",
            "This form has expired",
            "The request could not be verified. Go back, reload the page and try again.",
            StatusCode::FORBIDDEN,
        )
    }

    pub(crate) fn not_found() -> Self {
        Self::new(
            "not_found",
            "Login not found",
            Error::LoginNotFound.to_string(),
            StatusCode::NOT_FOUND,
        )
    }

    pub(crate) fn rejected(e: &crate::HookError) -> Self {
        Self::new("rejected", "Login not accepted", e.message(), e.status())
    }

    pub(crate) fn error(e: &Error) -> Self {
        match e {
            Error::Declined => return Self::declined(),
            Error::Expired => return Self::expired(),
            Error::Cancelled => return Self::cancelled(),
            Error::LoginNotFound => return Self::not_found(),
            Error::RateLimited { .. } | Error::LoginPending { .. } | Error::CoolingDown { .. } => {
                return Self::rate_limited(
                    e.retry_after().unwrap_or(Duration::from_secs(60)),
                    e.to_string(),
                );
            }
            Error::UnknownCallback | Error::AlreadyCompleted => {
                return Self::new(
                    "rejected",
                    "Login not accepted",
                    e.to_string(),
                    StatusCode::FORBIDDEN,
                );
            }
            _ => {}
        }
        let (status, heading) = match e.code() {
            "invalid_user" => ("invalid_user", "This customer cannot use Vipps login"),
            "old_app" => ("old_app", "The customer's Vipps app is too old"),
            "store" => ("unavailable", "Please try again in a moment"),
            _ => ("error", "Something went wrong"),
        };
        let mut outcome = Self::new(status, heading, e.to_string(), e.status());
        // A store outage (503) says when to try again, as a rate limit does.
        outcome.retry_after = e.retry_after();
        outcome
    }

    pub(crate) fn from_status(status: &LoginStatus) -> Option<Self> {
        match status {
            LoginStatus::Pending | LoginStatus::AwaitingBrowser | LoginStatus::Approved(_) => None,
            LoginStatus::Exchanged(_) | LoginStatus::Redeemed => Some(Self::continued_in_browser()),
            LoginStatus::Denied => Some(Self::declined()),
            LoginStatus::Expired => Some(Self::expired()),
            LoginStatus::Cancelled => Some(Self::cancelled()),
            LoginStatus::Failed(e) => Some(Self::error(e)),
            _ => Some(Self::new(
                "error",
                "Something went wrong",
                "The login ended unexpectedly.",
                StatusCode::OK,
            )),
        }
    }
}

pub(crate) fn status_text(status: &LoginStatus) -> &'static str {
    match status {
        LoginStatus::Pending => "Waiting for the customer to confirm in Vipps…",
        LoginStatus::AwaitingBrowser => {
            "Waiting for the customer to confirm in Vipps; their phone then opens our page."
        }
        LoginStatus::Approved(_) => "Confirmed. Logging in…",
        LoginStatus::Denied => "The customer declined the login.",
        LoginStatus::Expired => "The login expired.",
        LoginStatus::Cancelled => "The login was cancelled.",
        _ => "The login ended.",
    }
}
