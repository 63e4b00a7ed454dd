//! The languages of the sentences people read: Norwegian bokmål, Danish, Finnish and
//! English, chosen from an `Accept-Language` header.
//!
//! [`Language`] parses and negotiates; [`Catalog`] holds texts by language and key (this
//! crate's, the tower layer's and an app's own all use it);
//! [`Error::sentence`](crate::Error::sentence) and
//! [`PhoneProblem::describe`](crate::PhoneProblem::describe) give the error sentences in
//! a language. The English sentences are the errors' `Display`. Each language's texts
//! are one file of this module (`en.rs`, `nb.rs`, `da.rs`, `fi.rs`); a test fails when a
//! key is missing in one of them.
//!
//! ```
//! use vipps_login_core::{Error, Language};
//!
//! let lang = Language::negotiate("nb-NO,nb;q=0.9,en;q=0.5").unwrap_or(Language::En);
//! assert_eq!(lang, Language::Nb);
//! assert_eq!(Error::Declined.sentence(lang), "Kunden avviste innloggingen i Vipps-appen.");
//! assert_eq!(Language::from_accept_language(Some("sv-SE"), Language::Da), Language::Da);
//! ```

mod catalog;
mod da;
mod en;
mod fi;
mod language;
mod messages;
mod nb;

pub use catalog::{Catalog, CatalogProblem, CatalogProblemKind, Texts, placeholders};
pub use language::{Language, fill};

#[cfg(test)]
mod tests {
    use super::language::parse_q;
    use super::messages::MESSAGES;
    use super::*;

    #[test]
    fn accept_language_is_negotiated() {
        let n = |h: &str| Language::negotiate(h);
        assert_eq!(n("nb"), Some(Language::Nb));
        assert_eq!(n("no"), Some(Language::Nb));
        assert_eq!(n("nn-NO"), Some(Language::Nb));
        assert_eq!(n("NB-no"), Some(Language::Nb));
        assert_eq!(n("da-DK,da;q=0.9"), Some(Language::Da));
        assert_eq!(n("fi"), Some(Language::Fi));
        assert_eq!(n("en-GB,en;q=0.8"), Some(Language::En));
        assert_eq!(n("en;q=0.5, fi;q=0.9"), Some(Language::Fi));
        assert_eq!(n("sv-SE,sv;q=0.9,nb;q=0.3,en;q=0.2"), Some(Language::Nb));
        assert_eq!(n("da;q=0, en"), Some(Language::En));
        assert_eq!(n("en, nb"), Some(Language::En), "a tie goes to the first");
        assert_eq!(n("nb;q=1.0, en;q=1"), Some(Language::Nb));
        assert_eq!(n("de-DE, *;q=0.5"), None);
        assert_eq!(n(""), None);
        assert_eq!(n("nb;q=banana, en;q=0.1"), Some(Language::En));
        assert_eq!(n("nb;q=1.5"), None);
        assert_eq!(n(";;;,,,=q"), None);
        assert_eq!(
            Language::from_accept_language(None, Language::Nb),
            Language::Nb
        );
        assert_eq!(
            Language::from_accept_language(Some("fr"), Language::Fi),
            Language::Fi
        );
        assert_eq!(
            Language::from_accept_language(Some("en-US"), Language::Fi),
            Language::En
        );
    }

    #[test]
    fn q_values() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("0.8"), Some(800));
        assert_eq!(parse_q("0.123"), Some(123));
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(parse_q("2"), None);
        assert_eq!(parse_q("1.001"), None);
    }

    #[test]
    fn tags_round_trip() {
        for lang in Language::ALL {
            assert_eq!(lang.code().parse::<Language>().ok(), Some(lang));
            assert_eq!(lang.to_string(), lang.code());
        }
        assert!("sv".parse::<Language>().is_err());
    }

    #[test]
    fn fill_replaces_named_placeholders() {
        assert_eq!(
            fill("wait {wait} now", &[("wait", "0:30")]),
            "wait 0:30 now"
        );
        assert_eq!(fill("{a}{b}{c}", &[("a", "1"), ("b", "2")]), "12{c}");
        assert_eq!(fill("open { brace", &[]), "open { brace");
    }

    /// Fails when a language lacks a key English has (or has one English lacks), or when
    /// a translation's placeholders differ from the English ones.
    #[test]
    fn every_key_in_every_language() {
        let problems = MESSAGES.problems();
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
