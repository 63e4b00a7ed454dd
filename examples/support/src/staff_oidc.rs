//! Staff sign-in through the organisation's own OpenID provider (a Keycloak staff realm,
//! Entra ID, …): the app is an OpenID relying party of it, with the authorization code
//! flow, PKCE S256, `state` and `nonce`, the ID token verified by `openidconnect`
//! (signature against the provider's keys, issuer, audience, expiry, nonce, `at_hash`),
//! and an allowed group or role claim. A member of that group gets a session for a shift:
//! a private (encrypted and authenticated) cookie under the app's cookie key holding who
//! they are and until when, so every instance sharing the cookie secret accepts it. Staff
//! outside the group are refused with a page saying so.
//!
//! Put in front of the router like [`StaffGate`](crate::staff::StaffGate), with
//! `axum::middleware::from_fn_with_state(gate, StaffOidc::require)`; it serves its own
//! paths under a base (`{base}/sign-in`, `{base}/callback`, `{base}/sign-out`).

mod client;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Key, SameSite};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use url::Url;
use vipps_login_core::{Clock, Language, Secret, SystemClock};
use vipps_login_tower::StaffMember;

use crate::pages::secure_html;
use crate::staff::STAFF_LOG_TARGET;
use crate::staff_http::{Sealed, is_under, read_sealed, refuse_anonymous};
use crate::words::{STAFF_OIDC_WORDS, request_language, template_texts};

pub use client::SignInOutcome;
use client::{Flow, ProviderClient};

/// How long a sign-in at the organisation may take, start to callback.
const FLOW_LIFETIME: Duration = Duration::from_secs(600);
/// The default length of a session: a shift.
pub const DEFAULT_SHIFT: Duration = Duration::from_secs(12 * 3600);

const PAGE_TEMPLATE: &str = include_str!("../templates/staff-oidc.html");
const PAGE_NAME: &str = "staff-oidc.html";

/// What the staff sign-in needs to know about the organisation's provider.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StaffOidcConfig {
    /// The provider's issuer (discovery is read from `{issuer}/.well-known/openid-configuration`).
    pub issuer: Url,
    /// This app's client at the provider (confidential).
    pub client_id: String,
    /// Its secret.
    pub client_secret: Secret,
    /// The group (or role) a staff member must have.
    pub allowed_group: String,
    /// The ID token claim holding the groups or roles, a dotted path for nested ones
    /// (`groups`, `roles`, `realm_access.roles`).
    pub group_claim: String,
    /// How long a session lasts.
    pub shift: Duration,
}

impl StaffOidcConfig {
    /// A configuration with the `groups` claim and a 12-hour shift.
    #[must_use]
    pub fn new(
        issuer: Url,
        client_id: impl Into<String>,
        client_secret: Secret,
        allowed_group: impl Into<String>,
    ) -> Self {
        Self {
            issuer,
            client_id: client_id.into(),
            client_secret,
            allowed_group: allowed_group.into(),
            group_claim: "groups".to_owned(),
            shift: DEFAULT_SHIFT,
        }
    }

    /// Reads the groups from `claim` instead of `groups`.
    #[must_use]
    pub fn group_claim(mut self, claim: impl Into<String>) -> Self {
        self.group_claim = claim.into();
        self
    }

    /// Sessions last `shift` instead of 12 hours.
    #[must_use]
    pub fn shift(mut self, shift: Duration) -> Self {
        self.shift = shift;
        self
    }
}

/// The staff sign-in through the organisation's OpenID provider (see the module docs).
#[derive(Clone)]
pub struct StaffOidc {
    inner: Arc<Inner>,
}

