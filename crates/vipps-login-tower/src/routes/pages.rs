//! The HTML side: login page, start form, waiting page with server-sent events, cancel,
//! the phone browser's callback, logout.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;
use vipps_login_core::{Error, LoginId};

use vipps_login_core::clock::unix_secs;

use super::context::{RequestInfo, St, end_session, has_api_header, parse_form};
use super::flow::{self, StartFailure, StartInput, View};
use super::outcome::{Outcome, status_key};
use crate::response::{json_error, redirect};
use crate::return_to::safe_return_to;
use crate::session::Session;
use crate::shared::Shared;

#[derive(Debug, Default, Deserialize)]
pub(super) struct LoginQuery {
    return_to: Option<String>,
}

pub(super) async fn index(State(shared): St) -> Response {
    redirect(&shared.url("/login"))
}

pub(super) async fn login_page(
    State(shared): St,
    info: RequestInfo,
    Query(q): Query<LoginQuery>,
) -> Response {
    let lang = shared.lang(&info);
    let session = match shared.session(&info).await {
        Ok(s) => s,
        Err(o) => return shared.result_page(&o, lang),
    };
    let return_to = q.return_to.as_deref().and_then(safe_return_to);
    render_login(
        &shared,
        session.as_ref(),
        &info,
        StatusCode::OK,
        "",
        return_to.as_deref(),
        None,
    )
}

