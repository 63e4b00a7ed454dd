//! What every handler shares: the request's parts, the session and CSRF helpers, and
//! how pages, result pages and JSON outcomes are rendered.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use minijinja::context;
use serde::Deserialize;

use vipps_login_core::Language;

use super::outcome::{Countdown, Outcome};
use crate::response::{json_error, retry_after_secs, security_headers, set_retry_after};
use crate::session::Session;
use crate::shared::Shared;

pub(super) type St = State<Arc<Shared>>;

/// The header the JSON API's state-changing routes require (see the crate docs, "CSRF").
pub(super) const API_CSRF_HEADER: &str = "x-requested-with";

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

impl Shared {
    fn base_ctx(&self, lang: Language) -> minijinja::Value {
        context! {
            lang => lang.code(),
            t => self.texts.value(lang),
            app_name => self.texts.custom(lang, "app_name").unwrap_or(&self.app_name),
            prefix => &self.prefix,
            style_url => self.url("/static/style.css"),
            script_url => self.url("/static/vipps-login.js"),
            favicon_url => self.url("/static/favicon.svg"),
            login_url => self.url("/login"),
        }
    }

    /// The language of a request (its `Accept-Language`, else the configured default).
    pub(super) fn lang(&self, info: &RequestInfo) -> Language {
        self.texts.lang(&info.headers)
    }

    /// The text `key` in `lang`.
    pub(super) fn text(&self, lang: Language, key: &str) -> String {
        self.texts.get(lang, key)
    }

    pub(super) fn render(
        &self,
        name: &str,
        status: StatusCode,
        lang: Language,
        page: minijinja::Value,
    ) -> Response {
        let ctx = context! { ..page, ..self.base_ctx(lang) };
        let html = self
            .templates
            .get_template(name)
            .and_then(|t| t.render(ctx));
        let mut res = match html {
            Ok(html) => (status, axum::response::Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "template rendering failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The page could not be rendered.",
                )
                    .into_response()
            }
        };
        let headers = res.headers_mut();
        security_headers(headers);
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            ),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        res
    }

    /// Adds the session cookie to `res` when the browser does not have this id yet.
    pub(super) fn with_cookie(&self, mut res: Response, session: &Session) -> Response {
        if session.is_new
            && let Some(v) = self.sessions.set_cookie(&session.id)
        {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        res
    }

    pub(super) async fn save_session(&self, session: &Session) -> Result<(), Outcome> {
        self.sessions.save(session).await.map_err(|e| {
            tracing::error!(error = %e, "session store write failed");
            Outcome::error(&e)
        })
    }

    pub(crate) fn result_page(&self, outcome: &Outcome, lang: Language) -> Response {
        self.result_page_with(outcome, lang, None)
    }

    /// A result page; `retry` (the form to send the same request again: `start_url`,
    /// `phone`, `csrf_token`, `return_to`) is offered under a wait.
    pub(super) fn result_page_with(
        &self,
        outcome: &Outcome,
        lang: Language,
        retry: Option<minijinja::Value>,
    ) -> Response {
        let parts = outcome.message.parts(&self.texts, lang);
        let message = parts.text();
        let countdown = outcome
            .retry_after
            .and_then(|_| Countdown::from_parts(&parts));
        let again = if outcome.status == "logged_out" {
            "result_log_in_again"
        } else {
            "result_again"
        };
        let mut res = self.render(
            "result.html",
            outcome.http,
            lang,
            context! {
                status => outcome.status,
                heading => outcome.heading.say(&self.texts, lang),
                message => message,
                retry_after => outcome.retry_after.map(retry_after_secs),
                countdown => countdown,
                retry => outcome.retry_after.and(retry),
                again_text => self.text(lang, again),
            },
        );
        if let Some(d) = outcome.retry_after {
            set_retry_after(&mut res, d);
        }
        res
    }

    /// The result page of a start refused with a wait for this number: it counts the
    /// wait down and offers to send the same request again at zero; "start a new login"
    /// stays for the next customer.
    pub(super) fn refused_start_page(
        &self,
        outcome: &Outcome,
        lang: Language,
        session: Option<&Session>,
        info: &RequestInfo,
        phone: &str,
        return_to: Option<&str>,
    ) -> Response {
        let (csrf, cookie) = self.form_csrf(session, info);
        let retry = context! {
            start_url => self.url("/start"),
            phone => phone,
            csrf_token => csrf,
            return_to => return_to,
        };
        let mut res = self.result_page_with(outcome, lang, Some(retry));
        if let Some(c) = cookie {
            res.headers_mut().append(header::SET_COOKIE, c);
        }
        res
    }

    pub(crate) fn outcome_json(&self, outcome: &Outcome, lang: Language) -> Response {
        let message = outcome.message.say(&self.texts, lang);
        let mut res = json_error(outcome.http, outcome.status, &message);
        if let Some(d) = outcome.retry_after {
            set_retry_after(&mut res, d);
        }
        res
    }
}

pub(super) fn parse_form<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Option<T> {
    serde_urlencoded::from_bytes(body).ok()
}

pub(super) fn has_api_header(headers: &HeaderMap) -> bool {
    headers
        .get(API_CSRF_HEADER)
        .is_some_and(|v| !v.as_bytes().is_empty())
}

/// Ends the request's session (if any) and clears its cookie on `res`.
pub(super) async fn end_session(
    shared: &Shared,
    info: &RequestInfo,
    mut res: Response,
) -> Response {
    if let Some(id) = shared.sessions.id_from_headers(&info.headers) {
        shared.sessions.remove(&id).await;
    }
    if let Some(v) = shared.sessions.clear_cookie() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

impl Shared {
    /// The request's session, or the outcome to answer when the store cannot say.
    pub(super) async fn session(&self, info: &RequestInfo) -> Result<Option<Session>, Outcome> {
        self.sessions.load(&info.headers).await.map_err(|e| {
            tracing::error!(error = %e, "session store read failed");
            Outcome::error(&e)
        })
    }

    /// The CSRF token for a form: the session's, or a visitor's own (set as a cookie on
    /// `res` when new). Nothing is stored for a visitor.
    pub(super) fn form_csrf(
        &self,
        session: Option<&Session>,
        info: &RequestInfo,
    ) -> (String, Option<HeaderValue>) {
        if let Some(s) = session {
            return (s.data.csrf.clone(), None);
        }
        match self.sessions.anonymous_csrf(&info.headers) {
            Some(token) => (token, None),
            None => {
                let token = vipps_login_core::token::random_token();
                let cookie = self.sessions.set_csrf_cookie(&token);
                (token, cookie)
            }
        }
    }
}
