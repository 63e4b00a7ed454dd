//! The layer's own routes. Handlers only drive the core engine and present it:
//! [`flow`] starts, checks, redeems and cancels logins; [`pages`] and [`api`] present
//! them as HTML and JSON; [`outcome`] says how a login's end reads.

mod api;
mod context;
mod flow;
mod outcome;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderValue, Method, StatusCode, header};

use crate::response::json_error;
use crate::shared::Shared;
use crate::templates::{SCRIPT_JS, STYLE_CSS};
use context::St;
use outcome::Outcome;

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
    // The browser callback exists only where continue-in-browser can happen.
    if shared.callback {
        router = router.route(&format!("{p}/callback"), get(pages::callback));
    }
    if shared.webhook {
        router = router.route(&format!("{p}/webhook"), post(api::webhook));
    }
    router.fallback(not_found).with_state(shared)
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
