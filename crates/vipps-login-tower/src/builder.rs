//! [`VippsLoginLayerBuilder`]: every setting of the layer, checked when it is built.

use std::sync::Arc;
use std::time::Duration;

use url::Url;
use vipps_login_core::{
    HttpsOrLoopbackUrl, Language, RateLimits, RequestedExpiry, Scopes, Sealer, Store, VippsClient,
};

use crate::hooks::{
    CompletionStep, FlowChoice, FlowChooser, LoginHook, SessionCompletion, SubIsAccount,
};
use crate::layer::VippsLoginLayer;
use crate::passthrough::SessionCheck;
use crate::return_to::safe_return_to;
use crate::session::{SecureCookies, Sessions};
use crate::shared::{ClientIp, Shared};
use crate::templates;
use crate::user::LayerMark;

/// A configuration problem found by [`VippsLoginLayerBuilder::build`].
#[derive(Debug, thiserror::Error)]
#[error("invalid VippsLoginLayer configuration: {0}")]
pub struct BuildError(String);

impl VippsLoginLayer {
    /// Starts configuring a layer that logs in through `client`.
    pub fn builder(client: VippsClient) -> VippsLoginLayerBuilder {
        VippsLoginLayerBuilder::new(client)
    }
}

/// Configures a [`VippsLoginLayer`]; created by [`VippsLoginLayer::builder`].
///
/// Every setting has a default except the client; [`build`](Self::build) checks the
/// configuration and fails on anything inconsistent.
#[must_use]
pub struct VippsLoginLayerBuilder {
    client: VippsClient,
    prefix: String,
    cookie_key: Option<cookie::Key>,
    cookie_secret_error: Option<String>,
    cookie_name: Option<String>,
    session_ttl: Duration,
    secure_cookies: SecureCookies,
    store: Option<Arc<dyn Store>>,
    hook: Arc<dyn LoginHook>,
    completion: Option<Arc<dyn CompletionStep>>,
    flow_chooser: Arc<dyn FlowChooser>,
    constant_flow: Option<FlowChoice>,
    templates: Option<minijinja::Environment<'static>>,
    template_overrides: Vec<(&'static str, &'static str)>,
    default_language: Language,
    text_overrides: Vec<(Language, String, String)>,
    rate_limits: RateLimits,
    continue_url: String,
    public_base_url: Option<Url>,
    scopes: Option<Scopes>,
    requested_expiry: Option<Duration>,
    client_ip: ClientIp,
    app_name: String,
    webhook: bool,
    user_exists_route: bool,
    check_user_exists: bool,
    refresh_seconds: u32,
}

impl std::fmt::Debug for VippsLoginLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VippsLoginLayerBuilder")
            .field("prefix", &self.prefix)
            .field("cookie_name", &self.cookie_name)
            .field("session_ttl", &self.session_ttl)
            .field("continue_url", &self.continue_url)
            .finish_non_exhaustive()
    }
}

impl VippsLoginLayerBuilder {
    fn new(client: VippsClient) -> Self {
        Self {
            client,
            prefix: "/auth/vipps".to_owned(),
            cookie_key: None,
            cookie_secret_error: None,
            cookie_name: None,
            session_ttl: Duration::from_secs(8 * 3600),
            secure_cookies: SecureCookies::Auto,
            store: None,
            hook: Arc::new(SubIsAccount),
            completion: None,
            flow_chooser: Arc::new(FlowChoice::FinishInApp),
            constant_flow: Some(FlowChoice::FinishInApp),
            templates: None,
            template_overrides: Vec::new(),
            default_language: Language::En,
            text_overrides: Vec::new(),
            rate_limits: RateLimits::default(),
            continue_url: "/".to_owned(),
            public_base_url: None,
            scopes: None,
            requested_expiry: None,
            client_ip: ClientIp::ConnectInfo,
            app_name: "Vipps login".to_owned(),
            webhook: false,
            user_exists_route: false,
            check_user_exists: false,
            refresh_seconds: 3,
        }
    }