struct Inner {
    client: ProviderClient,
    /// Where each sign-in (and each refused one) is recorded.
    audit: crate::ops::StaffSignInAudit,
    key: Key,
    secure: bool,
    session_cookie: &'static str,
    flow_cookie: &'static str,
    shift: Duration,
    /// `{base}/sign-in`, `{base}/callback`, `{base}/sign-out`.
    sign_in_path: String,
    callback_path: String,
    sign_out_path: String,
    /// Only paths under this are for staff.
    guarded_prefix: String,
    /// Paths under the guarded prefix that anyone may open (static files).
    public_prefixes: Vec<String>,
    style_url: String,
    templates: minijinja::Environment<'static>,
    language: Language,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for StaffOidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffOidc")
            .field("guarded_prefix", &self.inner.guarded_prefix)
            .finish_non_exhaustive()
    }
}

/// The session cookie's content.
#[derive(Serialize, Deserialize)]
struct Session {
    sub: String,
    name: Option<String>,
    until: u64,
}

impl StaffOidc {
    /// The sign-in for `config`, serving its paths under `public_base` + `base_path`
    /// (`public_base` is the app's public URL, which the provider redirects back to),
    /// guarding everything under `guarded_prefix` (the layer's prefix, whose
    /// `{prefix}/static/` stays public), its cookies sealed with `key` and `Secure` when
    /// `secure`. The provider's discovery is read now if it answers, else at the first
    /// sign-in.
    ///
    /// # Errors
    /// A base that cannot carry the callback path, a client the provider library refuses.
    pub async fn new(
        config: StaffOidcConfig,
        key: Key,
        secure: bool,
        public_base: &Url,
        base_path: &str,
        guarded_prefix: &str,
    ) -> Result<Self, String> {
        let base_path = base_path.trim_end_matches('/');
        let callback_path = format!("{base_path}/callback");
        let redirect = public_base
            .join(callback_path.trim_start_matches('/'))
            .map_err(|e| format!("the staff sign-in's callback URL: {e}"))?;
        let client = ProviderClient::new(
            &config.issuer,
            (&config.client_id, &config.client_secret),
            (&config.allowed_group, &config.group_claim),
            redirect,
        )?;
        if let Err(e) = client.discover().await {
            tracing::warn!(issuer = %config.issuer, error = %e, "the staff OpenID provider does not answer yet; its discovery is read again at the first sign-in");
        }
        let mut templates = minijinja::Environment::new();
        templates
            .add_template(PAGE_NAME, PAGE_TEMPLATE)
            .map_err(|e| format!("the staff sign-in page: {e}"))?;
        let guarded = guarded_prefix.trim_end_matches('/').to_owned();
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                audit: crate::ops::StaffSignInAudit::new(None),
                key,
                secure,
                session_cookie: if secure {
                    "__Host-staff_session"
                } else {
                    "staff_session"
                },
                flow_cookie: if secure {
                    "__Host-staff_flow"
                } else {
                    "staff_flow"
                },
                shift: config.shift,
                sign_in_path: format!("{base_path}/sign-in"),
                callback_path,
                sign_out_path: format!("{base_path}/sign-out"),
                public_prefixes: vec![format!("{guarded}/static/")],
                style_url: format!("{guarded}/static/style.css"),
                guarded_prefix: guarded,
                templates,
                language: Language::En,
                clock: Arc::new(SystemClock),
            }),
        })
    }

    /// The pages' language for browsers that ask for none of nb, da, fi, en.
    #[must_use]
    pub fn language(mut self, lang: Language) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.language = lang;
        }
        self
    }

    /// Records every sign-in and every refused one in the app's audit trail
    /// ([`Startup::staff_sign_in_audit`](crate::Startup::staff_sign_in_audit)).
    #[must_use]
    pub fn audit(mut self, audit: crate::ops::StaffSignInAudit) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.audit = audit;
        }
        self
    }

    /// The clock a session's end is read on (default the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.clock = clock;
        }
        self
    }

    /// Where a browser starts signing in.
    #[must_use]
    pub fn sign_in_path(&self) -> &str {
        &self.inner.sign_in_path
    }

    /// Where a staff member signs out.
    #[must_use]
    pub fn sign_out_path(&self) -> &str {
        &self.inner.sign_out_path
    }

    fn is_guarded(&self, path: &str) -> bool {
        is_under(path, &self.inner.guarded_prefix)
            && !self
                .inner
                .public_prefixes
                .iter()
                .any(|p| path.starts_with(p.as_str()))
    }

    /// The middleware: its own paths; outside the guarded prefix everything passes; under
    /// it a signed-in staff member passes with their [`StaffMember`] in the request's
    /// extensions, a page request goes to the sign-in, anything else gets 401.
    pub async fn require(State(gate): State<Self>, mut request: Request, next: Next) -> Response {
        let path = request.uri().path();
        let lang = request_language(request.headers(), gate.inner.language);
        let query = request.uri().query().map(str::to_owned);
        if path == gate.inner.sign_in_path {
            return gate.start(query.as_deref(), lang).await;
        }
        if path == gate.inner.callback_path {
            let flow = gate.private_cookie(request.headers(), gate.inner.flow_cookie);
            return gate.callback(query.as_deref(), flow, lang).await;
        }
        if path == gate.inner.sign_out_path {
            return gate.sign_out(lang);
        }
        if !gate.is_guarded(path) {
            return next.run(request).await;
        }
        if let Some(member) = gate.session(request.headers()) {
            request.extensions_mut().insert(member);
            return next.run(request).await;
        }
        refuse_anonymous(
            &request,
            &gate.inner.sign_in_path,
            (&STAFF_OIDC_WORDS, lang),
        )
    }

    /// The staff member of an unexpired session cookie.
    fn session(&self, headers: &HeaderMap) -> Option<StaffMember> {
        let value = self.private_cookie(headers, self.inner.session_cookie)?;
        let session: Session = serde_json::from_str(&value).ok()?;
        (session.until > self.inner.clock.unix_secs()).then_some(StaffMember {
            id: session.sub,
            name: session.name,
        })
    }

    fn private_cookie(&self, headers: &HeaderMap, name: &str) -> Option<String> {
        read_sealed(headers, &self.inner.key, name)
    }

    /// `Set-Cookie` for `value` sealed under `name`, living `max_age` (zero removes it).
    fn set_cookie(
        &self,
        name: &'static str,
        value: String,
        max_age: Duration,
    ) -> Option<HeaderValue> {
        // Lax: the provider sends the browser back with a cross-site top-level GET, which
        // must carry the flow cookie, and the redirect on from there the session cookie.
        // The operator pages' own forms carry the layer's CSRF token.
        Sealed {
            key: &self.inner.key,
            secure: self.inner.secure,
            same_site: SameSite::Lax,
        }
        .set_cookie(name, value, max_age)
    }

    /// `{sign-in}?return_to=…`: to the provider, with a fresh state, nonce and PKCE
    /// verifier kept in the sealed flow cookie.
    async fn start(&self, query: Option<&str>, lang: Language) -> Response {
        let return_to = query
            .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
            .and_then(|q| {
                q.into_iter()
                    .find(|(k, _)| k == "return_to")
                    .map(|(_, v)| v)
            });
        let return_to = return_to
            .as_deref()
            .and_then(vipps_login_tower::safe_return_to)
            .unwrap_or_else(|| format!("{}/login", self.inner.guarded_prefix));
        let (url, flow) = match self.inner.client.authorize(return_to).await {
            Ok(started) => started,
            Err(e) => {
                tracing::error!(error = %e, "staff sign-in: the organisation's OpenID provider cannot be used");
                return self.page(lang, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None);
            }
        };
        let Ok(flow) = serde_json::to_string(&flow) else {
            return self.page(lang, StatusCode::INTERNAL_SERVER_ERROR, "page_error", None);
        };
        let mut res = Redirect::to(url.as_str()).into_response();
        if let Some(cookie) = self.set_cookie(self.inner.flow_cookie, flow, FLOW_LIFETIME) {
            res.headers_mut().append(header::SET_COOKIE, cookie);
        }
        res
    }

    /// The provider's answer: the code exchanged, the ID token verified, the group
    /// checked; a session for a shift, or the reason on a page.
    async fn callback(
        &self,
        query: Option<&str>,
        flow: Option<String>,
        lang: Language,
    ) -> Response {
        let query: Vec<(String, String)> = query
            .and_then(|q| serde_urlencoded::from_str(q).ok())
            .unwrap_or_default();
        let field = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let flow: Option<Flow> = flow.and_then(|f| serde_json::from_str(&f).ok());
        let (Some(flow), Some(state)) = (flow, field("state")) else {
            tracing::warn!(target: STAFF_LOG_TARGET, "staff sign-in refused: no sign-in under way in this browser");
            return self.page(lang, StatusCode::BAD_REQUEST, "failed", None);
        };
        let outcome = self
            .inner
            .client
            .finish(flow, state, field("code"), field("error"))
            .await;
        let mut res = match outcome {
            SignInOutcome::Member { member, return_to } => {
                tracing::info!(target: STAFF_LOG_TARGET, staff = %member.id, "staff signed in through the organisation's OpenID provider");
                self.inner.audit.record(&member, None, true);
                let session = Session {
                    sub: member.id,
                    name: member.name,
                    until: self.inner.clock.unix_secs() + self.inner.shift.as_secs(),
                };
                let mut res = Redirect::to(&return_to).into_response();
                if let Some(cookie) = serde_json::to_string(&session)
                    .ok()
                    .and_then(|s| self.set_cookie(self.inner.session_cookie, s, self.inner.shift))
                {
                    res.headers_mut().append(header::SET_COOKIE, cookie);
                }
                res
            }
            SignInOutcome::NotInGroup { member } => {
                tracing::warn!(target: STAFF_LOG_TARGET, staff = %member.id, "staff sign-in refused: not in the allowed group");
                self.inner.audit.record(&member, None, false);
                let who = member.name.unwrap_or(member.id);
                self.page(lang, StatusCode::FORBIDDEN, "refused", Some(&who))
            }
            SignInOutcome::Failed(reason) => {
                tracing::warn!(target: STAFF_LOG_TARGET, reason = %reason, "staff sign-in failed");
                self.page(lang, StatusCode::BAD_REQUEST, "failed", None)
            }
            SignInOutcome::Unavailable(reason) => {
                tracing::error!(reason = %reason, "staff sign-in: the organisation's OpenID provider did not answer");
                self.page(lang, StatusCode::BAD_GATEWAY, "unavailable", None)
            }
        };
        // The flow is single use, whatever came of it.
        if let Some(gone) = self.set_cookie(self.inner.flow_cookie, String::new(), Duration::ZERO) {
            res.headers_mut().append(header::SET_COOKIE, gone);
        }
        res
    }

    /// Ends this browser's session.
    fn sign_out(&self, lang: Language) -> Response {
        let mut res = self.page(lang, StatusCode::OK, "signed_out", None);
        if let Some(gone) =
            self.set_cookie(self.inner.session_cookie, String::new(), Duration::ZERO)
        {
            res.headers_mut().append(header::SET_COOKIE, gone);
        }
        res
    }

    /// The page for `kind` (a key of [`STAFF_OIDC_WORDS`]).
    fn page(&self, lang: Language, status: StatusCode, kind: &str, who: Option<&str>) -> Response {
        let html = self
            .inner
            .templates
            .get_template(PAGE_NAME)
            .and_then(|t| {
                t.render(minijinja::context! {
                    lang => lang.code(),
                    t => template_texts(&STAFF_OIDC_WORDS, lang),
                    kind,
                    problem => !status.is_success(),
                    message => STAFF_OIDC_WORDS.text(lang, kind),
                    who,
                    again => &self.inner.sign_in_path,
                    style_url => &self.inner.style_url,
                })
            })
            .unwrap_or_else(|_| STAFF_OIDC_WORDS.text(lang, "page_error").to_owned());
        secure_html(status, html)
    }
}
