//! Scope and claim mapping between standard OpenID Connect and Vipps.
//!
//! | OpenID scope | Vipps scopes | claims |
//! |---|---|---|
//! | `openid` | `openid` | `sub` |
//! | `profile` | `name birthDate` | `name`, `given_name`, `family_name`, `birthdate` |
//! | `phone` | `phoneNumber` | `phone_number` (E.164, `+4712345678`), `phone_number_verified: true` |
//! | `email` | `email` | `email`, `email_verified` |
//! | `address` | `address` | `address` {`formatted`, `street_address`, `locality`, `postal_code`, `country`} |
//! | `nin` (pass-through) | `nin` | `nin` |
//! | `delegatedConsents` (pass-through) | `delegatedConsents` | `delegatedConsents` |
//!
//! Vipps' `phoneNumber` is always requested upstream, whatever the relying party asked
//! for: with it the login engine checks, before any approval, that the verified number
//! is the one the login was started for. It is handed on only with the `phone` scope.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vipps_login_core::{Address, Scope, Scopes, UserInfo};

use crate::LoginError;

/// The standard scopes this bridge maps, in discovery order.
pub const STANDARD_SCOPES: [&str; 5] = ["openid", "profile", "phone", "email", "address"];

/// Vipps-specific scopes a client may be allowed to ask for by their Vipps name.
pub const PASS_THROUGH_SCOPES: [&str; 2] = ["nin", "delegatedConsents"];

/// The OpenID scopes of one login, as the relying party asked for them (validated).
///
/// ```
/// use vipps_login_provider::OidcScopes;
/// let s = OidcScopes::parse("openid profile phone")?;
/// assert_eq!(s.to_vipps().to_string(), "openid name birthDate phoneNumber");
/// assert!(OidcScopes::parse("profile").is_err()); // openid is required
/// assert!(OidcScopes::parse("openid nin").is_err()); // pass-through must be allowed
/// # Ok::<(), vipps_login_provider::LoginError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OidcScopes(Vec<String>);

impl OidcScopes {
    /// Parses a space-separated `scope` of standard scopes only.
    pub fn parse(scope: &str) -> Result<OidcScopes, LoginError> {
        Self::parse_allowed(scope, &[])
    }

    /// Parses a space-separated `scope`; `pass_through` names the Vipps-specific scopes
    /// (of [`PASS_THROUGH_SCOPES`]) this client may ask for. Duplicates are dropped.
    pub fn parse_allowed(scope: &str, pass_through: &[String]) -> Result<OidcScopes, LoginError> {
        let mut out: Vec<String> = Vec::new();
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            let known = STANDARD_SCOPES.contains(&s)
                || (PASS_THROUGH_SCOPES.contains(&s) && pass_through.iter().any(|p| p == s));
            if !known {
                let shown: String = s.chars().take(40).collect();
                return Err(LoginError::InvalidScope(format!(
                    "{shown:?} is not a scope this client may ask for"
                )));
            }
            if !out.iter().any(|o| o == s) {
                out.push(s.to_owned());
            }
        }
        if !out.iter().any(|s| s == "openid") {
            return Err(LoginError::InvalidScope(
                "the openid scope is required".into(),
            ));
        }
        Ok(OidcScopes(out))
    }

    /// Whether `scope` was asked for.
    #[must_use]
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// The scopes, in the order asked.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Keeps only the scopes in `allowed` (and `openid`).
    #[must_use]
    pub fn restrict_to(&self, allowed: &[String]) -> OidcScopes {
        OidcScopes(
            self.0
                .iter()
                .filter(|s| *s == "openid" || allowed.contains(s))
                .cloned()
                .collect(),
        )
    }

    /// The Vipps scopes to ask for upstream (always with `phoneNumber`).
    #[must_use]
    pub fn to_vipps(&self) -> Scopes {
        let mut v = Scopes::openid();
        for s in self.iter() {
            v = match s {
                "profile" => v.with(Scope::Name).with(Scope::BirthDate),
                "email" => v.with(Scope::Email),
                "address" => v.with(Scope::Address),
                "nin" => v.with(Scope::Nin),
                "delegatedConsents" => v.with(Scope::DelegatedConsents),
                _ => v,
            };
        }
        v.with(Scope::PhoneNumber)
    }
}

impl fmt::Display for OidcScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// The standard claims for `scopes` from Vipps' userinfo (without `sub`).
#[must_use]
pub fn map_claims(info: &UserInfo, scopes: &OidcScopes) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), Value::String(v.clone()));
        }
    };
    if scopes.contains("profile") {
        put("name", &info.name);
        put("given_name", &info.given_name);
        put("family_name", &info.family_name);
        put("birthdate", &info.birthdate);
    }
    if scopes.contains("email") && info.email.is_some() {
        put("email", &info.email);
        m.insert(
            "email_verified".into(),
            Value::Bool(info.email_verified.unwrap_or(false)),
        );
    }
    if scopes.contains("phone")
        && let Some(p) = &info.phone_number
    {
        m.insert("phone_number".into(), Value::String(format!("+{p}")));
        m.insert("phone_number_verified".into(), Value::Bool(true));
    }
    if scopes.contains("address")
        && let Some(a) = &info.address
    {
        m.insert("address".into(), map_address(a));
    }
    if scopes.contains("nin")
        && let Some(n) = &info.nin
    {
        m.insert("nin".into(), Value::String(n.clone()));
    }
    if scopes.contains("delegatedConsents")
        && let Some(c) = &info.delegated_consents
        && let Ok(v) = serde_json::to_value(c)
    {
        m.insert("delegatedConsents".into(), v);
    }
    m
}

