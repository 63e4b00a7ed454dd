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

pub use catalog::{Catalog, CatalogProblem, CatalogProblemKind, Texts, fill, placeholders};
pub use language::Language;
