//! The JSON renderer: the actions' results as the API's answers for tills and
//! single-page apps (`{"error", "message"}` for every refusal), and how the API reads its
//! requests (its CSRF header, a JSON body).

use axum::response::Response;
use http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::json;
use vipps_login_core::clock::unix_secs;
use vipps_login_core::{Error, Language};

use super::actions::{LoggedOut, Start, Tried, Visit};
use super::flow::{NO_VIPPS, StartFailure, View};
use super::outcome::{Outcome, status_line};
use super::request::{Proof, RequestInfo, has_api_header, session_cookie, with_cookie};
use crate::response::{json_error, json_ok, set_retry_after};
use crate::shared::Shared;
use crate::user::StoredUser;

/// Why the API would not read a request.
pub(super) enum Unread {
    /// A state-changing call without `X-Requested-With` (a cross-site form, perhaps).
    NoScriptHeader,
    /// A body that is not `application/json`.
    NotJson,
    /// A JSON body that is not the route's request.
    BadJson,
}

/// Renders JSON answers for one request, in its language.
pub(super) struct Json<'a> {
    shared: &'a Shared,
    lang: Language,
}

fn user_json(user: &StoredUser) -> serde_json::Value {
    json!({
        "sub": user.sub,
        "account_id": user.account_id,
        "logged_in_at": user.logged_in_at,
        "userinfo": user.userinfo,
    })
}

impl<'a> Json<'a> {
    pub(super) fn new(shared: &'a Shared, info: &RequestInfo) -> Self {
        Self {
            shared,
            lang: shared.texts.lang(&info.headers),
        }
    }

    /// The request's language.
    pub(super) fn lang(&self) -> Language {
        self.lang
    }

    fn text(&self, key: &str) -> String {
        self.shared.texts.get(self.lang, key)
    }

    /// The API's CSRF rule, checked before anything else: a state-changing call carries
    /// the `X-Requested-With` header.
    pub(super) fn script(info: &RequestInfo) -> Result<Proof, Unread> {
        if has_api_header(&info.headers) {
            Ok(Proof::Script)
        } else {
            Err(Unread::NoScriptHeader)
        }
    }

    /// A start or a user-exists question: its CSRF header, then its JSON body.
    pub(super) fn input<T: DeserializeOwned>(
        info: &RequestInfo,
        body: &[u8],
    ) -> Result<(Proof, T), Unread> {
        let proof = Self::script(info)?;
        let is_json = info
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if !is_json {
            return Err(Unread::NotJson);
        }
        let input = serde_json::from_slice(body).map_err(|_| Unread::BadJson)?;
        Ok((proof, input))
    }

