//! [`Language`]: the languages sentences come in, negotiated from `Accept-Language`, and
//! [`fill`], the one way a template's `{name}` placeholders are filled.

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
pub(super) fn parse_q(v: &str) -> Option<u16> {
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

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
