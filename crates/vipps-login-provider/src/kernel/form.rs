//! Form bodies (`application/x-www-form-urlencoded`, each parameter once).

use std::collections::HashMap;

use axum::body::Bytes as Body;
use http::{HeaderMap, header};

use crate::OAuthError;

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
