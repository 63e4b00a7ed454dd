//! What every action reads from a request: its parts, its session, and how it proves it
//! comes from the layer's own form or a script (CSRF); and the session cookie it answers
//! with.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Uri, header};
use serde::Deserialize;

use super::outcome::Outcome;
use crate::session::Session;
use crate::shared::Shared;

pub(super) type St = State<Arc<Shared>>;

/// The header the JSON API's state-changing routes require (see the crate docs, "CSRF").
const API_CSRF_HEADER: &str = "x-requested-with";

/// The parts of a request the handlers need besides the body.
pub(super) struct RequestInfo {
    pub headers: HeaderMap,
    pub uri: Uri,
    pub extensions: http::Extensions,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestInfo {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self {
            headers: parts.headers.clone(),
            uri: parts.uri.clone(),
            extensions: parts.extensions.clone(),
        })
    }
}

pub(super) fn parse_form<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Option<T> {
    serde_urlencoded::from_bytes(body).ok()
}

/// Whether the request carries the JSON API's CSRF header (a cross-site form cannot).
pub(super) fn has_api_header(headers: &HeaderMap) -> bool {
    headers
        .get(API_CSRF_HEADER)
        .is_some_and(|v| !v.as_bytes().is_empty())
}

/// How a state-changing request shows that it comes from the layer's own page or a
/// script, not from another site.
pub(super) enum Proof {
    /// A script: the JSON API's header, checked when the request was read (before its
    /// body), so the actions take it as given.
    Script,
    /// A form: its token, which must be the session's (or, without a session, the
    /// visitor's own cookie-bound one).
    Form(Option<String>),
}

impl Proof {
    /// Whether the proof holds for `session` (or the visitor without one).
    pub(super) fn holds(
        &self,
        shared: &Shared,
        session: Option<&Session>,
        info: &RequestInfo,
    ) -> bool {
        match self {
            Proof::Script => true,
            Proof::Form(token) => shared
                .sessions
                .csrf_ok(session, &info.headers, token.as_deref()),
        }
    }
}

/// The request's session, or the outcome to answer when the store cannot say.
pub(super) async fn load_session(
    shared: &Shared,
    info: &RequestInfo,
) -> Result<Option<Session>, Outcome> {
    shared.sessions.load(&info.headers).await.map_err(|e| {
        tracing::error!(error = %e, "session store read failed");
        Outcome::error(&e)
    })
}

pub(super) async fn save_session(shared: &Shared, session: &Session) -> Result<(), Outcome> {
    shared.sessions.save(session).await.map_err(|e| {
        tracing::error!(error = %e, "session store write failed");
        Outcome::error(&e)
    })
}

/// The `Set-Cookie` of `session` when the browser does not have this id yet.
pub(super) fn session_cookie(shared: &Shared, session: &Session) -> Option<HeaderValue> {
    if session.is_new {
        shared.sessions.set_cookie(&session.id)
    } else {
        None
    }
}

/// Adds the `Set-Cookie` value `cookie`, if any, to `res`.
pub(super) fn with_cookie(mut res: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// Ends the request's session (if any); the `Set-Cookie` value that clears its cookie.
pub(super) async fn end_session(shared: &Shared, info: &RequestInfo) -> Option<HeaderValue> {
    if let Some(id) = shared.sessions.id_from_headers(&info.headers) {
        shared.sessions.remove(&id).await;
    }
    shared.sessions.clear_cookie()
}

/// The CSRF token for a form: the session's, or a visitor's own (with its `Set-Cookie`
/// when new). Nothing is stored for a visitor.
pub(super) fn form_csrf(
    shared: &Shared,
    session: Option<&Session>,
    info: &RequestInfo,
) -> (String, Option<HeaderValue>) {
    if let Some(s) = session {
        return (s.data.csrf.clone(), None);
    }
    match shared.sessions.anonymous_csrf(&info.headers) {
        Some(token) => (token, None),
        None => {
            let token = vipps_login_core::token::random_token();
            let cookie = shared.sessions.set_csrf_cookie(&token);
            (token, cookie)
        }
    }
}