/// The login page, with the session's CSRF token or (for a visitor) a cookie-bound one.
fn render_login(
    shared: &Shared,
    session: Option<&Session>,
    info: &RequestInfo,
    status: StatusCode,
    phone: &str,
    return_to: Option<&str>,
    error: Option<(&str, String)>,
) -> Response {
    let lang = shared.lang(info);
    let (csrf, cookie) = shared.form_csrf(session, info);
    let mut res = shared.render(
        "login.html",
        status,
        lang,
        context! {
            csrf_token => csrf,
            start_url => shared.url("/start"),
            phone => phone,
            return_to => return_to,
            error => error.as_ref().map(|e| e.1.clone()),
            error_code => error.as_ref().map(|e| e.0),
        },
    );
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

pub(super) async fn start_form(State(shared): St, info: RequestInfo, body: Bytes) -> Response {
    let lang = shared.lang(&info);
    let Some(input) = parse_form::<StartInput>(&body) else {
        return shared.result_page(
            &Outcome::keys(
                "error",
                "error_heading",
                "form_unreadable",
                StatusCode::BAD_REQUEST,
            ),
            lang,
        );
    };
    let existing = match shared.session(&info).await {
        Ok(s) => s,
        Err(o) => return shared.result_page(&o, lang),
    };
    if !shared.sessions.csrf_ok(
        existing.as_ref(),
        &info.headers,
        input.csrf_token.as_deref(),
    ) {
        tracing::info!("start refused: CSRF token missing or wrong");
        return shared.result_page(&Outcome::csrf(), lang);
    }
    let mut session = existing.unwrap_or_else(|| shared.sessions.new_session());
    let return_to = input.return_to.as_deref().and_then(safe_return_to);
    match flow::start(&shared, &mut session, &input, &info).await {
        Ok(view) => {
            let res = redirect(&shared.url(&format!("/wait/{}", view.id)));
            shared.with_cookie(res, &session)
        }
        Err(StartFailure::InvalidPhone(e)) => render_login(
            &shared,
            (!session.is_new).then_some(&session),
            &info,
            StatusCode::UNPROCESSABLE_ENTITY,
            &input.phone,
            return_to.as_deref(),
            Some((e.code(), shared.texts.error(lang, &e))),
        ),
        Err(StartFailure::Outcome(o)) if o.retry_after.is_some() => shared.refused_start_page(
            &o,
            lang,
            (!session.is_new).then_some(&session),
            &info,
            &input.phone,
            return_to.as_deref(),
        ),
        Err(StartFailure::Outcome(o)) => shared.result_page(&o, lang),
    }
}

pub(super) async fn wait_page(
    State(shared): St,
    info: RequestInfo,
    Path(id): Path<String>,
) -> Response {
    let lang = shared.lang(&info);
    let mut session = match shared.session(&info).await {
        Ok(Some(s)) => s,
        Ok(None) => return shared.result_page(&Outcome::not_found(), lang),
        Err(o) => return shared.result_page(&o, lang),
    };
    match flow::check(&shared, &mut session, &id).await {
        View::Waiting(view) => shared.render(
            "wait.html",
            StatusCode::OK,
            lang,
            context! {
                login_id => &id,
                binding_message => view.binding_message.as_ref().map(|b| b.as_str().to_owned()),
                masked_phone => &view.masked_hint,
                msisdn => flow::started_for(&view).map(|m| m.as_str().to_owned()),
                status => view.status.as_str(),
                status_text => shared.text(lang, status_key(&view.status)),
                events_url => shared.url(&format!("/events/{id}")),
                status_url => shared.url(&format!("/api/status/{id}")),
                wait_url => shared.url(&format!("/wait/{id}")),
                cancel_url => shared.url(&format!("/cancel/{id}")),
                csrf_token => &session.data.csrf,
                refresh_seconds => shared.refresh_seconds,
                expires_at => unix_secs(view.expires_at),
            },
        ),
        View::Done(outcome) => shared.result_page(&outcome, lang),
        View::Redirect(to) => redirect(&to),
        View::LoggedIn { redirect: to, .. } => {
            let res = redirect(&to);
            shared.with_cookie(res, &session)
        }
    }
}

pub(super) async fn events(
    State(shared): St,
    info: RequestInfo,
    Path(id): Path<String>,
) -> Response {
    let lang = shared.lang(&info);
    let not_found = || shared.outcome_json(&Outcome::not_found(), lang);
    let session = match shared.session(&info).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found(),
        Err(o) => return shared.outcome_json(&o, lang),
    };
    let Ok(login_id) = id.parse::<LoginId>() else {
        return not_found();
    };
    match shared.client.login(&login_id).await {
        Ok(view) if view.context.owner() == session.data.owner => {}
        Ok(_) | Err(Error::LoginNotFound) => return not_found(),
        Err(e) => return json_error(e.status(), e.code(), &shared.texts.error(lang, &e)),
    }
    let Some(slot) = shared.streams.open(&id, &session.data.owner) else {
        let mut res = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            &shared.text(lang, "api_too_many_streams"),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return res;
    };
    let rx = match shared.client.watch(&login_id).await {
        Ok(rx) => rx,
        Err(e) => return json_error(e.status(), e.code(), &shared.texts.error(lang, &e)),
    };
    // The stream words its events in the request's language.
    let speaker = Arc::clone(&shared);
    let next = shared.url(&format!("/wait/{id}"));
    let stream = futures_util::stream::unfold((rx, false, true), move |(mut rx, done, first)| {
        let next = next.clone();
        let speaker = Arc::clone(&speaker);
        // The stream (this closure) holds its slot until it ends or the client goes away.
        let _held = &slot;
        async move {
            if done {
                return None;
            }
            if !first && rx.changed().await.is_err() {
                return None;
            }
            let status = rx.borrow_and_update().clone();
            let over = status.is_final();
            let mut payload = json!({
                "status": status.as_str(),
                "message": speaker.text(lang, status_key(&status)),
            });
            if over {
                payload["next"] = json!(next);
            }
            let event = Event::default().event("status").data(payload.to_string());
            Some((Ok::<_, Infallible>(event), (rx, over, false)))
        }
    });
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf_token: Option<String>,
    /// Where to go after a logout (a same-origin path), instead of the result page.
    #[serde(default)]
    return_to: Option<String>,
}

