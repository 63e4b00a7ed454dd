//! The protocol endpoints: discovery, JWKS, backchannel authentication, token, userinfo,
//! user-exists.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use url::Url;

use crate::client_auth::{authenticate, parse_form};
use crate::config::ErrorStyle;
use crate::login::NewRequest;
use crate::oauth_error::OAuthError;
use crate::state::Sim;
use crate::store::read;
use crate::users::valid_msisdn;

/// Scopes the simulator knows. `api_version_2` is accepted and ignored, as Vipps does.
pub(crate) const KNOWN_SCOPES: &[&str] = &[
    "openid",
    "name",
    "address",
    "birthDate",
    "email",
    "phoneNumber",
    "nin",
    "delegatedConsents",
    "api_version_2",
];

pub(crate) const CIBA_GRANT: &str = "urn:openid:params:grant-type:ciba";
pub(crate) const REDIRECT_GRANT: &str = "urn:vipps:params:grant-type:ciba-redirect";

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "error": self.error,
            "error_description": self.description,
        });
        if let Some(obj) = body.as_object_mut() {
            if let Some(code) = self.error_code {
                obj.insert("error_code".into(), Value::String(code.into()));
            }
            if let Some(interval) = self.interval {
                obj.insert("interval".into(), secs_value(interval));
            }
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = (status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == 401 && self.error == "invalid_client" {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"vipps-login-sim\""),
            );
        }
        if self.status == 401 && self.error == "invalid_token" {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        resp
    }
}

