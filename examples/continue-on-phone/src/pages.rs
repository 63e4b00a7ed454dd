//! The app's own pages: the clerk's desk (live over server-sent events) and the
//! customer's welcome page on the phone (terms and marketing consent, CSRF-protected);
//! plus small additions to the layer's pages.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use example_support::pages::{extend_layer_template, secure_html, static_file};
use example_support::words::{request_language, template_texts};
use minijinja::{Environment, Value, context};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq as _;
use vipps_login_core::Language;
use vipps_login_core::clock::unix_secs;
use vipps_login_sim::SimHandle;
use vipps_login_tower::{RequireVippsLogin, VippsLoginLayer, VippsUser};

use crate::signups::TERMS_VERSION;
use crate::words::WORDS;
use crate::{AppError, DEMO_CUSTOMER, Signups};

const TEMPLATES: [(&str, &str); 5] = [
    ("page.html", include_str!("../templates/page.html")),
    (
        "handovers.html",
        include_str!("../templates/handovers.html"),
    ),
    ("desk.html", include_str!("../templates/desk.html")),
    ("welcome.html", include_str!("../templates/welcome.html")),
    ("ended.html", include_str!("../templates/ended.html")),
];
const APP_CSS: &str = include_str!("../static/app.css");
const DESK_JS: &str = include_str!("../static/desk.js");

/// Shared state of the app's pages.
#[derive(Clone)]
pub(crate) struct Pages {
    templates: Arc<Environment<'static>>,
    signups: Signups,
    /// The key of the desk's name in [`WORDS`].
    app_key: &'static str,
    prefix: Arc<str>,
    /// With the simulator: the demo phone's URL for the desk's hint.
    sim_phone_url: Option<String>,
    /// With the simulator: a phone's URL without the number.
    sim_phone_base: Option<String>,
    /// For browsers that ask for none of the offered languages.
    language: Language,
}

impl Pages {
    pub(crate) fn new(
        signups: Signups,
        app_key: &'static str,
        sim: Option<&SimHandle>,
        language: Language,
    ) -> Result<Self, AppError> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| AppError::Config(format!("{name}: {e}")))?;
        }
        Ok(Self {
            templates: Arc::new(env),
            signups,
            app_key,
            prefix: Arc::from(""),
            sim_phone_url: sim.map(|s| s.phone_url(DEMO_CUSTOMER).to_string()),
            sim_phone_base: sim.map(|s| s.phone_url("").to_string()),
            language,
        })
    }

    /// The language of a request (its `Accept-Language`, else the app's default).
    fn lang(&self, headers: &HeaderMap) -> Language {
        request_language(headers, self.language)
    }

    fn render(&self, name: &str, status: StatusCode, lang: Language, page: Value) -> Response {
        let ctx = context! {
            ..page,
            ..context! {
                lang => lang.code(),
                t => template_texts(&WORDS, lang),
                app_name => WORDS.text(lang, self.app_key),
                favicon_url => format!("{}/static/favicon.svg", self.prefix),
                style_url => format!("{}/static/style.css", self.prefix),
                login_url => format!("{}/login", self.prefix),
                logout_url => format!("{}/logout", self.prefix),
            }
        };
        match self
            .templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
        {
            Ok(html) => secure_html(status, html),
            Err(e) => {
                tracing::error!(template = name, error = %e, "page did not render");
                secure_html(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    WORDS.text(lang, "page_error").to_owned(),
                )
            }
        }
    }
}