pub(super) async fn cancel_form(
    State(shared): St,
    info: RequestInfo,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let lang = shared.lang(&info);
    let form = parse_form::<CsrfForm>(&body).unwrap_or_default();
    let session = match shared.session(&info).await {
        Ok(s) => s,
        Err(o) => return shared.result_page(&o, lang),
    };
    let token = form.csrf_token.as_deref();
    if !shared
        .sessions
        .csrf_ok(session.as_ref(), &info.headers, token)
    {
        return shared.result_page(&Outcome::csrf(), lang);
    }
    // A visitor without a session owns no login.
    let Some(session) = session else {
        return shared.result_page(&Outcome::not_found(), lang);
    };
    match flow::cancel(&shared, &session, &id).await {
        Ok(()) => shared.result_page(&Outcome::cancelled(), lang),
        Err(o) => shared.result_page(&o, lang),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub(super) async fn callback(
    State(shared): St,
    info: RequestInfo,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let lang = shared.lang(&info);
    if let Some(error) = q.error.as_deref() {
        let outcome = if error == "access_denied" {
            Outcome::declined()
        } else {
            Outcome::keys(
                "error",
                "error_heading",
                "vipps_incomplete",
                StatusCode::BAD_REQUEST,
            )
        };
        return shared.result_page(&outcome, lang);
    }
    let (Some(code), Some(state)) = (
        q.code.as_deref().filter(|c| !c.is_empty()),
        q.state.as_deref().filter(|s| !s.is_empty()),
    ) else {
        return shared.result_page(
            &Outcome::keys(
                "error",
                "error_heading",
                "link_incomplete",
                StatusCode::BAD_REQUEST,
            ),
            lang,
        );
    };
    let session = match flow::phone_returns(&shared, &info, state, code).await {
        Ok(session) => session,
        Err(o) => return shared.result_page(&o, lang),
    };
    // A fresh session for the phone's browser; whatever it had before is dropped.
    if let Some(old) = shared.sessions.id_from_headers(&info.headers) {
        shared.sessions.remove(&old).await;
    }
    let res = redirect(&shared.continue_url);
    shared.with_cookie(res, &session)
}

pub(super) async fn logout_page(State(shared): St, info: RequestInfo) -> Response {
    let lang = shared.lang(&info);
    let session = match shared.session(&info).await {
        Ok(s) => s,
        Err(o) => return shared.result_page(&o, lang),
    };
    let user_name = session
        .as_ref()
        .and_then(|s| s.data.user.as_ref())
        .map(|u| {
            u.userinfo
                .name
                .clone()
                .unwrap_or_else(|| u.account_id.clone())
        });
    let (csrf, cookie) = shared.form_csrf(session.as_ref(), &info);
    let mut res = shared.render(
        "logout.html",
        StatusCode::OK,
        lang,
        context! {
            csrf_token => csrf,
            logout_url => shared.url("/logout"),
            user_name => user_name,
        },
    );
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

pub(super) async fn logout_form(State(shared): St, info: RequestInfo, body: Bytes) -> Response {
    let lang = shared.lang(&info);
    let form = parse_form::<CsrfForm>(&body).unwrap_or_default();
    let session = match shared.session(&info).await {
        Ok(s) => s,
        Err(o) => return shared.result_page(&o, lang),
    };
    let Some(session) = session else {
        // No session: nothing to end. Still clear a stale cookie.
        let res = shared.result_page(&logged_out(), lang);
        return end_session(&shared, &info, res).await;
    };
    if !crate::csrf::tokens_match(&session.data.csrf, form.csrf_token.as_deref())
        && !has_api_header(&info.headers)
    {
        return shared.result_page(&Outcome::csrf(), lang);
    }
    tracing::info!("logged out");
    // "Next customer": straight on to where the app wants the next login to start.
    let res = match form.return_to.as_deref().and_then(safe_return_to) {
        Some(to) => redirect(&to),
        None => shared.result_page(&logged_out(), lang),
    };
    end_session(&shared, &info, res).await
}

fn logged_out() -> Outcome {
    Outcome::keys(
        "logged_out",
        "logged_out_heading",
        "logged_out_message",
        StatusCode::OK,
    )
}
