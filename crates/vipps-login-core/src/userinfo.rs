//! The identified customer: ID-token claims and typed userinfo.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The result of a successful login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Identity {
    /// The customer's stable id for this merchant (`sub` of both ID token and userinfo).
    pub sub: String,
    /// All claims of the verified ID token.
    pub id_token_claims: Map<String, Value>,
    /// The userinfo fetched right after the tokens.
    pub userinfo: UserInfo,
}

impl Identity {
    /// Assembles an identity (mostly useful in tests of code built on this crate).
    #[must_use]
    pub fn new(sub: String, id_token_claims: Map<String, Value>, userinfo: UserInfo) -> Self {
        Identity {
            sub,
            id_token_claims,
            userinfo,
        }
    }
}

/// Userinfo claims as Vipps returns them; which ones are present depends on the scopes.
///
/// Unknown fields are kept in [`UserInfo::extra`]. `Debug` masks `phone_number` and
/// `nin` (country code or first digits and the last two), so a stray `{:?}` in a log
/// line does not leak them.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// Stable per merchant.
    pub sub: String,
    /// Full name (`name` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Given name (`name` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name (`name` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// E-mail address (`email` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether Vipps verified the e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Phone number, digits with country code, no `+` (`phoneNumber` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Birth date, `YYYY-MM-DD` (`birthDate` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
    /// National identity number (`nin` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nin: Option<String>,
    /// Preferred address (`address` scope); `None` when Vipps sent only empty strings.
    #[serde(
        default,
        deserialize_with = "non_empty_address",
        skip_serializing_if = "Option::is_none"
    )]
    pub address: Option<Address>,
    /// Other addresses (`address` scope).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_addresses: Vec<Address>,
    /// Session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Consents asked for and given (`delegatedConsents` scope).
    #[serde(
        default,
        rename = "delegatedConsents",
        alias = "delegated_consents",
        skip_serializing_if = "Option::is_none"
    )]
    pub delegated_consents: Option<DelegatedConsents>,
    /// Claims this crate does not know (kept, never dropped).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Debug for UserInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked = |v: &Option<String>| v.as_deref().map(|d| crate::msisdn::mask_digits(d, 2));
        f.debug_struct("UserInfo")
            .field("sub", &self.sub)
            .field("name", &self.name)
            .field("given_name", &self.given_name)
            .field("family_name", &self.family_name)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("phone_number", &masked(&self.phone_number))
            .field("birthdate", &self.birthdate)
            .field("nin", &masked(&self.nin))
            .field("address", &self.address)
            .field("other_addresses", &self.other_addresses)
            .field("sid", &self.sid)
            .field("delegated_consents", &self.delegated_consents)
            .field("extra", &self.extra)
            .finish()
    }
}

/// A postal address. Empty strings from Vipps are read as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Address {
    /// Street and number, possibly several lines.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub street_address: Option<String>,
    /// Postal code.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub postal_code: Option<String>,
    /// City or region.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub region: Option<String>,
    /// Country code, e.g. `NO`.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub country: Option<String>,
    /// The whole address as one text.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub formatted: Option<String>,
    /// `home`, `work` or `other`.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub address_type: Option<String>,
}

impl Address {
    /// Whether the address has no content (an `address_type` alone does not count).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.street_address.is_none()
            && self.postal_code.is_none()
            && self.region.is_none()
            && self.country.is_none()
            && self.formatted.is_none()
    }
}

/// The consents shown to the customer and their answers (`delegatedConsents` scope).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DelegatedConsents {
    /// Language of the texts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Heading shown above the consents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading: Option<String>,
    /// Description of the terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_description: Option<String>,
    /// Text of the confirm button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_consent_button_text: Option<String>,
    /// The individual consents.
    #[serde(default)]
    pub consents: Vec<Consent>,
}

/// One consent and the customer's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Consent {
    /// The merchant's id of this consent.
    pub id: String,
    /// Whether the customer accepted it.
    #[serde(default)]
    pub accepted: bool,
    /// Whether it was required.
    #[serde(default)]
    pub required: bool,
    /// The text the customer saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_displayed_to_user: Option<String>,
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    Ok(v.filter(|s| !s.trim().is_empty()))
}

fn non_empty_address<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Address>, D::Error> {
    let v: Option<Address> = Option::deserialize(d)?;
    Ok(v.filter(|a| !a.is_empty()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_profile_and_keeps_unknown() {
        let json = serde_json::json!({
            "sub": "abc",
            "name": "Kari Nordmann",
            "given_name": "Kari",
            "family_name": "Nordmann",
            "email": "kari@example.com",
            "email_verified": true,
            "phone_number": "4712345678",
            "birthdate": "1980-01-31",
            "nin": "31018012345",
            "address": {"street_address": "Gate 1", "postal_code": "0150", "region": "Oslo",
                        "country": "NO", "formatted": "Gate 1\n0150 Oslo\nNO", "address_type": "home"},
            "other_addresses": [{"street_address": "Vei 2", "postal_code": "", "region": "", "country": "NO", "formatted": "", "address_type": "work"}],
            "sid": "s1",
            "delegatedConsents": {"language": "NO", "heading": "H", "termsDescription": "T",
                "confirmConsentButtonText": "OK",
                "consents": [{"id": "email", "accepted": true, "required": false, "textDisplayedToUser": "E-post"}]},
            "future_claim": 42
        });
        let u: UserInfo = serde_json::from_value(json).unwrap();
        assert_eq!(u.given_name.as_deref(), Some("Kari"));
        assert_eq!(
            u.address.as_ref().unwrap().postal_code.as_deref(),
            Some("0150")
        );
        assert_eq!(u.other_addresses[0].postal_code, None);
        let dc = u.delegated_consents.as_ref().unwrap();
        assert!(dc.consents[0].accepted);
        assert_eq!(
            dc.consents[0].text_displayed_to_user.as_deref(),
            Some("E-post")
        );
        assert_eq!(u.extra.get("future_claim"), Some(&serde_json::json!(42)));
        let debug = format!("{u:?}");
        assert!(!debug.contains("4712345678") && !debug.contains("31018012345"));
        assert!(debug.contains("47******78"));
        let back: UserInfo = serde_json::from_value(serde_json::to_value(&u).unwrap()).unwrap();
        assert_eq!(back, u);
    }

    #[test]
    fn empty_address_is_none() {
        let u: UserInfo = serde_json::from_value(serde_json::json!({
            "sub": "x",
            "address": {"street_address": "", "postal_code": "", "region": "", "country": "", "formatted": "", "address_type": ""}
        }))
        .unwrap();
        assert!(u.address.is_none());
        assert!(u.extra.is_empty());
    }
}
