//! From the Keycloak user a channel request names to the phone number Vipps is asked for.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;
use vipps_login_core::{Msisdn, Secret};

use crate::http::{read_capped, short};

/// Largest admin API answer read.
const MAX_ADMIN_BYTES: usize = 256 * 1024;

/// How a Keycloak user's phone number is found.
///
/// Keycloak's `login_hint` in the channel request is the user's **username**; its `sub`
/// is the user's id.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum PhoneResolver {
    /// The username is the number, digits with country code (`4712345678`, or `+47…`).
    Username,
    /// The number is in a user attribute, read through Keycloak's admin API.
    Attribute(AttributeLookup),
    /// The attribute when the user has it, else the username.
    AttributeOrUsername(AttributeLookup),
}

/// Reads a user attribute through Keycloak's admin API (`GET
/// /admin/realms/{realm}/users/{id}`), with a token of a confidential client of the same
/// realm whose service account has `realm-management` → `view-users`.
#[derive(Clone)]
pub struct AttributeLookup {
    attribute: String,
    client_id: String,
    client_secret: Secret,
    token: Arc<Mutex<Option<(String, Instant)>>>,
}

impl fmt::Debug for AttributeLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttributeLookup")
            .field("attribute", &self.attribute)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .finish_non_exhaustive()
    }
}

impl AttributeLookup {
    /// The attribute's name (e.g. `phone_number`) and the service-account client.
    #[must_use]
    pub fn new(
        attribute: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> AttributeLookup {
        AttributeLookup {
            attribute: attribute.into(),
            client_id: client_id.into(),
            client_secret,
            token: Arc::new(Mutex::new(None)),
        }
    }

    /// The attribute's name.
    #[must_use]
    pub fn attribute(&self) -> &str {
        &self.attribute
    }
}

/// Why no phone number was found for a user. The texts never contain the number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The username is not a phone number Vipps serves.
    #[error("the username is not a phone number with country code ({0})")]
    NotAPhoneNumber(String),
    /// The user has no such attribute.
    #[error("the user has no {0:?} attribute")]
    NoAttribute(String),
    /// The attribute holds something that is not a phone number Vipps serves.
    #[error("the {0:?} attribute is not a phone number with country code ({1})")]
    BadAttribute(String, String),
    /// The admin API does not know the user, or names another username.
    #[error("the admin API does not know this user")]
    UnknownUser,
    /// The admin API could not be asked.
    #[error("Keycloak's admin API failed: {0}")]
    Admin(String),
}

/// A number as Vipps wants it: digits with country code, optionally a leading `+`.
fn strict_number(text: &str) -> Result<Msisdn, String> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not only digits".into());
    }
    // Without its country code an 8-digit number would pass as Norwegian: refuse that.
    if digits.len() <= 8 {
        return Err("no country code".into());
    }
    Msisdn::parse(digits).map_err(|e| match e {
        vipps_login_core::Error::InvalidPhoneNumber(why) => why.to_string(),
        other => other.code().to_owned(),
    })
}

#[derive(Deserialize)]
struct AdminUser {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    attributes: std::collections::HashMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// What the resolver needs from the channel: the realm issuer and an HTTP client.
pub(crate) struct ResolveContext<'a> {
    pub(crate) issuer: &'a Url,
    pub(crate) http: &'a reqwest::Client,
}

impl PhoneResolver {
    pub(crate) async fn resolve(
        &self,
        cx: &ResolveContext<'_>,
        username: &str,
        user_id: &str,
    ) -> Result<Msisdn, ResolveError> {
        match self {
            PhoneResolver::Username => {
                strict_number(username).map_err(ResolveError::NotAPhoneNumber)
            }
            PhoneResolver::Attribute(lookup) => lookup.resolve(cx, username, user_id).await,
            PhoneResolver::AttributeOrUsername(lookup) => {
                match lookup.resolve(cx, username, user_id).await {
                    Err(ResolveError::NoAttribute(_)) => {
                        strict_number(username).map_err(ResolveError::NotAPhoneNumber)
                    }
                    other => other,
                }
            }
        }
    }
}

