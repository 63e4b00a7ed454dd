//! How a login's end is shown: result pages and JSON answers, one [`Outcome`] each, from
//! core's [`LoginEnd`] in one table ([`read_end`]); errors that are no login's end
//! (limits, the store, an unknown callback) by themselves.

use std::time::Duration;

use http::StatusCode;
use vipps_login_core::login::CannotUseVipps;
use vipps_login_core::{Error, FlowKind, Language, LoginEnd, LoginStatus, SentenceParts};

use crate::i18n::Texts;
use crate::response::retry_after_secs;

/// A text of an outcome, put into words in the request's language when it is shown.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    /// A key of the layer's texts.
    Key(&'static str),
    /// A core error's sentence.
    Error(Error),
    /// Words that come as they are (an app hook's refusal).
    Plain(String),
    /// A key of the layer's texts with `{seconds}` in it, and the wait to fill in.
    Waiting(&'static str, Duration),
}

impl Text {
    pub(crate) fn say(&self, texts: &Texts, lang: Language) -> String {
        match self {
            Text::Key(k) => texts.get(lang, k),
            Text::Error(e) => texts.error(lang, e),
            Text::Plain(s) => s.clone(),
            Text::Waiting(k, wait) => texts
                .get(lang, k)
                .replace("{seconds}", &retry_after_secs(*wait).max(1).to_string()),
        }
    }

    /// The words cut around the wait they mention (only a core error's sentence, or the
    /// app's text for it, mentions one).
    pub(crate) fn parts(&self, texts: &Texts, lang: Language) -> SentenceParts {
        match self {
            Text::Key(k) => SentenceParts::plain(texts.get(lang, k)),
            Text::Error(e) => texts.error_parts(lang, e),
            Text::Plain(s) => SentenceParts::plain(s.clone()),
            Text::Waiting(..) => SentenceParts::plain(self.say(texts, lang)),
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
    fn new(status: &'static str, heading: &'static str, message: Text, http: StatusCode) -> Self {
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

    /// How a login that ended reads, from [the table](read_end); `None` for a
    /// finish-in-app approval, which is redeemed rather than shown.
    pub(crate) fn ended(end: &LoginEnd, flow: FlowKind) -> Option<Self> {
        read_end(end, flow).outcome
    }

    /// How an error reads: a login's end ([`LoginEnd::from_error`]) through the table,
    /// any other error (limits, the store, an unknown callback, no such login) by itself.
    pub(crate) fn error(e: &Error) -> Self {
        match LoginEnd::from_error(e) {
            LoginEnd::Failed(_) => Self::failure(e),
            end => Self::ended(&end, FlowKind::FinishInApp).unwrap_or_else(|| Self::failure(e)),
        }
    }

    /// The errors that are not a login's end, and a login that failed.
    fn failure(e: &Error) -> Self {
        let (status, heading, http) = match e {
            Error::LoginNotFound => return Self::not_found(),
            Error::RateLimited { .. } | Error::LoginPending { .. } | Error::CoolingDown { .. } => {
                let mut o = Self::new(
                    "rate_limited",
                    "rate_limited_heading",
                    Text::Error(e.clone()),
                    StatusCode::TOO_MANY_REQUESTS,
                );
                let wait = e.retry_after().unwrap_or(Duration::from_secs(60));
                o.retry_after = Some(wait.max(Duration::from_secs(1)));
                return o;
            }
            Error::UnknownCallback => ("rejected", "rejected_heading", StatusCode::FORBIDDEN),
            Error::Store(_) => ("unavailable", "unavailable_heading", e.status()),
            _ => ("error", "error_heading", e.status()),
        };
        let mut outcome = Self::new(status, heading, Text::Error(e.clone()), http);
        // A store outage (503) says when to try again, as a rate limit does.
        outcome.retry_after = e.retry_after();
        outcome
    }

    /// A login the customer declined, as the table reads it.
    pub(crate) fn declined() -> Self {
        Self::error(&Error::Declined)
    }

    /// A login cancelled here, as the table reads it.
    pub(crate) fn cancelled() -> Self {
        Self::error(&Error::Cancelled)
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

    /// A user-exists question over the client's limit: 429 with `Retry-After`, in words
    /// about checking numbers (core's sentence speaks of logins started).
    pub(crate) fn user_exists_limited(wait: Duration) -> Self {
        let wait = wait.max(Duration::from_secs(1));
        let mut o = Self::new(
            "rate_limited",
            "rate_limited_heading",
            Text::Waiting("user_exists_rate_limited", wait),
            StatusCode::TOO_MANY_REQUESTS,
        );
        o.retry_after = Some(wait);
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

    /// The app's [`LoginHook`](crate::LoginHook) (or completion step) refused the login.
    pub(crate) fn rejected(e: &crate::HookError) -> Self {
        Self::new(
            "rejected",
            "rejected_heading",
            Text::Plain(e.message().to_owned()),
            e.status(),
        )
    }
}

/// One row of the table: the result page and JSON answer of a login's end, and its live
/// status line.
struct EndReading {
    outcome: Option<Outcome>,
    /// The key of the waiting page's (and the event stream's) status line.
    line: &'static str,
}

/// The table: how each way a login can end reads, for every front end of the layer
/// (result pages, the JSON status, the live status line). `flow` tells the screen that
/// started a continue-in-browser login (the customer carries on on the phone) from a
/// finish-in-app one.
fn read_end(end: &LoginEnd, flow: FlowKind) -> EndReading {
    use StatusCode as H;
    let said =
        |status, heading, e: Error, http| Outcome::new(status, heading, Text::Error(e), http);
    let in_browser = flow == FlowKind::ContinueInBrowser;
    let (outcome, line) = match end {
        LoginEnd::Approved(_) | LoginEnd::Redeemed if in_browser => (
            Outcome::keys(
                "continued_in_browser",
                "continued_heading",
                "continued_message",
                H::OK,
            ),
            "status_ended",
        ),
        LoginEnd::Approved(_) => {
            return EndReading {
                outcome: None,
                line: "status_approved",
            };
        }
        // Its result went elsewhere already (another tab, a replay).
        LoginEnd::Redeemed => (
            said(
                "rejected",
                "rejected_heading",
                Error::AlreadyCompleted,
                H::FORBIDDEN,
            ),
            "status_ended",
        ),
        LoginEnd::Declined => (
            said("declined", "declined_heading", Error::Declined, H::OK),
            "status_declined",
        ),
        LoginEnd::Expired => (
            said("expired", "expired_heading", Error::Expired, H::OK),
            "status_expired",
        ),
        LoginEnd::Cancelled => (
            Outcome::keys("cancelled", "cancelled_heading", "cancelled_message", H::OK),
            "status_cancelled",
        ),
        LoginEnd::CannotUseVipps(CannotUseVipps::NotEligible) => (
            said(
                "invalid_user",
                "invalid_user_heading",
                Error::InvalidUser,
                Error::InvalidUser.status(),
            ),
            "status_ended",
        ),
        LoginEnd::CannotUseVipps(CannotUseVipps::OldApp) => (
            said(
                "old_app",
                "old_app_heading",
                Error::OldApp,
                Error::OldApp.status(),
            ),
            "status_ended",
        ),
        LoginEnd::Failed(reason) => (Outcome::failure(&reason.to_error()), "status_ended"),
        other => (
            match other.error() {
                Some(e) => Outcome::failure(&e),
                None => Outcome::keys("error", "error_heading", "ended_message", H::OK),
            },
            "status_ended",
        ),
    };
    EndReading {
        outcome: Some(outcome),
        line,
    }
}

/// The key of the live status line of a login in `status`.
pub(crate) fn status_line(status: &LoginStatus, flow: FlowKind) -> &'static str {
    match LoginEnd::of(status) {
        Some(end) => read_end(&end, flow).line,
        None if matches!(status, LoginStatus::AwaitingBrowser) => "status_awaiting_browser",
        None => "status_pending",
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
    use std::sync::Arc;
    use vipps_login_core::{CoolDownReason, FailureReason};

    fn countdown(e: &Error) -> Option<Countdown> {
        let texts = Texts::new(Language::En, &[]);
        Countdown::from_parts(&Text::Error(e.clone()).parts(&texts, Language::En))
    }

    /// `status`, heading key, HTTP status and wait of an outcome.
    fn row(o: &Outcome) -> (&'static str, &'static str, u16, Option<u64>) {
        let heading = match o.heading {
            Text::Key(k) => k,
            _ => "?",
        };
        (
            o.status,
            heading,
            o.http.as_u16(),
            o.retry_after.map(|d| d.as_secs()),
        )
    }

    /// What the layer answered for each error before the table (kept as it was).
    #[test]
    fn errors_read_as_before() {
        let secs = |s| Some(Duration::from_secs(s));
        let cases = [
            (Error::Declined, ("declined", "declined_heading", 200, None)),
            (Error::Expired, ("expired", "expired_heading", 200, None)),
            (
                Error::Cancelled,
                ("cancelled", "cancelled_heading", 200, None),
            ),
            (
                Error::LoginNotFound,
                ("login_not_found", "not_found_heading", 404, None),
            ),
            (
                Error::AlreadyCompleted,
                ("rejected", "rejected_heading", 403, None),
            ),
            (
                Error::UnknownCallback,
                ("rejected", "rejected_heading", 403, None),
            ),
            (
                Error::InvalidUser,
                ("invalid_user", "invalid_user_heading", 422, None),
            ),
            (Error::OldApp, ("old_app", "old_app_heading", 422, None)),
            (
                Error::RateLimited {
                    retry_after: secs(30),
                },
                ("rate_limited", "rate_limited_heading", 429, Some(30)),
            ),
            (
                Error::RateLimited { retry_after: None },
                ("rate_limited", "rate_limited_heading", 429, Some(60)),
            ),
            (
                Error::LoginPending {
                    retry_after: Some(Duration::from_millis(10)),
                },
                ("rate_limited", "rate_limited_heading", 429, Some(1)),
            ),
            (
                Error::CoolingDown {
                    reason: CoolDownReason::Declined,
                    retry_after: Duration::from_secs(9),
                },
                ("rate_limited", "rate_limited_heading", 429, Some(9)),
            ),
            (
                Error::Store("down".to_owned().into()),
                ("unavailable", "unavailable_heading", 503, Some(5)),
            ),
            (
                Error::InvalidClient,
                (
                    "error",
                    "error_heading",
                    Error::InvalidClient.status().as_u16(),
                    None,
                ),
            ),
        ];
        for (e, want) in cases {
            assert_eq!(row(&Outcome::error(&e)), want, "{e:?}");
        }
    }

    /// What the waiting page and the status API showed for each state before the table.
    #[test]
    fn ends_read_as_before() {
        let identity = Arc::new(vipps_login_core::Identity::new(
            "sub".into(),
            serde_json::Map::new(),
            vipps_login_core::UserInfo::default(),
        ));
        let app = FlowKind::FinishInApp;
        let browser = FlowKind::ContinueInBrowser;
        let continued = Some(("continued_in_browser", "continued_heading", 200, None));
        let cases = [
            (LoginStatus::Pending, app, None, "status_pending"),
            (
                LoginStatus::AwaitingBrowser,
                browser,
                None,
                "status_awaiting_browser",
            ),
            (
                LoginStatus::Approved(identity.clone()),
                app,
                None,
                "status_approved",
            ),
            (
                LoginStatus::Exchanged(identity),
                browser,
                continued,
                "status_ended",
            ),
            (LoginStatus::Redeemed, browser, continued, "status_ended"),
            (
                LoginStatus::Redeemed,
                app,
                Some(("rejected", "rejected_heading", 403, None)),
                "status_ended",
            ),
            (
                LoginStatus::Denied,
                app,
                Some(("declined", "declined_heading", 200, None)),
                "status_declined",
            ),
            (
                LoginStatus::Expired,
                browser,
                Some(("expired", "expired_heading", 200, None)),
                "status_expired",
            ),
            (
                LoginStatus::Cancelled,
                app,
                Some(("cancelled", "cancelled_heading", 200, None)),
                "status_cancelled",
            ),
            (
                LoginStatus::Failed(FailureReason::OldApp),
                app,
                Some(("old_app", "old_app_heading", 422, None)),
                "status_ended",
            ),
            (
                LoginStatus::Failed(FailureReason::RateLimited { retry_after: None }),
                app,
                Some(("rate_limited", "rate_limited_heading", 429, Some(60))),
                "status_ended",
            ),
        ];
        for (status, flow, want, line) in cases {
            let shown = LoginEnd::of(&status).and_then(|end| Outcome::ended(&end, flow));
            assert_eq!(shown.as_ref().map(row), want, "{status:?}");
            assert_eq!(status_line(&status, flow), line, "{status:?}");
        }
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
