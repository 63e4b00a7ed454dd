//! Helpers for the apps' own pages (security headers, static files, showing a phone
//! number or an address) and for extending the layer's pages without copying them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use vipps_login_core::{Address, Msisdn};
use vipps_login_sim::SimHandle;

use crate::error::AppError;
use crate::options::DEMO_CUSTOMER;

/// An HTML page that must not be cached, framed or sniffed, and that loads only the
/// app's own scripts and styles.
#[must_use]
pub fn secure_html(status: StatusCode, html: String) -> Response {
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

/// A static file compiled into the app, cacheable for an hour.
#[must_use]
pub fn static_file(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// `+47 123 45 678` style for the numbers Vipps serves; anything else as `+digits`.
#[must_use]
pub fn display_phone(raw: &str) -> String {
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

/// The address as lines for a page.
#[must_use]
pub fn address_lines(address: &Address) -> Vec<String> {
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

/// The layer's default templates, to extend with [`extend_layer_template`] and
/// [`add_simulator_hints`] and hand to the layer's builder (`.templates(env)`).
///
/// # Errors
/// When the layer's templates do not compile (never with a released layer).
pub fn layer_templates() -> Result<Environment<'static>, AppError> {
    vipps_login_tower::default_templates().map_err(template_error)
}

/// Replaces the layer's page `name` (e.g. `result.html`) with `source`, which extends the
/// original under the name `layer/{name}`: `{% extends "layer/result.html" %}{% block
/// content %}{{ super() }}…{% endblock %}` keeps the layer's page and adds to it.
///
/// # Errors
/// When the layer has no page `name` or `source` does not compile.
pub fn extend_layer_template(
    env: &mut Environment<'static>,
    name: &'static str,
    source: &'static str,
) -> Result<(), AppError> {
    let original = vipps_login_tower::default_template_source(name)
        .ok_or_else(|| AppError::Config(format!("the layer has no template {name}")))?;
    let layer_name = match name {
        "base.html" => "layer/base.html",
        "login.html" => "layer/login.html",
        "wait.html" => "layer/wait.html",
        "result.html" => "layer/result.html",
        "logout.html" => "layer/logout.html",
        _ => return Err(AppError::Config(format!("cannot extend template {name}"))),
    };
    env.add_template(layer_name, original)
        .map_err(template_error)?;
    env.add_template(name, source).map_err(template_error)
}

/// The hint under the layer's login form in simulator mode: which demo numbers to try.
const SIM_LOGIN: &str = r#"{% extends "layer/login.html" %}{% block content %}{{ super() }}
<p id="sim-hint" class="vl-help"><strong>{{ t.sim_label }}</strong> {{ t.sim_try | replace("{customer}", sim_customer) }}</p>
{% endblock %}"#;

/// Simulator hints on the layer's pages: the demo numbers to try under the login form,
/// and `wait_page` (the app's own words; it extends `layer/wait.html`) on the waiting page.
/// Both can use the globals `sim_customer` ([`DEMO_CUSTOMER`]), `sim_phone_url` (that
/// customer's simulated phone), `sim_phone_base` (a simulated phone's URL without the
/// number: `{{ sim_phone_base ~ msisdn }}` is the phone of the login on the waiting page)
/// and `sim_phones_url` (all demo phones); the words are the layer's texts `sim_*`
/// ([`with_sim_hints`](crate::words::with_sim_hints)).
///
/// # Errors
/// When a template does not compile.
pub fn add_simulator_hints(
    env: &mut Environment<'static>,
    sim: &SimHandle,
    wait_page: &'static str,
) -> Result<(), AppError> {
    extend_layer_template(env, "login.html", SIM_LOGIN)?;
    extend_layer_template(env, "wait.html", wait_page)?;
    env.add_global("sim_customer", DEMO_CUSTOMER);
    env.add_global("sim_phone_url", sim.phone_url(DEMO_CUSTOMER).to_string());
    env.add_global("sim_phone_base", sim.phone_url("").to_string());
    env.add_global("sim_phones_url", sim.base_url().to_string());
    Ok(())
}

/// The layer's default templates with the [simulator hints](add_simulator_hints).
///
/// # Errors
/// When a template does not compile.
pub fn simulator_templates(
    sim: &SimHandle,
    wait_page: &'static str,
) -> Result<Environment<'static>, AppError> {
    let mut env = layer_templates()?;
    add_simulator_hints(&mut env, sim, wait_page)?;
    Ok(env)
}

fn template_error(e: minijinja::Error) -> AppError {
    AppError::Config(format!("layer templates: {e}"))
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
        let mut address = Address::default();
        address.street_address = Some("Storgata 1\n".into());
        address.postal_code = Some("0155".into());
        address.region = Some("Oslo".into());
        address.country = Some("NO".into());
        assert_eq!(
            address_lines(&address),
            vec![
                "Storgata 1".to_owned(),
                "0155 Oslo".to_owned(),
                "NO".to_owned()
            ]
        );
    }

    #[test]
    fn extending_keeps_the_original_under_layer() {
        const ADDED: &str = r#"{% extends "layer/result.html" %}{% block content %}{{ super() }}<p id="added"></p>{% endblock %}"#;
        let mut env = layer_templates().unwrap();
        extend_layer_template(&mut env, "result.html", ADDED).unwrap();
        let ours = env.get_template("result.html").unwrap();
        assert!(ours.source().contains("id=\"added\""));
        assert!(env.get_template("layer/result.html").is_ok());
        assert!(extend_layer_template(&mut env, "nothing.html", ADDED).is_err());
    }

    #[test]
    fn secure_pages_forbid_framing_and_caching() {
        let res = secure_html(StatusCode::OK, "<p>hi</p>".to_owned());
        assert_eq!(res.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    }
}
