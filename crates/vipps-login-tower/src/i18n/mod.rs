//! The layer's words in Norwegian bokmål, Danish, Finnish and English: one catalog file
//! per language, the app's overrides on top, the language of each request from its
//! `Accept-Language`.

mod da;
mod en;
mod fi;
mod nb;
mod settings;

use std::collections::BTreeMap;

use http::{HeaderMap, header};
use vipps_login_core::i18n::Catalog;
use vipps_login_core::{Error, Language, SentenceParts, Wait};

/// The layer's built-in texts.
static TEXTS: Catalog = Catalog::new(&[
    (Language::En, en::TEXTS),
    (Language::Nb, nb::TEXTS),
    (Language::Da, da::TEXTS),
    (Language::Fi, fi::TEXTS),
]);

/// The built-in text of `key` in `lang`, e.g. `default_text(Language::Nb, "login_start")`
/// is `Some("Send innloggingsforespørsel")`. The keys are listed in the
/// [manual](crate::manual#texts-and-languages); `None` for a key the layer does not have.
///
/// ```
/// use vipps_login_core::Language;
/// assert_eq!(
///     vipps_login_tower::default_text(Language::Nb, "login_start"),
///     Some("Send innloggingsforespørsel")
/// );
/// ```
#[must_use]
pub fn default_text(lang: Language, key: &str) -> Option<&'static str> {
    TEXTS.built_in(lang, key)
}

/// Every key of the layer's texts (the English catalog's, which every other has too).
pub fn text_keys() -> impl Iterator<Item = &'static str> {
    TEXTS.keys()
}

/// The texts of every language with the app's overrides, ready for templates.
pub(crate) struct Texts {
    default: Language,
    catalog: Catalog,
    /// Every language's texts as a template value (`t.login_start`), built once.
    values: Vec<(Language, minijinja::Value)>,
}

impl Texts {
    /// The built-in catalogs with `overrides` (language, key, text) on top; an override
    /// may also add a key of the app's own, for its own templates.
    pub(crate) fn new(default: Language, overrides: &[(Language, String, String)]) -> Self {
        let catalog = overrides
            .iter()
            .fold(TEXTS.clone(), |c, (lang, key, text)| {
                c.with_override(*lang, key.clone(), text.clone())
            });
        let values = Language::ALL
            .iter()
            .map(|&lang| {
                let map: BTreeMap<&str, &str> = catalog.entries(lang).into_iter().collect();
                (lang, minijinja::Value::from_serialize(&map))
            })
            .collect();
        Self {
            default,
            catalog,
            values,
        }
    }

    /// The language of a request: its `Accept-Language`, else the configured default.
    pub(crate) fn lang(&self, headers: &HeaderMap) -> Language {
        let header = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        Language::from_accept_language(header, self.default)
    }

    /// The text of `key` in `lang` (the app's, else the built-in one; the built-in
    /// English one when `lang` has none; the key itself when no text has it).
    pub(crate) fn get(&self, lang: Language, key: &str) -> String {
        self.catalog
            .in_language(lang, key)
            .or_else(|| default_text(Language::En, key))
            .unwrap_or(key)
            .to_owned()
    }

    /// The text of `key` in `lang` itself (the app's, else the built-in one), when it has
    /// one.
    pub(crate) fn custom(&self, lang: Language, key: &str) -> Option<&str> {
        self.catalog.in_language(lang, key)
    }

