//! Client authentication at the protocol endpoints: the form body and the client's
//! credentials, by `client_secret_basic` or `client_secret_post`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

use crate::client::{AuthMethod, SimClient};
use crate::oauth_error::OAuthError;
use crate::state::Sim;

/// Form parameters, each at most once.
pub(crate) type Params = HashMap<String, String>;

/// The form body of a protocol call; a parameter given twice is refused.
pub(crate) fn parse_form(headers: &HeaderMap, body: &Bytes) -> Result<Params, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::bad(
            "invalid_request",
            "The body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::bad("invalid_request", "The form body cannot be parsed"))?;
    let mut params = HashMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        if params.contains_key(&k) {
            return Err(OAuthError::bad(
                "invalid_request",
                format!("Parameter {k} is repeated"),
            ));
        }
        params.insert(k, v);
    }
    Ok(params)
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(s.as_bytes())
        .next()
        .map(|(k, v)| {
            if v.is_empty() {
                k.into_owned()
            } else {
                format!("{k}={v}")
            }
        })
        .unwrap_or_default()
}

fn secret_matches(client: &SimClient, given: &str) -> bool {
    client
        .client_secret
        .as_bytes()
        .ct_eq(given.as_bytes())
        .into()
}

fn invalid_client(description: &str) -> OAuthError {
    OAuthError::new(401, "invalid_client", description)
}

/// `client_secret_basic` or `client_secret_post`.
pub(crate) fn authenticate(
    sim: &Sim,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Arc<SimClient>, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| invalid_client("Malformed Authorization header"))?;
            let Some(b64) = v
                .strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
            else {
                return Err(invalid_client(
                    "Client authentication must be HTTP Basic or form parameters",
                ));
            };
            let raw = STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| invalid_client("Malformed Basic credentials"))?;
            let (id, secret) = raw
                .split_once(':')
                .ok_or_else(|| invalid_client("Malformed Basic credentials"))?;
            Some((id.to_owned(), secret.to_owned()))
        }
    };
    let (id, secrets, method) = match (basic, params.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::bad(
                "invalid_request",
                "Use one client authentication method, not both",
            ));
        }
        (Some((id, secret)), None) => {
            let id_dec = form_decode(&id);
            if let Some(form_id) = params.get("client_id")
                && form_id != &id
                && form_id != &id_dec
            {
                return Err(invalid_client("client_id does not match the credentials"));
            }
            let dec = form_decode(&secret);
            let id = if sim.clients.contains_key(&id) {
                id
            } else {
                id_dec
            };
            (id, vec![secret, dec], AuthMethod::ClientSecretBasic)
        }
        (None, Some(secret)) => {
            let id = params
                .get("client_id")
                .ok_or_else(|| invalid_client("client_id is missing"))?
                .clone();
            (id, vec![secret.clone()], AuthMethod::ClientSecretPost)
        }
        (None, None) => return Err(invalid_client("Client authentication is missing")),
    };
    let client = sim
        .clients
        .get(&id)
        .ok_or_else(|| invalid_client("Unknown client or wrong secret"))?;
    if !secrets.iter().any(|s| secret_matches(client, s)) {
        return Err(invalid_client("Unknown client or wrong secret"));
    }
    if client.auth_method != AuthMethod::Any && client.auth_method != method {
        return Err(invalid_client(
            "This client is not allowed to use this authentication method",
        ));
    }
    Ok(client.clone())
}
