//! The staff gate: a reference app's desk is for staff only. One configured staff
//! password (`--staff-password`, `STAFF_PASSWORD`) signs a browser in for a shift; scripts
//! send it as `Authorization: Bearer …`. Only the customer's own pages stay public.
//!
//! The signed-in mark is a private (encrypted and authenticated) cookie under the app's
//! cookie key, holding only its expiry, so every instance sharing the cookie secret
//! accepts it and nothing is stored per staff member.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, CookieJar, Key, SameSite};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use subtle::ConstantTimeEq as _;

use vipps_login_core::{Clock, Language, SystemClock};

use crate::pages::secure_html;
use crate::words::{STAFF_WORDS, request_language, template_texts};

/// How long one sign-in lasts: a shift.
const SHIFT: Duration = Duration::from_secs(12 * 3600);
/// Wrong passwords allowed per minute (per process) before sign-in pauses for a minute.
const FAILURES_PER_MINUTE: u32 = 5;
/// The shortest staff password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

/// The desk's staff authentication, put in front of the whole router (the layer too, so
/// nobody outside can start a push) with [`StaffGate::require`].
#[derive(Clone)]
pub struct StaffGate {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    password: String,
    key: Key,
    cookie_name: &'static str,
    secure: bool,
    /// The layer's stylesheet, which the sign-in page uses.
    style_url: String,
    /// Paths anyone may open: the customer's pages and what they load.
    public: Vec<String>,
    /// Prefixes anyone may open (static files).
    public_prefixes: Vec<String>,
    /// Wrong passwords in the current minute, shared by every clone of the gate.
    failures: Arc<Mutex<(u32, Instant)>>,
    /// The sign-in page, compiled once.
    templates: Arc<minijinja::Environment<'static>>,
    /// The sign-in page's language for browsers that ask for none of nb, da, fi, en.
    language: Language,
    /// What a shift's end is read on: the app's client's clock (see [`StaffGate::clock`]).
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for StaffGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffGate")
            .field("public", &self.inner.public)
            .finish_non_exhaustive()
    }
}

const SIGN_IN_TEMPLATE: &str = include_str!("../templates/staff-sign-in.html");
const SIGN_IN_NAME: &str = "staff-sign-in.html";

/// The sign-in page's path.
pub const SIGN_IN_PATH: &str = "/staff/sign-in";

