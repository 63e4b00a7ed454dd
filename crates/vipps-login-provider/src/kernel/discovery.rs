//! Discovery (`/.well-known/openid-configuration`) and JWKS.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde_json::{Value, json};

use super::paths;
use super::shared::Shared;
use crate::claims::STANDARD_SCOPES;
use crate::registry::{AUTHORIZATION_CODE_GRANT, CIBA_GRANT};

fn cached(mut r: Response, max_age: &'static str) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(max_age));
    r
}

pub(crate) fn document(s: &Shared) -> Value {
    let mut grants = Vec::new();
    let mut auth_methods = vec!["client_secret_basic", "client_secret_post"];
    if s.authorization_code {
        grants.push(AUTHORIZATION_CODE_GRANT);
        auth_methods.push("none");
    }
    if s.ciba {
        grants.push(CIBA_GRANT);
    }
    let mut d = json!({
        "issuer": s.issuer,
        "token_endpoint": s.endpoint(paths::TOKEN),
        "jwks_uri": s.endpoint(paths::JWKS),
        "userinfo_endpoint": s.endpoint(paths::USERINFO),
        "grant_types_supported": grants,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": STANDARD_SCOPES,
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr",
            "name", "given_name", "family_name", "birthdate", "email", "email_verified",
            "phone_number", "phone_number_verified", "address"
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    if let Some(obj) = d.as_object_mut() {
        if s.ciba {
            obj.insert(
                "backchannel_authentication_endpoint".into(),
                json!(s.endpoint(paths::BACKCHANNEL)),
            );
            obj.insert(
                "backchannel_token_delivery_modes_supported".into(),
                json!(["poll"]),
            );
            obj.insert(
                "backchannel_user_code_parameter_supported".into(),
                json!(false),
            );
        }
        if s.authorization_code {
            obj.insert(
                "authorization_endpoint".into(),
                json!(s.endpoint(paths::AUTHORIZE)),
            );
            obj.insert("code_challenge_methods_supported".into(), json!(["S256"]));
        }
    }
    d
}

/// `GET /.well-known/openid-configuration`.
pub(crate) async fn discovery(State(s): State<Arc<Shared>>) -> Response {
    cached(Json(document(&s)).into_response(), "public, max-age=300")
}

/// `GET /jwks`: current keys and retired ones still in their grace period.
pub(crate) async fn jwks(State(s): State<Arc<Shared>>) -> Response {
    let body = s.keys.jwks_json();
    let mut r = cached(body.to_string().into_response(), "public, max-age=300");
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    r
}
