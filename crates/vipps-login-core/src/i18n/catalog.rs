//! [`Catalog`]: texts by language and key, with overrides on top, and the check that
//! every language has every text.

use std::fmt;

use super::language::Language;

/// One language's texts: `(key, text)` pairs.
pub type Texts = &'static [(&'static str, &'static str)];

/// Texts by language and key: built-in tables (English is the reference every other
/// language must match) and, on top, overrides such as an app's own wording.
///
/// A text may hold `{name}` placeholders (lowercase names), filled by
/// [`fill`](Catalog::fill). Lookups fall back to English when a language lacks a key;
/// [`problems`](Catalog::problems) is the test that none does.
///
/// ```
/// use vipps_login_core::Language;
/// use vipps_login_core::i18n::Catalog;
///
/// static WORDS: Catalog = Catalog::new(&[
///     (Language::En, &[("hello", "Hello, {name}!"), ("bye", "Goodbye")]),
///     (Language::Nb, &[("hello", "Hei, {name}!"), ("bye", "Ha det")]),
///     (Language::Da, &[("hello", "Hej, {name}!"), ("bye", "Farvel")]),
///     (Language::Fi, &[("hello", "Hei, {name}!"), ("bye", "Näkemiin")]),
/// ]);
///
/// assert_eq!(WORDS.fill(Language::Nb, "hello", &[("name", "Kari")]), "Hei, Kari!");
/// assert_eq!(WORDS.get(Language::Fi, "nope"), None);
/// let mine = WORDS.clone().with_override(Language::Nb, "bye", "Vi ses");
/// assert_eq!(mine.text(Language::Nb, "bye"), "Vi ses");
/// // Finnish "Hei" is Norwegian "Hei", not English: only a text equal to English's counts.
/// assert!(WORDS.problems().is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct Catalog {
    tables: &'static [(Language, Texts)],
    /// `(language, key, text)`, the latest per language and key only.
    overrides: Vec<(Language, String, String)>,
}

impl Catalog {
    /// A catalog of these built-in tables, one per language (English the reference).
    #[must_use]
    pub const fn new(tables: &'static [(Language, Texts)]) -> Catalog {
        Catalog {
            tables,
            overrides: Vec::new(),
        }
    }

    /// The same catalog with `text` as `key` in `lang`, replacing the built-in text (or
    /// an earlier override), or adding a key of its own.
    #[must_use]
    pub fn with_override(
        mut self,
        lang: Language,
        key: impl Into<String>,
        text: impl Into<String>,
    ) -> Catalog {
        let (key, text) = (key.into(), text.into());
        match self
            .overrides
            .iter_mut()
            .find(|(l, k, _)| *l == lang && *k == key)
        {
            Some(existing) => existing.2 = text,
            None => self.overrides.push((lang, key, text)),
        }
        self
    }

    fn table(&self, lang: Language) -> Texts {
        self.tables
            .iter()
            .find(|(l, _)| *l == lang)
            .map_or(&[], |(_, t)| *t)
    }