/// An OpenID address claim (§5.1.1) from a Vipps address (`region` is Vipps' town).
fn map_address(a: &Address) -> Value {
    let mut m = Map::new();
    let formatted = a.formatted.clone().or_else(|| {
        let town = [a.postal_code.as_deref(), a.region.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let lines: Vec<&str> = [
            a.street_address.as_deref(),
            Some(town.as_str()),
            a.country.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter(|l| !l.is_empty())
        .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    });
    for (k, v) in [
        ("formatted", &formatted),
        ("street_address", &a.street_address),
        ("locality", &a.region),
        ("postal_code", &a.postal_code),
        ("country", &a.country),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), Value::String(v.clone()));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn kari() -> UserInfo {
        serde_json::from_value(json!({
            "sub": "vipps-sub",
            "name": "Kari Nordmann", "given_name": "Kari", "family_name": "Nordmann",
            "email": "kari@example.com", "email_verified": true,
            "phone_number": "4712345678", "birthdate": "1990-01-31", "nin": "31019012345",
            "address": {"street_address": "Storgata 1", "postal_code": "0155", "region": "Oslo",
                        "country": "NO", "formatted": "", "address_type": "home"}
        }))
        .unwrap()
    }

    #[test]
    fn scope_mapping() {
        let all = OidcScopes::parse("openid profile phone email address").unwrap();
        assert_eq!(
            all.to_vipps().to_string(),
            "openid name address birthDate email phoneNumber"
        );
        assert_eq!(
            OidcScopes::parse("openid").unwrap().to_vipps().to_string(),
            "openid phoneNumber"
        );
        let nin = OidcScopes::parse_allowed("openid nin", &["nin".into()]).unwrap();
        assert_eq!(nin.to_vipps().to_string(), "openid phoneNumber nin");
        assert!(OidcScopes::parse("openid birthDate").is_err());
        assert!(OidcScopes::parse("openid nnin").is_err());
        assert!(OidcScopes::parse("").is_err());
        let dup = OidcScopes::parse("openid  phone phone").unwrap();
        assert_eq!(dup.to_string(), "openid phone");
        let r = all.restrict_to(&["phone".into()]);
        assert_eq!(r.to_string(), "openid phone");
    }

    #[test]
    fn claims_follow_the_scopes() {
        let info = kari();
        let none = map_claims(&info, &OidcScopes::parse("openid").unwrap());
        assert!(none.is_empty(), "{none:?}");
        let m = map_claims(
            &info,
            &OidcScopes::parse("openid profile phone email address").unwrap(),
        );
        assert_eq!(m["phone_number"], "+4712345678");
        assert_eq!(m["phone_number_verified"], true);
        assert_eq!(m["name"], "Kari Nordmann");
        assert_eq!(m["given_name"], "Kari");
        assert_eq!(m["family_name"], "Nordmann");
        assert_eq!(m["birthdate"], "1990-01-31");
        assert_eq!(m["email"], "kari@example.com");
        assert_eq!(m["email_verified"], true);
        assert_eq!(
            m["address"],
            json!({"formatted": "Storgata 1\n0155 Oslo\nNO", "street_address": "Storgata 1",
                   "locality": "Oslo", "postal_code": "0155", "country": "NO"})
        );
        assert!(!m.contains_key("nin"));
        let phone_only = map_claims(&info, &OidcScopes::parse("openid phone").unwrap());
        assert_eq!(phone_only.len(), 2);
    }

    #[test]
    fn pass_through_claims_need_their_scope() {
        let mut info = kari();
        info.delegated_consents = serde_json::from_value(json!({
            "language": "en", "heading": "h", "termsDescription": "t",
            "confirmConsentButtonText": "ok",
            "consents": [{"id": "newsletter", "accepted": true, "required": false, "textDisplayedToUser": "News"}]
        }))
        .unwrap();
        let allowed = ["nin".to_owned(), "delegatedConsents".to_owned()];
        let scopes = OidcScopes::parse_allowed("openid nin delegatedConsents", &allowed).unwrap();
        assert_eq!(
            scopes.to_vipps().to_string(),
            "openid phoneNumber nin delegatedConsents"
        );
        let m = map_claims(&info, &scopes);
        assert_eq!(m["nin"], "31019012345");
        assert_eq!(m["delegatedConsents"]["consents"][0]["id"], "newsletter");
        assert!(!m.contains_key("phone_number"), "no phone scope");
        let m = map_claims(&info, &OidcScopes::parse("openid profile").unwrap());
        assert!(!m.contains_key("nin") && !m.contains_key("delegatedConsents"));
    }
}
