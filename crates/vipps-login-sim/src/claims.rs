//! The claims the simulator issues: those of the ID token and those userinfo answers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use url::Url;

use crate::tokens::{AccessGrant, Grant};

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The ID token claims of `g` for `sub`, issued `skew` seconds off the real clock (the
/// clock-skew fault) and valid for `ttl`.
pub(crate) fn id_token_claims(
    issuer: &Url,
    g: &Grant,
    sub: &str,
    skew: i64,
    ttl: Duration,
    camel_case_auth_req_id: bool,
) -> Value {
    let iat = unix_now() + skew;
    let mut claims = json!({
        "iss": issuer.as_str(),
        "aud": g.client.client_id,
        "sub": sub,
        "iat": iat,
        "auth_time": iat,
        "exp": iat + ttl.as_secs() as i64,
        "jti": uuid::Uuid::new_v4().to_string(),
        "sid": g.sid,
    });
    if let Some(obj) = claims.as_object_mut() {
        if let Some(n) = &g.nonce {
            obj.insert("nonce".into(), Value::String(n.clone()));
        }
        let claim = if g.redirect && camel_case_auth_req_id {
            "authReqId"
        } else {
            "auth_req_id"
        };
        obj.insert(claim.into(), Value::String(g.auth_req_id.clone()));
    }
    claims
}

/// Userinfo claims for the granted scopes.
pub(crate) fn userinfo_claims(g: &AccessGrant) -> Value {
    let u = &g.user;
    let mut m = serde_json::Map::new();
    m.insert("sub".into(), Value::String(g.sub.clone()));
    m.insert("sid".into(), Value::String(g.sid.clone()));
    let has = |s: &str| g.scopes.iter().any(|x| x == s);
    if has("name") {
        if let Some(n) = u.display_name() {
            m.insert("name".into(), Value::String(n));
        }
        if let Some(n) = &u.given_name {
            m.insert("given_name".into(), Value::String(n.clone()));
        }
        if let Some(n) = &u.family_name {
            m.insert("family_name".into(), Value::String(n.clone()));
        }
    }
    if has("email")
        && let Some(e) = &u.email
    {
        m.insert("email".into(), Value::String(e.clone()));
        m.insert(
            "email_verified".into(),
            Value::Bool(u.email_verified.unwrap_or(true)),
        );
    }
    if has("phoneNumber") {
        m.insert("phone_number".into(), Value::String(u.msisdn.clone()));
    }
    if has("birthDate")
        && let Some(b) = &u.birthdate
    {
        m.insert("birthdate".into(), Value::String(b.clone()));
    }
    if has("nin")
        && let Some(n) = &u.nin
    {
        m.insert("nin".into(), Value::String(n.clone()));
    }
    if has("address") {
        let a = u.address.clone().unwrap_or_default();
        let mut a = a.to_json();
        if let Some(obj) = a.as_object_mut()
            && obj.get("address_type").and_then(Value::as_str) == Some("")
        {
            obj.insert("address_type".into(), Value::String("home".into()));
        }
        m.insert("address".into(), a);
        m.insert(
            "other_addresses".into(),
            Value::Array(u.other_addresses.iter().map(|a| a.to_json()).collect()),
        );
    }
    if has("delegatedConsents") {
        let consents: Vec<Value> = g
            .client
            .delegated_consents
            .iter()
            .map(|q| {
                json!({
                    "id": q.id,
                    "accepted": g.answers.get(&q.id).copied().unwrap_or(false),
                    "required": q.required,
                    "textDisplayedToUser": q.text,
                })
            })
            .collect();
        m.insert(
            "delegatedConsents".into(),
            json!({
                "language": "en",
                "heading": format!("Consents for {}", g.client.name),
                "termsDescription": format!("{} asks for these consents", g.client.name),
                "confirmConsentButtonText": "Confirm",
                "consents": consents,
            }),
        );
    }
    Value::Object(m)
}
