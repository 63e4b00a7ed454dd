//! How a login's end is shown: result pages and JSON errors, one [`Outcome`] each.

use std::time::Duration;

use http::StatusCode;
use vipps_login_core::{Error, Language, LoginStatus};

use crate::i18n::{Texts, minutes_seconds, whole_seconds};

/// A text of an outcome, put into words in the request's language when it is shown.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    /// A key of the layer's texts.
    Key(&'static str),
    /// A core error's sentence.
    Error(Error),
    /// Words that come as they are (an app hook's refusal).
    Plain(String),
}

impl Text {
    pub(crate) fn say(&self, texts: &Texts, lang: Language) -> String {
        match self {
            Text::Key(k) => texts.get(lang, k),
            Text::Error(e) => texts.error(lang, e),
            Text::Plain(s) => s.clone(),
        }
    }
}

/// A final answer: the `data-status` of `#result` (and the JSON `error`/`status` code),
/// a heading, a sentence, an HTTP status.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub status: &'static str,
    pub heading: Text,
    pub message: Text,
    pub http: StatusCode,
    pub retry_after: Option<Duration>,
}

impl Outcome {
    pub(crate) fn new(
        status: &'static str,
        heading: &'static str,
        message: Text,
        http: StatusCode,
    ) -> Self {
        Self {
            status,
            heading: Text::Key(heading),
            message,
            http,
            retry_after: None,
        }
    }

    /// An outcome whose heading and sentence are both layer texts.
    pub(crate) fn keys(
        status: &'static str,
        heading: &'static str,
        message: &'static str,
        http: StatusCode,
    ) -> Self {
        Self::new(status, heading, Text::Key(message), http)
    }

    pub(crate) fn declined() -> Self {
        Self::new(
            "declined",
            "declined_heading",
            Text::Error(Error::Declined),
            StatusCode::OK,
        )
    }

    pub(crate) fn expired() -> Self {
        Self::new(
            "expired",
            "expired_heading",
            Text::Error(Error::Expired),
            StatusCode::OK,
        )
    }

    pub(crate) fn cancelled() -> Self {
        Self::keys(
            "cancelled",
            "cancelled_heading",
            "cancelled_message",
            StatusCode::OK,
        )
    }

    pub(crate) fn continued_in_browser() -> Self {
        Self::keys(
            "continued_in_browser",
            "continued_heading",
            "continued_message",
            StatusCode::OK,
        )
    }

    /// A cancel that came after the login was decided: 409, the login is left as it is.
    pub(crate) fn too_late_to_cancel() -> Self {
        Self::keys(
            "already_completed",
            "too_late_heading",
            "too_late_message",
            StatusCode::CONFLICT,
        )
    }

    fn rate_limited(e: &Error) -> Self {
        let mut o = Self::new(
            "rate_limited",
            "rate_limited_heading",
            Text::Error(e.clone()),
            StatusCode::TOO_MANY_REQUESTS,
        );
        let wait = e.retry_after().unwrap_or(Duration::from_secs(60));
        o.retry_after = Some(wait.max(Duration::from_secs(1)));
        o
    }

    pub(crate) fn csrf() -> Self {
        Self::keys(
            "csrf",
            "csrf_heading",
            "csrf_message",
            StatusCode::FORBIDDEN,
        )
    }

    /// No login with this id for this session (`login_not_found`, as core's code).
    pub(crate) fn not_found() -> Self {
        Self::new(
            "login_not_found",
            "not_found_heading",
            Text::Error(Error::LoginNotFound),
            StatusCode::NOT_FOUND,
        )
    }

    pub(crate) fn rejected(e: &crate::HookError) -> Self {
        Self::new(
            "rejected",
            "rejected_heading",
            Text::Plain(e.message().to_owned()),
            e.status(),
        )
    }

