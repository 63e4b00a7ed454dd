//! What the command prints: results on stdout (human text or one JSON object), progress
//! and prose on stderr. Nothing here ever sees a token or a secret.

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};
use vipps_login_core::{Clock, Error, Identity, LoginEnd};

use crate::exit;

/// Why a command did not succeed: a stable code, a sentence, and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    /// Stable `snake_case` code: core's `Error::code()`, or `usage` / `invalid_input`.
    pub(crate) code: &'static str,
    /// One plain sentence saying what happened and what to do.
    pub(crate) message: String,
    /// Process exit code.
    pub(crate) exit: u8,
    /// How long Vipps asked us to wait (rate limiting).
    pub(crate) retry_after: Option<Duration>,
}

impl Failure {
    /// Input this command checks itself (not a core type) was wrong.
    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Self {
            code: "invalid_input",
            message: message.into(),
            exit: exit::USAGE,
            retry_after: None,
        }
    }

    /// The command line itself was wrong (clap).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: "usage",
            message: message.into(),
            exit: exit::USAGE,
            retry_after: None,
        }
    }

    /// No client is configured (before core could even be asked).
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self {
            code: "config",
            message: message.into(),
            exit: exit::USAGE,
            retry_after: None,
        }
    }

    /// The operator pressed Ctrl-C.
    pub(crate) fn interrupted() -> Self {
        Self {
            code: "cancelled",
            message: "The login was cancelled with Ctrl-C.".to_owned(),
            exit: exit::INTERRUPTED,
            retry_after: None,
        }
    }
}

impl Failure {
    /// A login that ended as `end` without success for this command: the error its end
    /// implies (code and sentence), with the exit code of `exit::end_code`.
    pub(crate) fn ended(end: &LoginEnd) -> Self {
        let error = end
            .error()
            .unwrap_or_else(|| Error::Protocol("the login ended unexpectedly".to_owned()));
        Self {
            code: error.code(),
            message: error.to_string(),
            exit: exit::end_code(end),
            retry_after: error.retry_after(),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self {
            code: error.code(),
            message: error.to_string(),
            exit: exit::exit_code(&error),
            retry_after: error.retry_after(),
        }
    }
}

/// How to talk to the operator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ui {
    /// `--json`: stdout gets JSON lines (one object a line, each with an `event`; the
    /// last is the `result` or the `error`), stderr nothing but tracing.
    pub(crate) json: bool,
    /// stderr is a terminal (spinner and colours allowed).
    pub(crate) tty: bool,
}

