//! The default minijinja templates and the checks that an app's overrides are complete.

use minijinja::Environment;

/// The page templates the layer renders. An app replacing the environment must provide
/// all of them (they may or may not extend `base.html`).
pub const PAGE_TEMPLATES: [&str; 4] = ["login.html", "wait.html", "result.html", "logout.html"];

pub(crate) const STYLE_CSS: &str = include_str!("../static/style.css");
pub(crate) const SCRIPT_JS: &str = include_str!("../static/vipps-login.js");
pub(crate) const FAVICON_SVG: &str = include_str!("../static/favicon.svg");

/// The built-in templates: `base.html` plus the pages in [`PAGE_TEMPLATES`].
pub(crate) const DEFAULTS: [(&str, &str); 5] = [
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("wait.html", include_str!("../templates/wait.html")),
    ("result.html", include_str!("../templates/result.html")),
    ("logout.html", include_str!("../templates/logout.html")),
];

/// A fresh environment holding the built-in templates (HTML auto-escaping on).
///
/// Start from this to override a single template while keeping the rest:
///
/// ```
/// let mut env = vipps_login_tower::default_templates().unwrap();
/// env.add_template("base.html", "<!doctype html><html lang=\"en\"><body>{% block content %}{% endblock %}</body></html>").unwrap();
/// ```
///
/// # Errors
/// Never in practice: the built-in templates are tested to compile.
pub fn default_templates() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    for (name, source) in DEFAULTS {
        env.add_template(name, source)?;
    }
    Ok(env)
}

/// The source of one built-in template (`base.html` or a name in [`PAGE_TEMPLATES`]), for
/// an app that registers it under another name and extends it with `{{ super() }}`:
///
/// ```
/// use vipps_login_tower::{default_template_source, default_templates};
/// let mut env = default_templates().unwrap();
/// env.add_template("layer/wait.html", default_template_source("wait.html").unwrap()).unwrap();
/// env.add_template(
///     "wait.html",
///     r#"{% extends "layer/wait.html" %}{% block content %}{{ super() }}<p>Till 3</p>{% endblock %}"#,
/// ).unwrap();
/// ```
#[must_use]
pub fn default_template_source(name: &str) -> Option<&'static str> {
    DEFAULTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, source)| *source)
}

/// Checks that every page template exists and compiles.
pub(crate) fn check(env: &Environment<'static>) -> Result<(), String> {
    for name in PAGE_TEMPLATES {
        env.get_template(name)
            .map_err(|e| format!("template {name}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    #[test]
    fn defaults_compile() {
        let env = super::default_templates().unwrap();
        super::check(&env).unwrap();
    }
}
