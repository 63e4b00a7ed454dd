//! The HTML renderer: the actions' results as the layer's pages (login, waiting, result,
//! logout), through the app's templates, in the request's language.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use minijinja::context;
use serde::Deserialize;
use vipps_login_core::Language;
use vipps_login_core::clock::unix_secs;

use super::actions::{LoggedOut, Start, Tried, Visit};
use super::flow::{NO_VIPPS, StartFailure, StartInput, View};
use super::outcome::{Countdown, Outcome, status_line};
use super::request::{RequestInfo, form_csrf, parse_form, session_cookie, with_cookie};
use crate::response::{redirect, retry_after_secs, security_headers, set_retry_after};
use crate::return_to::safe_return_to;
use crate::shared::Shared;

/// The login page's query.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LoginQuery {
    pub return_to: Option<String>,
}

/// The cancel and logout forms.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub csrf_token: Option<String>,
    /// Where to go after a logout (a same-origin path), instead of the result page.
    #[serde(default)]
    pub return_to: Option<String>,
}

/// Renders pages for one request, in its language.
pub(super) struct Html<'a> {
    shared: &'a Shared,
    lang: Language,
}

impl<'a> Html<'a> {
    pub(super) fn new(shared: &'a Shared, info: &RequestInfo) -> Self {
        Self {
            shared,
            lang: shared.texts.lang(&info.headers),
        }
    }

    fn text(&self, key: &str) -> String {
        self.shared.texts.get(self.lang, key)
    }

    fn base_ctx(&self) -> minijinja::Value {
        let s = self.shared;
        context! {
            lang => self.lang.code(),
            t => s.texts.value(self.lang),
            app_name => s.texts.custom(self.lang, "app_name").unwrap_or(&s.app_name),
            prefix => &s.prefix,
            style_url => s.url("/static/style.css"),
            script_url => s.url("/static/vipps-login.js"),
            favicon_url => s.url("/static/favicon.svg"),
            login_url => s.url("/login"),
        }
    }