    /// The built-in text of `key` in `lang`, overrides ignored, no fallback.
    #[must_use]
    pub fn built_in(&self, lang: Language, key: &str) -> Option<&'static str> {
        self.table(lang)
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, t)| *t)
    }

    /// The text of `key` in `lang` itself (an override, else the built-in text); no
    /// fallback to English.
    #[must_use]
    pub fn in_language(&self, lang: Language, key: &str) -> Option<&str> {
        self.overrides
            .iter()
            .find(|(l, k, _)| *l == lang && k == key)
            .map(|(_, _, t)| t.as_str())
            .or_else(|| self.built_in(lang, key))
    }

    /// The text of `key` in `lang`, else in English; `None` when neither has it.
    #[must_use]
    pub fn get(&self, lang: Language, key: &str) -> Option<&str> {
        self.in_language(lang, key)
            .or_else(|| self.in_language(Language::En, key))
    }

    /// [`get`](Self::get), empty when no language has `key`.
    #[must_use]
    pub fn text(&self, lang: Language, key: &str) -> &str {
        self.get(lang, key).unwrap_or("")
    }

    /// The text of `key` in `lang` with each `{name}` replaced by its value in `args`.
    #[must_use]
    pub fn fill(&self, lang: Language, key: &str, args: &[(&str, &str)]) -> String {
        fill(self.text(lang, key), args)
    }

    /// Every key English has built in, in the table's order.
    pub fn keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.table(Language::En).iter().map(|(k, _)| *k)
    }

    /// Every text of `lang` itself, overrides applied and keys of its own included,
    /// sorted by key (for templates: `{{ t.key }}`).
    #[must_use]
    pub fn entries(&self, lang: Language) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = self.table(lang).to_vec();
        for (l, key, text) in &self.overrides {
            if *l != lang {
                continue;
            }
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = text,
                None => out.push((key, text)),
            }
        }
        out.sort_by(|a, b| a.0.cmp(b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }

    /// What keeps the built-in tables from being complete: for each language, keys
    /// English has and it lacks (or the other way round), keys listed twice, empty
    /// texts, placeholders that differ from English's, and texts identical to
    /// English's (with letters in them, so numbers and formats do not count). Empty
    /// when complete. A test of every catalog asserts this.
    #[must_use]
    pub fn problems(&self) -> Vec<CatalogProblem> {
        let mut out = Vec::new();
        let en = self.table(Language::En);
        let mut problem = |lang, key: &str, kind| {
            out.push(CatalogProblem {
                lang,
                key: key.to_owned(),
                kind,
            });
        };
        for lang in Language::ALL {
            let table = self.table(lang);
            for (i, (key, text)) in table.iter().enumerate() {
                if table[..i].iter().any(|(k, _)| k == key) {
                    problem(lang, key, CatalogProblemKind::Duplicate);
                }
                if text.trim().is_empty() {
                    problem(lang, key, CatalogProblemKind::Empty);
                }
            }
            if lang == Language::En {
                continue;
            }
            for (key, english) in en {
                let Some(found) = self.built_in(lang, key) else {
                    problem(lang, key, CatalogProblemKind::Missing);
                    continue;
                };
                let (expected, got) = (placeholders(english), placeholders(found));
                if expected != got {
                    problem(
                        lang,
                        key,
                        CatalogProblemKind::Placeholders {
                            english: expected.into_iter().map(str::to_owned).collect(),
                            found: got.into_iter().map(str::to_owned).collect(),
                        },
                    );
                }
                if found == *english && english.chars().any(char::is_alphabetic) {
                    problem(lang, key, CatalogProblemKind::SameAsEnglish);
                }
            }
            for (key, _) in table {
                if self.built_in(Language::En, key).is_none() {
                    problem(lang, key, CatalogProblemKind::Extra);
                }
            }
        }
        out
    }
}

/// The `{name}` placeholders of a text, sorted: lowercase names of letters, digits and
/// `_` only, so that braces of another kind (a JSON example in a text) are not
/// placeholders.
#[must_use]
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut names: Vec<&str> = text
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(n, _)| n))
        .filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .collect();
    names.sort_unstable();
    names
}

/// `template` with each `{name}` replaced by its value from `args` (unknown names stay).
#[must_use]
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match args.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(value),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// One thing [`Catalog::problems`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatalogProblem {
    /// The language with the problem.
    pub lang: Language,
    /// The key concerned.
    pub key: String,
    /// What is wrong.
    pub kind: CatalogProblemKind,
}

/// What [`CatalogProblem`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CatalogProblemKind {
    /// English has the key, this language does not.
    Missing,
    /// This language has a key English does not.
    Extra,
    /// The key is listed more than once.
    Duplicate,
    /// The text is empty (or only spaces).
    Empty,
    /// The text's placeholders differ from the English text's.
    Placeholders {
        /// English's, sorted.
        english: Vec<String>,
        /// This language's, sorted.
        found: Vec<String>,
    },
    /// The text is word for word English's (a translation left out?).
    SameAsEnglish,
}