fn no_store_json(value: Value) -> Response {
    let mut resp = axum::Json(value).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

fn cached_json(value: Value) -> Response {
    let mut resp = axum::Json(value).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    resp
}

/// A duration as a JSON number of seconds: an integer when whole, else fractional.
pub(crate) fn secs_value(d: Duration) -> Value {
    if d.subsec_nanos() == 0 {
        Value::from(d.as_secs())
    } else {
        Value::from(d.as_secs_f64())
    }
}

pub(crate) async fn discovery(State(sim): State<Arc<Sim>>) -> Response {
    let i = &sim.issuer;
    let join = |p: &str| i.join(p).map(|u| u.to_string()).unwrap_or_default();
    let base = |p: &str| sim.base.join(p).map(|u| u.to_string()).unwrap_or_default();
    cached_json(json!({
        "issuer": i.as_str(),
        "authorization_endpoint": join("oauth2/auth"),
        "token_endpoint": join("oauth2/token"),
        "jwks_uri": join(".well-known/jwks.json"),
        "userinfo_endpoint": base("vipps-userinfo-api/userinfo"),
        "backchannel_authentication_endpoint": base("vipps-login-ciba/api/backchannel/authentication"),
        "backchannel_token_delivery_modes_supported": ["poll", "ping"],
        "backchannel_user_code_parameter_supported": false,
        "backchannel_authentication_request_signing_alg_values_supported": [],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "grant_types_supported": ["authorization_code", CIBA_GRANT, REDIRECT_GRANT],
        "scopes_supported": KNOWN_SCOPES,
        "claims_supported": [
            "iss", "aud", "sub", "iat", "exp", "auth_time", "nonce", "sid", "auth_req_id",
            "name", "given_name", "family_name", "email", "email_verified", "phone_number",
            "birthdate", "nin", "address", "other_addresses", "delegatedConsents"
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
    }))
}

pub(crate) async fn jwks(State(sim): State<Arc<Sim>>) -> Response {
    let jwks = read(&sim.keys).jwks();
    cached_json(jwks)
}

/// The browser authorization endpoint of ordinary Vipps Login is not simulated.
pub(crate) async fn authorize() -> Response {
    (
        StatusCode::NOT_IMPLEMENTED,
        "vipps-login-sim simulates merchant-initiated login only; the browser authorization endpoint is not simulated",
    )
        .into_response()
}

fn user_error(sim: &Sim, code: &'static str, description: &str) -> OAuthError {
    let mut e = OAuthError::bad("invalid_request", description);
    match sim.cfg.error_style {
        ErrorStyle::Error => e.error = code,
        _ => e.error_code = Some(code),
    }
    e
}

fn valid_binding_message(m: &str) -> bool {
    (5..=8).contains(&m.len())
        && m.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

fn parse_scopes(raw: Option<&String>) -> Result<Vec<String>, OAuthError> {
    let raw = raw.ok_or_else(|| OAuthError::bad("invalid_request", "scope is missing"))?;
    let mut scopes: Vec<String> = Vec::new();
    for s in raw.split_ascii_whitespace() {
        if s == "nnin" {
            return Err(OAuthError::bad(
                "invalid_scope",
                "The scope nnin is no longer supported; use nin",
            ));
        }
        if !KNOWN_SCOPES.contains(&s) {
            return Err(OAuthError::bad(
                "invalid_scope",
                format!("Unknown scope {s:?}"),
            ));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    if !scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::bad(
            "invalid_scope",
            "scope must contain openid",
        ));
    }
    Ok(scopes)
}

pub(crate) async fn backchannel(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = parse_form(&headers, &body)?;
    let client = authenticate(&sim, &headers, &params)?;
    for camel in [
        "loginHint",
        "bindingMessage",
        "requestedExpiry",
        "requestedFlow",
        "redirectUri",
    ] {
        if params.contains_key(camel) {
            return Err(OAuthError::bad(
                "invalid_request",
                format!(
                    "Unknown parameter {camel}; parameters are snake_case (login_hint, binding_message, ...)"
                ),
            ));
        }
    }
    let scopes = parse_scopes(params.get("scope"))?;
    let hint = params
        .get("login_hint")
        .ok_or_else(|| OAuthError::bad("invalid_request", "login_hint is missing"))?;
    enum Hint<'a> {
        Msisdn(&'a str),
        Token(&'a str),
    }
    let hint = if let Some(m) = hint.strip_prefix("urn:msisdn:") {
        if !valid_msisdn(m) {
            return Err(OAuthError::bad(
                "invalid_request",
                "login_hint urn:msisdn: must be the country code and number, digits only: 47 + 8 digits, 45 + 8 digits or 358 + 5 to 10 digits",
            ));
        }
        Hint::Msisdn(m)
    } else if let Some(t) = hint.strip_prefix("urn:customer-token:") {
        if t.is_empty() {
            return Err(OAuthError::bad(
                "invalid_request",
                "The customer token is empty",
            ));
        }
        Hint::Token(t)
    } else if hint.starts_with("urn:mobilenumber:") {
        return Err(OAuthError::bad(
            "invalid_request",
            "login_hint urn:mobilenumber: is outdated; send urn:msisdn:{country code and number}",
        ));
    } else {
        return Err(OAuthError::bad(
            "invalid_request",
            "login_hint must be urn:msisdn:{digits} or urn:customer-token:{token}",
        ));
    };
    let binding_message = match params.get("binding_message") {
        Some(m) if !valid_binding_message(m) => {
            return Err(OAuthError::bad(
                "invalid_binding_message",
                "binding_message must match ^[A-Z0-9\\-]{5,8}$",
            ));
        }
        m => m.cloned(),
    };
    let expires_in = match params.get("requested_expiry") {
        None => sim.cfg.expires_in,
        Some(v) => match v.parse::<u64>() {
            Ok(s) if (60..=900).contains(&s) => Duration::from_secs(s),
            _ => {
                return Err(OAuthError::bad(
                    "invalid_request",
                    "requested_expiry must be a whole number of seconds from 60 to 900",
                ));
            }
        },
    };
    let redirect_uri = match params.get("requested_flow").map(String::as_str) {
        None => None,
        Some("login_to_webpage") => {
            let raw = params.get("redirect_uri").ok_or_else(|| {
                OAuthError::bad(
                    "invalid_request",
                    "requested_flow=login_to_webpage requires redirect_uri",
                )
            })?;
            let uri = Url::parse(raw).map_err(|_| {
                OAuthError::bad("invalid_request", "redirect_uri is not an absolute URI")
            })?;
            if !client.redirect_registered(&uri) {
                return Err(OAuthError::bad(
                    "invalid_request",
                    "redirect_uri is not registered for this client",
                ));
            }
            Some(uri)
        }
        Some(_) => {
            return Err(OAuthError::bad(
                "invalid_request",
                "requested_flow must be login_to_webpage when given",
            ));
        }
    };
    let user = match hint {
        Hint::Msisdn(m) => sim.users.get(m),
        Hint::Token(t) => sim.users.by_customer_token(t),
    };
    let user =
        user.ok_or_else(|| user_error(&sim, "invalid_user", "The user has no Vipps account"))?;
    if user.no_account {
        return Err(user_error(
            &sim,
            "invalid_user",
            "The user has no Vipps account",
        ));
    }
    if user.under_15 {
        return Err(user_error(
            &sim,
            "invalid_user",
            "The user is not eligible for Vipps Login",
        ));
    }
    if user.old_app {
        return Err(user_error(
            &sim,
            "old_app",
            "The user's app is too old; update it",
        ));
    }
    let (id, expires_in) = sim.register(NewRequest {
        client,
        user,
        scopes,
        binding_message,
        nonce: params.get("nonce").cloned(),
        state: params.get("state").cloned(),
        redirect_uri,
        expires_in,
    })?;
    Ok(no_store_json(json!({
        "auth_req_id": id,
        "expires_in": secs_value(expires_in),
        "interval": secs_value(sim.cfg.interval),
    })))
}

pub(crate) async fn token(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = parse_form(&headers, &body)?;
    let client = authenticate(&sim, &headers, &params)?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::bad("invalid_request", "grant_type is missing"))?;
    let grant = match grant_type.as_str() {
        CIBA_GRANT => {
            let id = params
                .get("auth_req_id")
                .ok_or_else(|| OAuthError::bad("invalid_request", "auth_req_id is missing"))?;
            sim.poll(&client.client_id, id)?
        }
        REDIRECT_GRANT => {
            let code = params
                .get("code")
                .ok_or_else(|| OAuthError::bad("invalid_request", "code is missing"))?;
            sim.exchange(
                &client.client_id,
                code,
                params.get("redirect_uri").map(String::as_str),
            )?
        }
        _ => {
            return Err(OAuthError::bad(
                "unsupported_grant_type",
                format!("grant_type must be {CIBA_GRANT} or {REDIRECT_GRANT}"),
            ));
        }
    };
    Ok(no_store_json(sim.issue(grant)?))
}

pub(crate) async fn userinfo(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token else {
        return OAuthError::new(401, "invalid_token", "A Bearer access token is required")
            .into_response();
    };
    match sim.userinfo(token) {
        Some(claims) => no_store_json(claims),
        None => OAuthError::new(
            401,
            "invalid_token",
            "The access token is unknown or expired",
        )
        .into_response(),
    }
}

pub(crate) async fn user_exists(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = parse_form(&headers, &body)?;
    authenticate(&sim, &headers, &params)?;
    let hint = params
        .get("login_hint")
        .ok_or_else(|| OAuthError::bad("invalid_request", "login_hint is missing"))?;
    let Some(m) = hint.strip_prefix("urn:msisdn:").filter(|m| valid_msisdn(m)) else {
        return Err(OAuthError::bad(
            "invalid_request",
            "login_hint must be urn:msisdn:{country code and number}",
        ));
    };
    let exists = sim.users.eligible(m);
    Ok(no_store_json(json!({ "exists": exists })))
}
