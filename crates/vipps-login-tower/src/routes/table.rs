//! The route table: each route reads its request, runs its action and hands the result
//! to its renderer (HTML for the pages, JSON for the API); plus the fallback, the
//! language headers of every answer, and the static files.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderValue, Method, StatusCode, header};

use super::actions::{self, CallbackQuery};
use super::events::events;
use super::html::{CsrfForm, Html, LoginQuery};
use super::json::Json;
use super::outcome::Outcome;
use super::request::{Proof, RequestInfo, St, parse_form};
use super::webhook::webhook;
use crate::response::{json_error, redirect};
use crate::shared::Shared;
use crate::templates::{FAVICON_SVG, SCRIPT_JS, STYLE_CSS};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let p = shared.prefix.clone();
    let mut router = Router::new()
        .route(&p, get(index))
        .route(&format!("{p}/"), get(index))
        .route(&format!("{p}/login"), get(login_page))
        .route(&format!("{p}/start"), post(start_form))
        .route(&format!("{p}/wait/{{login_id}}"), get(wait_page))
        .route(&format!("{p}/events/{{login_id}}"), get(events))
        .route(&format!("{p}/cancel/{{login_id}}"), post(cancel_form))
        .route(&format!("{p}/logout"), get(logout_page).post(logout_form))
        .route(&format!("{p}/api/start"), post(api_start))
        .route(&format!("{p}/api/status/{{login_id}}"), get(api_status))
        .route(&format!("{p}/api/cancel/{{login_id}}"), post(api_cancel))
        .route(&format!("{p}/api/me"), get(api_me))
        .route(&format!("{p}/api/logout"), post(api_logout))
        .route(&format!("{p}/static/style.css"), get(style))
        .route(&format!("{p}/static/vipps-login.js"), get(script))
        .route(&format!("{p}/static/favicon.svg"), get(favicon));
    // The browser callback exists only where continue-in-browser can happen.
    if shared.callback {
        router = router.route(&format!("{p}/callback"), get(callback));
    }
    // Vipps' user-exists pre-check, only where the app asked for it.
    if shared.user_exists_route {
        router = router.route(&format!("{p}/api/user-exists"), post(api_user_exists));
    }
    if shared.webhook {
        router = router.route(&format!("{p}/webhook"), post(webhook));
    }
    router
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            language_headers,
        ))
        .with_state(shared)
}

// The pages.

async fn index(State(shared): St) -> Response {
    redirect(&shared.url("/login"))
}

async fn login_page(State(shared): St, info: RequestInfo, Query(q): Query<LoginQuery>) -> Response {
    let visit = actions::visit(&shared, &info).await;
    Html::new(&shared, &info).login_page(visit, q.return_to.as_deref())
}

async fn start_form(State(shared): St, info: RequestInfo, body: Bytes) -> Response {
    let html = Html::new(&shared, &info);
    let Some(input) = Html::start_input(&body) else {
        return html.unreadable();
    };
    let proof = Proof::Form(input.csrf_token.clone());
    let start = actions::start(&shared, &info, &input, &proof).await;
    html.started(start, &input, &info)
}

async fn wait_page(State(shared): St, info: RequestInfo, Path(id): Path<String>) -> Response {
    let view = actions::check(&shared, &info, &id).await;
    Html::new(&shared, &info).wait(&id, view)
}

async fn cancel_form(
    State(shared): St,
    info: RequestInfo,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = parse_form::<CsrfForm>(&body).unwrap_or_default();
    let cancelled = actions::cancel(&shared, &info, &id, &Proof::Form(form.csrf_token)).await;
    Html::new(&shared, &info).cancelled(cancelled)
}

async fn logout_page(State(shared): St, info: RequestInfo) -> Response {
    let visit = actions::visit(&shared, &info).await;
    Html::new(&shared, &info).logout_page(visit)
}

async fn logout_form(State(shared): St, info: RequestInfo, body: Bytes) -> Response {
    let form = parse_form::<CsrfForm>(&body).unwrap_or_default();
    let proof = Proof::Form(form.csrf_token);
    let logged_out = actions::logout(&shared, &info, &proof, form.return_to.as_deref()).await;
    Html::new(&shared, &info).logged_out(logged_out)
}

async fn callback(
    State(shared): St,
    info: RequestInfo,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let session = actions::phone_returns(&shared, &info, &q).await;
    Html::new(&shared, &info).phone_session(session)
}

// The JSON API.

async fn api_start(State(shared): St, info: RequestInfo, body: Bytes) -> Response {
    let json = Json::new(&shared, &info);
    let (proof, input) = match Json::input(&info, &body) {
        Ok(read) => read,
        Err(why) => return json.unread(why),
    };
    json.started(actions::start(&shared, &info, &input, &proof).await)
}

async fn api_user_exists(State(shared): St, info: RequestInfo, body: Bytes) -> Response {
    let json = Json::new(&shared, &info);
    let (proof, input) = match Json::input(&info, &body) {
        Ok(read) => read,
        Err(why) => return json.unread(why),
    };
    json.user_exists(actions::user_exists(&shared, &info, &input, &proof).await)
}

async fn api_status(State(shared): St, info: RequestInfo, Path(id): Path<String>) -> Response {
    let view = actions::check(&shared, &info, &id).await;
    Json::new(&shared, &info).status(&id, view)
}

async fn api_cancel(State(shared): St, info: RequestInfo, Path(id): Path<String>) -> Response {
    let json = Json::new(&shared, &info);
    match Json::script(&info) {
        Ok(proof) => json.cancelled(&id, actions::cancel(&shared, &info, &id, &proof).await),
        Err(why) => json.unread(why),
    }
}

async fn api_me(State(shared): St, info: RequestInfo) -> Response {
    let visit = actions::visit(&shared, &info).await;
    Json::new(&shared, &info).me(visit)
}

async fn api_logout(State(shared): St, info: RequestInfo) -> Response {
    let json = Json::new(&shared, &info);
    match Json::script(&info) {
        Ok(proof) => json.logged_out(actions::logout(&shared, &info, &proof, None).await),
        Err(why) => json.unread(why),
    }
}

// Everything else under the prefix.

async fn not_found(State(shared): St, info: RequestInfo, method: Method) -> Response {
    if method == Method::GET || method == Method::HEAD {
        Html::new(&shared, &info).result(&Outcome::keys(
            "not_found",
            "page_not_found_heading",
            "page_not_found_message",
            StatusCode::NOT_FOUND,
        ))
    } else {
        let lang = shared.texts.lang(&info.headers);
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