    fn render(&self, name: &str, status: StatusCode, page: minijinja::Value) -> Response {
        let ctx = context! { ..page, ..self.base_ctx() };
        let html = self
            .shared
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

    /// The result page of `outcome`.
    pub(super) fn result(&self, outcome: &Outcome) -> Response {
        self.result_with(outcome, None)
    }

    /// A result page; `retry` (the form to send the same request again: `start_url`,
    /// `phone`, `csrf_token`, `return_to`) is offered under a wait.
    fn result_with(&self, outcome: &Outcome, retry: Option<minijinja::Value>) -> Response {
        let texts = &self.shared.texts;
        let parts = outcome.message.parts(texts, self.lang);
        let message = parts.text();
        let countdown = outcome
            .retry_after
            .and_then(|_| Countdown::from_parts(&parts));
        let again = if outcome.status == LOGGED_OUT {
            "result_log_in_again"
        } else {
            "result_again"
        };
        let mut res = self.render(
            "result.html",
            outcome.http,
            context! {
                status => outcome.status,
                heading => outcome.heading.say(texts, self.lang),
                message => message,
                retry_after => outcome.retry_after.map(retry_after_secs),
                countdown => countdown,
                retry => outcome.retry_after.and(retry),
                again_text => self.text(again),
            },
        );
        if let Some(d) = outcome.retry_after {
            set_retry_after(&mut res, d);
        }
        res
    }

    /// The login form, with the session's CSRF token or (for a visitor) a cookie-bound
    /// one.
    fn login_form(
        &self,
        status: StatusCode,
        (csrf, cookie): (String, Option<HeaderValue>),
        phone: &str,
        return_to: Option<&str>,
        error: Option<(&str, String)>,
    ) -> Response {
        let res = self.render(
            "login.html",
            status,
            context! {
                csrf_token => csrf,
                start_url => self.shared.url("/start"),
                phone => phone,
                return_to => return_to,
                error => error.as_ref().map(|e| e.1.clone()),
                error_code => error.as_ref().map(|e| e.0),
            },
        );
        with_cookie(res, cookie)
    }

    /// The start form as sent (`None` when it cannot be read: see
    /// [`unreadable`](Self::unreadable)).
    pub(super) fn start_input(body: &[u8]) -> Option<StartInput> {
        parse_form::<StartInput>(body)
    }

    /// The page saying the form could not be read.
    pub(super) fn unreadable(&self) -> Response {
        self.result(&Outcome::keys(
            "error",
            "error_heading",
            "form_unreadable",
            StatusCode::BAD_REQUEST,
        ))
    }

    /// The login page.
    pub(super) fn login_page(
        &self,
        visit: Result<Visit, Outcome>,
        return_to: Option<&str>,
    ) -> Response {
        match visit {
            Ok(v) => self.login_form(
                StatusCode::OK,
                (v.csrf, v.csrf_cookie),
                "",
                return_to.and_then(safe_return_to).as_deref(),
                None,
            ),
            Err(o) => self.result(&o),
        }
    }

    /// A start from the form: on to the waiting page, back to the form with the error,
    /// or a result page (counting a wait down, and offering the same request again).
    pub(super) fn started(&self, start: Start, input: &StartInput, info: &RequestInfo) -> Response {
        let (session, result) = match start {
            Start::Refused(o) => return self.result(&o),
            Start::Tried(tried) => {
                let Tried { session, result } = *tried;
                (session, result)
            }
        };
        let return_to = input.return_to.as_deref().and_then(safe_return_to);
        // A session not saved yet is no session: the form keeps the visitor's token.
        let saved = (!session.is_new).then_some(&session);
        match result {
            Ok(view) => with_cookie(
                redirect(&self.shared.url(&format!("/wait/{}", view.id))),
                session_cookie(self.shared, &session),
            ),
            Err(StartFailure::InvalidPhone(e)) => self.login_form(
                StatusCode::UNPROCESSABLE_ENTITY,
                form_csrf(self.shared, saved, info),
                &input.phone,
                return_to.as_deref(),
                Some((e.code(), self.shared.texts.error(self.lang, &e))),
            ),
            // No Vipps behind the number: the form again, so the clerk can check it.
            Err(StartFailure::NoVipps) => self.login_form(
                StatusCode::UNPROCESSABLE_ENTITY,
                form_csrf(self.shared, saved, info),
                &input.phone,
                return_to.as_deref(),
                Some((NO_VIPPS, self.text(NO_VIPPS))),
            ),
            // Refused with a wait for this number: the page counts the wait down and
            // offers to send the same request again at zero; "start a new login" stays
            // for the next customer.
            Err(StartFailure::Outcome(o)) if o.retry_after.is_some() => {
                let (csrf, cookie) = form_csrf(self.shared, saved, info);
                let retry = context! {
                    start_url => self.shared.url("/start"),
                    phone => &input.phone,
                    csrf_token => csrf,
                    return_to => return_to,
                };
                with_cookie(self.result_with(&o, Some(retry)), cookie)
            }
            Err(StartFailure::Outcome(o)) => self.result(&o),
        }
    }

    /// The waiting page, or where the login went.
    pub(super) fn wait(&self, id: &str, view: View) -> Response {
        let s = self.shared;
        match view {
            View::Waiting {
                login,
                started_for,
                csrf,
            } => self.render(
                "wait.html",
                StatusCode::OK,
                context! {
                    login_id => id,
                    binding_message => login.binding_message.as_ref().map(|b| b.as_str().to_owned()),
                    masked_phone => &login.masked_hint,
                    msisdn => started_for.as_ref().map(|m| m.as_str().to_owned()),
                    status => login.status.as_str(),
                    status_text => self.text(status_line(&login.status, login.flow())),
                    events_url => s.url(&format!("/events/{id}")),
                    status_url => s.url(&format!("/api/status/{id}")),
                    wait_url => s.url(&format!("/wait/{id}")),
                    cancel_url => s.url(&format!("/cancel/{id}")),
                    csrf_token => csrf,
                    refresh_seconds => s.refresh_seconds,
                    expires_at => unix_secs(login.expires_at),
                },
            ),
            View::Done(outcome) => self.result(&outcome),
            View::Redirect(to) => redirect(&to),
            View::LoggedIn {
                redirect: to,
                cookie,
                ..
            } => with_cookie(redirect(&to), cookie),
        }
    }

    /// The cancel form's answer.
    pub(super) fn cancelled(&self, cancelled: Result<(), Outcome>) -> Response {
        match cancelled {
            Ok(()) => self.result(&Outcome::cancelled()),
            Err(o) => self.result(&o),
        }
    }

    /// The logout page (a form, for a session or a visitor).
    pub(super) fn logout_page(&self, visit: Result<Visit, Outcome>) -> Response {
        let v = match visit {
            Ok(v) => v,
            Err(o) => return self.result(&o),
        };
        let user_name = v
            .session
            .as_ref()
            .and_then(|s| s.data.user.as_ref())
            .map(|u| {
                u.userinfo
                    .name
                    .clone()
                    .unwrap_or_else(|| u.account_id.clone())
            });
        let res = self.render(
            "logout.html",
            StatusCode::OK,
            context! {
                csrf_token => v.csrf,
                logout_url => self.shared.url("/logout"),
                user_name => user_name,
            },
        );
        with_cookie(res, v.csrf_cookie)
    }

    /// The logout form's answer: where the app wants the next login, or a result page.
    pub(super) fn logged_out(&self, logged_out: Result<LoggedOut, Outcome>) -> Response {
        match logged_out {
            Ok(LoggedOut { next, clear_cookie }) => {
                let res = match next {
                    Some(to) => redirect(&to),
                    None => self.result(&Outcome::keys(
                        LOGGED_OUT,
                        "logged_out_heading",
                        "logged_out_message",
                        StatusCode::OK,
                    )),
                };
                with_cookie(res, clear_cookie)
            }
            Err(o) => self.result(&o),
        }
    }

    /// The phone's browser, back from Vipps: on to the app, logged in, or a result page.
    pub(super) fn phone_session(&self, session: Result<Option<HeaderValue>, Outcome>) -> Response {
        match session {
            Ok(cookie) => with_cookie(redirect(&self.shared.continue_url), cookie),
            Err(o) => self.result(&o),
        }
    }
}

/// The result page's status after a logout (its "again" link then says "log in again").
const LOGGED_OUT: &str = "logged_out";
