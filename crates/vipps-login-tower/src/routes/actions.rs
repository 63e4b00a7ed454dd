//! The layer's actions, each one function from a read request to a typed result that
//! the HTML pages ([`super::html`]) and the JSON API ([`super::json`]) render each in
//! their own way: who is at the screen, start, the user-exists question, check, cancel,
//! log out, and the phone browser's return.

use std::sync::Arc;

use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use vipps_login_core::{LoginId, StartedLogin};

use super::flow::{self, StartFailure, StartInput, UserExistsInput, View};
use super::outcome::Outcome;
use super::request::{
    Proof, RequestInfo, end_session, form_csrf, has_api_header, load_session, session_cookie,
};
use crate::csrf::tokens_match;
use crate::return_to::safe_return_to;
use crate::session::{self, Session};
use crate::shared::Shared;

/// Who is at the screen: the session (if any), and the CSRF token the next form carries.
pub(super) struct Visit {
    pub session: Option<Session>,
    pub csrf: String,
    /// The visitor's CSRF cookie, when it is new.
    pub csrf_cookie: Option<HeaderValue>,
}

/// The login page, the logout page and `api/me`: who is at the screen. A visitor gets a
/// CSRF token bound to a cookie of its own, and nothing is stored for them.
pub(super) async fn visit(shared: &Shared, info: &RequestInfo) -> Result<Visit, Outcome> {
    let session = load_session(shared, info).await?;
    let (csrf, csrf_cookie) = form_csrf(shared, session.as_ref(), info);
    Ok(Visit {
        session,
        csrf,
        csrf_cookie,
    })
}

/// What a start came to.
pub(super) enum Start {
    /// Refused before a session was at hand: the store could not say, or the form's
    /// token was wrong.
    Refused(Outcome),
    /// Tried in a session.
    Tried(Box<Tried>),
}

/// A start tried in `session` (a new one is saved only once its login started).
pub(super) struct Tried {
    pub session: Session,
    pub result: Result<StartedLogin, StartFailure>,
}

/// Starts a login for the request's session (a new session for a visitor).
pub(super) async fn start(
    shared: &Arc<Shared>,
    info: &RequestInfo,
    input: &StartInput,
    proof: &Proof,
) -> Start {
    let existing = match load_session(shared, info).await {
        Ok(s) => s,
        Err(o) => return Start::Refused(o),
    };
    if !proof.holds(shared, existing.as_ref(), info) {
        tracing::info!("start refused: CSRF token missing or wrong");
        return Start::Refused(Outcome::csrf());
    }
    let mut session = existing.unwrap_or_else(|| shared.sessions.new_session());
    let result = flow::start(shared, &mut session, input, info).await;
    Start::Tried(Box::new(Tried { session, result }))
}

/// Vipps' user-exists question for the request (`api/user-exists`), behind exactly the
/// checks of [`start`]: the session is read (a store that cannot say refuses) and the
/// proof must hold. A visitor gets no session: only the client's count is stored.
pub(super) async fn user_exists(
    shared: &Arc<Shared>,
    info: &RequestInfo,
    input: &UserExistsInput,
    proof: &Proof,
) -> Result<bool, StartFailure> {
    let existing = load_session(shared, info)
        .await
        .map_err(StartFailure::Outcome)?;
    if !proof.holds(shared, existing.as_ref(), info) {
        tracing::info!("user-exists refused: CSRF token missing or wrong");
        return Err(StartFailure::Outcome(Outcome::csrf()));
    }
    flow::user_exists(shared, input, info).await
}

