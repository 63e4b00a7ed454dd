//! The desk's own pages (behind the layer) and the simulator hints on the layer's pages.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::{Environment, context};
use vipps_login_core::{Address, Msisdn};
use vipps_login_sim::SimHandle;
use vipps_login_tower::{RequireVippsLogin, VippsLoginLayer, VippsUser};

use crate::{AppError, DEMO_CUSTOMER, Members};

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

fn secure_html(status: StatusCode, html: String) -> Response {
    let mut res = (status, Html(html)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        COUNTER_CSS,
    )
        .into_response()
}

/// `+47 123 45 678` style for the numbers Vipps serves; anything else as `+digits`.
pub(crate) fn display_phone(raw: &str) -> String {
    let Ok(msisdn) = raw.parse::<Msisdn>() else {
        return raw.to_owned();
    };
    let digits = msisdn.as_str();
    let cc = msisdn.country_code();
    let national = &digits[cc.len()..];
    let groups: &[usize] = match cc {
        "47" => &[3, 2, 3],
        "45" => &[2, 2, 2, 2],
        "358" => &[2, 3],
        _ => &[],
    };
    let mut out = format!("+{cc}");
    let mut rest = national;
    for &n in groups {
        if rest.len() <= n {
            break;
        }
        out.push(' ');
        out.push_str(&rest[..n]);
        rest = &rest[n..];
    }
    if !rest.is_empty() {
        out.push(' ');
        out.push_str(rest);
    }
    out
}

/// The address as lines for the page.
pub(crate) fn address_lines(address: &Address) -> Vec<String> {
    let mut lines: Vec<String> = address
        .street_address
        .iter()
        .flat_map(|s| s.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let town = [address.postal_code.as_deref(), address.region.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !town.is_empty() {
        lines.push(town);
    }
    if let Some(country) = &address.country {
        lines.push(country.clone());
    }
    if let (true, Some(formatted)) = (lines.is_empty(), &address.formatted) {
        lines.extend(formatted.lines().map(str::to_owned));
    }
    lines
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

const SIM_LOGIN: &str = r#"{% extends "layer/login.html" %}{% block content %}{{ super() }}
<p id="sim-hint" class="vl-help"><strong>Simulator:</strong> try the demo customer <strong>{{ sim_customer }}</strong> (Kari Nordmann) or 4798765432 (Ola Nordmann).</p>
{% endblock %}"#;

const SIM_WAIT: &str = r#"{% extends "layer/wait.html" %}{% block content %}{{ super() }}
<p id="sim-hint" class="vl-help"><strong>Simulator:</strong> play the customer on the <a id="sim-phone" href="{{ sim_phone_url }}" target="_blank" rel="noopener">simulated phone</a> (Kari's; <a href="{{ sim_phones_url }}" target="_blank" rel="noopener">all demo phones</a>).</p>
{% endblock %}"#;

/// The layer's default templates, with a hint under the login form and a link to the
/// simulated phone on the waiting page (the layer's own pages stay as they are: the hints
/// extend them with `{{ super() }}`).
pub(crate) fn simulator_templates(sim: &SimHandle) -> Result<Environment<'static>, AppError> {
    let err = |e: minijinja::Error| AppError::Config(format!("layer templates: {e}"));
    let mut env = vipps_login_tower::default_templates().map_err(err)?;
    for name in ["login.html", "wait.html"] {
        let source = vipps_login_tower::default_template_source(name)
            .ok_or_else(|| AppError::Config(format!("the layer has no template {name}")))?;
        env.add_template(
            if name == "login.html" {
                "layer/login.html"
            } else {
                "layer/wait.html"
            },
            source,
        )
        .map_err(err)?;
    }
    env.add_template("login.html", SIM_LOGIN).map_err(err)?;
    env.add_template("wait.html", SIM_WAIT).map_err(err)?;
    env.add_global("sim_customer", DEMO_CUSTOMER);
    env.add_global("sim_phone_url", sim.phone_url(DEMO_CUSTOMER).to_string());
    env.add_global("sim_phones_url", sim.base_url().to_string());
    Ok(env)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn phones_are_grouped() {
        assert_eq!(display_phone("4712345678"), "+47 123 45 678");
        assert_eq!(display_phone("+4587654321"), "+45 87 65 43 21");
        assert_eq!(display_phone("358401234567"), "+358 40 123 4567");
        assert_eq!(display_phone("not a number"), "not a number");
    }

    #[test]
    fn address_lines_skip_empty_parts() {
        let address: Address = serde_json_like();
        assert_eq!(
            address_lines(&address),
            vec![
                "Storgata 1".to_owned(),
                "0155 Oslo".to_owned(),
                "NO".to_owned()
            ]
        );
    }

    fn serde_json_like() -> Address {
        let mut a = Address::default();
        a.street_address = Some("Storgata 1\n".into());
        a.postal_code = Some("0155".into());
        a.region = Some("Oslo".into());
        a.country = Some("NO".into());
        a
    }

    #[test]
    fn clock_is_hours_and_minutes() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400 + 3 * 3600 + 7 * 60);
        assert_eq!(clock(t), "03:07 UTC");
    }
}
