//! [`Language`]: the languages the sentences come in, read from a tag or negotiated
//! from an `Accept-Language` header.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A language the sentences come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Language {
    /// Norwegian bokmål (`nb`; `no` and `nn` are read as bokmål too).
    Nb,
    /// Danish (`da`).
    Da,
    /// Finnish (`fi`).
    Fi,
    /// English (`en`), the default.
    #[default]
    En,
}

impl Language {
    /// Every language, in the order of this enum.
    pub const ALL: [Language; 4] = [Language::Nb, Language::Da, Language::Fi, Language::En];

    /// The language's tag as used in `lang` attributes and `Content-Language`: `nb`,
    /// `da`, `fi`, `en`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Language::Nb => "nb",
            Language::Da => "da",
            Language::Fi => "fi",
            Language::En => "en",
        }
    }

    /// The language of one language tag (`nb-NO`, `no`, `nn`, `da`, `fi-FI`, `en-GB`, …;
    /// case-insensitive), or `None` for a language not offered.
    #[must_use]
    pub fn from_tag(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("");
        match primary.to_ascii_lowercase().as_str() {
            "nb" | "no" | "nn" => Some(Language::Nb),
            "da" => Some(Language::Da),
            "fi" => Some(Language::Fi),
            "en" => Some(Language::En),
            _ => None,
        }
    }

    /// The best offered language of an `Accept-Language` header value: the highest
    /// `q` (default 1; `q=0` means "not this one"), the earlier entry on a tie. `None`
    /// when no entry names an offered language (`*` names none).
    #[must_use]
    pub fn negotiate(accept_language: &str) -> Option<Language> {
        let mut best: Option<(u16, Language)> = None;
        for entry in accept_language.split(',').take(32) {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let mut q: u16 = 1000;
            for param in parts {
                let param = param.trim();
                if let Some(v) = param
                    .strip_prefix("q=")
                    .or_else(|| param.strip_prefix("Q="))
                {
                    q = parse_q(v.trim()).unwrap_or(0);
                }
            }
            if q == 0 {
                continue;
            }
            if let Some(lang) = Language::from_tag(tag)
                && best.is_none_or(|(b, _)| q > b)
            {
                best = Some((q, lang));
            }
        }
        best.map(|(_, lang)| lang)
    }

    /// The language for a request: [`negotiate`](Self::negotiate) on the header's
    /// value, else `default`.
    #[must_use]
    pub fn from_accept_language(header: Option<&str>, default: Language) -> Language {
        header.and_then(Language::negotiate).unwrap_or(default)
    }
}

/// A `q` value (`0`, `0.5`, `1`, `1.000`) in thousandths; `None` when malformed.
fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u16 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    let q = whole + thousandths;
    (q <= 1000).then_some(q)
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
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
}