/// Where login `id` of the request's session stands (an approved one is redeemed). The
/// session and the login are read together, in one store round trip where the store
/// can: a till asks this every second or two for each waiting login.
pub(super) async fn check(shared: &Arc<Shared>, info: &RequestInfo, id: &str) -> View {
    let (Some(session_id), Ok(login_id)) = (
        shared.sessions.id_from_headers(&info.headers),
        id.parse::<LoginId>(),
    ) else {
        // No session to own it, or no login by that name: the session alone says the rest.
        return match load_session(shared, info).await {
            Ok(Some(mut session)) => flow::check(shared, &mut session, id, Ok(None)).await,
            Ok(None) => View::Done(Outcome::not_found()),
            Err(o) => View::Done(o),
        };
    };
    let read = shared
        .client
        .login_with(&login_id, &session::store_key(&session_id))
        .await;
    let (login, session_bytes) = match read {
        Ok(read) => read,
        Err(e) => {
            tracing::error!(error = %e, "session and login store read failed");
            return View::Done(Outcome::error(&e));
        }
    };
    match shared
        .sessions
        .session_from(session_id, session_bytes.as_deref())
    {
        Some(mut session) => {
            let owned = flow::owned_by(login, &session.data.owner);
            flow::check(shared, &mut session, id, owned).await
        }
        None => View::Done(Outcome::not_found()),
    }
}

/// Cancels login `id` of the request's session.
pub(super) async fn cancel(
    shared: &Shared,
    info: &RequestInfo,
    id: &str,
    proof: &Proof,
) -> Result<(), Outcome> {
    let session = load_session(shared, info).await?;
    if !proof.holds(shared, session.as_ref(), info) {
        return Err(Outcome::csrf());
    }
    // A visitor without a session owns no login.
    let session = session.ok_or_else(Outcome::not_found)?;
    flow::cancel(shared, &session, id).await
}

/// A logout done.
pub(super) struct LoggedOut {
    /// Where a logged-out session asked to go next (a same-origin path).
    pub next: Option<String>,
    /// The `Set-Cookie` value that clears the session cookie.
    pub clear_cookie: Option<HeaderValue>,
}

/// Ends the request's session. A form's logout reads the session first: its token (or
/// the API header) must match, and only a session's logout may go on to `return_to`. A
/// script's logout ends whatever session the cookie names. A stale cookie is cleared
/// either way.
pub(super) async fn logout(
    shared: &Shared,
    info: &RequestInfo,
    proof: &Proof,
    return_to: Option<&str>,
) -> Result<LoggedOut, Outcome> {
    let mut next = None;
    if let Proof::Form(token) = proof
        && let Some(session) = load_session(shared, info).await?
    {
        if !tokens_match(&session.data.csrf, token.as_deref()) && !has_api_header(&info.headers) {
            return Err(Outcome::csrf());
        }
        tracing::info!("logged out");
        // "Next customer": straight on to where the app wants the next login to start.
        next = return_to.and_then(safe_return_to);
    }
    let clear_cookie = end_session(shared, info).await;
    Ok(LoggedOut { next, clear_cookie })
}

/// What the phone's browser brings back to `callback`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The phone's browser is back: its login is completed and redeemed, and the browser
/// gets a fresh session of its own; the `Set-Cookie` value of that session.
pub(super) async fn phone_returns(
    shared: &Arc<Shared>,
    info: &RequestInfo,
    q: &CallbackQuery,
) -> Result<Option<HeaderValue>, Outcome> {
    if let Some(error) = q.error.as_deref() {
        return Err(if error == "access_denied" {
            Outcome::declined()
        } else {
            Outcome::keys(
                "error",
                "error_heading",
                "vipps_incomplete",
                StatusCode::BAD_REQUEST,
            )
        });
    }
    // Vipps documents the link as `?code=...`; `state` comes back when Vipps returns it,
    // and the engine then finds the login by it before anything is sent. Without it the
    // engine exchanges the code once and binds by the ID token's `auth_req_id`.
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
        return Err(Outcome::keys(
            "error",
            "error_heading",
            "link_incomplete",
            StatusCode::BAD_REQUEST,
        ));
    };
    let state = q.state.as_deref().filter(|s| !s.is_empty());
    let session = flow::phone_returns(shared, info, state, code).await?;
    // A fresh session for the phone's browser; whatever it had before is dropped.
    if let Some(old) = shared.sessions.id_from_headers(&info.headers) {
        shared.sessions.remove(&old).await;
    }
    Ok(session_cookie(shared, &session))
}
