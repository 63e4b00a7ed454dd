//! `GET`/`POST /authorize`: a validated request waits for the operator, whose browser
//! is sent to the operator page; a doubtful client or redirect URI is an error page.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use url::Url;
use vipps_login_core::clock::duration_ms;

use super::code::{AUTHORIZATION, MAX_REQUEST_ID, PENDING_TTL};
use super::request::{RedirectRefusal, Refusal, validate, with_query};
use crate::OAuthError;
use crate::kernel::form::Form;
use crate::kernel::paths;
use crate::kernel::shared::Shared;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route(paths::AUTHORIZE, get(authorize_get).post(authorize_post))
}

fn error_page(message: &str) -> Response {
    let escaped: String = message
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let mut r = (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in request refused</title></head>\
             <body><h1>This sign-in request cannot be used</h1><p>{escaped}.</p>\
             <p>Go back to the application and start again; if it keeps happening, its administrator must fix its registration.</p></body></html>"
        )),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    r
}

/// `GET /authorize`.
async fn authorize_get(State(s): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    match Form::parse_query(query.unwrap_or_default().as_bytes()) {
        Ok(q) => authorize(&s, &q).await,
        Err(e) => error_page(&e.description),
    }
}

/// `POST /authorize` (OpenID Connect Core §3.1.2.1: form-encoded parameters).
async fn authorize_post(
    State(s): State<Arc<Shared>>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match Form::parse(&headers, &body) {
        Ok(q) => authorize(&s, &q).await,
        Err(e) => error_page(&e.description),
    }
}

async fn authorize(s: &Shared, query: &Form) -> Response {
    let pending = match validate(&s.registry, query) {
        Ok(p) => p,
        Err(Refusal::Page(why)) => return error_page(&why),
        Err(Refusal::Redirect(refusal)) => {
            let RedirectRefusal {
                redirect_uri,
                error,
                state,
            } = *refusal;
            let to = with_query(
                &redirect_uri,
                &[
                    ("error", Some(error.error)),
                    ("error_description", Some(&error.description)),
                    ("state", state.as_deref()),
                    ("iss", Some(&s.issuer)),
                ],
            );
            return Redirect::to(to.as_str()).into_response();
        }
    };
    let Some(operator) = &s.operator_page else {
        return error_page("this provider has no operator page configured");
    };
    // Nothing is stored for an anonymous request: it travels to the operator page sealed.
    let expires_at_ms = s.records.now_ms().saturating_add(duration_ms(PENDING_TTL));
    let id = match s
        .request_sealer
        .seal(AUTHORIZATION, &pending, expires_at_ms)
    {
        Ok(id) if id.len() <= MAX_REQUEST_ID => id,
        Ok(_) => {
            const TOO_LONG: &str = "the request is too long to be carried to the operator page; \
                                    shorten state, nonce or redirect_uri";
            let Ok(redirect_uri) = Url::parse(&pending.redirect_uri) else {
                return error_page(TOO_LONG);
            };
            let back = with_query(
                &redirect_uri,
                &[
                    ("error", Some("invalid_request")),
                    ("error_description", Some(TOO_LONG)),
                    ("state", pending.state.as_deref()),
                    ("iss", Some(&s.issuer)),
                ],
            );
            return Redirect::to(back.as_str()).into_response();
        }
        Err(_) => {
            return OAuthError::server("the request could not be sealed").into_response();
        }
    };
    tracing::info!(client_id = %pending.client_id, "authorization request accepted; to the operator page");
    let to = operator(&id);
    Redirect::to(to.as_str()).into_response()
}