impl Ui {
    pub(crate) fn new(json: bool) -> Self {
        Self {
            json,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Prose for the operator on stderr (not in `--json` mode).
    pub(crate) fn say(&self, line: &str) {
        if !self.json {
            eprintln!("{line}");
        }
    }

    /// Prose that must stand out (the confirmation code).
    pub(crate) fn shout(&self, line: &str) {
        if self.json {
            return;
        }
        if self.tty {
            eprintln!("\n  \x1b[1m{line}\x1b[0m\n");
        } else {
            eprintln!("{line}");
        }
    }

    /// A spinner on stderr; hidden in `--json` mode and when stderr is not a terminal.
    pub(crate) fn spinner(&self, message: String) -> ProgressBar {
        if self.json || !self.tty {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::term_like(Box::new(Margin(console::Term::stderr()))),
        );
        if let Ok(style) = ProgressStyle::with_template("{spinner:.cyan} {wide_msg}") {
            bar.set_style(style);
        }
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }

    /// One JSON line `{"event": name, ...fields}` in `--json` mode; nothing otherwise.
    pub(crate) fn event(&self, name: &str, fields: Value) {
        if self.json {
            print_json(&with_event(name, fields));
        }
    }

    /// Prints a successful result: the JSON object (as the `result` event), or the
    /// human text.
    pub(crate) fn result(&self, json_value: &Value, human: &str) {
        if self.json {
            print_json(&with_event("result", json_value.clone()));
        } else {
            let mut out = std::io::stdout().lock();
            // A closed stdout (`| head`) is not worth a panic.
            let _ = out.write_all(human.as_bytes());
            let _ = out.flush();
        }
    }

    /// Reports a failure: the JSON error object on stdout, or a sentence on stderr.
    pub(crate) fn failure(&self, failure: &Failure) {
        if self.json {
            print_json(&with_event("error", failure_json(failure)));
        } else {
            eprintln!("error: {}", failure.message);
        }
    }
}

/// stderr, seen a few columns narrower than it is. A spinner line as wide as the terminal
/// leaves the cursor at its edge, where the `^C` the terminal echoes wraps to a new line,
/// and clearing the spinner on Ctrl-C would then clear that line and leave the spinner
/// standing. The margin keeps the echo on the spinner's line.
#[derive(Debug)]
struct Margin(console::Term);

impl indicatif::TermLike for Margin {
    fn width(&self) -> u16 {
        self.0.size().1.saturating_sub(3).max(1)
    }

    fn height(&self) -> u16 {
        self.0.size().0
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_up(n)
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_down(n)
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_right(n)
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_left(n)
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.0.write_line(s)
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.0.write_str(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.0.clear_line()
    }

    fn flush(&self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The JSON object for a failure: `error`, `message`, and `retry_after_secs` when known.
pub(crate) fn failure_json(failure: &Failure) -> Value {
    let mut object = Map::new();
    object.insert("error".into(), Value::from(failure.code));
    object.insert("message".into(), Value::from(failure.message.clone()));
    if let Some(wait) = failure.retry_after {
        object.insert(
            "retry_after_secs".into(),
            Value::from(wait.as_secs().max(1)),
        );
    }
    object.insert("exit_code".into(), Value::from(failure.exit));
    Value::Object(object)
}

/// `fields` with `"event": name` in front (a non-object becomes `{"event", "value"}`).
fn with_event(name: &str, fields: Value) -> Value {
    let mut object = Map::new();
    object.insert("event".into(), Value::from(name));
    match fields {
        Value::Object(fields) => object.extend(fields),
        Value::Null => {}
        other => {
            object.insert("value".into(), other);
        }
    }
    Value::Object(object)
}

/// Writes one compact JSON object and a newline on stdout.
pub(crate) fn print_json(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// Whole seconds from now on `clock` until `deadline` (0 once it passed).
pub(crate) fn secs_left(deadline: SystemTime, clock: &dyn Clock) -> u64 {
    deadline
        .duration_since(clock.now())
        .map_or(0, |d| d.as_secs())
}

/// `4:59` style remaining time until `deadline`, rounded down to reach `0:00` when it
/// passes (unlike a refusal's wait, which rounds up: see core's `Wait`).
pub(crate) fn remaining(deadline: SystemTime, clock: &dyn Clock) -> String {
    let secs = secs_left(deadline, clock);
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// The success JSON of `login`: `status`, `sub`, `binding_message`, `id_token_claims`,
/// `userinfo`. Built from the identity's claims only; tokens are not part of `Identity`.
pub(crate) fn identity_json(identity: &Identity, binding_message: Option<&str>) -> Value {
    let userinfo = serde_json::to_value(&identity.userinfo).unwrap_or_else(|_| json!({}));
    json!({
        "status": "approved",
        "sub": identity.sub,
        "binding_message": binding_message,
        "id_token_claims": Value::Object(identity.id_token_claims.clone()),
        "userinfo": without_nulls(userinfo),
    })
}

/// The human text of `login`: who logged in, then every userinfo claim.
pub(crate) fn identity_text(identity: &Identity) -> String {
    let userinfo = without_nulls(serde_json::to_value(&identity.userinfo).unwrap_or(Value::Null));
    let claims = match userinfo {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let name = claims
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("(name not shared)");
    let mut text = format!("Logged in: {name}\n");
    for (key, value) in ordered(&claims) {
        if key == "name" && value.is_string() {
            continue;
        }
        render_claim(&mut text, 1, key, value);
    }
    if !claims.contains_key("sub") {
        render_claim(&mut text, 1, "sub", &Value::from(identity.sub.clone()));
    }
    text
}

/// Claims in reading order: the usual suspects first, the rest alphabetically.
fn ordered(claims: &Map<String, Value>) -> Vec<(&str, &Value)> {
    const FIRST: &[&str] = &[
        "name",
        "phone_number",
        "sub",
        "given_name",
        "family_name",
        "email",
        "email_verified",
        "birthdate",
        "nin",
        "address",
        "other_addresses",
    ];
    let mut out: Vec<(&str, &Value)> = FIRST
        .iter()
        .filter_map(|k| claims.get_key_value(*k).map(|(k, v)| (k.as_str(), v)))
        .collect();
    let mut rest: Vec<(&str, &Value)> = claims
        .iter()
        .filter(|(k, _)| !FIRST.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    rest.sort_by(|a, b| a.0.cmp(b.0));
    out.extend(rest);
    out
}

const LABEL_WIDTH: usize = 16;

fn label(key: &str) -> String {
    match key {
        "phone_number" => "phone".to_owned(),
        "sub" => "sub".to_owned(),
        "nin" => "national id".to_owned(),
        "email_verified" => "email verified".to_owned(),
        "delegatedConsents" => "consents".to_owned(),
        other => words(other),
    }
}

/// `given_name` and `termsDescription` to `given name` and `terms description`.
fn words(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c == '_' {
            out.push(' ');
        } else if c.is_ascii_uppercase() && !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn render_claim(text: &mut String, depth: usize, key: &str, value: &Value) {
    let indent = "  ".repeat(depth);
    let label = label(key);
    match value {
        // Vipps' consent screen: the heading, then one checkbox line per consent.
        Value::Object(map) if key == "delegatedConsents" => {
            text.push_str(&format!("{indent}{label}:\n"));
            if let Some(heading) = map.get("heading").and_then(Value::as_str) {
                text.push_str(&format!("{indent}  {heading}\n"));
            }
            for item in map
                .get("consents")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let line = item
                    .as_object()
                    .and_then(consent_line)
                    .unwrap_or_else(|| item.to_string());
                text.push_str(&format!("{indent}  - {line}\n"));
            }
        }
        Value::Object(map) if looks_like_address(map) => {
            text.push_str(&format!(
                "{indent}{label:<LABEL_WIDTH$} {}\n",
                address_line(map)
            ));
        }
        Value::Object(map) => {
            text.push_str(&format!("{indent}{label}:\n"));
            for (k, v) in map {
                render_claim(text, depth + 1, k, v);
            }
        }
        Value::Array(items) if items.is_empty() => {}
        Value::Array(items) => {
            text.push_str(&format!("{indent}{label}:\n"));
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Object(map) if looks_like_address(map) => {
                        text.push_str(&format!("{indent}  - {}\n", address_line(map)));
                    }
                    Value::Object(map) if consent_line(map).is_some() => {
                        let line = consent_line(map).unwrap_or_default();
                        text.push_str(&format!("{indent}  - {line}\n"));
                    }
                    Value::Object(_) | Value::Array(_) => {
                        render_claim(text, depth + 1, &format!("#{}", i + 1), item);
                    }
                    scalar => text.push_str(&format!("{indent}  - {}\n", scalar_text(scalar))),
                }
            }
        }
        scalar => {
            text.push_str(&format!(
                "{indent}{label:<LABEL_WIDTH$} {}\n",
                scalar_text(scalar)
            ));
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn looks_like_address(map: &Map<String, Value>) -> bool {
    ["street_address", "postal_code", "formatted", "address_type"]
        .iter()
        .any(|k| map.contains_key(*k))
}

/// `- [x] I accept the terms (required)` for one item of `delegatedConsents.consents`.
fn consent_line(map: &Map<String, Value>) -> Option<String> {
    let accepted = map.get("accepted")?.as_bool()?;
    let text = map
        .get("textDisplayedToUser")
        .or_else(|| map.get("id"))
        .map(scalar_text)
        .unwrap_or_default();
    let required = map.get("required").and_then(Value::as_bool) == Some(true);
    Some(format!(
        "[{}] {text}{}",
        if accepted { "x" } else { " " },
        if required { " (required)" } else { "" }
    ))
}

/// `formatted` when Vipps gave one, otherwise `street, postal code region, country`.
fn address_line(map: &Map<String, Value>) -> String {
    let get = |k: &str| {
        map.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let mut line = match get("formatted") {
        Some(formatted) => formatted.replace('\n', ", "),
        None => {
            let place = [get("postal_code"), get("region")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            [
                get("street_address").map(str::to_owned),
                Some(place).filter(|p| !p.is_empty()),
                get("country").map(str::to_owned),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ")
        }
    };
    if line.is_empty() {
        line = "(empty)".to_owned();
    }
    if let Some(kind) = get("address_type") {
        line.push_str(&format!(" ({kind})"));
    }
    line
}

/// Drops `null` members (claims the customer did not share) recursively.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vipps_login_core::SystemClock;

    #[test]
    fn failure_json_has_the_stable_shape() {
        let failure = Failure::from(Error::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        });
        let value = failure_json(&failure);
        assert_eq!(value["error"], "rate_limited");
        assert_eq!(value["retry_after_secs"], 30);
        assert_eq!(value["exit_code"], 6);
        assert!(value["message"].as_str().is_some_and(|m| m.contains("30")));
    }

    #[test]
    fn claims_render_readably() {
        let mut text = String::new();
        let claims = json!({
            "phone_number": "4712345678",
            "email_verified": true,
            "address": {"street_address": "Gate 1", "postal_code": "0154", "region": "Oslo",
                        "country": "NO", "formatted": "", "address_type": "home"},
            "other_addresses": [],
        });
        for (k, v) in ordered(claims.as_object().unwrap_or(&Map::new())) {
            render_claim(&mut text, 1, k, v);
        }
        assert!(text.contains("phone            4712345678"), "{text}");
        assert!(text.contains("email verified   yes"), "{text}");
        assert!(text.contains("Gate 1, 0154 Oslo, NO (home)"), "{text}");
        assert!(!text.contains("other addresses"), "{text}");
    }

    #[test]
    fn consents_render_as_checkboxes() {
        let mut text = String::new();
        let consents = json!({"consents": [
            {"id": "terms", "accepted": true, "required": true, "textDisplayedToUser": "Terms"},
            {"id": "news", "accepted": false, "required": false}
        ]});
        render_claim(&mut text, 1, "delegatedConsents", &consents);
        assert!(text.contains("- [x] Terms (required)"), "{text}");
        assert_eq!(words("termsDescription"), "terms description");
        assert_eq!(words("given_name"), "given name");
        assert!(text.contains("- [ ] news\n"), "{text}");
    }

    #[test]
    fn remaining_time_never_underflows() {
        assert_eq!(remaining(SystemTime::UNIX_EPOCH, &SystemClock), "0:00");
    }
}
