//! Form bodies and client authentication (`client_secret_basic`, `client_secret_post`,
//! and `none` for public clients of the authorization-code grant).

use std::collections::HashMap;

use axum::body::Bytes as Body;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, header};

use crate::OAuthError;
use crate::registry::{Client, ClientRegistry};

/// The largest form body accepted.
const MAX_FORM: usize = 16 * 1024;

/// A parsed `application/x-www-form-urlencoded` body; each parameter at most once.
#[derive(Debug, Default)]
pub(crate) struct Form(HashMap<String, String>);

impl Form {
    pub(crate) fn parse(headers: &HeaderMap, body: &Body) -> Result<Form, OAuthError> {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Self::parse_query(body)
    }

    pub(crate) fn parse_query(raw: &[u8]) -> Result<Form, OAuthError> {
        if raw.len() > MAX_FORM {
            return Err(OAuthError::invalid_request("the request is too large"));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(raw)
            .map_err(|_| OAuthError::invalid_request("the parameters cannot be read"))?;
        let mut map = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            if map.contains_key(&k) {
                let shown: String = k.chars().take(40).collect();
                return Err(OAuthError::invalid_request(format!(
                    "the parameter {shown} is repeated"
                )));
            }
            map.insert(k, v);
        }
        Ok(Form(map))
    }

    /// A parameter; empty values count as absent (RFC 6749 §3.1).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A required parameter.
    pub(crate) fn require(&self, key: &'static str) -> Result<&str, OAuthError> {
        self.get(key)
            .ok_or_else(|| OAuthError::invalid_request(format!("{key} is missing")))
    }
}

/// Who is calling the token or backchannel endpoint.
pub(crate) enum Caller<'a> {
    /// A confidential client that proved its secret.
    Confidential(&'a Client),
    /// A public client (no secret); only the authorization-code grant with PKCE accepts it.
    Public(&'a Client),
}

impl<'a> Caller<'a> {
    pub(crate) fn client(&self) -> &'a Client {
        match self {
            Caller::Confidential(c) | Caller::Public(c) => c,
        }
    }
}

fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| OAuthError::invalid_client())?;
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Err(OAuthError::invalid_client());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client());
    }
    let decoded = STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(OAuthError::invalid_client)?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(OAuthError::invalid_client)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    match (unescape(id), unescape(secret)) {
        (Some(i), Some(s)) => Ok(Some((i, s))),
        _ => Err(OAuthError::invalid_client()),
    }
}

/// Authenticates the caller by exactly one method. Unknown clients and wrong secrets are
/// the same `invalid_client`.
pub(crate) fn authenticate<'a>(
    registry: &'a ClientRegistry,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Caller<'a>, OAuthError> {
    let basic = basic_credentials(headers)?;
    let post_secret = form.get("client_secret");
    let (client_id, secret) = match (basic, post_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not both",
            ));
        }
        (Some((id, secret)), None) => {
            if form.get("client_id").is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the authenticated client",
                ));
            }
            (id, Some(secret))
        }
        (None, secret) => {
            let id = form
                .get("client_id")
                .ok_or_else(OAuthError::invalid_client)?
                .to_owned();
            (id, secret.map(str::to_owned))
        }
    };
    match secret {
        Some(secret) => registry
            .authenticate(&client_id, &secret)
            .map(Caller::Confidential)
            .ok_or_else(|| {
                tracing::info!(client_id = %client_id.chars().take(64).collect::<String>(), "client authentication failed");
                OAuthError::invalid_client()
            }),
        None => match registry.get(&client_id) {
            Some(c) if !c.is_confidential() => Ok(Caller::Public(c)),
            _ => Err(OAuthError::invalid_client()),
        },
    }
}