    pub(crate) fn error(e: &Error) -> Self {
        match e {
            Error::Declined => return Self::declined(),
            Error::Expired => return Self::expired(),
            Error::Cancelled => return Self::cancelled(),
            Error::LoginNotFound => return Self::not_found(),
            Error::RateLimited { .. } | Error::LoginPending { .. } | Error::CoolingDown { .. } => {
                return Self::rate_limited(e);
            }
            Error::UnknownCallback | Error::AlreadyCompleted => {
                return Self::new(
                    "rejected",
                    "rejected_heading",
                    Text::Error(e.clone()),
                    StatusCode::FORBIDDEN,
                );
            }
            _ => {}
        }
        let (status, heading) = match e.code() {
            "invalid_user" => ("invalid_user", "invalid_user_heading"),
            "old_app" => ("old_app", "old_app_heading"),
            "store" => ("unavailable", "unavailable_heading"),
            _ => ("error", "error_heading"),
        };
        let mut outcome = Self::new(status, heading, Text::Error(e.clone()), e.status());
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
            LoginStatus::Failed(reason) => Some(Self::error(&reason.to_error())),
            _ => Some(Self::keys(
                "error",
                "error_heading",
                "ended_message",
                StatusCode::OK,
            )),
        }
    }
}

/// The key of the live status line of a login.
pub(crate) fn status_key(status: &LoginStatus) -> &'static str {
    match status {
        LoginStatus::Pending => "status_pending",
        LoginStatus::AwaitingBrowser => "status_awaiting_browser",
        LoginStatus::Approved(_) => "status_approved",
        LoginStatus::Denied => "status_declined",
        LoginStatus::Expired => "status_expired",
        LoginStatus::Cancelled => "status_cancelled",
        _ => "status_ended",
    }
}

/// A sentence with a wait in it, cut around the wait so that a page can count it down.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Countdown {
    pub before: String,
    pub value: String,
    pub after: String,
    /// `clock` (`m:ss`) or `seconds`.
    pub format: &'static str,
    /// The seconds `value` stands for.
    pub seconds: u64,
}

/// Finds the wait `retry_after` in `message` (as `m:ss`, else as whole seconds).
pub(crate) fn countdown(message: &str, retry_after: Duration) -> Option<Countdown> {
    let floor = Duration::from_secs(retry_after.as_secs().max(1));
    let ceil = Duration::from_secs(crate::response::retry_after_secs(retry_after).max(1));
    let candidates = [
        (minutes_seconds(floor), "clock", floor),
        (minutes_seconds(ceil), "clock", ceil),
        (whole_seconds(floor), "seconds", floor),
        (whole_seconds(ceil), "seconds", ceil),
    ];
    candidates.into_iter().find_map(|(value, format, d)| {
        let at = find_number(message, &value)?;
        Some(Countdown {
            before: message[..at].to_owned(),
            after: message[at + value.len()..].to_owned(),
            value,
            format,
            // The script counts from the whole wait, rounded up, whatever the sentence
            // rounded to: at zero the server agrees that the wait is over.
            seconds: ceil.as_secs().max(d.as_secs()).max(1),
        })
    })
}

/// Where `number` stands in `text` on its own (not inside a longer number).
fn find_number(text: &str, number: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    text.match_indices(number).map(|(i, _)| i).find(|&i| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + number.len()).copied();
        let digitish = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_digit() || b == b':');
        !digitish(before) && !digitish(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_found_in_sentences() {
        let c = countdown(
            "The customer declined the last request; wait 0:58 before asking again.",
            Duration::from_millis(58_400),
        );
        assert_eq!(
            c,
            Some(Countdown {
                before: "The customer declined the last request; wait ".into(),
                value: "0:58".into(),
                after: " before asking again.".into(),
                format: "clock",
                seconds: 59,
            })
        );
        let c = countdown("wait 30 seconds, not 130", Duration::from_secs(30));
        assert_eq!(
            c.map(|c| (c.value, c.format)),
            Some(("30".into(), "seconds"))
        );
        assert_eq!(countdown("no number here", Duration::from_secs(5)), None);
        assert_eq!(countdown("only 150 here", Duration::from_secs(15)), None);
    }
}