    /// The path prefix of the layer's routes (default `/auth/vipps`). Must start with `/`,
    /// must not end with `/` and must not be `/` itself.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The key that encrypts and authenticates the session cookie. Without one a random
    /// key is generated at build time (sessions then end when the process restarts and
    /// are not shared between instances; a warning is logged).
    pub fn cookie_key(mut self, key: cookie::Key) -> Self {
        self.cookie_key = Some(key);
        self
    }

    /// Like [`cookie_key`](Self::cookie_key) from raw secret bytes (at least 64 random
    /// bytes, e.g. from a secrets manager); shorter input fails at build time.
    pub fn cookie_secret(mut self, secret: &[u8]) -> Self {
        match cookie::Key::try_from(secret) {
            Ok(key) => {
                self.cookie_key = Some(key);
                self.cookie_secret_error = None;
            }
            Err(_) => {
                self.cookie_secret_error = Some(format!(
                    "cookie secret must be at least 64 bytes, got {}",
                    secret.len()
                ));
            }
        }
        self
    }

    /// The session cookie's name; the start form's cookie is this plus `_csrf`. Default:
    /// `__Host-vipps_login` when the cookies are `Secure` (the prefix makes browsers refuse
    /// it unless it is `Secure`, has `Path=/` and no `Domain`, so a sibling subdomain
    /// cannot plant one), `vipps_login` otherwise. A name starting with `__Host-` or
    /// `__Secure-` needs `Secure` cookies.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = Some(name.into());
        self
    }

    /// How long a session lasts from its creation or last login (default 8 hours,
    /// a shift). Also the cookie's `Max-Age`.
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// The `Secure` attribute of the layer's cookies (default [`SecureCookies::Auto`]:
    /// from the public base URL, secure unless it is plain http on loopback). Decided
    /// when the layer is built, never from a request's `Host`.
    pub fn secure_cookies(mut self, secure: SecureCookies) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// Where sessions and the layer's per-login records live (default: the
    /// [`VippsClient`]'s own store, a [`MemoryStore`](vipps_login_core::MemoryStore)
    /// unless the client was made with another).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The hook called after each successful login (default: the account id is the
    /// Vipps `sub`). See [`LoginHook`].
    pub fn on_login(mut self, hook: impl LoginHook) -> Self {
        self.hook = Arc::new(hook);
        self
    }

    /// Chooses per login between finishing in the app and continuing in the phone's
    /// browser (default: always [`FlowChoice::FinishInApp`]). See [`FlowChooser`].
    /// Continue-in-browser needs [`public_base_url`](Self::public_base_url).
    pub fn flow_chooser(mut self, chooser: impl FlowChooser) -> Self {
        self.constant_flow = None;
        self.flow_chooser = Arc::new(chooser);
        self
    }

    /// Shorthand for a constant [`flow_chooser`](Self::flow_chooser); with
    /// `ContinueInBrowser` the build fails unless a public base URL is set.
    pub fn flow(mut self, flow: FlowChoice) -> Self {
        self.constant_flow = Some(flow);
        self.flow_chooser = Arc::new(flow);
        self
    }

    /// Replaces all templates. The environment must hold every name in
    /// [`PAGE_TEMPLATES`](crate::PAGE_TEMPLATES); start from
    /// [`default_templates`](crate::default_templates) to keep the defaults.
    pub fn templates(mut self, env: minijinja::Environment<'static>) -> Self {
        self.templates = Some(env);
        self
    }

    /// Overrides one template by name (`base.html`, `login.html`, `wait.html`,
    /// `result.html`, `logout.html`); a template that does not compile fails the build.
    pub fn template(mut self, name: &'static str, source: &'static str) -> Self {
        self.template_overrides.push((name, source));
        self
    }

    /// Replaces what happens after an operator's finish-in-app login is redeemed on the
    /// layer's pages (default: a session, through [`on_login`](Self::on_login)). An
    /// identity provider uses this to hand an authorization code to its client instead.
    pub fn completion(mut self, step: impl CompletionStep) -> Self {
        self.completion = Some(Arc::new(step));
        self
    }

    /// The language of the pages and JSON messages for a request whose `Accept-Language`
    /// names none of Norwegian bokmål, Danish, Finnish and English (default
    /// [`Language::En`]). A request that names one gets it (`no`/`nn` read as bokmål).
    pub fn default_language(mut self, lang: Language) -> Self {
        self.default_language = lang;
        self
    }

    /// Replaces one text of the pages in one language, e.g.
    /// `.text(Language::Nb, "login_start", "Send forespørsel")`; the keys are those of
    /// [`text_keys`](crate::text_keys), and `error_<code>` (e.g. `error_declined`)
    /// replaces a core error's sentence (`{wait}`, `{seconds}` and `{why}` are filled
    /// in). A key of the app's own is added, for its own templates (`{{ t.my_key }}`).
    ///
    /// ```
    /// # fn demo(client: vipps_login_core::VippsClient) -> Result<(), vipps_login_tower::BuildError> {
    /// use vipps_login_tower::{Language, VippsLoginLayer};
    /// let layer = VippsLoginLayer::builder(client)
    ///     .default_language(Language::Nb)
    ///     .text(Language::Nb, "login_heading", "Logg inn kunden")
    ///     .text(Language::En, "login_heading", "Log the customer in")
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn text(mut self, lang: Language, key: impl Into<String>, text: impl Into<String>) -> Self {
        self.text_overrides.push((lang, key.into(), text.into()));
        self
    }

    /// Several [`text`](Self::text) overrides in one language.
    pub fn texts<K, V>(mut self, lang: Language, texts: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        for (k, v) in texts {
            self.text_overrides.push((lang, k.into(), v.into()));
        }
        self
    }

    /// The abuse limits (see [`RateLimits`] for the defaults). The core engine applies
    /// them, counting in its store, so every instance sharing the store counts the same.
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = limits;
        self
    }

    /// Where a browser lands after a successful login when it brought no `return_to`:
    /// the clerk's browser in finish-in-app, the customer's phone browser after the
    /// continue-in-browser callback (default `/`). A same-origin path.
    pub fn continue_url(mut self, path: impl Into<String>) -> Self {
        self.continue_url = path.into();
        self
    }

    /// The public origin of this app, e.g. `https://club.example.com/`; the
    /// continue-in-browser `redirect_uri` is this plus `{prefix}/callback`, so it must be
    /// registered with Vipps.
    pub fn public_base_url(mut self, url: Url) -> Self {
        self.public_base_url = Some(url);
        self
    }

    /// The scopes requested for every login (default `openid name phoneNumber`).
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = Some(scopes);
        self
    }

    /// How long the customer has to confirm: a whole number of seconds from 60 to 900
    /// ([`RequestedExpiry`], checked by [`build`](Self::build); default: the core
    /// client's default).
    pub fn requested_expiry(mut self, expiry: Duration) -> Self {
        self.requested_expiry = Some(expiry);
        self
    }

    /// Where the client IP for the per-IP limit comes from (default
    /// [`ClientIp::ConnectInfo`]).
    pub fn client_ip(mut self, source: ClientIp) -> Self {
        self.client_ip = source;
        self
    }

    /// The app name shown on the pages (default "Vipps login"); in one language with
    /// [`text(lang, "app_name", name)`](Self::text).
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = name.into();
        self
    }

    /// Serves `POST {prefix}/webhook`, forwarding Vipps' signed
    /// `login.merchant-initiated.ping.v1` to the core client (default off).
    pub fn webhook(mut self, enabled: bool) -> Self {
        self.webhook = enabled;
        self
    }

    /// Serves `POST {prefix}/api/user-exists` (default off): Vipps' user-exists
    /// pre-check for a script, `{"phone": "..."}` answered with `{"exists": bool}`,
    /// behind the same checks as `api/start` (the `X-Requested-With` header, a JSON body,
    /// a readable session store) and counted per client IP against
    /// [`RateLimits::user_exists_per_client`] (default 30 per 10 minutes). No push is
    /// sent and nothing is stored but the count.
    ///
    /// The answer tells whether a number has Vipps without the customer seeing anything,
    /// so serve it only where the layer's prefix is for staff: put the app's staff
    /// authentication in front of the layer (it then gates this route like every other).
    pub fn user_exists_route(mut self, enabled: bool) -> Self {
        self.user_exists_route = enabled;
        self
    }

    /// Makes every start (the form and `api/start`) ask Vipps' user-exists first
    /// (default off), counted as [`user_exists_route`](Self::user_exists_route)'s
    /// questions are. A number without Vipps gets no push: the form comes back with
    /// `#error` `data-error="no_vipps"` (422) and `api/start` answers
    /// `422 {"error": "no_vipps"}`; the words are the text `no_vipps` (replace them with
    /// [`text`](Self::text)). When the check cannot answer (Vipps unavailable, the client
    /// over its user-exists limit) the start goes ahead without it, under its own limits.
    ///
    /// ```
    /// # fn demo(client: vipps_login_core::VippsClient) -> Result<(), vipps_login_tower::BuildError> {
    /// let layer = vipps_login_tower::VippsLoginLayer::builder(client)
    ///     .check_user_exists(true)
    ///     .build()?;
    /// # let _ = layer; Ok(()) }
    /// ```
    pub fn check_user_exists(mut self, on: bool) -> Self {
        self.check_user_exists = on;
        self
    }

    /// Seconds between reloads of the waiting page without JavaScript (default 3).
    pub fn no_script_refresh(mut self, seconds: u32) -> Self {
        self.refresh_seconds = seconds;
        self
    }

    /// Checks the configuration and builds the layer.
    ///
    /// # Errors
    /// A [`BuildError`] naming the setting: a malformed prefix or cookie name, a cookie
    /// secret under 64 bytes, a zero session lifetime or limit, a `continue_url` that is
    /// not a same-origin path, a public base URL that is not http(s) or not `https` outside
    /// loopback, continue-in-browser without a public base URL, or a missing or broken
    /// template.
    pub fn build(self) -> Result<VippsLoginLayer, BuildError> {
        let err = |m: String| Err(BuildError(m));
        if let Some(e) = self.cookie_secret_error {
            return err(e);
        }
        let prefix = self.prefix;
        if !prefix.starts_with('/')
            || prefix.len() < 2
            || prefix.ends_with('/')
            || prefix.contains("//")
            || prefix.contains(['?', '#', '{', '}', '*'])
            || safe_return_to(&prefix).is_none()
        {
            return err(format!(
                "prefix {prefix:?} must look like \"/auth/vipps\" (leading slash, no trailing slash)"
            ));
        }
        let secure = match self.secure_cookies {
            SecureCookies::Always => true,
            SecureCookies::Never => false,
            SecureCookies::Auto => self
                .public_base_url
                .as_ref()
                .is_none_or(|base| base.scheme() != "http"),
        };
        let cookie_name = self.cookie_name.unwrap_or_else(|| {
            if secure {
                "__Host-vipps_login"
            } else {
                "vipps_login"
            }
            .to_owned()
        });
        if cookie_name.is_empty()
            || !cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return err(format!(
                "cookie name {cookie_name:?} must be non-empty ASCII letters, digits, '_' or '-'"
            ));
        }
        if !secure && (cookie_name.starts_with("__Host-") || cookie_name.starts_with("__Secure-")) {
            return err(format!(
                "cookie name {cookie_name:?} needs Secure cookies (browsers drop it otherwise)"
            ));
        }
        if self.session_ttl < Duration::from_secs(60) {
            return err("session_ttl must be at least 60 seconds".to_owned());
        }
        let client = self
            .client
            .with_limits(self.rate_limits)
            .map_err(|e| BuildError(e.to_string()))?;
        if safe_return_to(&self.continue_url).is_none() {
            return err(format!(
                "continue_url {:?} must be a same-origin path like \"/welcome\"",
                self.continue_url
            ));
        }
        if let Some(base) = &self.public_base_url {
            if HttpsOrLoopbackUrl::new(base.clone()).is_err() {
                return err(format!(
                    "public_base_url {base} must be https (http only on loopback)"
                ));
            }
            if base.query().is_some() || base.fragment().is_some() {
                return err("public_base_url must not have a query or fragment".to_owned());
            }
        }
        if self.constant_flow == Some(FlowChoice::ContinueInBrowser)
            && self.public_base_url.is_none()
        {
            return err(
                "continue-in-browser needs public_base_url (the redirect_uri is built from it)"
                    .to_owned(),
            );
        }
        let requested_expiry = match self.requested_expiry.map(RequestedExpiry::new) {
            None => None,
            Some(Ok(expiry)) => Some(expiry),
            Some(Err(_)) => {
                return err(format!(
                    "requested_expiry must be between {} and {} seconds",
                    RequestedExpiry::MIN.as_secs(),
                    RequestedExpiry::MAX.as_secs()
                ));
            }
        };
        let mut env = match self.templates {
            Some(env) => env,
            None => templates::default_templates().map_err(|e| BuildError(e.to_string()))?,
        };
        for (name, source) in self.template_overrides {
            env.add_template(name, source)
                .map_err(|e| BuildError(format!("template {name}: {e}")))?;
        }
        templates::check(&env).map_err(BuildError)?;

        let scopes = match self.scopes {
            Some(scopes) => scopes,
            None => "openid name phoneNumber"
                .parse::<Scopes>()
                .map_err(|e| BuildError(e.to_string()))?,
        };
        let key = match self.cookie_key {
            Some(key) => key,
            None => {
                tracing::warn!(
                    "VippsLoginLayer: no cookie key configured; using a random one \
                     (sessions end on restart and are not shared between instances)"
                );
                cookie::Key::generate()
            }
        };
        let store = self.store.unwrap_or_else(|| Arc::clone(client.store()));
        // Every request reads its session; a networked store may keep them in memory
        // while it hears of every change (see `Store::cache_reads`).
        store.cache_reads(crate::session::STORE_KEY_PREFIX);
        let login_path: Arc<str> = Arc::from(format!("{prefix}/login"));
        let sealer = Sealer::new(key.master()).map_err(|e| BuildError(e.to_string()))?;
        let clock = client.config().clock().clone();
        let shared = Arc::new(Shared {
            client,
            sessions: Sessions {
                store,
                key,
                cookie_name,
                ttl: self.session_ttl,
                secure,
                sealer,
                clock,
            },
            session_check: SessionCheck::default(),
            templates: env,
            texts: crate::i18n::Texts::new(self.default_language, &self.text_overrides),
            completion: self
                .completion
                .unwrap_or_else(|| Arc::new(SessionCompletion(Arc::clone(&self.hook)))),
            hook: self.hook,
            flow_chooser: self.flow_chooser,
            callback: self.public_base_url.is_some()
                && self.constant_flow != Some(FlowChoice::FinishInApp),
            public_base_url: self.public_base_url,
            continue_url: self.continue_url,
            scopes: Some(scopes),
            requested_expiry,
            client_ip: self.client_ip,
            app_name: self.app_name,
            webhook: self.webhook,
            user_exists_route: self.user_exists_route,
            check_user_exists: self.check_user_exists,
            refresh_seconds: self.refresh_seconds.max(1),
            mark: LayerMark { login_path },
            streams: Arc::default(),
            no_client_ip_reported: std::sync::atomic::AtomicBool::new(false),
            prefix,
        });
        let router = crate::routes::router(Arc::clone(&shared));
        Ok(VippsLoginLayer { shared, router })
    }
}
