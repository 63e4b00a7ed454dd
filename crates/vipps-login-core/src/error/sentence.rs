//! [`Error::sentence`] and [`Error::sentence_parts`]: the error's sentence in a language,
//! from the catalogs, as text or cut around the wait it mentions (so that a page can
//! count the wait down without reading the text).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use super::{CoolDownReason, Error};
use crate::i18n::{Language, fill};

/// How a [`Wait`] is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitFormat {
    /// Minutes and seconds, `m:ss` (`4:55`).
    Clock,
    /// Whole seconds (`30`).
    Seconds,
}

impl WaitFormat {
    /// `clock` or `seconds`, e.g. for a page's script.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            WaitFormat::Clock => "clock",
            WaitFormat::Seconds => "seconds",
        }
    }
}

/// A wait as a sentence mentions it.
///
/// ```
/// use std::time::Duration;
/// use vipps_login_core::{Wait, WaitFormat};
///
/// let w = Wait::clock(Duration::from_millis(58_400));
/// assert_eq!((w.shown.as_str(), w.seconds, w.format), ("0:59", 59, WaitFormat::Clock));
/// let w = Wait::seconds(Duration::from_millis(2_500));
/// assert_eq!((w.shown.as_str(), w.seconds), ("2", 3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Wait {
    /// The whole wait in seconds, rounded up (at least 1): who waits this long is not
    /// refused again.
    pub seconds: u64,
    /// The wait as the sentence writes it.
    pub shown: String,
    /// How [`shown`](Self::shown) is written.
    pub format: WaitFormat,
}

impl Wait {
    /// `d` as `m:ss`, rounded up (at least `0:01`), so that a clerk who waits as long as
    /// it says is never refused again.
    #[must_use]
    pub fn clock(d: Duration) -> Wait {
        let s = whole_seconds_up(d);
        Wait {
            seconds: s,
            shown: format!("{}:{:02}", s / 60, s % 60),
            format: WaitFormat::Clock,
        }
    }

    /// `d` as whole seconds, as Vipps' `Retry-After` is read: rounded down (at least 1).
    #[must_use]
    pub fn seconds(d: Duration) -> Wait {
        Wait {
            seconds: whole_seconds_up(d),
            shown: d.as_secs().max(1).to_string(),
            format: WaitFormat::Seconds,
        }
    }
}

fn whole_seconds_up(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// A sentence cut around the wait it mentions: `before`, the wait, `after`. Without a
/// wait, the whole sentence is `before`. `Display` (and [`text`](Self::text)) is the
/// sentence as one text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentenceParts {
    /// The words before the wait (all of them when there is none).
    pub before: String,
    /// The wait, when the sentence mentions one.
    pub wait: Option<Wait>,
    /// The words after the wait.
    pub after: String,
}

impl SentenceParts {
    /// A sentence without a wait.
    #[must_use]
    pub fn plain(text: impl Into<String>) -> SentenceParts {
        SentenceParts {
            before: text.into(),
            wait: None,
            after: String::new(),
        }
    }

    /// `template` with each `{name}` filled from `args`, cut at the first `{placeholder}`,
    /// which `wait` fills. Without a `wait`, or when the template lacks the placeholder,
    /// the filled template is the whole sentence.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vipps_login_core::{SentenceParts, Wait};
    ///
    /// let p = SentenceParts::from_template(
    ///     "{who} may try again in {wait}.",
    ///     &[("who", "Kari")],
    ///     "wait",
    ///     Some(Wait::clock(Duration::from_secs(90))),
    /// );
    /// assert_eq!(p.before, "Kari may try again in ");
    /// assert_eq!(p.wait.as_ref().map(|w| w.shown.as_str()), Some("1:30"));
    /// assert_eq!(p.after, ".");
    /// assert_eq!(p.to_string(), "Kari may try again in 1:30.");
    /// ```
    #[must_use]
    pub fn from_template(
        template: &str,
        args: &[(&str, &str)],
        placeholder: &str,
        wait: Option<Wait>,
    ) -> SentenceParts {
        let marker = format!("{{{placeholder}}}");
        match (wait, template.find(&marker)) {
            (Some(wait), Some(at)) => SentenceParts {
                before: fill(&template[..at], args),
                after: fill(&template[at + marker.len()..], args),
                wait: Some(wait),
            },
            _ => SentenceParts::plain(fill(template, args)),
        }
    }