/// `/` (the desk), `/desk/events`, the guarded `/welcome`, and static files.
pub(crate) fn router(mut pages: Pages, layer: &VippsLoginLayer) -> Router {
    pages.prefix = Arc::from(layer.prefix());
    Router::new()
        .route("/", get(desk))
        .route("/desk/events", get(desk_events))
        .route("/desk/handovers", get(desk_handovers))
        .route("/desk/logins/{login_id}", get(desk_login))
        .route(
            "/static/app.css",
            get(|| async { static_file(APP_CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/static/desk.js",
            get(|| async { static_file(DESK_JS, "text/javascript; charset=utf-8") }),
        )
        // Without a session the phone sees that its sign-up ended (the layer's login
        // page is the clerk's, behind the staff gate); the form itself needs the login.
        .route("/welcome", get(welcome))
        .merge(
            Router::new()
                .route("/welcome", post(accept))
                .route_layer(RequireVippsLogin::layer()),
        )
        .with_state(pages)
}

type St = State<Pages>;

/// `HH:MM:SS UTC` (the desk needs no calendar).
fn clock(t: SystemTime) -> String {
    let secs = unix_secs(t);
    let day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        day / 3600,
        day % 3600 / 60,
        day % 60
    )
}

// ---------------------------------------------------------------------------------------
// The clerk's desk

fn rows(signups: &Signups) -> Vec<Value> {
    signups
        .handovers()
        .into_iter()
        .map(|h| {
            context! {
                name => h.short_name,
                phone => h.masked_phone,
                continued_at => clock(h.continued_at),
                status => if h.acceptance.is_some() { "accepted" } else { "continued" },
                accepted_at => h.acceptance.as_ref().map(|a| clock(a.accepted_at)),
                marketing => h.acceptance.as_ref().map(|a| a.marketing),
            }
        })
        .collect()
}

async fn desk(State(pages): St, headers: HeaderMap) -> Response {
    let version = pages.signups.version();
    pages.render(
        "desk.html",
        StatusCode::OK,
        pages.lang(&headers),
        context! {
            rows => rows(&pages.signups),
            version => version,
            api_start_url => format!("{}/api/start", pages.prefix),
            sim_customer => pages.sim_phone_url.as_ref().map(|_| DEMO_CUSTOMER),
            sim_phone_url => pages.sim_phone_url.clone(),
            sim_phone_base => pages.sim_phone_base.clone(),
        },
    )
}

/// The desk's list of handovers alone (the desk's script swaps it in on changes).
async fn desk_handovers(State(pages): St, headers: HeaderMap) -> Response {
    pages.render(
        "handovers.html",
        StatusCode::OK,
        pages.lang(&headers),
        context! { rows => rows(&pages.signups) },
    )
}

/// Where one login started at the desk stands, as far as this app knows: `waiting`
/// until the customer's phone arrives (Vipps tells the merchant nothing before that in
/// this variant), then `continued`, then `accepted`. Login ids are unguessable, so the id
/// is the capability; unknown ids read as `waiting`.
async fn desk_login(State(pages): St, Path(login_id): Path<String>) -> Response {
    let body = match pages.signups.handover(&login_id) {
        None => json!({ "status": "waiting" }),
        Some(h) => json!({
            "status": if h.acceptance.is_some() { "accepted" } else { "continued" },
            "name": h.short_name,
            "continued_at": clock(h.continued_at),
            "accepted_at": h.acceptance.as_ref().map(|a| clock(a.accepted_at)),
            "marketing": h.acceptance.as_ref().map(|a| a.marketing),
        }),
    };
    let mut res = axum::Json(body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Server-sent events for the desk: an event `changed` with the change counter, first
/// the current value, then one per change (the page reloads when it is newer than its own).
async fn desk_events(State(pages): St) -> Response {
    let rx = pages.signups.changes();
    let stream = futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let version = *rx.borrow_and_update();
        let event = Event::default().event("changed").data(version.to_string());
        Some((Ok::<_, Infallible>(event), (rx, false)))
    });
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

// ---------------------------------------------------------------------------------------
// The customer's welcome page (on the phone)

fn first_name(user: &VippsUser) -> Option<String> {
    let info = user.userinfo();
    info.given_name.clone().or_else(|| {
        info.name
            .as_deref()
            .and_then(|n| n.split_whitespace().next())
            .map(str::to_owned)
    })
}

fn welcome_page(
    pages: &Pages,
    user: &VippsUser,
    lang: Language,
    status: StatusCode,
    error: Option<(&str, &str)>,
) -> Response {
    let answer = pages.signups.answer(user.sub());
    pages.render(
        "welcome.html",
        status,
        lang,
        context! {
            first_name => first_name(user),
            name => user.userinfo().name.clone(),
            terms_version => TERMS_VERSION,
            csrf_token => user.csrf_token(),
            accepted => answer.as_ref().map(|a| context! {
                at => clock(a.accepted_at),
                marketing => a.marketing,
                version => a.terms_version.clone(),
            }),
            error => error.map(|e| e.1),
            error_code => error.map(|e| e.0),
        },
    )
}

async fn welcome(State(pages): St, headers: HeaderMap, user: Option<VippsUser>) -> Response {
    let lang = pages.lang(&headers);
    match user {
        Some(user) => welcome_page(&pages, &user, lang, StatusCode::OK, None),
        None => pages.render("ended.html", StatusCode::OK, lang, Value::UNDEFINED),
    }
}

/// The welcome form.
#[derive(Debug, Default, Deserialize)]
struct TermsForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    terms: Option<String>,
    #[serde(default)]
    marketing: Option<String>,
}

async fn accept(
    State(pages): St,
    headers: HeaderMap,
    user: VippsUser,
    form: Result<Form<TermsForm>, FormRejection>,
) -> Response {
    let lang = pages.lang(&headers);
    // An unreadable form counts as one without token.
    let form = form.map(|Form(f)| f).unwrap_or_default();
    // The session's synchronizer token (the layer's), compared in constant time.
    let token_ok = !form.csrf_token.is_empty()
        && bool::from(
            form.csrf_token
                .as_bytes()
                .ct_eq(user.csrf_token().as_bytes()),
        );
    if !token_ok {
        tracing::info!(
            login_id = user.login_id(),
            "terms form refused: CSRF token missing or wrong"
        );
        return welcome_page(
            &pages,
            &user,
            lang,
            StatusCode::FORBIDDEN,
            Some(("csrf", WORDS.text(lang, "err_csrf"))),
        );
    }
    if form.terms.is_none() {
        return welcome_page(
            &pages,
            &user,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(("terms_required", WORDS.text(lang, "err_terms"))),
        );
    }
    let marketing = form.marketing.is_some();
    pages.signups.accept(user.sub(), user.login_id(), marketing);
    tracing::info!(
        login_id = user.login_id(),
        marketing,
        "terms accepted on the phone"
    );
    Redirect::to("/welcome").into_response()
}

// ---------------------------------------------------------------------------------------
// The layer's pages, extended

/// "Back to the desk" under every result page (the clerk's screen after the customer
/// continued on the phone, or a declined/expired login).
const RESULT: &str = r#"{% extends "layer/result.html" %}{% block content %}{{ super() }}
<p><a id="desk-link" class="vl-button vl-secondary" href="/">{{ t.desk_back }}</a></p>
{% endblock %}"#;

/// The phone of the number in the login (not always Kari's), and all demo phones.
const SIM_WAIT: &str = r#"{% extends "layer/wait.html" %}{% block content %}{{ super() }}
<p id="sim-hint" class="vl-help"><strong>{{ t.sim_label }}</strong> <a id="sim-phone" href="{{ sim_phone_base ~ msisdn if msisdn else sim_phone_url }}" target="_blank" rel="noopener">{{ t.sim_open_phone }}</a> (<a href="{{ sim_phones_url }}" target="_blank" rel="noopener">{{ t.sim_all_phones }}</a>). {{ t.sim_private_window }}</p>
{% endblock %}"#;

/// The layer's default templates with a "Back to the desk" link on result pages and,
/// with the simulator, hints on the login and waiting pages. The layer's pages stay as
/// they are: the additions extend them with `{{ super() }}`.
pub(crate) fn layer_templates(sim: Option<&SimHandle>) -> Result<Environment<'static>, AppError> {
    let mut env = example_support::pages::layer_templates()?;
    extend_layer_template(&mut env, "result.html", RESULT)?;
    if let Some(sim) = sim {
        example_support::pages::add_simulator_hints(&mut env, sim, SIM_WAIT)?;
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn clock_format() {
        let t = UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 13 * 3600 + 5 * 60 + 9);
        assert_eq!(clock(t), "13:05:09 UTC");
    }

    #[test]
    fn layer_templates_extend_the_defaults() {
        let env = layer_templates(None).unwrap();
        let html = env
            .get_template("result.html")
            .unwrap()
            .render(context! {
                status => "continued_in_browser", heading => "H", message => "M",
                again_text => "Again", app_name => "A", login_url => "/auth/vipps/login",
                style_url => "/s.css", script_url => "/s.js", lang => "en",
                t => context! { desk_back => "Back to the desk" },
            })
            .unwrap();
        assert!(html.contains("id=\"desk-link\""));
        assert!(html.contains("data-status=\"continued_in_browser\""));
    }
}
