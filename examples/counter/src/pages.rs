//! The desk's own pages (behind the layer) and the simulator hints on the layer's pages.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Redirect, Response};
use axum::routing::get;
use example_support::pages::{address_lines, display_phone, secure_html, static_file};
use example_support::words::{request_language, template_texts};
use minijinja::{Environment, context};
use vipps_login_core::Language;
use vipps_login_sim::SimHandle;
use vipps_login_tower::{RequireVippsLogin, VippsLoginLayer, VippsUser};

use crate::words::WORDS;
use crate::{AppError, Members};

const MEMBER_HTML: &str = include_str!("../templates/member.html");
const COUNTER_CSS: &str = include_str!("../static/counter.css");
const COUNTER_JS: &str = include_str!("../static/counter.js");

/// Shared state of the desk's pages.
#[derive(Clone)]
pub(crate) struct Pages {
    templates: Arc<Environment<'static>>,
    members: Members,
    /// The key of the desk's name in [`WORDS`].
    app_key: &'static str,
    language: Language,
}

impl Pages {
    pub(crate) fn new(
        members: Members,
        app_key: &'static str,
        language: Language,
    ) -> Result<Self, AppError> {
        let mut env = Environment::new();
        env.add_template("member.html", MEMBER_HTML)
            .map_err(|e| AppError::Config(format!("member.html: {e}")))?;
        Ok(Self {
            templates: Arc::new(env),
            members,
            app_key,
            language,
        })
    }
}

/// The desk: `/` (to the member page, or via the guard to the login page), the guarded
/// `/member`, and the stylesheet.
pub(crate) fn router(pages: Pages, layer: &VippsLoginLayer) -> Router {
    let prefix = layer.prefix().to_owned();
    Router::new()
        .route("/", get(|| async { Redirect::to("/member") }))
        .route("/static/counter.css", get(css))
        .route(
            "/static/counter.js",
            get(|| async { static_file(COUNTER_JS, "text/javascript; charset=utf-8") }),
        )
        .merge(
            Router::new()
                .route("/member", get(member_page))
                .route_layer(RequireVippsLogin::layer()),
        )
        .with_state((pages, Arc::<str>::from(prefix)))
}

type St = State<(Pages, Arc<str>)>;

async fn css() -> Response {
    static_file(COUNTER_CSS, "text/css; charset=utf-8")
}

/// The calendar date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// A moment for the page: `iso` (UTC, for `<time datetime>`; the page's script shows it
/// in the desk's time zone and language) and `text`, `YYYY-MM-DD HH:MM UTC`, without
/// scripts.
fn moment(t: std::time::SystemTime) -> minijinja::Value {
    let secs = vipps_login_core::clock::unix_secs(t);
    let (y, m, d) = civil(i64::try_from(secs / 86_400).unwrap_or(0));
    let day = secs % 86_400;
    let (hh, mm, ss) = (day / 3600, day % 3600 / 60, day % 60);
    context! {
        iso => format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z"),
        text => format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC"),
    }
}

async fn member_page(State((pages, prefix)): St, headers: HeaderMap, user: VippsUser) -> Response {
    let lang = request_language(&headers, pages.language);
    let info = user.userinfo();
    let member = pages.members.get(user.account_id());
    let is_new = member
        .as_ref()
        .is_none_or(|m| m.first_login_id == user.login_id());
    let address = info.address.as_ref().map(address_lines).unwrap_or_default();
    let ctx = context! {
        lang => lang.code(),
        t => template_texts(&WORDS, lang),
        app_name => WORDS.text(lang, pages.app_key),
        status => if is_new { "new" } else { "returning" },
        name => info.name.clone().unwrap_or_else(|| WORDS.text(lang, "name_not_shared").to_owned()),
        given_name => info.given_name.clone(),
        // The number of this login (Vipps' verified `phone_number`), never one kept with
        // the member: members are keyed on `sub`, and a customer may change number.
        phone => info.phone_number.as_deref().map(display_phone),
        email => info.email.clone(),
        birthdate => info.birthdate.clone(),
        address => address,
        member_no => member.as_ref().map(|m| m.number.clone()).unwrap_or_else(|| user.account_id().to_owned()),
        visits => member.as_ref().map_or(1, |m| m.visits),
        since => member.as_ref().map(|m| moment(m.joined_at)),
        member_count => pages.members.len(),
        csrf_token => user.csrf_token(),
        logout_url => format!("{prefix}/logout"),
        style_url => format!("{prefix}/static/style.css"),
        favicon_url => format!("{prefix}/static/favicon.svg"),
    };
    match pages
        .templates
        .get_template("member.html")
        .and_then(|t| t.render(ctx))
    {
        Ok(html) => secure_html(StatusCode::OK, html),
        Err(e) => {
            tracing::error!(error = %e, "member page did not render");
            secure_html(
                StatusCode::INTERNAL_SERVER_ERROR,
                WORDS.text(lang, "page_error").to_owned(),
            )
        }
    }
}

/// The phone of the number in the login (not always Kari's), and all demo phones.
const SIM_WAIT: &str = r#"{% extends "layer/wait.html" %}{% block content %}{{ super() }}
<p id="sim-hint" class="vl-help"><strong>{{ t.sim_label }}</strong> <a id="sim-phone" href="{{ sim_phone_base ~ msisdn if msisdn else sim_phone_url }}" target="_blank" rel="noopener">{{ t.sim_open_phone }}</a> (<a href="{{ sim_phones_url }}" target="_blank" rel="noopener">{{ t.sim_all_phones }}</a>).</p>
{% endblock %}"#;

/// The layer's default templates, with a hint under the login form and a link to the
/// simulated phone on the waiting page (the layer's own pages stay as they are: the hints
/// extend them with `{{ super() }}`).
pub(crate) fn simulator_templates(sim: &SimHandle) -> Result<Environment<'static>, AppError> {
    example_support::pages::simulator_templates(sim, SIM_WAIT)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn moments_have_a_date() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400 + 3 * 3600 + 7 * 60);
        let m = moment(t);
        assert_eq!(
            m.get_attr("text").unwrap().to_string(),
            "1970-01-02 03:07 UTC"
        );
        assert_eq!(
            m.get_attr("iso").unwrap().to_string(),
            "1970-01-02T03:07:00Z"
        );
        assert_eq!(civil(20_423), (2025, 12, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(civil(-1), (1969, 12, 31));
    }
}