    /// The answer to a request the API would not read.
    pub(super) fn unread(&self, why: Unread) -> Response {
        let (status, code, text) = match why {
            Unread::NoScriptHeader => (StatusCode::FORBIDDEN, "csrf", "api_csrf"),
            Unread::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "api_media_type",
            ),
            Unread::BadJson => (StatusCode::BAD_REQUEST, "invalid_json", "api_invalid_json"),
        };
        json_error(status, code, &self.text(text))
    }

    /// An outcome as `{"error": status, "message"}` with its HTTP status (and
    /// `Retry-After` under a wait).
    pub(super) fn outcome(&self, outcome: &Outcome) -> Response {
        let message = outcome.message.say(&self.shared.texts, self.lang);
        let mut res = json_error(outcome.http, outcome.status, &message);
        if let Some(d) = outcome.retry_after {
            set_retry_after(&mut res, d);
        }
        res
    }

    /// A core error as `{"error": code, "message"}` with its own status.
    pub(super) fn error(&self, e: &Error) -> Response {
        json_error(e.status(), e.code(), &self.shared.texts.error(self.lang, e))
    }

    /// A start: `201` with the login's URLs, or why not.
    pub(super) fn started(&self, start: Start) -> Response {
        let (session, result) = match start {
            Start::Refused(o) => return self.outcome(&o),
            Start::Tried(tried) => {
                let Tried { session, result } = *tried;
                (session, result)
            }
        };
        let s = self.shared;
        let res = match result {
            Ok(view) => {
                let id = view.id.to_string();
                json_ok(
                    StatusCode::CREATED,
                    json!({
                        "login_id": id,
                        "status": "pending",
                        "binding_message": view.binding_message.as_ref().map(|b| b.as_str()),
                        "expires_at": unix_secs(view.expires_at),
                        "wait_url": s.url(&format!("/wait/{id}")),
                        "events_url": s.url(&format!("/events/{id}")),
                        "status_url": s.url(&format!("/api/status/{id}")),
                        "cancel_url": s.url(&format!("/api/cancel/{id}")),
                    }),
                )
            }
            Err(failure) => self.failure(failure),
        };
        with_cookie(res, session_cookie(s, &session))
    }

    /// A start or a question that did not get through: 400 for a bad number (nothing is
    /// sent to Vipps), 422 `no_vipps` when the pre-check found no Vipps, else the outcome.
    fn failure(&self, failure: StartFailure) -> Response {
        match failure {
            StartFailure::InvalidPhone(e) => json_error(
                StatusCode::BAD_REQUEST,
                e.code(),
                &self.shared.texts.error(self.lang, &e),
            ),
            StartFailure::NoVipps => json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                NO_VIPPS,
                &self.text(NO_VIPPS),
            ),
            StartFailure::Outcome(o) => self.outcome(&o),
        }
    }

    /// A user-exists answer: `200 {"exists": bool}`, or why not (as [`started`](Self::started)
    /// refuses).
    pub(super) fn user_exists(&self, asked: Result<bool, StartFailure>) -> Response {
        match asked {
            Ok(exists) => json_ok(StatusCode::OK, json!({ "exists": exists })),
            Err(failure) => self.failure(failure),
        }
    }

    /// Where a login stands: `200` while it waits and once it ended (an error answer for
    /// an end that is a refusal).
    pub(super) fn status(&self, id: &str, view: View) -> Response {
        match view {
            View::Waiting { login, .. } => json_ok(
                StatusCode::OK,
                json!({
                    "login_id": id,
                    "status": login.status.as_str(),
                    "message": self.text(status_line(&login.status, login.flow())),
                    "binding_message": login.binding_message.as_ref().map(|b| b.as_str()),
                    "expires_at": unix_secs(login.expires_at),
                }),
            ),
            View::Done(outcome) if outcome.http.is_success() => json_ok(
                StatusCode::OK,
                json!({
                    "login_id": id,
                    "status": outcome.status,
                    "message": outcome.message.say(&self.shared.texts, self.lang),
                }),
            ),
            View::Done(outcome) => self.outcome(&outcome),
            View::Redirect(to) => json_ok(
                StatusCode::OK,
                json!({
                    "login_id": id,
                    "status": "approved",
                    "message": self.text("api_confirmed"),
                    "redirect": to,
                }),
            ),
            View::LoggedIn {
                redirect,
                user,
                cookie,
            } => with_cookie(
                json_ok(
                    StatusCode::OK,
                    json!({
                        "login_id": id,
                        "status": "approved",
                        "message": self.text("api_logged_in"),
                        "redirect": redirect,
                        "user": user_json(&user),
                    }),
                ),
                cookie,
            ),
        }
    }

    /// A cancel.
    pub(super) fn cancelled(&self, id: &str, cancelled: Result<(), Outcome>) -> Response {
        match cancelled {
            Ok(()) => json_ok(
                StatusCode::OK,
                json!({
                    "login_id": id,
                    "status": "cancelled",
                    "message": self.text("status_cancelled"),
                }),
            ),
            Err(o) => self.outcome(&o),
        }
    }

    /// Who is logged in, with the CSRF token for the layer's forms.
    pub(super) fn me(&self, visit: Result<Visit, Outcome>) -> Response {
        let v = match visit {
            Ok(v) => v,
            Err(o) => return self.outcome(&o),
        };
        let body = match v.session.as_ref().and_then(|s| s.data.user.as_ref()) {
            Some(user) => {
                json!({ "logged_in": true, "user": user_json(user), "csrf_token": v.csrf })
            }
            None => json!({ "logged_in": false, "csrf_token": v.csrf }),
        };
        with_cookie(json_ok(StatusCode::OK, body), v.csrf_cookie)
    }

    /// A logout.
    pub(super) fn logged_out(&self, logged_out: Result<LoggedOut, Outcome>) -> Response {
        match logged_out {
            Ok(LoggedOut { clear_cookie, .. }) => with_cookie(
                json_ok(StatusCode::OK, json!({ "status": "logged_out" })),
                clear_cookie,
            ),
            Err(o) => self.outcome(&o),
        }
    }
}
