//! [`Error::sentence`]: the error's sentence in a language, from the catalogs.

use std::borrow::Cow;
use std::time::Duration;

use super::Language;
use crate::Error;
use crate::error::{CoolDownReason, minutes_seconds};

impl Error {
    /// The sentence of this error in `lang`, for the clerk, the agent or the customer who
    /// reads it. `sentence(Language::En)` equals `to_string()`.
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
            Error::RateLimited { retry_after } => match retry_after {
                Some(d) => Cow::Owned(lang.fill(
                    "error.rate_limited.wait",
                    &[("seconds", &d.as_secs().max(1).to_string())],
                )),
                None => key("error.rate_limited"),
            },
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
            Error::CoolingDown {
                reason,
                retry_after,
            } => Cow::Owned(cool_down_for(lang, *reason, *retry_after)),
            Error::NotFinished => key("error.not_finished"),
            Error::UnknownCallback => key("error.unknown_callback"),
            Error::WebhookRejected(d) => detail("error.webhook_rejected", d),
        }
    }
}

pub(crate) fn cool_down_for(
    lang: Language,
    reason: CoolDownReason,
    retry_after: Duration,
) -> String {
    let k = match reason {
        CoolDownReason::Declined => "error.cooling_down.declined",
        CoolDownReason::Ignored => "error.cooling_down.ignored",
    };
    lang.fill(k, &[("wait", &minutes_seconds(retry_after))])
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
}