    /// All texts of `lang` as a template value (`t.login_start`).
    pub(crate) fn value(&self, lang: Language) -> minijinja::Value {
        self.values
            .iter()
            .find(|(l, _)| *l == lang)
            .or_else(|| self.values.iter().find(|(l, _)| *l == Language::En))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// The sentence of `e` in `lang`: the app's text under `error_<code>` when it set one
    /// (with `{wait}`, `{seconds}` and `{why}` filled in), else core's.
    pub(crate) fn error(&self, lang: Language, e: &Error) -> String {
        self.error_parts(lang, e).text()
    }

    /// [`error`](Self::error) cut around the wait it mentions, for a countdown: the
    /// app's text is cut at its first `{wait}` or `{seconds}`.
    pub(crate) fn error_parts(&self, lang: Language, e: &Error) -> SentenceParts {
        let key = format!("error_{}", e.code());
        let Some(text) = self.catalog.in_language(lang, &key) else {
            return e.sentence_parts(lang);
        };
        let clock = e.retry_after().map(Wait::clock);
        let seconds = e.retry_after().map(Wait::seconds);
        let why = match e {
            Error::InvalidPhoneNumber(p) => p.describe(lang),
            _ => String::new(),
        };
        let shown = |w: &Option<Wait>| w.as_ref().map(|w| w.shown.clone()).unwrap_or_default();
        let args = [
            ("wait", shown(&clock)),
            ("seconds", shown(&seconds)),
            ("why", why),
        ];
        let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (placeholder, wait) = match (text.find("{wait}"), text.find("{seconds}")) {
            (Some(w), Some(s)) if s < w => ("seconds", seconds),
            (Some(_), _) => ("wait", clock),
            _ => ("seconds", seconds),
        };
        SentenceParts::from_template(text, &args, placeholder, wait)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::Duration;
    use vipps_login_core::i18n::CatalogProblemKind;

    /// Fails when a language lacks a key English has (or has an extra one), or when its
    /// placeholders differ (texts equal to English's are `translations_are_not_english`).
    #[test]
    fn every_key_in_every_language() {
        let problems: Vec<String> = TEXTS
            .problems()
            .into_iter()
            .filter(|p| p.kind != CatalogProblemKind::SameAsEnglish)
            .map(|p| p.to_string())
            .collect();
        assert!(problems.is_empty(), "{problems:#?}");
        for lang in Language::ALL {
            for key in text_keys() {
                let found = default_text(lang, key);
                assert!(found.is_some_and(|t| !t.trim().is_empty()), "{lang}: {key}");
            }
        }
    }

    #[test]
    fn translations_are_not_english() {
        // Texts that may read the same in a translation (names, formats).
        let same_ok = ["api_media_type", "login_phone_placeholder"];
        for lang in [Language::Nb, Language::Da, Language::Fi] {
            for (key, text) in en::TEXTS {
                if same_ok.contains(key) {
                    continue;
                }
                assert_ne!(
                    default_text(lang, key),
                    Some(*text),
                    "{lang}: {key} is English"
                );
            }
        }
        // The catalog check finds the same, and only those.
        for p in TEXTS.problems() {
            assert!(
                p.kind == CatalogProblemKind::SameAsEnglish && same_ok.contains(&p.key.as_str()),
                "{p}"
            );
        }
    }

    #[test]
    fn overrides_win_and_may_add_keys() {
        let texts = Texts::new(
            Language::Nb,
            &[
                (Language::Nb, "login_start".into(), "Send!".into()),
                (Language::En, "till_name".into(), "Till 3".into()),
                (
                    Language::Nb,
                    "error_cooling_down".into(),
                    "Vent {wait}.".into(),
                ),
            ],
        );
        assert_eq!(texts.get(Language::Nb, "login_start"), "Send!");
        assert_eq!(
            texts.get(Language::Da, "login_start"),
            "Send login-anmodning"
        );
        assert_eq!(texts.get(Language::En, "till_name"), "Till 3");
        let e = Error::CoolingDown {
            reason: vipps_login_core::CoolDownReason::Declined,
            retry_after: Duration::from_secs(61),
        };
        assert_eq!(texts.error(Language::Nb, &e), "Vent 1:01.");
        assert!(texts.error(Language::Da, &e).contains("1:01"));
        let mut headers = HeaderMap::new();
        assert_eq!(texts.lang(&headers), Language::Nb);
        headers.insert(header::ACCEPT_LANGUAGE, "fi-FI,fi;q=0.9".parse().unwrap());
        assert_eq!(texts.lang(&headers), Language::Fi);
    }
}
