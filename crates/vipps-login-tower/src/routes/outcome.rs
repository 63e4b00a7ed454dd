//! How a login's end is shown: result pages and JSON errors, one [`Outcome`] each.

use std::time::Duration;

use http::StatusCode;
use vipps_login_core::{Error, Language, LoginStatus, SentenceParts};

use crate::i18n::Texts;

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

    /// The words cut around the wait they mention (only a core error's sentence, or the
    /// app's text for it, mentions one).
    pub(crate) fn parts(&self, texts: &Texts, lang: Language) -> SentenceParts {
        match self {
            Text::Key(k) => SentenceParts::plain(texts.get(lang, k)),
            Text::Error(e) => texts.error_parts(lang, e),
            Text::Plain(s) => SentenceParts::plain(s.clone()),
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

/// A sentence with a wait in it, cut around the wait so that a page can count it down
/// (the `#countdown` element of `result.html` and its script).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Countdown {
    pub before: String,
    pub value: String,
    pub after: String,
    /// `clock` (`m:ss`) or `seconds`.
    pub format: &'static str,
    /// The whole wait in seconds, rounded up: at zero the server agrees that the wait is
    /// over.
    pub seconds: u64,
}

impl Countdown {
    /// The countdown of a sentence that mentions a wait; `None` for one that does not.
    pub(crate) fn from_parts(parts: &SentenceParts) -> Option<Countdown> {
        let wait = parts.wait.as_ref()?;
        Some(Countdown {
            before: parts.before.clone(),
            value: wait.shown.clone(),
            after: parts.after.clone(),
            format: wait.format.as_str(),
            seconds: wait.seconds,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use vipps_login_core::CoolDownReason;

    fn countdown(e: &Error) -> Option<Countdown> {
        let texts = Texts::new(Language::En, &[]);
        Countdown::from_parts(&Text::Error(e.clone()).parts(&texts, Language::En))
    }

    #[test]
    fn waits_are_found_in_sentences() {
        let c = countdown(&Error::CoolingDown {
            reason: CoolDownReason::Declined,
            retry_after: Duration::from_millis(58_400),
        });
        assert_eq!(
            c,
            Some(Countdown {
                before: "The customer declined the last request; wait ".into(),
                value: "0:59".into(),
                after: " before asking again.".into(),
                format: "clock",
                seconds: 59,
            })
        );
        let c = countdown(&Error::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        });
        assert_eq!(
            c.map(|c| (c.value, c.format)),
            Some(("30".into(), "seconds"))
        );
        assert_eq!(countdown(&Error::Declined), None);
        assert_eq!(
            countdown(&Error::LoginPending {
                retry_after: Some(Duration::from_secs(15))
            }),
            None,
            "a sentence without the wait has no countdown"
        );
    }

    #[test]
    fn an_apps_own_sentence_counts_down_its_placeholder() {
        let texts = Texts::new(
            Language::En,
            &[(
                Language::Nb,
                "error_rate_limited".into(),
                "Vent {seconds} s (altså {wait}).".into(),
            )],
        );
        let e = Error::RateLimited {
            retry_after: Some(Duration::from_millis(90_500)),
        };
        let parts = Text::Error(e).parts(&texts, Language::Nb);
        let c = Countdown::from_parts(&parts).unwrap();
        assert_eq!(
            (c.before.as_str(), c.value.as_str(), c.after.as_str()),
            ("Vent ", "90", " s (altså 1:31).")
        );
        assert_eq!((c.format, c.seconds), ("seconds", 91));
    }
}
