//! The staff gate: a reference app's desk is for staff only. One configured staff
//! password (`--staff-password`, `STAFF_PASSWORD`) signs a browser in for a shift; scripts
//! send it as `Authorization: Bearer …`. Only the customer's own pages stay public.
//!
//! The signed-in mark is a private (encrypted and authenticated) cookie under the app's
//! cookie key, holding only its expiry, so every instance sharing the cookie secret
//! accepts it and nothing is stored per staff member. Wrong passwords, on the form or as
//! a bearer, are throttled per source ([`SignInThrottle`]) in the app's store: never a
//! lock-out of everyone. A request let in carries a [`StaffMember`] named by the gate's
//! staff id.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Key, SameSite};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use subtle::ConstantTimeEq as _;

use vipps_login_core::{Clock, Language, MemoryStore, Store, SystemClock};
use vipps_login_tower::StaffMember;

use crate::ops::StaffSignInAudit;
use crate::pages::secure_html;
use crate::staff_http::{Sealed, is_under, read_sealed, refuse_anonymous};
use crate::throttle::{SignInThrottle, Source};
use crate::words::{STAFF_WORDS, request_language, template_texts};

/// How long one sign-in lasts by default: a shift.
const SHIFT: Duration = Duration::from_secs(12 * 3600);
/// The staff id a shared password signs in as, unless the app names another.
pub const DEFAULT_STAFF_ID: &str = "staff-password";
/// The tracing target of staff sign-ins.
pub const STAFF_LOG_TARGET: &str = "vipps_login::staff";
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
    /// When set, only paths under it are for staff (the bridge's `/operator/`).
    guarded_prefix: Option<String>,
    /// Where the sign-in page is served.
    sign_in_path: String,
    /// Who a request let in by the password is ([`StaffMember::id`]).
    staff_id: String,
    /// How long a sign-in lasts.
    shift: Duration,
    /// Whether the source of a request is the rightmost `X-Forwarded-For` address.
    forwarded_for: bool,
    /// Wrong passwords per source, in the app's store.
    throttle: SignInThrottle,
    /// The store and clock the throttle is built on (rebuilt when either changes).
    store: Arc<dyn Store>,
    /// The sign-in page, compiled once.
    templates: Arc<minijinja::Environment<'static>>,
    /// The sign-in page's language for browsers that ask for none of nb, da, fi, en.
    language: Language,
    /// Where each sign-in (and each refused one) is recorded.
    audit: StaffSignInAudit,
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
/// The throttle's keys in the store.
const THROTTLE_NAMESPACE: &str = "staff-gate";

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
                guarded_prefix: None,
                shift: SHIFT,
                forwarded_for: false,
                sign_in_path: SIGN_IN_PATH.to_owned(),
                staff_id: DEFAULT_STAFF_ID.to_owned(),
                throttle: SignInThrottle::new(
                    Arc::new(MemoryStore::new()),
                    Arc::new(SystemClock),
                    THROTTLE_NAMESPACE,
                ),
                store: Arc::new(MemoryStore::new()),
                templates: Arc::new(templates),
                language: Language::En,
                audit: StaffSignInAudit::new(None),
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
        let inner = Arc::make_mut(&mut self.inner);
        inner.clock = clock;
        inner.throttle =
            SignInThrottle::new(inner.store.clone(), inner.clock.clone(), THROTTLE_NAMESPACE);
        self
    }

    /// The store wrong passwords are counted in (default this process' memory; an app
    /// passes its client's, [`VippsClient::store`](vipps_login_core::VippsClient::store),
    /// so that with Redis the limit holds across instances).
    #[must_use]
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.store = store;
        inner.throttle =
            SignInThrottle::new(inner.store.clone(), inner.clock.clone(), THROTTLE_NAMESPACE);
        self
    }

    /// Records every sign-in and every wrong password in the app's audit trail
    /// ([`Startup::staff_sign_in_audit`](crate::Startup::staff_sign_in_audit)).
    #[must_use]
    pub fn audit(mut self, audit: StaffSignInAudit) -> Self {
        Arc::make_mut(&mut self.inner).audit = audit;
        self
    }

    /// Who the password signs in as, for the layer's record of who started each login
    /// (default [`DEFAULT_STAFF_ID`]).
    #[must_use]
    pub fn staff_id(mut self, id: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).staff_id = id.into();
        self
    }

    /// Guards only the paths under `prefix` (for an app whose other paths are public,
    /// such as the identity bridge's OpenID endpoints); by default every path not made
    /// public is for staff.
    #[must_use]
    pub fn only_under(mut self, prefix: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).guarded_prefix = Some(prefix.into());
        self
    }

    /// A sign-in lasts `shift` instead of 12 hours.
    #[must_use]
    pub fn shift(mut self, shift: Duration) -> Self {
        Arc::make_mut(&mut self.inner).shift = shift;
        self
    }

    /// Behind the app's own reverse proxy, which always sets `X-Forwarded-For`: counts
    /// wrong passwords per address that proxy added (the rightmost), not per peer (which
    /// would be the proxy for everyone).
    #[must_use]
    pub fn behind_proxy(mut self, forwarded_for: bool) -> Self {
        Arc::make_mut(&mut self.inner).forwarded_for = forwarded_for;
        self
    }

    /// Serves the sign-in page at `path` instead of [`SIGN_IN_PATH`].
    #[must_use]
    pub fn sign_in_path(mut self, path: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).sign_in_path = path.into();
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
        if let Some(guarded) = &self.inner.guarded_prefix
            && !is_under(path, guarded)
        {
            return true;
        }
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

    fn member(&self) -> StaffMember {
        StaffMember {
            id: self.inner.staff_id.clone(),
            name: None,
        }
    }

    /// Whether the request carries an unexpired sign-in cookie.
    fn signed_in(&self, headers: &HeaderMap) -> bool {
        read_sealed(headers, &self.inner.key, self.inner.cookie_name)
            .and_then(|v| v.strip_prefix("staff:")?.parse::<u64>().ok())
            .is_some_and(|until| until > self.inner.clock.unix_secs())
    }

    /// Checks `given` for `source` within the throttle: `Ok(true)` when it is the password.
    async fn check(&self, source: &Source, given: &str) -> Result<bool, Refusal> {
        match self.inner.throttle.paused(source).await {
            Ok(Some(left)) => return Err(Refusal::Paused(left)),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "staff sign-in: the store did not answer");
                return Err(Refusal::Unavailable);
            }
        }
        if self.password_matches(given) {
            return Ok(true);
        }
        tracing::warn!(target: STAFF_LOG_TARGET, "staff sign-in refused: wrong password");
        self.inner
            .audit
            .record(&self.member(), Some(source.as_str().to_owned()), false);
        match self.inner.throttle.failed(source).await {
            Ok(_) => Ok(false),
            Err(e) => {
                tracing::error!(error = %e, "staff sign-in: the store did not answer");
                Err(Refusal::Unavailable)
            }
        }
    }

    /// The middleware (`axum::middleware::from_fn_with_state(gate, StaffGate::require)`):
    /// public paths pass; a signed-in browser or a bearer with the password passes, with
    /// its [`StaffMember`] in the request's extensions; a page request is sent to the
    /// sign-in page, anything else gets 401 with a JSON body (429 while the source is
    /// paused after wrong passwords).
    pub async fn require(State(gate): State<Self>, request: Request, next: Next) -> Response {
        let path = request.uri().path();
        if path == gate.inner.sign_in_path {
            return gate.sign_in(request).await;
        }
        if gate.is_public(path) {
            return next.run(request).await;
        }
        let (mut parts, body) = request.into_parts();
        if gate.signed_in(&parts.headers) {
            parts.extensions.insert(gate.member());
            return next.run(Request::from_parts(parts, body)).await;
        }
        let lang = request_language(&parts.headers, gate.inner.language);
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|b| b.trim().to_owned());
        if let Some(bearer) = bearer {
            let source = Source::of(&parts, gate.inner.forwarded_for);
            match gate.check(&source, &bearer).await {
                Ok(true) => {
                    parts.extensions.insert(gate.member());
                    return next.run(Request::from_parts(parts, body)).await;
                }
                Ok(false) => {}
                Err(refusal) => return refusal.json(lang),
            }
        }
        let request = Request::from_parts(parts, body);
        refuse_anonymous(&request, &gate.inner.sign_in_path, (&STAFF_WORDS, lang))
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
                let (parts, body) = request.into_parts();
                let Ok(body) = axum::body::to_bytes(body, limit).await else {
                    return self.page(lang, StatusCode::BAD_REQUEST, "/", Some("problem_form"));
                };
                let form: Vec<(String, String)> =
                    serde_urlencoded::from_bytes(&body).unwrap_or_default();
                let back = back_to(field(&form, "return_to"));
                let source = Source::of(&parts, self.inner.forwarded_for);
                match self
                    .check(&source, field(&form, "password").unwrap_or(""))
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        return self.page(
                            lang,
                            StatusCode::UNAUTHORIZED,
                            &back,
                            Some("problem_wrong"),
                        );
                    }
                    Err(Refusal::Paused(left)) => {
                        let mut res = self.page(
                            lang,
                            StatusCode::TOO_MANY_REQUESTS,
                            &back,
                            Some("problem_paused"),
                        );
                        res.headers_mut().insert(
                            header::RETRY_AFTER,
                            HeaderValue::from(left.as_secs().max(1)),
                        );
                        return res;
                    }
                    Err(Refusal::Unavailable) => {
                        return self.page(
                            lang,
                            StatusCode::SERVICE_UNAVAILABLE,
                            &back,
                            Some("problem_form"),
                        );
                    }
                }
                if let Err(e) = self.inner.throttle.succeeded(&source).await {
                    tracing::warn!(error = %e, "staff sign-in: could not forget earlier failures");
                }
                tracing::info!(target: STAFF_LOG_TARGET, staff = %self.inner.staff_id, "staff signed in with the staff password");
                self.inner
                    .audit
                    .record(&self.member(), Some(source.as_str().to_owned()), true);
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
        let shift = self.inner.shift;
        let until = self.inner.clock.unix_secs() + shift.as_secs();
        let sealed = Sealed {
            key: &self.inner.key,
            secure: self.inner.secure,
            same_site: SameSite::Strict,
        };
        sealed.set_cookie(self.inner.cookie_name, format!("staff:{until}"), shift)
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
                    action => &self.inner.sign_in_path,
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

/// Why a password was not even checked.
#[derive(Debug)]
enum Refusal {
    /// The source failed too often; it may try again after this.
    Paused(Duration),
    /// The store (where failures are counted) did not answer.
    Unavailable,
}

impl Refusal {
    fn json(&self, lang: Language) -> Response {
        let (status, error) = match self {
            Refusal::Paused(_) => (StatusCode::TOO_MANY_REQUESTS, "problem_paused"),
            Refusal::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "problem_form"),
        };
        let body = serde_json::json!({
            "error": if matches!(self, Refusal::Paused(_)) { "slow_down" } else { "temporarily_unavailable" },
            "message": STAFF_WORDS.text(lang, error),
        });
        let mut res = (status, axum::Json(body)).into_response();
        if let Refusal::Paused(left) = self {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(left.as_secs().max(1)),
            );
        }
        res
    }
}
