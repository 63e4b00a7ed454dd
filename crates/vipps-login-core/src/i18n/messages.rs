//! This crate's own texts (the errors' sentences and the phone-number problems) as one
//! [`Catalog`], and [`Language::message`] / [`Language::fill`] to read them.

use super::catalog::Catalog;
use super::language::Language;
use super::{da, en, fi, nb};

/// This crate's own texts: the errors' sentences and the phone-number problems.
pub(crate) static MESSAGES: Catalog = Catalog::new(&[
    (Language::En, en::MESSAGES),
    (Language::Nb, nb::MESSAGES),
    (Language::Da, da::MESSAGES),
    (Language::Fi, fi::MESSAGES),
]);

impl Language {
    /// The catalog text of `key` in this language (English when this language lacks it,
    /// which a test prevents; empty when no language has it).
    #[must_use]
    pub fn message(self, key: &str) -> &'static str {
        MESSAGES.text(self, key)
    }

    /// The catalog text of `key` with each `{name}` replaced by its value.
    #[must_use]
    pub fn fill(self, key: &str, args: &[(&str, &str)]) -> String {
        MESSAGES.fill(self, key, args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when a language lacks a key English has (or has one English lacks), or when
    /// a translation's placeholders differ from the English ones.
    #[test]
    fn every_key_in_every_language() {
        let problems = MESSAGES.problems();
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