    /// The sentence as one text: `before`, the wait as shown, `after`.
    #[must_use]
    pub fn text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for SentenceParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.before)?;
        if let Some(w) = &self.wait {
            f.write_str(&w.shown)?;
        }
        f.write_str(&self.after)
    }
}

impl Error {
    /// The sentence of this error in `lang`, for the clerk, the agent or the customer who
    /// reads it. `sentence(Language::En)` equals `to_string()`; it is
    /// [`sentence_parts`](Self::sentence_parts) as one text.
    ///
    /// Parameters are formatted for the language (a wait as `m:ss`, a phone-number
    /// problem through [`PhoneProblem::describe`](crate::PhoneProblem::describe)).
    /// Technical details (a transport failure, Vipps' own description of a refusal) stay
    /// as they were reported.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vipps_login_core::{CoolDownReason, Error, Language};
    ///
    /// let e = Error::CoolingDown {
    ///     reason: CoolDownReason::Ignored,
    ///     retry_after: Duration::from_secs(295),
    /// };
    /// assert_eq!(
    ///     e.sentence(Language::Nb),
    ///     "Kunden svarte ikke på forrige forespørsel; du kan sende en ny om 4:55."
    /// );
    /// assert_eq!(e.sentence(Language::En), e.to_string());
    /// ```
    #[must_use]
    pub fn sentence(&self, lang: Language) -> Cow<'static, str> {
        let key = |k: &'static str| Cow::Borrowed(lang.message(k));
        let detail = |k: &str, d: &str| Cow::Owned(lang.fill(k, &[("detail", d)]));
        match self {
            Error::InvalidPhoneNumber(p) => {
                Cow::Owned(lang.fill("error.invalid_phone_number", &[("why", &p.describe(lang))]))
            }
            Error::InvalidBindingMessage(d) => detail("error.invalid_binding_message", d),
            Error::InvalidScope(d) => detail("error.invalid_scope", d),
            Error::InvalidInput(d) => detail("error.invalid_input", d),
            Error::Declined => key("error.declined"),
            Error::Expired => key("error.expired"),
            Error::InvalidUser => key("error.invalid_user"),
            Error::OldApp => key("error.old_app"),
            Error::RateLimited { retry_after: None } => key("error.rate_limited"),
            Error::RateLimited {
                retry_after: Some(_),
            }
            | Error::CoolingDown { .. } => Cow::Owned(self.sentence_parts(lang).text()),
            Error::InvalidClient => key("error.invalid_client"),
            Error::UnauthorizedClient => key("error.unauthorized_client"),
            Error::InvalidRequest(d) => detail("error.invalid_request", d),
            Error::LoginNotFound => key("error.login_not_found"),
            Error::Cancelled => key("error.cancelled"),
            Error::AlreadyCompleted => key("error.already_completed"),
            Error::InvalidCode => key("error.invalid_code"),
            Error::TokenVerification(t) => detail("error.token_verification", &t.to_string()),
            Error::Protocol(d) => detail("error.protocol", d),
            Error::Upstream { status } => {
                Cow::Owned(lang.fill("error.upstream", &[("status", &status.to_string())]))
            }
            Error::Transport(d) => detail("error.transport", d.message()),
            Error::Config(d) => detail("error.config", d),
            Error::Store(d) => detail("error.store", &d.to_string()),
            Error::LoginPending { .. } => key("error.login_pending"),
            Error::NotFinished => key("error.not_finished"),
            Error::UnknownCallback => key("error.unknown_callback"),
            Error::WebhookRejected(d) => detail("error.webhook_rejected", d),
        }
    }

    /// The sentence of this error in `lang`, cut around the wait it mentions (a rate
    /// limit's seconds, a cool-down's `m:ss`), so that a page can show the wait as a
    /// countdown; without a wait, the whole sentence is `before`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vipps_login_core::{CoolDownReason, Error, Language, WaitFormat};
    ///
    /// let e = Error::CoolingDown {
    ///     reason: CoolDownReason::Declined,
    ///     retry_after: Duration::from_millis(58_400),
    /// };
    /// let parts = e.sentence_parts(Language::En);
    /// assert_eq!(parts.before, "The customer declined the last request; wait ");
    /// let wait = parts.wait.as_ref().map(|w| (w.shown.as_str(), w.seconds, w.format));
    /// assert_eq!(wait, Some(("0:59", 59, WaitFormat::Clock)));
    /// assert_eq!(parts.after, " before asking again.");
    /// assert_eq!(parts.to_string(), e.sentence(Language::En));
    /// assert_eq!(Error::Declined.sentence_parts(Language::En).wait, None);
    /// ```
    #[must_use]
    pub fn sentence_parts(&self, lang: Language) -> SentenceParts {
        match self.wait_template() {
            Some((key, placeholder, wait)) => {
                SentenceParts::from_template(lang.message(key), &[], placeholder, Some(wait))
            }
            None => SentenceParts::plain(self.sentence(lang)),
        }
    }

    /// The catalog key, the placeholder and the wait of a sentence that mentions one.
    fn wait_template(&self) -> Option<(&'static str, &'static str, Wait)> {
        match self {
            Error::RateLimited {
                retry_after: Some(d),
            } => Some(("error.rate_limited.wait", "seconds", Wait::seconds(*d))),
            Error::CoolingDown {
                reason,
                retry_after,
            } => {
                let key = match reason {
                    CoolDownReason::Declined => "error.cooling_down.declined",
                    CoolDownReason::Ignored => "error.cooling_down.ignored",
                };
                Some((key, "wait", Wait::clock(*retry_after)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PhoneProblem, TokenError};

    fn every_variant() -> Vec<Error> {
        let s = || "x".to_owned();
        let d = Some(Duration::from_secs(30));
        vec![
            Error::InvalidPhoneNumber(PhoneProblem::Letters('a')),
            Error::InvalidPhoneNumber(PhoneProblem::Empty),
            Error::InvalidPhoneNumber(PhoneProblem::TrailingCharacters("x".into())),
            Error::InvalidPhoneNumber(PhoneProblem::WrongLength {
                country_code: 358,
                min: 5,
                max: 10,
                got: 4,
            }),
            Error::InvalidPhoneNumber(PhoneProblem::NoCountryCode { got: 7 }),
            Error::InvalidPhoneNumber(PhoneProblem::UnknownCountryCode),
            Error::InvalidPhoneNumber(PhoneProblem::MisplacedPlus),
            Error::InvalidPhoneNumber(PhoneProblem::InvalidCharacter('#')),
            Error::InvalidBindingMessage(s()),
            Error::InvalidScope(s()),
            Error::InvalidInput(s()),
            Error::Declined,
            Error::Expired,
            Error::InvalidUser,
            Error::OldApp,
            Error::RateLimited { retry_after: d },
            Error::RateLimited { retry_after: None },
            Error::InvalidClient,
            Error::UnauthorizedClient,
            Error::InvalidRequest(s()),
            Error::LoginNotFound,
            Error::Cancelled,
            Error::AlreadyCompleted,
            Error::InvalidCode,
            Error::TokenVerification(TokenError::Nonce),
            Error::Protocol(s()),
            Error::Upstream { status: 502 },
            Error::Transport(s().into()),
            Error::Config(s()),
            Error::Store(s().into()),
            Error::LoginPending { retry_after: d },
            Error::CoolingDown {
                reason: CoolDownReason::Declined,
                retry_after: Duration::from_secs(58),
            },
            Error::CoolingDown {
                reason: CoolDownReason::Ignored,
                retry_after: Duration::from_secs(295),
            },
            Error::NotFinished,
            Error::UnknownCallback,
            Error::WebhookRejected(s()),
        ]
    }

    #[test]
    fn english_sentence_is_display() {
        for e in every_variant() {
            assert_eq!(e.sentence(Language::En), e.to_string(), "{e:?}");
        }
    }

    #[test]
    fn every_variant_reads_differently_in_each_language() {
        for e in every_variant() {
            let en = e.sentence(Language::En);
            for lang in [Language::Nb, Language::Da, Language::Fi] {
                let s = e.sentence(lang);
                assert!(!s.is_empty() && s != en, "{lang}: {e:?} reads {s}");
                assert!(!s.contains('{'), "{lang}: unfilled placeholder in {s}");
            }
        }
    }

    #[test]
    fn waits_read_as_minutes_and_seconds() {
        let e = Error::CoolingDown {
            reason: CoolDownReason::Declined,
            retry_after: Duration::from_secs(58),
        };
        assert_eq!(
            e.sentence(Language::Da),
            "Kunden afviste den sidste anmodning; vent 0:58, før du spørger igen."
        );
        assert_eq!(
            e.sentence(Language::Fi),
            "Asiakas hylkäsi edellisen pyynnön; odota 0:58 ennen kuin pyydät uudelleen."
        );
    }

    #[test]
    fn waits_are_cut_out_of_the_sentence_in_every_language() {
        let cool = Error::CoolingDown {
            reason: CoolDownReason::Declined,
            retry_after: Duration::from_millis(58_400),
        };
        let limited = Error::RateLimited {
            retry_after: Some(Duration::from_millis(30_200)),
        };
        for lang in Language::ALL {
            let p = cool.sentence_parts(lang);
            let w = p.wait.clone().unwrap_or_else(|| panic!("{lang}: no wait"));
            assert_eq!(
                (w.shown.as_str(), w.seconds, w.format),
                ("0:59", 59, WaitFormat::Clock)
            );
            assert_eq!(p.text(), cool.sentence(lang));
            let p = limited.sentence_parts(lang);
            let w = p.wait.clone().unwrap_or_else(|| panic!("{lang}: no wait"));
            assert_eq!(
                (w.shown.as_str(), w.seconds, w.format),
                ("30", 31, WaitFormat::Seconds)
            );
            assert_eq!(p.text(), limited.sentence(lang));
            assert!(!p.before.contains("30") && !p.after.contains("30"));
        }
        for e in every_variant() {
            let p = e.sentence_parts(Language::Nb);
            assert_eq!(p.text(), e.sentence(Language::Nb), "{e:?}");
            let has_wait = matches!(
                e,
                Error::CoolingDown { .. }
                    | Error::RateLimited {
                        retry_after: Some(_)
                    }
            );
            assert_eq!(p.wait.is_some(), has_wait, "{e:?}");
        }
    }

    #[test]
    fn waits_round_up_and_never_read_zero() {
        assert_eq!(Wait::clock(Duration::ZERO).shown, "0:01");
        assert_eq!(Wait::clock(Duration::from_secs(60)).shown, "1:00");
        assert_eq!(Wait::clock(Duration::from_millis(60_001)).shown, "1:01");
        assert_eq!(Wait::clock(Duration::from_secs(3_600)).shown, "60:00");
        assert_eq!(Wait::seconds(Duration::ZERO).shown, "1");
        assert_eq!(Wait::seconds(Duration::from_millis(999)).seconds, 1);
        assert_eq!(Wait::seconds(Duration::from_millis(1_001)).seconds, 2);
        assert_eq!(WaitFormat::Clock.as_str(), "clock");
        assert_eq!(WaitFormat::Seconds.as_str(), "seconds");
    }

    #[test]
    fn a_template_without_its_placeholder_is_one_plain_sentence() {
        let w = Some(Wait::seconds(Duration::from_secs(5)));
        let p = SentenceParts::from_template("Wait a bit, {who}.", &[("who", "Ola")], "wait", w);
        assert_eq!(p, SentenceParts::plain("Wait a bit, Ola."));
        let p = SentenceParts::from_template("In {wait}: {wait}.", &[], "wait", None);
        assert_eq!(p.to_string(), "In {wait}: {wait}.");
        let p = SentenceParts::from_template(
            "In {wait}: {wait}.",
            &[("wait", "5")],
            "wait",
            Some(Wait::seconds(Duration::from_secs(5))),
        );
        assert_eq!((p.before.as_str(), p.after.as_str()), ("In ", ": 5."));
    }
}