impl AttributeLookup {
    async fn resolve(
        &self,
        cx: &ResolveContext<'_>,
        username: &str,
        user_id: &str,
    ) -> Result<Msisdn, ResolveError> {
        if user_id.is_empty()
            || user_id.len() > 64
            || !user_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(ResolveError::UnknownUser);
        }
        let url = admin_user_url(cx.issuer, user_id)
            .ok_or_else(|| ResolveError::Admin("the issuer is not a Keycloak realm URL".into()))?;
        let mut retried = false;
        let user: AdminUser = loop {
            let token = self.token(cx).await?;
            let resp = cx
                .http
                .get(url.clone())
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|e| ResolveError::Admin(format!("request failed ({})", short(&e))))?;
            match resp.status().as_u16() {
                200 => {
                    let body = read_capped(resp, MAX_ADMIN_BYTES)
                        .await
                        .map_err(ResolveError::Admin)?;
                    break serde_json::from_slice(&body).map_err(|_| {
                        ResolveError::Admin("the user representation is not understood".into())
                    })?;
                }
                404 => return Err(ResolveError::UnknownUser),
                401 if !retried => {
                    // The cached token may have been revoked: fetch a new one once.
                    retried = true;
                    *self.token.lock().await = None;
                }
                s => return Err(ResolveError::Admin(format!("HTTP {s} reading the user"))),
            }
        };
        if !user
            .username
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(username))
        {
            return Err(ResolveError::UnknownUser);
        }
        let value = user
            .attributes
            .get(&self.attribute)
            .and_then(|v| v.first())
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ResolveError::NoAttribute(self.attribute.clone()))?;
        strict_number(value.trim())
            .map_err(|why| ResolveError::BadAttribute(self.attribute.clone(), why))
    }

    /// A service-account token (client credentials), cached until shortly before it expires.
    async fn token(&self, cx: &ResolveContext<'_>) -> Result<String, ResolveError> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let url = Url::parse(&format!(
            "{}/protocol/openid-connect/token",
            cx.issuer.as_str().trim_end_matches('/')
        ))
        .map_err(|_| ResolveError::Admin("the issuer is not a URL".into()))?;
        let resp = cx
            .http
            .post(url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| ResolveError::Admin(format!("token request failed ({})", short(&e))))?;
        if !resp.status().is_success() {
            return Err(ResolveError::Admin(format!(
                "the service-account client got HTTP {} from the token endpoint",
                resp.status().as_u16()
            )));
        }
        let body = read_capped(resp, MAX_ADMIN_BYTES)
            .await
            .map_err(ResolveError::Admin)?;
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|_| ResolveError::Admin("the token answer is not understood".into()))?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(60).saturating_sub(10));
        *cached = Some((answer.access_token.clone(), Instant::now() + lifetime));
        Ok(answer.access_token)
    }
}

/// `{base}/realms/{realm}` → `{base}/admin/realms/{realm}/users/{id}`.
fn admin_user_url(issuer: &Url, user_id: &str) -> Option<Url> {
    let path = issuer.path().trim_end_matches('/');
    let (base, realm) = path.rsplit_once("/realms/")?;
    if realm.is_empty() || realm.contains('/') {
        return None;
    }
    let mut url = issuer.clone();
    url.set_path(&format!("{base}/admin/realms/{realm}/users/{user_id}"));
    url.set_query(None);
    Some(url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn usernames_must_be_numbers_with_country_code() {
        assert_eq!(strict_number("4712345678").unwrap().as_str(), "4712345678");
        assert_eq!(strict_number("+4587654321").unwrap().as_str(), "4587654321");
        assert!(strict_number("12345678").is_err(), "no country code");
        assert!(strict_number("kari").is_err());
        assert!(strict_number("47 12345678").is_err());
        assert!(
            strict_number("4412345678").is_err(),
            "country Vipps does not serve"
        );
        assert!(strict_number("").is_err());
    }

    #[test]
    fn admin_url_is_derived_from_the_issuer() {
        let issuer = Url::parse("http://127.0.0.1:8080/realms/vipps").unwrap();
        assert_eq!(
            admin_user_url(&issuer, "abc-1").unwrap().as_str(),
            "http://127.0.0.1:8080/admin/realms/vipps/users/abc-1"
        );
        let prefixed = Url::parse("https://id.example/auth/realms/x/").unwrap();
        assert_eq!(
            admin_user_url(&prefixed, "u").unwrap().as_str(),
            "https://id.example/auth/admin/realms/x/users/u"
        );
        assert!(admin_user_url(&Url::parse("https://id.example/").unwrap(), "u").is_none());
    }

    #[tokio::test]
    async fn username_resolver_refuses_non_numbers_without_asking_anyone() {
        let http = reqwest::Client::new();
        let issuer = Url::parse("http://127.0.0.1:9/realms/x").unwrap();
        let cx = ResolveContext {
            issuer: &issuer,
            http: &http,
        };
        let err = PhoneResolver::Username
            .resolve(&cx, "no.phone", "id")
            .await
            .unwrap_err();
        assert!(matches!(err, ResolveError::NotAPhoneNumber(_)));
    }
}
