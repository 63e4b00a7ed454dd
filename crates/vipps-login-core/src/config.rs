//! Client configuration: issuer, credentials, headers, timeouts, clock.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::clock::{Clock, SystemClock};
use crate::https_url::{HttpsOrLoopbackUrl, InsecureUrl};
use crate::{Error, Secret};

const TEST_ISSUER: &str = "https://apitest.vipps.no/access-management-1.0/access/";
const PRODUCTION_ISSUER: &str = "https://api.vipps.no/access-management-1.0/access/";
const MAX_SYSTEM_HEADER_LEN: usize = 30;

/// Which Vipps environment (OpenID issuer) to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Issuer {
    /// Vipps' test environment, `https://apitest.vipps.no/access-management-1.0/access/`.
    Test,
    /// Vipps' production environment, `https://api.vipps.no/access-management-1.0/access/`.
    Production,
    /// Any other issuer, such as the simulator. `http://` is accepted only on loopback.
    Custom(Url),
}

impl Issuer {
    /// The issuer URL, exactly as it must appear in the ID token's `iss`.
    pub fn url(&self) -> Result<Url, Error> {
        match self {
            Issuer::Test => parse_const_url(TEST_ISSUER),
            Issuer::Production => parse_const_url(PRODUCTION_ISSUER),
            Issuer::Custom(url) => Ok(url.clone()),
        }
    }
}

fn parse_const_url(s: &str) -> Result<Url, Error> {
    Url::parse(s).map_err(|e| Error::Config(format!("built-in issuer URL is invalid ({e})")))
}

impl std::str::FromStr for Issuer {
    type Err = Error;

    /// `test`, `production` (or `prod`), or an issuer URL.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "test" | "apitest" => Ok(Issuer::Test),
            "production" | "prod" => Ok(Issuer::Production),
            _ => Url::parse(s.trim()).map(Issuer::Custom).map_err(|e| {
                Error::Config(format!(
                    "VIPPS_ISSUER is neither test, production nor a URL ({e})"
                ))
            }),
        }
    }
}

/// How the client authenticates at the token and backchannel endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic authentication (the default).
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

impl std::str::FromStr for ClientAuth {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "basic" | "client_secret_basic" => Ok(ClientAuth::Basic),
            "post" | "client_secret_post" => Ok(ClientAuth::Post),
            other => Err(Error::Config(format!(
                "VIPPS_CLIENT_AUTH must be basic or post, not {other:?}"
            ))),
        }
    }
}

/// Validated client configuration; build it with [`Config::builder`] or [`Config::from_env`].
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) issuer: Url,
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret,
    pub(crate) client_auth: ClientAuth,
    pub(crate) merchant_serial_number: Option<String>,
    pub(crate) system_name: String,
    pub(crate) system_version: String,
    pub(crate) plugin_name: Option<String>,
    pub(crate) plugin_version: Option<String>,
    pub(crate) webhook_secret: Option<Secret>,
    pub(crate) webhook_max_age: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) clock_skew: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) max_poll_failures: u32,
    pub(crate) slow_down_step: Duration,
    pub(crate) max_concurrent_polls: usize,
    pub(crate) jwks_refetch_interval: Duration,
    pub(crate) default_metadata_ttl: Duration,
    pub(crate) result_ttl: Duration,
    pub(crate) user_exists_ttl: Duration,
    pub(crate) poll_lease: Duration,
    pub(crate) trusted_endpoint_origins: Vec<Url>,
    pub(crate) allow_http_loopback: bool,
    pub(crate) audit: crate::audit::Audit,
}

