//! The layer's words in Norwegian bokmål, Danish, Finnish and English: one catalog file
//! per language, the app's overrides on top, the language of each request from its
//! `Accept-Language`.

mod da;
mod en;
mod fi;
mod nb;

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderMap, header};
use vipps_login_core::{Error, Language};

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
    catalog(lang)
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, t)| *t)
}

/// Every key of the layer's texts (the English catalog's, which every other has too).
pub fn text_keys() -> impl Iterator<Item = &'static str> {
    en::TEXTS.iter().map(|(k, _)| *k)
}

fn catalog(lang: Language) -> &'static [(&'static str, &'static str)] {
    match lang {
        Language::Nb => nb::TEXTS,
        Language::Da => da::TEXTS,
        Language::Fi => fi::TEXTS,
        _ => en::TEXTS,
    }
}

/// The builder's language settings.
impl crate::VippsLoginLayerBuilder {
    /// The language of the pages and JSON messages for a request whose `Accept-Language`
    /// names none of Norwegian bokmål, Danish, Finnish and English (default
    /// [`Language::En`]). A request that names one gets it (`no`/`nn` read as bokmål).
    pub fn default_language(mut self, lang: Language) -> Self {
        self.default_language = lang;
        self
    }

    /// Replaces one text of the pages in one language, e.g.
    /// `.text(Language::Nb, "login_start", "Send forespørsel")`; the keys are those of
    /// [`text_keys`](crate::text_keys), and `error_<code>` (e.g. `error_declined`)
    /// replaces a core error's sentence (`{wait}`, `{seconds}` and `{why}` are filled
    /// in). A key of the app's own is added, for its own templates (`{{ t.my_key }}`).
    ///
    /// ```
    /// # fn demo(client: vipps_login_core::VippsClient) -> Result<(), vipps_login_tower::BuildError> {
    /// use vipps_login_tower::{Language, VippsLoginLayer};
    /// let layer = VippsLoginLayer::builder(client)
    ///     .default_language(Language::Nb)
    ///     .text(Language::Nb, "login_heading", "Logg inn kunden")
    ///     .text(Language::En, "login_heading", "Log the customer in")
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn text(mut self, lang: Language, key: impl Into<String>, text: impl Into<String>) -> Self {
        self.text_overrides.push((lang, key.into(), text.into()));
        self
    }

    /// Several [`text`](Self::text) overrides in one language.
    pub fn texts<K, V>(mut self, lang: Language, texts: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        for (k, v) in texts {
            self.text_overrides.push((lang, k.into(), v.into()));
        }
        self
    }
}

/// The texts of every language with the app's overrides, ready for templates.
pub(crate) struct Texts {
    default: Language,
    maps: Vec<(Language, BTreeMap<String, String>, minijinja::Value)>,
}

impl Texts {
    /// The built-in catalogs with `overrides` (language, key, text) on top; an override
    /// may also add a key of the app's own, for its own templates.
    pub(crate) fn new(default: Language, overrides: &[(Language, String, String)]) -> Self {
        let maps = Language::ALL
            .iter()
            .map(|&lang| {
                let mut map: BTreeMap<String, String> = catalog(lang)
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect();
                for (l, key, text) in overrides {
                    if *l == lang {
                        map.insert(key.clone(), text.clone());
                    }
                }
                let value = minijinja::Value::from_serialize(&map);
                (lang, map, value)
            })
            .collect();
        Self { default, maps }
    }

    /// The language of a request: its `Accept-Language`, else the configured default.
    pub(crate) fn lang(&self, headers: &HeaderMap) -> Language {
        let header = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        Language::from_accept_language(header, self.default)
    }

    fn map(
        &self,
        lang: Language,
    ) -> Option<&(Language, BTreeMap<String, String>, minijinja::Value)> {
        self.maps
            .iter()
            .find(|(l, _, _)| *l == lang)
            .or_else(|| self.maps.iter().find(|(l, _, _)| *l == Language::En))
    }

    /// The text of `key` in `lang` (the app's, else the built-in one).
    pub(crate) fn get(&self, lang: Language, key: &str) -> String {
        self.map(lang)
            .and_then(|(_, m, _)| m.get(key).cloned())
            .unwrap_or_else(|| default_text(Language::En, key).unwrap_or(key).to_owned())
    }

    /// The app's own text of `key` in `lang`, when it set one.
    pub(crate) fn custom(&self, lang: Language, key: &str) -> Option<&str> {
        self.map(lang)
            .and_then(|(_, m, _)| m.get(key))
            .map(String::as_str)
    }

    /// All texts of `lang` as a template value (`t.login_start`).
    pub(crate) fn value(&self, lang: Language) -> minijinja::Value {
        self.map(lang)
            .map(|(_, _, v)| v.clone())
            .unwrap_or_default()
    }

    /// The sentence of `e` in `lang`: the app's text under `error_<code>` when it set one
    /// (with `{wait}`, `{seconds}` and `{why}` filled in), else core's.
    pub(crate) fn error(&self, lang: Language, e: &Error) -> String {
        let key = format!("error_{}", e.code());
        match self.map(lang).and_then(|(_, m, _)| m.get(&key)) {
            Some(text) => {
                let wait = e
                    .retry_after()
                    .map(|d| (minutes_seconds(d), whole_seconds(d)));
                let why = match e {
                    Error::InvalidPhoneNumber(p) => p.describe(lang),
                    _ => String::new(),
                };
                let (clock, secs) = wait.unwrap_or_default();
                vipps_login_core::i18n::fill(
                    text,
                    &[("wait", &clock), ("seconds", &secs), ("why", &why)],
                )
            }
            None => e.sentence(lang).into_owned(),
        }
    }
}

/// `m:ss`, as core writes a wait (rounded up).
pub(crate) fn minutes_seconds(d: Duration) -> String {
    let s = (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1);
    format!("{}:{:02}", s / 60, s % 60)
}

/// Whole seconds, as core writes a wait in seconds.
pub(crate) fn whole_seconds(d: Duration) -> String {
    d.as_secs().max(1).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The `{name}` placeholders of a text (lowercase names only: JSON examples in a
    /// text are not placeholders).
    fn placeholders(text: &str) -> Vec<&str> {
        let mut names: Vec<&str> = text
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(n, _)| n))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            .collect();
        names.sort_unstable();
        names
    }

    /// Fails when a language lacks a key English has (or has an extra one), or when its
    /// placeholders differ.
    #[test]
    fn every_key_in_every_language() {
        for lang in Language::ALL {
            for (key, text) in en::TEXTS {
                let found =
                    default_text(lang, key).unwrap_or_else(|| panic!("{lang}: missing text {key}"));
                assert_eq!(placeholders(found), placeholders(text), "{lang}: {key}");
                assert!(!found.trim().is_empty(), "{lang}: {key} is empty");
            }
            let cat = catalog(lang);
            assert_eq!(
                cat.len(),
                en::TEXTS.len(),
                "{lang}: extra or duplicate keys"
            );
            for (key, _) in cat {
                assert!(
                    default_text(Language::En, key).is_some(),
                    "{lang}: extra key {key}"
                );
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
