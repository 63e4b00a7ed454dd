//! The layer's own routes. Handlers only drive the core engine and present it:
//! [`flow`] starts, checks, redeems and cancels logins; [`pages`] and [`api`] present
//! them as HTML and JSON; [`outcome`] says how a login's end reads.

mod api;
mod flow;
mod outcome;
mod pages;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use crate::layer::Shared;
use crate::session::Session;
use crate::templates::{SCRIPT_JS, STYLE_CSS};
pub(crate) use outcome::Outcome;

type St = State<Arc<Shared>>;

/// The header the JSON API's state-changing routes require (see the crate docs, "CSRF").
pub(crate) const API_CSRF_HEADER: &str = "x-requested-with";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let p = shared.prefix.clone();
    let mut router = Router::new()
        .route(&p, get(pages::index))
        .route(&format!("{p}/"), get(pages::index))
        .route(&format!("{p}/login"), get(pages::login_page))
        .route(&format!("{p}/start"), post(pages::start_form))
        .route(&format!("{p}/wait/{{login_id}}"), get(pages::wait_page))
        .route(&format!("{p}/events/{{login_id}}"), get(pages::events))
        .route(
            &format!("{p}/cancel/{{login_id}}"),
            post(pages::cancel_form),
        )
        .route(
            &format!("{p}/logout"),
            get(pages::logout_page).post(pages::logout_form),
        )
        .route(&format!("{p}/api/start"), post(api::start))
        .route(&format!("{p}/api/status/{{login_id}}"), get(api::status))
        .route(&format!("{p}/api/cancel/{{login_id}}"), post(api::cancel))
        .route(&format!("{p}/api/me"), get(api::me))
        .route(&format!("{p}/api/logout"), post(api::logout))
        .route(&format!("{p}/static/style.css"), get(style))
        .route(&format!("{p}/static/vipps-login.js"), get(script));
    // The browser callback exists only where continue-in-browser can happen: without a
    // public base URL no redirect_uri can be built, so no login can come back to it.
    if shared.public_base_url.is_some() {
        router = router.route(&format!("{p}/callback"), get(pages::callback));
    }
    if shared.webhook {
        router = router.route(&format!("{p}/webhook"), post(api::webhook));
    }
    router.fallback(not_found).with_state(shared)
}

fn security_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// A JSON error `{"error": code, "message": message}` with `status`.
pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut res = (
        status,
        axum::Json(json!({ "error": code, "message": message })),
    )
        .into_response();
    security_headers(res.headers_mut());
    res
}

fn json_ok(status: StatusCode, body: serde_json::Value) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    security_headers(res.headers_mut());
    res
}

fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn set_retry_after(res: &mut Response, d: Duration) {
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(d).max(1)),
    );
}

fn redirect(location: &str) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    security_headers(res.headers_mut());
    res
}

impl Shared {
    fn base_ctx(&self) -> minijinja::Value {
        context! {
            lang => "en",
            app_name => &self.app_name,
            prefix => &self.prefix,
            style_url => self.url("/static/style.css"),
            script_url => self.url("/static/vipps-login.js"),
            login_url => self.url("/login"),
        }
    }

    fn render(&self, name: &str, status: StatusCode, page: minijinja::Value) -> Response {
        let ctx = context! { ..page, ..self.base_ctx() };
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
    fn with_cookie(&self, mut res: Response, session: &Session, parts: &RequestInfo) -> Response {
        if session.is_new
            && let Some(v) = self
                .sessions
                .set_cookie(&session.id, &parts.headers, &parts.uri)
        {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        res
    }

    async fn save_session(&self, session: &Session) -> Result<(), Outcome> {
        self.sessions.save(session).await.map_err(|e| {
            tracing::error!(error = %e, "session store write failed");
            Outcome::error(&e)
        })
    }
}

/// The parts of a request the handlers need besides the body.
struct RequestInfo {
    headers: HeaderMap,
    uri: Uri,
    extensions: http::Extensions,
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

async fn not_found(State(shared): St, method: Method) -> Response {
    if method == Method::GET || method == Method::HEAD {
        shared.result_page(&Outcome::new(
            "not_found",
            "Page not found",
            "There is no such page.",
            StatusCode::NOT_FOUND,
        ))
    } else {
        json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is no such route.",
        )
    }
}

async fn style() -> Response {
    static_file(STYLE_CSS, "text/css; charset=utf-8")
}

async fn script() -> Response {
    static_file(SCRIPT_JS, "text/javascript; charset=utf-8")
}

fn static_file(body: &'static str, content_type: &'static str) -> Response {
    let mut res = Response::new(Body::from(body));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

fn unix(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn parse_form<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Option<T> {
    serde_urlencoded::from_bytes(body).ok()
}

fn has_api_header(headers: &HeaderMap) -> bool {
    headers
        .get(API_CSRF_HEADER)
        .is_some_and(|v| !v.as_bytes().is_empty())
}

/// Ends the request's session (if any) and clears its cookie on `res`.
async fn end_session(shared: &Shared, info: &RequestInfo, mut res: Response) -> Response {
    if let Some(id) = shared.sessions.id_from_headers(&info.headers) {
        shared.sessions.remove(&id).await;
    }
    if let Some(v) = shared.sessions.clear_cookie(&info.headers, &info.uri) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

impl Shared {
    /// The request's session, or the outcome to answer when the store cannot say.
    async fn session(&self, info: &RequestInfo) -> Result<Option<Session>, Outcome> {
        self.sessions.load(&info.headers).await.map_err(|e| {
            tracing::error!(error = %e, "session store read failed");
            Outcome::error(&e)
        })
    }

    /// The CSRF token for a form: the session's, or a visitor's own (set as a cookie on
    /// `res` when new). Nothing is stored for a visitor.
    fn form_csrf(
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
                let token = crate::csrf::random_token();
                let cookie = self
                    .sessions
                    .set_csrf_cookie(&token, &info.headers, &info.uri);
                (token, cookie)
            }
        }
    }
}
