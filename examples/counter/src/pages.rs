//! The desk's own pages (behind the layer) and the simulator hints on the layer's pages.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::get;
use example_support::pages::{address_lines, display_phone, secure_html, static_file};
use minijinja::{Environment, context};
use vipps_login_sim::SimHandle;
use vipps_login_tower::{RequireVippsLogin, VippsLoginLayer, VippsUser};

use crate::{AppError, Members};

const MEMBER_HTML: &str = include_str!("../templates/member.html");
const COUNTER_CSS: &str = include_str!("../static/counter.css");

/// Shared state of the desk's pages.
#[derive(Clone)]
pub(crate) struct Pages {
    templates: Arc<Environment<'static>>,
    members: Members,
    app_name: &'static str,
}

impl Pages {
    pub(crate) fn new(members: Members, app_name: &'static str) -> Result<Self, AppError> {
        let mut env = Environment::new();
        env.add_template("member.html", MEMBER_HTML)
            .map_err(|e| AppError::Config(format!("member.html: {e}")))?;
        Ok(Self {
            templates: Arc::new(env),
            members,
            app_name,
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

/// `HH:MM UTC` of a time today-ish (the desk needs no calendar).
fn clock(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    format!("{:02}:{:02} UTC", day / 3600, day % 3600 / 60)
}

async fn member_page(State((pages, prefix)): St, user: VippsUser) -> Response {
    let info = user.userinfo();
    let member = pages.members.get(user.account_id());
    let is_new = member
        .as_ref()
        .is_none_or(|m| m.first_login_id == user.login_id());
    let address = info.address.as_ref().map(address_lines).unwrap_or_default();
    let ctx = context! {
        app_name => pages.app_name,
        status => if is_new { "new" } else { "returning" },
        name => info.name.clone().unwrap_or_else(|| "Name not shared".to_owned()),
        given_name => info.given_name.clone(),
        phone => info.phone_number.as_deref().map(display_phone),
        email => info.email.clone(),
        birthdate => info.birthdate.clone(),
        address => address,
        member_no => member.as_ref().map(|m| m.number.clone()).unwrap_or_else(|| user.account_id().to_owned()),
        visits => member.as_ref().map_or(1, |m| m.visits),
        since => member.as_ref().map(|m| clock(m.joined_at)),
        member_count => pages.members.len(),
        csrf_token => user.csrf_token(),
        logout_url => format!("{prefix}/logout"),
        style_url => format!("{prefix}/static/style.css"),
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
                "The member page could not be shown.".to_owned(),
            )
        }
    }
}

const SIM_WAIT: &str = r#"{% extends "layer/wait.html" %}{% block content %}{{ super() }}
<p id="sim-hint" class="vl-help"><strong>Simulator:</strong> play the customer on the <a id="sim-phone" href="{{ sim_phone_url }}" target="_blank" rel="noopener">simulated phone</a> (Kari's; <a href="{{ sim_phones_url }}" target="_blank" rel="noopener">all demo phones</a>).</p>
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
    fn clock_is_hours_and_minutes() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400 + 3 * 3600 + 7 * 60);
        assert_eq!(clock(t), "03:07 UTC");
    }
}