impl fmt::Display for CatalogProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lang, key) = (self.lang, &self.key);
        match &self.kind {
            CatalogProblemKind::Missing => write!(f, "{lang}: missing {key}"),
            CatalogProblemKind::Extra => write!(f, "{lang}: extra key {key}"),
            CatalogProblemKind::Duplicate => write!(f, "{lang}: {key} appears twice"),
            CatalogProblemKind::Empty => write!(f, "{lang}: {key} is empty"),
            CatalogProblemKind::Placeholders { english, found } => write!(
                f,
                "{lang}: placeholders of {key} are {found:?}, English has {english:?}"
            ),
            CatalogProblemKind::SameAsEnglish => write!(f, "{lang}: {key} is still English"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_named_placeholders() {
        assert_eq!(
            fill("wait {wait} now", &[("wait", "0:30")]),
            "wait 0:30 now"
        );
        assert_eq!(fill("{a}{b}{c}", &[("a", "1"), ("b", "2")]), "12{c}");
        assert_eq!(fill("open { brace", &[]), "open { brace");
    }

    static GOOD: Catalog = Catalog::new(&[
        (Language::En, &[("a", "Wait {wait}"), ("b", "Send")]),
        (Language::Nb, &[("a", "Vent {wait}"), ("b", "Send")]),
        (Language::Da, &[("a", "Vent {wait}"), ("b", "Send")]),
        (Language::Fi, &[("a", "Odota {wait}"), ("b", "Lähetä")]),
    ]);

    fn kinds(c: &Catalog) -> Vec<String> {
        c.problems().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn lookups_fall_back_to_english_and_overrides_win() {
        static PARTIAL: Catalog = Catalog::new(&[
            (Language::En, &[("a", "A"), ("b", "B")]),
            (Language::Nb, &[("a", "Å")]),
        ]);
        assert_eq!(PARTIAL.get(Language::Nb, "a"), Some("Å"));
        assert_eq!(PARTIAL.get(Language::Nb, "b"), Some("B"));
        assert_eq!(PARTIAL.in_language(Language::Nb, "b"), None);
        assert_eq!(PARTIAL.get(Language::Fi, "a"), Some("A"));
        assert_eq!(PARTIAL.get(Language::En, "zz"), None);
        assert_eq!(PARTIAL.text(Language::En, "zz"), "");
        let c = PARTIAL
            .clone()
            .with_override(Language::Nb, "b", "Bø")
            .with_override(Language::Nb, "b", "Bæ")
            .with_override(Language::Fi, "own", "Oma");
        assert_eq!(c.get(Language::Nb, "b"), Some("Bæ"), "the latest wins");
        assert_eq!(c.built_in(Language::Nb, "b"), None);
        assert_eq!(c.get(Language::Fi, "own"), Some("Oma"));
        assert_eq!(c.get(Language::Da, "own"), None);
        assert_eq!(
            c.entries(Language::Nb),
            vec![("a", "Å"), ("b", "Bæ")],
            "sorted, overrides applied"
        );
        assert_eq!(c.keys().collect::<Vec<_>>(), vec!["a", "b"]);
    }

    #[test]
    fn fill_uses_the_language_and_the_arguments() {
        assert_eq!(
            GOOD.fill(Language::Fi, "a", &[("wait", "0:30")]),
            "Odota 0:30"
        );
        assert_eq!(GOOD.fill(Language::Fi, "a", &[]), "Odota {wait}");
        assert_eq!(GOOD.fill(Language::Fi, "missing", &[]), "");
    }

    #[test]
    fn a_complete_catalog_has_no_problems_but_copies_of_english() {
        assert_eq!(
            kinds(&GOOD),
            vec!["nb: b is still English", "da: b is still English"]
        );
        assert!(
            GOOD.problems()
                .iter()
                .all(|p| p.kind == CatalogProblemKind::SameAsEnglish && p.key == "b")
        );
    }

    #[test]
    fn every_problem_is_found() {
        static BAD: Catalog = Catalog::new(&[
            (
                Language::En,
                &[("a", "Wait {wait}"), ("b", "B"), ("c", "7")],
            ),
            (
                Language::Nb,
                &[("a", "Vent {seconds}"), ("b", " "), ("c", "7"), ("x", "X")],
            ),
            (Language::Da, &[("a", "Vent {wait}"), ("a", "Igen {wait}")]),
        ]);
        let found = kinds(&BAD);
        for expected in [
            "nb: placeholders of a are [\"seconds\"], English has [\"wait\"]",
            "nb: b is empty",
            "nb: extra key x",
            "da: a appears twice",
            "da: missing b",
            "da: missing c",
            "fi: missing a",
        ] {
            assert!(
                found.iter().any(|p| p == expected),
                "{expected} in {found:#?}"
            );
        }
        assert!(
            !found.iter().any(|p| p.contains(": c is still English")),
            "a number is no translation left out: {found:#?}"
        );
    }

    #[test]
    fn placeholders_are_lowercase_names() {
        assert_eq!(placeholders("{b} {a} {a_1}"), vec!["a", "a_1", "b"]);
        assert!(placeholders(r#"send {"phone": "+47…"} or { }"#).is_empty());
        assert!(placeholders("no braces").is_empty());
    }
}