impl StaffGate {
    /// A gate for `password`, sealing its cookie with `key`. `secure` follows the app's
    /// public URL (not `Secure` only for plain-http development on loopback); the layer
    /// mounted under `layer_prefix` keeps its static files and the customer's callback
    /// public.
    ///
    /// # Errors
    /// A password shorter than [`MIN_PASSWORD_LEN`].
    pub fn new(password: &str, key: Key, secure: bool, layer_prefix: &str) -> Result<Self, String> {
        if password.chars().count() < MIN_PASSWORD_LEN {
            return Err(format!(
                "the staff password must be at least {MIN_PASSWORD_LEN} characters"
            ));
        }
        // A `.html` name turns minijinja's HTML escaping on for the values.
        let mut templates = minijinja::Environment::new();
        templates
            .add_template(SIGN_IN_NAME, SIGN_IN_TEMPLATE)
            .map_err(|e| format!("the staff sign-in page: {e}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                password: password.to_owned(),
                key,
                cookie_name: if secure {
                    "__Host-desk_staff"
                } else {
                    "desk_staff"
                },
                secure,
                style_url: format!("{layer_prefix}/static/style.css"),
                public: vec![
                    SIGN_IN_PATH.to_owned(),
                    "/favicon.ico".to_owned(),
                    format!("{layer_prefix}/callback"),
                ],
                public_prefixes: vec![format!("{layer_prefix}/static/")],
                failures: Arc::new(Mutex::new((0, Instant::now()))),
                templates: Arc::new(templates),
                language: Language::En,
                clock: Arc::new(SystemClock),
            }),
        })
    }

    /// The sign-in page's language for browsers that ask for none of nb, da, fi, en
    /// (default English; each browser otherwise gets its own).
    #[must_use]
    pub fn language(mut self, lang: Language) -> Self {
        Arc::make_mut(&mut self.inner).language = lang;
        self
    }

    /// The clock a signed-in shift's end is read on (default the system clock; an app
    /// passes its client's, [`Config::clock`](vipps_login_core::Config::clock)).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        Arc::make_mut(&mut self.inner).clock = clock;
        self
    }

    /// Also lets anyone open `path` (exactly) — a customer's page.
    #[must_use]
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).public.push(path.into());
        self
    }

    /// Also lets anyone open everything under `prefix` (static files).
    #[must_use]
    pub fn public_prefix(mut self, prefix: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner)
            .public_prefixes
            .push(prefix.into());
        self
    }

    fn is_public(&self, path: &str) -> bool {
        self.inner.public.iter().any(|p| p == path)
            || self
                .inner
                .public_prefixes
                .iter()
                .any(|p| path.starts_with(p.as_str()))
    }

    fn password_matches(&self, given: &str) -> bool {
        given
            .as_bytes()
            .ct_eq(self.inner.password.as_bytes())
            .into()
    }

    fn signed_in(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if bearer.is_some_and(|b| self.password_matches(b.trim())) {
            return true;
        }
        let mut jar = CookieJar::new();
        for value in headers.get_all(header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for c in Cookie::split_parse_encoded(value).flatten() {
                if c.name() == self.inner.cookie_name {
                    jar.add_original(c.into_owned());
                }
            }
        }
        jar.private(&self.inner.key)
            .get(self.inner.cookie_name)
            .and_then(|c| c.value().strip_prefix("staff:")?.parse::<u64>().ok())
            .is_some_and(|until| until > self.inner.clock.unix_secs())
    }

    /// The middleware (`axum::middleware::from_fn_with_state(gate, StaffGate::require)`):
    /// public paths pass; a signed-in browser or a bearer with the password passes; a page
    /// request is sent to the sign-in page, anything else gets 401 with a JSON body.
    pub async fn require(State(gate): State<Self>, request: Request, next: Next) -> Response {
        let path = request.uri().path();
        if path == SIGN_IN_PATH {
            return gate.sign_in(request).await;
        }
        if gate.is_public(path) || gate.signed_in(request.headers()) {
            return next.run(request).await;
        }
        let wants_page = request.method() == Method::GET
            && request
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("text/html"));
        if wants_page {
            let back = request
                .uri()
                .path_and_query()
                .map_or("/", http::uri::PathAndQuery::as_str);
            let query = serde_urlencoded::to_string([("return_to", back)]).unwrap_or_default();
            return Redirect::to(&format!("{SIGN_IN_PATH}?{query}")).into_response();
        }
        let lang = request_language(request.headers(), gate.inner.language);
        let body = serde_json::json!({
            "error": "staff_only",
            "message": STAFF_WORDS.text(lang, "staff_only"),
        });
        let mut res = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"desk\""),
        );
        res
    }

    async fn sign_in(&self, request: Request) -> Response {
        let lang = request_language(request.headers(), self.inner.language);
        match *request.method() {
            Method::GET => {
                let query: Vec<(String, String)> = request
                    .uri()
                    .query()
                    .and_then(|q| serde_urlencoded::from_str(q).ok())
                    .unwrap_or_default();
                let back = back_to(field(&query, "return_to"));
                self.page(lang, StatusCode::OK, &back, None)
            }
            Method::POST => {
                let limit = 16 * 1024;
                let Ok(body) = axum::body::to_bytes(request.into_body(), limit).await else {
                    return self.page(lang, StatusCode::BAD_REQUEST, "/", Some("problem_form"));
                };
                let form: Vec<(String, String)> =
                    serde_urlencoded::from_bytes(&body).unwrap_or_default();
                let back = back_to(field(&form, "return_to"));
                if self.paused() {
                    return self.page(
                        lang,
                        StatusCode::TOO_MANY_REQUESTS,
                        &back,
                        Some("problem_paused"),
                    );
                }
                if !self.password_matches(field(&form, "password").unwrap_or("")) {
                    self.count_failure();
                    tracing::warn!("staff sign-in refused: wrong password");
                    return self.page(lang, StatusCode::UNAUTHORIZED, &back, Some("problem_wrong"));
                }
                let mut res = Redirect::to(&back).into_response();
                if let Some(cookie) = self.cookie() {
                    res.headers_mut().append(header::SET_COOKIE, cookie);
                }
                res
            }
            _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        }
    }

    fn cookie(&self) -> Option<HeaderValue> {
        let until = self.inner.clock.unix_secs() + SHIFT.as_secs();
        let cookie = Cookie::build((self.inner.cookie_name, format!("staff:{until}")))
            .http_only(true)
            .same_site(SameSite::Strict)
            .path("/")
            .secure(self.inner.secure)
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(SHIFT.as_secs()).unwrap_or(i64::MAX),
            ));
        let mut jar = CookieJar::new();
        jar.private_mut(&self.inner.key).add(cookie);
        let sealed = jar.get(self.inner.cookie_name)?;
        HeaderValue::from_str(&sealed.to_string()).ok()
    }

    fn paused(&self) -> bool {
        let Ok(mut failures) = self.inner.failures.lock() else {
            return true;
        };
        if failures.1.elapsed() > Duration::from_secs(60) {
            *failures = (0, Instant::now());
        }
        failures.0 >= FAILURES_PER_MINUTE
    }

    fn count_failure(&self) {
        if let Ok(mut failures) = self.inner.failures.lock() {
            failures.0 += 1;
        }
    }

    /// The sign-in page in `lang`, with the problem (a key of [`STAFF_WORDS`]) if any.
    fn page(
        &self,
        lang: Language,
        status: StatusCode,
        return_to: &str,
        problem: Option<&str>,
    ) -> Response {
        let problem = problem.map(|key| STAFF_WORDS.text(lang, key));
        let html = self
            .inner
            .templates
            .get_template(SIGN_IN_NAME)
            .and_then(|t| {
                t.render(minijinja::context! {
                    lang => lang.code(),
                    t => template_texts(&STAFF_WORDS, lang),
                    return_to,
                    problem,
                    action => SIGN_IN_PATH,
                    style_url => &self.inner.style_url,
                })
            })
            .unwrap_or_else(|_| STAFF_WORDS.text(lang, "page_error").to_owned());
        secure_html(status, html)
    }
}

/// The value of the form or query field `name`.
fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Where a sign-in goes next: `wanted` when it is a same-origin path, else the desk.
fn back_to(wanted: Option<&str>) -> String {
    vipps_login_tower::safe_return_to(wanted.unwrap_or("/")).unwrap_or_else(|| "/".to_owned())
}