impl Config {
    /// Starts a configuration for `issuer` with these client credentials.
    ///
    /// ```
    /// use vipps_login_core::{ClientAuth, Config, Issuer, Secret};
    /// let config = Config::builder(Issuer::Test, "my-client-id", Secret::new("my-secret"))
    ///     .client_auth(ClientAuth::Post)
    ///     .system_name("till-app")
    ///     .build()?;
    /// assert_eq!(config.client_id(), "my-client-id");
    /// # Ok::<(), vipps_login_core::Error>(())
    /// ```
    pub fn builder(
        issuer: Issuer,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> ConfigBuilder {
        ConfigBuilder {
            issuer,
            client_id: client_id.into(),
            client_secret,
            client_auth: ClientAuth::Basic,
            merchant_serial_number: None,
            system_name: "vipps-login-rs".to_owned(),
            system_version: env!("CARGO_PKG_VERSION").to_owned(),
            plugin_name: None,
            plugin_version: None,
            webhook_secret: None,
            webhook_max_age: Duration::from_secs(300),
            clock: Arc::new(SystemClock),
            clock_skew: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_response_bytes: 256 * 1024,
            max_poll_failures: 5,
            slow_down_step: Duration::from_secs(5),
            max_concurrent_polls: 256,
            jwks_refetch_interval: Duration::from_secs(30),
            default_metadata_ttl: Duration::from_secs(3600),
            result_ttl: Duration::from_secs(600),
            user_exists_ttl: Duration::from_secs(60),
            poll_lease: Duration::from_secs(10),
            trusted_endpoint_origins: Vec::new(),
            audit: crate::audit::Audit::default(),
        }
    }

    /// Reads the configuration from `VIPPS_*` environment variables.
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `VIPPS_ISSUER` | `test` (default), `production`, or an issuer URL |
    /// | `VIPPS_CLIENT_ID`, `VIPPS_CLIENT_SECRET` | required |
    /// | `VIPPS_CLIENT_AUTH` | `basic` (default) or `post` |
    /// | `VIPPS_MERCHANT_SERIAL_NUMBER` | sent as `Merchant-Serial-Number` |
    /// | `VIPPS_SYSTEM_NAME`, `VIPPS_SYSTEM_VERSION` | `Vipps-System-*` headers |
    /// | `VIPPS_SYSTEM_PLUGIN_NAME`, `VIPPS_SYSTEM_PLUGIN_VERSION` | `Vipps-System-Plugin-*` headers |
    /// | `VIPPS_WEBHOOK_SECRET` | verifies `login.merchant-initiated.ping.v1` webhooks |
    /// | `VIPPS_POLL_LEASE_MS` | see [`ConfigBuilder::poll_lease`] |
    pub fn from_env() -> Result<Config, Error> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`], with variables looked up through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let issuer: Issuer = match get("VIPPS_ISSUER") {
            Some(v) => v.parse()?,
            None => Issuer::Test,
        };
        let client_id = get("VIPPS_CLIENT_ID")
            .ok_or_else(|| Error::Config("VIPPS_CLIENT_ID is not set".to_owned()))?;
        let secret = get("VIPPS_CLIENT_SECRET")
            .ok_or_else(|| Error::Config("VIPPS_CLIENT_SECRET is not set".to_owned()))?;
        let mut b = Config::builder(issuer, client_id.trim(), Secret::new(secret));
        if let Some(v) = get("VIPPS_CLIENT_AUTH") {
            b = b.client_auth(v.parse()?);
        }
        if let Some(v) = get("VIPPS_MERCHANT_SERIAL_NUMBER") {
            b = b.merchant_serial_number(v.trim());
        }
        if let Some(v) = get("VIPPS_SYSTEM_NAME") {
            b = b.system_name(v.trim());
        }
        if let Some(v) = get("VIPPS_SYSTEM_VERSION") {
            b = b.system_version(v.trim());
        }
        if let Some(v) = get("VIPPS_SYSTEM_PLUGIN_NAME") {
            b = b.plugin_name(v.trim());
        }
        if let Some(v) = get("VIPPS_SYSTEM_PLUGIN_VERSION") {
            b = b.plugin_version(v.trim());
        }
        if let Some(v) = get("VIPPS_WEBHOOK_SECRET") {
            b = b.webhook_secret(Secret::new(v));
        }
        if let Some(v) = get("VIPPS_POLL_LEASE_MS") {
            let ms: u64 = v.trim().parse().map_err(|_| {
                Error::Config("VIPPS_POLL_LEASE_MS must be a whole number of milliseconds".into())
            })?;
            b = b.poll_lease(Duration::from_millis(ms));
        }
        b.build()
    }

    /// The issuer URL (the exact `iss` of ID tokens).
    #[must_use]
    pub fn issuer(&self) -> &Url {
        &self.issuer
    }

    /// This configuration with the audit trail sent to `sink`, as
    /// [`ConfigBuilder::audit`] sets it (for a configuration read by [`Config::from_env`]).
    #[must_use]
    pub fn with_audit(mut self, sink: Arc<dyn crate::audit::AuditSink>) -> Config {
        self.audit = crate::audit::Audit::new(sink);
        self
    }

    /// The client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// How the client authenticates.
    #[must_use]
    pub fn client_auth(&self) -> ClientAuth {
        self.client_auth
    }

    /// Whether a webhook secret is configured.
    #[must_use]
    pub fn has_webhook_secret(&self) -> bool {
        self.webhook_secret.is_some()
    }

    /// The clock in use.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The allowed clock skew for ID-token time checks.
    #[must_use]
    pub fn clock_skew(&self) -> Duration {
        self.clock_skew
    }
}

/// Builder for [`Config`]; bad settings fail in [`ConfigBuilder::build`].
#[derive(Debug)]
#[must_use]
pub struct ConfigBuilder {
    issuer: Issuer,
    client_id: String,
    client_secret: Secret,
    client_auth: ClientAuth,
    merchant_serial_number: Option<String>,
    system_name: String,
    system_version: String,
    plugin_name: Option<String>,
    plugin_version: Option<String>,
    webhook_secret: Option<Secret>,
    webhook_max_age: Duration,
    clock: Arc<dyn Clock>,
    clock_skew: Duration,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_response_bytes: usize,
    max_poll_failures: u32,
    slow_down_step: Duration,
    max_concurrent_polls: usize,
    jwks_refetch_interval: Duration,
    default_metadata_ttl: Duration,
    result_ttl: Duration,
    user_exists_ttl: Duration,
    poll_lease: Duration,
    trusted_endpoint_origins: Vec<Url>,
    audit: crate::audit::Audit,
}

impl ConfigBuilder {
    /// `client_secret_basic` (default) or `client_secret_post`.
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }

    /// Sends `Merchant-Serial-Number` (when a partner key acts for a merchant).
    pub fn merchant_serial_number(mut self, msn: impl Into<String>) -> Self {
        self.merchant_serial_number = Some(msn.into());
        self
    }

    /// `Vipps-System-Name` (at most 30 characters; default `vipps-login-rs`).
    pub fn system_name(mut self, name: impl Into<String>) -> Self {
        self.system_name = name.into();
        self
    }

    /// `Vipps-System-Version` (at most 30 characters; default this crate's version).
    pub fn system_version(mut self, version: impl Into<String>) -> Self {
        self.system_version = version.into();
        self
    }

    /// `Vipps-System-Plugin-Name` (at most 30 characters).
    pub fn plugin_name(mut self, name: impl Into<String>) -> Self {
        self.plugin_name = Some(name.into());
        self
    }

    /// `Vipps-System-Plugin-Version` (at most 30 characters).
    pub fn plugin_version(mut self, version: impl Into<String>) -> Self {
        self.plugin_version = Some(version.into());
        self
    }

    /// The secret that signs `login.merchant-initiated.ping.v1` webhooks.
    pub fn webhook_secret(mut self, secret: Secret) -> Self {
        self.webhook_secret = Some(secret);
        self
    }

    /// How old a webhook's `x-ms-date` may be (default 5 minutes).
    pub fn webhook_max_age(mut self, age: Duration) -> Self {
        self.webhook_max_age = age;
        self
    }

    /// The wall clock (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Allowed clock skew for `exp`/`iat` (default 60 s, at most 10 minutes).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// TCP connect timeout (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Whole-request timeout (default 15 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Largest response body accepted from Vipps (default 256 KiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Consecutive transient poll failures (5xx, connection errors, garbled answers)
    /// tolerated before a login fails (default 5).
    pub fn max_poll_failures(mut self, n: u32) -> Self {
        self.max_poll_failures = n;
        self
    }

    /// How much a `slow_down` answer without an explicit interval adds to a login's
    /// polling interval (default 5 s, as CIBA §11 says).
    pub fn slow_down_step(mut self, step: Duration) -> Self {
        self.slow_down_step = step;
        self
    }

    /// Polls in flight at once across all logins (default 256).
    pub fn max_concurrent_polls(mut self, n: usize) -> Self {
        self.max_concurrent_polls = n;
        self
    }

    /// Minimum time between two JWKS refetches caused by an unknown `kid` (default 30 s).
    pub fn jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.jwks_refetch_interval = interval;
        self
    }

    /// Cache lifetime of discovery and JWKS when Vipps sends no `Cache-Control: max-age`
    /// (default 1 hour).
    pub fn default_metadata_ttl(mut self, ttl: Duration) -> Self {
        self.default_metadata_ttl = ttl;
        self
    }

    /// How long a finished login's result stays readable (default 10 minutes).
    pub fn result_ttl(mut self, ttl: Duration) -> Self {
        self.result_ttl = ttl;
        self
    }

    /// How long a user-exists answer is cached (default 60 s; zero disables the cache).
    pub fn user_exists_ttl(mut self, ttl: Duration) -> Self {
        self.user_exists_ttl = ttl;
        self
    }

    /// How long an instance's claim to poll its logins lasts without a heartbeat
    /// (default 10 s). With a store shared by several instances, the logins of an instance
    /// that died are taken over by another within about this time plus one interval.
    pub fn poll_lease(mut self, lease: Duration) -> Self {
        self.poll_lease = lease;
        self
    }

    /// Trusts discovered endpoints on `origin` (scheme, host and port of the URL) besides
    /// the issuer's own. By default every endpoint must share the issuer's origin: the
    /// client sends its credentials and the customer's number there.
    pub fn trust_endpoint_origin(mut self, origin: Url) -> Self {
        self.trusted_endpoint_origins.push(origin);
        self
    }

    /// Sends the audit trail (logins started, ended, redeemed, cancelled) to `sink`
    /// (default: none). See [`audit`](crate::audit).
    pub fn audit(mut self, sink: Arc<dyn crate::audit::AuditSink>) -> Self {
        self.audit = crate::audit::Audit::new(sink);
        self
    }

    /// Validates and builds the configuration.
    pub fn build(self) -> Result<Config, Error> {
        let issuer = self.issuer.url()?;
        let allow_http_loopback = validate_base_url(&issuer, "the issuer")?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(Error::Config(
                "the issuer URL must not have a query or fragment".into(),
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(Error::Config("the client id is empty".into()));
        }
        if self.client_id.chars().any(|c| c.is_control()) {
            return Err(Error::Config(
                "the client id contains control characters".into(),
            ));
        }
        if self.client_secret.is_empty() {
            return Err(Error::Config("the client secret is empty".into()));
        }
        check_header("Vipps-System-Name", &self.system_name)?;
        check_header("Vipps-System-Version", &self.system_version)?;
        if let Some(v) = &self.plugin_name {
            check_header("Vipps-System-Plugin-Name", v)?;
        }
        if let Some(v) = &self.plugin_version {
            check_header("Vipps-System-Plugin-Version", v)?;
        }
        if let Some(msn) = &self.merchant_serial_number
            && (msn.is_empty() || msn.len() > 10 || !msn.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(Error::Config(
                "the merchant serial number must be 1–10 digits".into(),
            ));
        }
        if let Some(s) = &self.webhook_secret
            && s.is_empty()
        {
            return Err(Error::Config("the webhook secret is empty".into()));
        }
        if self.clock_skew > Duration::from_secs(600) {
            return Err(Error::Config(
                "the clock skew may be at most 10 minutes".into(),
            ));
        }
        if self.poll_lease < Duration::from_millis(300) {
            return Err(Error::Config(
                "the poll lease must be at least 300 ms".into(),
            ));
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::Config("timeouts must be above zero".into()));
        }
        if self.max_response_bytes < 1024 {
            return Err(Error::Config(
                "max_response_bytes must be at least 1024".into(),
            ));
        }
        if self.max_concurrent_polls == 0 {
            return Err(Error::Config(
                "max_concurrent_polls must be at least 1".into(),
            ));
        }
        Ok(Config {
            issuer,
            client_id: self.client_id,
            client_secret: self.client_secret,
            client_auth: self.client_auth,
            merchant_serial_number: self.merchant_serial_number,
            system_name: self.system_name,
            system_version: self.system_version,
            plugin_name: self.plugin_name,
            plugin_version: self.plugin_version,
            webhook_secret: self.webhook_secret,
            webhook_max_age: self.webhook_max_age,
            clock: self.clock,
            clock_skew: self.clock_skew,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            max_response_bytes: self.max_response_bytes,
            max_poll_failures: self.max_poll_failures,
            slow_down_step: self.slow_down_step,
            max_concurrent_polls: self.max_concurrent_polls,
            jwks_refetch_interval: self.jwks_refetch_interval,
            default_metadata_ttl: self.default_metadata_ttl,
            result_ttl: self.result_ttl,
            user_exists_ttl: self.user_exists_ttl,
            poll_lease: self.poll_lease,
            trusted_endpoint_origins: self.trusted_endpoint_origins,
            audit: self.audit,
            allow_http_loopback,
        })
    }
}

fn check_header(name: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value.chars().count() > MAX_SYSTEM_HEADER_LEN {
        return Err(Error::Config(format!("{name} must be 1–30 characters")));
    }
    if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(Error::Config(format!("{name} must be printable ASCII")));
    }
    Ok(())
}

/// `https://`, or `http://` on loopback only, without credentials. Returns whether this
/// is the http/loopback case.
fn validate_base_url(url: &Url, what: &str) -> Result<bool, Error> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(format!(
            "{what} URL must not contain credentials"
        )));
    }
    match HttpsOrLoopbackUrl::new(url.clone()) {
        Ok(u) => Ok(u.is_plain_http()),
        Err(InsecureUrl::PlainHttp) => Err(Error::Config(format!(
            "{what} must use https (http is allowed only on localhost/127.0.0.1)"
        ))),
        Err(_) => Err(Error::Config(format!(
            "{what} has unsupported scheme {:?}",
            url.scheme()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn from_env_reads_everything() {
        let c = Config::from_lookup(env(&[
            ("VIPPS_ISSUER", "http://127.0.0.1:9/access/"),
            ("VIPPS_CLIENT_ID", "id"),
            ("VIPPS_CLIENT_SECRET", "s"),
            ("VIPPS_CLIENT_AUTH", "post"),
            ("VIPPS_MERCHANT_SERIAL_NUMBER", "123456"),
            ("VIPPS_SYSTEM_NAME", "till"),
        ]));
        let c = match c {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(c.client_auth(), ClientAuth::Post);
        assert_eq!(c.merchant_serial_number.as_deref(), Some("123456"));
        assert_eq!(c.system_name, "till");
        assert_eq!(c.issuer().as_str(), "http://127.0.0.1:9/access/");
    }

    #[test]
    fn from_env_defaults_to_test_and_names_missing_vars() {
        let err = Config::from_lookup(env(&[("VIPPS_CLIENT_ID", "id")])).err();
        assert!(matches!(err, Some(Error::Config(m)) if m.contains("VIPPS_CLIENT_SECRET")));
        let c = Config::from_lookup(env(&[
            ("VIPPS_CLIENT_ID", "id"),
            ("VIPPS_CLIENT_SECRET", "x"),
        ]));
        assert!(matches!(c, Ok(c) if c.issuer().as_str() == TEST_ISSUER));
    }

    #[test]
    fn http_only_on_loopback() {
        let build = |u: &str| {
            Config::builder(
                Issuer::Custom(Url::parse(u).unwrap_or_else(|_| panic!("{u}"))),
                "id",
                Secret::new("s"),
            )
            .build()
        };
        assert!(build("http://127.0.0.1:8080/x/").is_ok());
        assert!(build("http://localhost:8080/x/").is_ok());
        assert!(build("http://[::1]:8080/x/").is_ok());
        assert!(build("http://example.com/x/").is_err());
        assert!(build("ftp://127.0.0.1/").is_err());
        assert!(build("https://user:pw@example.com/").is_err());
        assert!(
            Config::builder(Issuer::Production, "id", Secret::new("s"))
                .build()
                .is_ok()
        );
    }

    #[test]
    fn system_headers_are_limited() {
        let r = Config::builder(Issuer::Test, "id", Secret::new("s"))
            .system_name("x".repeat(31))
            .build();
        assert!(matches!(r, Err(Error::Config(m)) if m.contains("Vipps-System-Name")));
        let r = Config::builder(Issuer::Test, "id", Secret::new("s"))
            .merchant_serial_number("12a")
            .build();
        assert!(r.is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Config::builder(Issuer::Test, "id", Secret::new("topsecret"))
            .webhook_secret(Secret::new("hooksecret"))
            .build();
        let text = format!("{c:?}");
        assert!(!text.contains("topsecret") && !text.contains("hooksecret"));
    }
}
