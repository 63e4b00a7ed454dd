//! The JSON API for tills and single-page apps, and the webhook receiver.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use serde_json::json;

use vipps_login_core::clock::unix_secs;

use super::context::{RequestInfo, St, end_session, has_api_header};
use super::flow::{self, StartFailure, StartInput, View};
use super::outcome::{Outcome, status_key};
use vipps_login_core::Language;

use crate::response::{json_error, json_ok};
use crate::shared::Shared;
use crate::user::StoredUser;

fn csrf_failure(shared: &Shared, lang: Language) -> Response {
    json_error(
        StatusCode::FORBIDDEN,
        "csrf",
        &shared.text(lang, "api_csrf"),
    )
}

fn user_json(user: &StoredUser) -> serde_json::Value {
    json!({
        "sub": user.sub,
        "account_id": user.account_id,
        "logged_in_at": user.logged_in_at,
        "userinfo": user.userinfo,
    })
}

pub(super) async fn start(State(shared): St, info: RequestInfo, body: Bytes) -> Response {
    let lang = shared.lang(&info);
    if !has_api_header(&info.headers) {
        return csrf_failure(&shared, lang);
    }
    let is_json = info
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !is_json {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            &shared.text(lang, "api_media_type"),
        );
    }
    let input: StartInput = match serde_json::from_slice(&body) {
        Ok(input) => input,
        Err(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                &shared.text(lang, "api_invalid_json"),
            );
        }
    };
    let mut session = match shared.session(&info).await {
        Ok(s) => s.unwrap_or_else(|| shared.sessions.new_session()),
        Err(o) => return shared.outcome_json(&o, lang),
    };
    let res = match flow::start(&shared, &mut session, &input, &info).await {
        Ok(view) => {
            let id = view.id.to_string();
            json_ok(
                StatusCode::CREATED,
                json!({
                    "login_id": id,
                    "status": "pending",
                    "binding_message": view.binding_message.as_ref().map(|b| b.as_str()),
                    "expires_at": unix_secs(view.expires_at),
                    "wait_url": shared.url(&format!("/wait/{id}")),
                    "events_url": shared.url(&format!("/events/{id}")),
                    "status_url": shared.url(&format!("/api/status/{id}")),
                    "cancel_url": shared.url(&format!("/api/cancel/{id}")),
                }),
            )
        }
        Err(StartFailure::InvalidPhone(e)) => json_error(
            StatusCode::BAD_REQUEST,
            e.code(),
            &shared.texts.error(lang, &e),
        ),
        Err(StartFailure::Outcome(o)) => shared.outcome_json(&o, lang),
    };
    shared.with_cookie(res, &session)
}

pub(super) async fn status(
    State(shared): St,
    info: RequestInfo,
    Path(id): Path<String>,
) -> Response {
    let lang = shared.lang(&info);
    let mut session = match shared.session(&info).await {
        Ok(Some(s)) => s,
        Ok(None) => return shared.outcome_json(&Outcome::not_found(), lang),
        Err(o) => return shared.outcome_json(&o, lang),
    };
    match flow::check(&shared, &mut session, &id).await {
        View::Waiting(view) => json_ok(
            StatusCode::OK,
            json!({
                "login_id": id,
                "status": view.status.as_str(),
                "message": shared.text(lang, status_key(&view.status)),
                "binding_message": view.binding_message.as_ref().map(|b| b.as_str()),
                "expires_at": unix_secs(view.expires_at),
            }),
        ),
        View::Done(outcome) if outcome.http.is_success() => json_ok(
            StatusCode::OK,
            json!({
                "login_id": id,
                "status": outcome.status,
                "message": outcome.message.say(&shared.texts, lang),
            }),
        ),
        View::Done(outcome) => shared.outcome_json(&outcome, lang),
        View::Redirect(to) => json_ok(
            StatusCode::OK,
            json!({
                "login_id": id,
                "status": "approved",
                "message": shared.text(lang, "api_confirmed"),
                "redirect": to,
            }),
        ),
        View::LoggedIn { redirect, user } => {
            let res = json_ok(
                StatusCode::OK,
                json!({
                    "login_id": id,
                    "status": "approved",
                    "message": shared.text(lang, "api_logged_in"),
                    "redirect": redirect,
                    "user": user_json(&user),
                }),
            );
            shared.with_cookie(res, &session)
        }
    }
}

pub(super) async fn cancel(
    State(shared): St,
    info: RequestInfo,
    Path(id): Path<String>,
) -> Response {
    let lang = shared.lang(&info);
    if !has_api_header(&info.headers) {
        return csrf_failure(&shared, lang);
    }
    let session = match shared.session(&info).await {
        Ok(Some(s)) => s,
        Ok(None) => return shared.outcome_json(&Outcome::not_found(), lang),
        Err(o) => return shared.outcome_json(&o, lang),
    };
    match flow::cancel(&shared, &session, &id).await {
        Ok(()) => json_ok(
            StatusCode::OK,
            json!({
                "login_id": id,
                "status": "cancelled",
                "message": shared.text(lang, "status_cancelled"),
            }),
        ),
        Err(o) => shared.outcome_json(&o, lang),
    }
}

/// Who is logged in. A visitor gets a CSRF token bound to a cookie of its own, and
/// nothing is stored for them.
pub(super) async fn me(State(shared): St, info: RequestInfo) -> Response {
    let session = match shared.session(&info).await {
        Ok(s) => s,
        Err(o) => return shared.outcome_json(&o, shared.lang(&info)),
    };
    let (csrf, cookie) = shared.form_csrf(session.as_ref(), &info);
    let body = match session.as_ref().and_then(|s| s.data.user.as_ref()) {
        Some(user) => json!({ "logged_in": true, "user": user_json(user), "csrf_token": csrf }),
        None => json!({ "logged_in": false, "csrf_token": csrf }),
    };
    let mut res = json_ok(StatusCode::OK, body);
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

pub(super) async fn logout(State(shared): St, info: RequestInfo) -> Response {
    if !has_api_header(&info.headers) {
        return csrf_failure(&shared, shared.lang(&info));
    }
    let res = json_ok(StatusCode::OK, json!({ "status": "logged_out" }));
    end_session(&shared, &info, res).await
}

pub(super) async fn webhook(
    State(shared): St,
    info: RequestInfo,
    method: Method,
    body: Bytes,
) -> Response {
    let host = info
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| info.uri.authority().map(http::uri::Authority::as_str))
        .unwrap_or("")
        .to_owned();
    let path_and_query = info
        .uri
        .path_and_query()
        .map_or_else(|| info.uri.path().to_owned(), |p| p.as_str().to_owned());
    match shared
        .client
        .handle_webhook(&method, &path_and_query, &host, &info.headers, &body)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::info!(code = e.code(), "webhook refused");
            json_error(
                e.status(),
                e.code(),
                &shared.texts.error(shared.lang(&info), &e),
            )
        }
    }
}
