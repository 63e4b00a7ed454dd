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
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::response::json_error;
use crate::shared::Shared;
use crate::templates::{FAVICON_SVG, SCRIPT_JS, STYLE_CSS};
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
        .route(&format!("{p}/static/vipps-login.js"), get(script))
        .route(&format!("{p}/static/favicon.svg"), get(favicon));
    // The browser callback exists only where continue-in-browser can happen.
    if shared.callback {
        router = router.route(&format!("{p}/callback"), get(pages::callback));
    }
    if shared.webhook {
        router = router.route(&format!("{p}/webhook"), post(api::webhook));
    }
    router
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            language_headers,
        ))
        .with_state(shared)
}

async fn not_found(State(shared): St, method: Method, headers: HeaderMap) -> Response {
    let lang = shared.texts.lang(&headers);
    if method == Method::GET || method == Method::HEAD {
        shared.result_page(
            &Outcome::keys(
                "not_found",
                "page_not_found_heading",
                "page_not_found_message",
                StatusCode::NOT_FOUND,
            ),
            lang,
        )
    } else {
        json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &shared.texts.get(lang, "api_no_route"),
        )
    }
}

/// Every answer of the layer's routes says which language it is in and that it
/// depends on `Accept-Language`.
async fn language_headers(State(shared): St, req: Request, next: Next) -> Response {
    let lang = shared.texts.lang(req.headers());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let worded = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("text/html")
                || v.starts_with("application/json")
                || v.starts_with("text/event-stream")
        });
    if !worded {
        return res;
    }
    if !h.contains_key(header::CONTENT_LANGUAGE) {
        h.insert(
            header::CONTENT_LANGUAGE,
            HeaderValue::from_static(lang.code()),
        );
    }
    h.append(header::VARY, HeaderValue::from_static("accept-language"));
    res
}

async fn style() -> Response {
    static_file(STYLE_CSS, "text/css; charset=utf-8")
}

async fn script() -> Response {
    static_file(SCRIPT_JS, "text/javascript; charset=utf-8")
}

async fn favicon() -> Response {
    static_file(FAVICON_SVG, "image/svg+xml")
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
