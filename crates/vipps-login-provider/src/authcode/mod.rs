//! Way 2: the authorization-code provider, for staff consoles and kiosks whose identity
//! platform only speaks authorization code (Keycloak brokering, Hydra, authentik, ...).
//!
//! 1. `GET /authorize` validates the request (exact `redirect_uri`, `state`, `nonce`,
//!    PKCE `S256`, required for public clients) and sends the operator's browser to the
//!    **operator page** with `?authorization={id}`. A bad client or `redirect_uri` is an
//!    error page, never a redirect.
//! 2. The operator page (the tower layer's login and waiting pages, reached through the
//!    layer's replaceable completion step) logs the customer in, then calls
//!    [`Provider::complete_authorization`] (or [`Provider::deny_authorization`]) and
//!    redirects the browser to the URL it returns: `redirect_uri?code=...&state=...`.
//! 3. The client redeems the code at `POST /token` (`grant_type=authorization_code`):
//!    single use, short-lived, bound to the client, the redirect URI and the PKCE verifier.

pub(crate) mod grant;
mod operator;
mod request;

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use url::Url;
use vipps_login_core::clock::duration_ms;
use vipps_login_core::token::{random_token, sha256_b64url};

pub use self::operator::{OPERATOR_RETURN_PREFIX, OperatorCompletion};
pub use self::request::PendingAuthorization;
use self::request::{RedirectRefusal, Refusal, validate, with_query};
use crate::provider::form::Form;
use crate::provider::{Provider, Shared, paths};
use crate::{ApprovedLogin, OAuthError};

pub(crate) use self::grant::grant;

/// How long an authorization request waits for the operator.
const PENDING_TTL: std::time::Duration = std::time::Duration::from_secs(900);

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
    let id = random_token();
    if s.records
        .put("authz", &id, &pending, PENDING_TTL)
        .await
        .is_err()
    {
        return OAuthError::server("the request could not be stored").into_response();
    }
    tracing::info!(client_id = %pending.client_id, "authorization request accepted; to the operator page");
    let to = operator(&id);
    Redirect::to(to.as_str()).into_response()
}

/// What the token endpoint redeems: one code.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct CodeRecord {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: Option<String>,
    pub(crate) approved: ApprovedLogin,
    pub(crate) expires_at_ms: u64,
}

pub(crate) fn code_digest(code: &str) -> String {
    sha256_b64url(code.as_bytes())
}

impl Provider {
    /// The authorization request an operator page was sent with (`?authorization=`), if
    /// it is still waiting: the scopes, nonce and subject type to log the customer in with.
    pub async fn authorization(&self, id: &str) -> Option<PendingAuthorization> {
        if id.len() != 43 {
            return None;
        }
        self.shared.records.get("authz", id).await.ok().flatten()
    }

    /// Finishes authorization request `id` with the operator's approved login: issues a
    /// single-use code and returns where to send the browser, `redirect_uri?code&state&iss`.
    /// A request completes once; afterwards it is unknown.
    pub async fn complete_authorization(
        &self,
        id: &str,
        approved: ApprovedLogin,
    ) -> Result<Url, OAuthError> {
        let s = &self.shared;
        let (pending, redirect_uri) = self.take_pending(id).await?;
        let code = random_token();
        let record = CodeRecord {
            client_id: pending.client_id,
            redirect_uri: pending.redirect_uri,
            code_challenge: pending.code_challenge,
            approved,
            expires_at_ms: s.records.now_ms().saturating_add(duration_ms(s.code_ttl)),
        };
        s.records
            .put("code", &code_digest(&code), &record, s.code_ttl)
            .await
            .map_err(|_| OAuthError::server("the code could not be stored"))?;
        Ok(with_query(
            &redirect_uri,
            &[
                ("code", Some(&code)),
                ("state", pending.state.as_deref()),
                ("iss", Some(&s.issuer)),
            ],
        ))
    }

    /// Takes authorization request `id` (once) with its redirect URI.
    async fn take_pending(&self, id: &str) -> Result<(PendingAuthorization, Url), OAuthError> {
        let pending: PendingAuthorization = self
            .shared
            .records
            .take("authz", id)
            .await
            .map_err(|_| OAuthError::server("the login store failed"))?
            .ok_or_else(|| {
                OAuthError::invalid_request(
                    "the authorization request is unknown or was already used",
                )
            })?;
        let redirect_uri = Url::parse(&pending.redirect_uri)
            .map_err(|_| OAuthError::server("the stored redirect URI is not a URL"))?;
        Ok((pending, redirect_uri))
    }

    /// Ends authorization request `id` without a login (the customer declined, or the
    /// operator gave up): where to send the browser, `redirect_uri?error=access_denied&state`.
    pub async fn deny_authorization(&self, id: &str, description: &str) -> Result<Url, OAuthError> {
        let s = &self.shared;
        let (pending, redirect_uri) = self.take_pending(id).await?;
        Ok(with_query(
            &redirect_uri,
            &[
                ("error", Some("access_denied")),
                ("error_description", Some(description)),
                ("state", pending.state.as_deref()),
                ("iss", Some(&s.issuer)),
            ],
        ))
    }
}
