//! The token endpoint (handing each `grant_type` to the handler its way registered),
//! token issuance and userinfo.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use vipps_login_core::token::{random_token, sha256, sha256_b64url};

use super::caller::Caller;
use super::client_auth::AuthenticatedClient;
use super::form::Form;
use super::shared::Shared;
use crate::registry::Client;
use crate::{ApprovedLogin, OAuthError};

/// What an access token stands for (kept under the token's SHA-256, never the token).
#[derive(Debug, Serialize, Deserialize)]
struct AccessRecord {
    client_id: String,
    sub: String,
    claims: Map<String, Value>,
}

/// `POST /token`: the grant handler its way registered, for an authenticated caller
/// allowed the grant type.
pub(crate) async fn token_endpoint(
    State(s): State<Arc<Shared>>,
    client: Result<AuthenticatedClient, OAuthError>,
) -> Response {
    let (grant, answer) = match client {
        Ok(AuthenticatedClient { caller, form }) => {
            let grant = crate::metrics::grant_label(form.get("grant_type"));
            (grant, token(&s, &caller, &form).await)
        }
        // Refused before its grant was read (the form, or the client's authentication).
        Err(e) => ("other", Err(e)),
    };
    match answer {
        Ok(r) => {
            crate::metrics::token_request(grant, "issued");
            r
        }
        Err(e) => {
            crate::metrics::token_request(grant, e.error);
            e.into_response()
        }
    }
}

/// The token request's answer, for an authenticated caller.
async fn token(s: &Shared, caller: &Caller, form: &Form) -> Result<Response, OAuthError> {
    let grant_type = form.require("grant_type")?;
    let Some(handler) = s.grant(grant_type) else {
        return Err(OAuthError::bad(
            "unsupported_grant_type",
            "grant_type is not supported by this provider",
        ));
    };
    if !caller.client().allows_grant(grant_type) {
        return Err(OAuthError::bad(
            "unauthorized_client",
            "this client may not use this grant type",
        ));
    }
    handler.grant(s, caller, form).await
}

/// The records' kind of access tokens (kept under the token's SHA-256).
const ACCESS_TOKEN: &str = "at";

/// A fresh access token, drawn before it is issued so that what it is issued from (a
/// code) can name it first.
pub(crate) struct NewAccessToken(String);

impl NewAccessToken {
    pub(crate) fn generate() -> NewAccessToken {
        NewAccessToken(random_token())
    }

    /// What names its record (and revokes it, [`revoke`]).
    pub(crate) fn id(&self) -> String {
        sha256_b64url(self.0.as_bytes())
    }
}

/// Revokes the access token whose [`NewAccessToken::id`] is `id`: `/userinfo` answers
/// `invalid_token` for it from now on.
pub(crate) async fn revoke(s: &Shared, id: &str) -> Result<(), OAuthError> {
    s.records
        .remove(ACCESS_TOKEN, id)
        .await
        .map_err(|_| OAuthError::server("the login store failed"))
}

/// Issues an access token and an ID token for `approved` to `client`.
pub(crate) async fn issue(
    s: &Shared,
    client: &Client,
    approved: ApprovedLogin,
) -> Result<Response, OAuthError> {
    issue_token(s, client, approved, NewAccessToken::generate()).await
}

/// Issues `access_token` and an ID token for `approved` to `client`.
pub(crate) async fn issue_token(
    s: &Shared,
    client: &Client,
    approved: ApprovedLogin,
    access_token: NewAccessToken,
) -> Result<Response, OAuthError> {
    let record_id = access_token.id();
    let NewAccessToken(access_token) = access_token;
    let now = s.records.now_ms() / 1000;
    let record = AccessRecord {
        client_id: client.client_id.clone(),
        sub: approved.subject.clone(),
        claims: approved.claims.clone(),
    };
    s.records
        .put(ACCESS_TOKEN, &record_id, &record, s.access_token_ttl)
        .await
        .map_err(|_| OAuthError::server("the token could not be stored"))?;
    // OpenID Connect Core §3.3.2.11: the left half of the token's SHA-256.
    let full = sha256(access_token.as_bytes());
    let half = &full[..16];
    let mut claims = approved.claims;
    for (k, v) in [
        ("iss", json!(s.issuer)),
        ("sub", json!(approved.subject)),
        ("aud", json!(client.client_id)),
        ("iat", json!(now)),
        ("exp", json!(now + s.id_token_ttl.as_secs())),
        ("auth_time", json!(approved.auth_time)),
        ("amr", json!(approved.amr)),
        ("acr", json!(approved.acr)),
        ("at_hash", json!(URL_SAFE_NO_PAD.encode(half))),
    ] {
        claims.insert(k.to_owned(), v);
    }
    if let Some(n) = approved.nonce {
        claims.insert("nonce".into(), Value::String(n));
    }
    let id_token = s
        .keys
        .sign(client.id_token_alg, &claims)
        .map_err(|_| OAuthError::server("the ID token could not be signed"))?;
    tracing::info!(client_id = %client.client_id, "tokens issued");
    Ok(no_store(Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": s.access_token_ttl.as_secs(),
        "id_token": id_token,
        "scope": approved.scopes.to_string(),
    }))))
}

/// A JSON answer with `Cache-Control: no-store`.
pub(crate) fn no_store(body: impl IntoResponse) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn invalid_token(description: &'static str) -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_token", "error_description": description})),
    )
        .into_response();
    let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{description}\"");
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    no_store(r)
}

/// `GET`/`POST /userinfo` with `Authorization: Bearer` (an access token of this provider).
pub(crate) async fn userinfo(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty() && t.len() <= 256);
    let Some(token) = token else {
        return invalid_token("a Bearer access token is required");
    };
    match s
        .records
        .get::<AccessRecord>(ACCESS_TOKEN, &sha256_b64url(token.as_bytes()))
        .await
    {
        Ok(Some(r)) => {
            let mut claims = r.claims;
            claims.insert("sub".into(), Value::String(r.sub));
            no_store(Json(Value::Object(claims)))
        }
        Ok(None) => invalid_token("the access token is unknown or expired"),
        Err(_) => OAuthError::server("the token store failed").into_response(),
    }
}
