//! Binding, the backend (simulator or Vipps), the layer's common settings, serving.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use url::Url;
use vipps_login_core::audit::AuditSink;
use vipps_login_core::{ClientAuth, Config, Issuer, Scopes, Secret, VippsClient};
use vipps_login_sim::{Policy, SimConfig, SimHandle, Simulator};
use vipps_login_tower::{VippsLoginLayer, VippsLoginLayerBuilder};

use crate::error::AppError;
use crate::ops::{ReadinessCheck, StaffSignInAudit};
use crate::options::{CommonOptions, DEMO_CUSTOMER, Urls};
use crate::staff::StaffGate;

/// The loud head of the instructions in simulator mode (the app's own steps follow).
pub const SIMULATOR_BANNER: &str = "\n\
    ************************************************************************\n\
    *  SIMULATOR MODE: VIPPS_CLIENT_ID is not set, so this app talks to an  *\n\
    *  in-process Vipps SIMULATOR, not to Vipps. No real phone gets a push. *\n\
    ************************************************************************\n\
    \n";

/// An app on its way up: the bound listener, its base URL, the Vipps client and, without
/// Vipps credentials, the in-process simulator. The app builds its layer from
/// [`layer_builder`](Self::layer_builder), puts it in front of its pages, and gets its
/// [`Server`] from [`into_server`](Self::into_server).
#[non_exhaustive]
pub struct Startup {
    /// `--public-url`, else `http://{bound address}/`.
    pub base: Url,
    /// The in-process simulator, when there are no Vipps credentials (or `--simulator`).
    pub sim: Option<SimHandle>,
    listener: TcpListener,
    client: VippsClient,
    options: CommonOptions,
    base_for_layer: bool,
    /// The key of every cookie the app sets (the layer's and the staff gate's).
    cookie_key: cookie::Key,
    /// A staff password made up for this run, to be printed.
    made_up_staff_password: Option<String>,
    /// The management listener (`--management-listen`), unless off.
    management: Option<TcpListener>,
    /// The audit trail (`--audit-log`).
    audit: Option<Arc<dyn AuditSink>>,
}

impl std::fmt::Debug for Startup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Startup")
            .field("base", &self.base.as_str())
            .field("simulator", &self.sim.is_some())
            .finish_non_exhaustive()
    }
}

impl Startup {
    /// Binds `listen`, works out the base URL (`public_url`, else the bound address with
    /// unspecified addresses shown as loopback) and starts the backend: Vipps when
    /// `VIPPS_CLIENT_ID` is set (see [`Config::from_env`]), else the simulator, which
    /// then lives as long as the app. `--simulator` forces the simulator.
    ///
    /// # Errors
    /// A taken port, a bad simulator option, a simulator or Vipps configuration problem.
    pub async fn bind(
        listen: SocketAddr,
        public_url: Option<Url>,
        options: &CommonOptions,
    ) -> Result<Self, AppError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| AppError::Listen {
                addr: listen,
                source,
            })?;
        let local = listener.local_addr()?;
        if public_url.as_ref().is_some_and(|u| u.scheme() == "https")
            && !options.simulator
            && !has_credentials()
        {
            return Err(AppError::Config(
                "--public-url is https but VIPPS_CLIENT_ID is not set: this would put the \
                 simulator, which approves any number, on a public address. Set the Vipps \
                 credentials, or pass --simulator if that is really what you want"
                    .to_owned(),
            ));
        }
        // The layer decides the cookies' `Secure` from its public base URL: the given one,
        // or this loopback address for plain-http development. Listening beyond loopback
        // without one, the layer's cookies are `Secure`, so plain http would lose them.
        let on_loopback = Url::parse(&format!("http://{local}/"))
            .is_ok_and(|u| vipps_login_core::is_loopback(&u));
        let base_for_layer = public_url.is_some() || on_loopback;
        if !base_for_layer {
            tracing::warn!(
                "listening on {local} without --public-url: the session cookies are Secure, \
                 so serve this app over https (behind your proxy) and pass --public-url"
            );
        }
        let base = match public_url {
            Some(url) => url,
            None => base_url(local)?,
        };
        let cookie_key = match &options.cookie_secret {
            Some(secret) => cookie::Key::try_from(secret.as_bytes()).map_err(|_| {
                AppError::Config(format!(
                    "--cookie-secret must be at least 64 bytes, got {}",
                    secret.len()
                ))
            })?,
            None => cookie::Key::generate(),
        };
        let management = crate::ops::bind_management(options.management_listen).await?;
        if management.is_some() {
            // Installed before the client, so that its first operations are counted too.
            crate::ops::prometheus()?;
        }
        let audit = match &options.audit_log {
            Some(path) => Some(crate::ops::audit_log(path)?),
            None => None,
        };
        let (client, sim) = backend(options, audit.clone()).await?;
        if sim.is_none() && options.cookie_secret.is_none() {
            tracing::warn!(
                "no COOKIE_SECRET: using a random cookie key (sessions end on restart and \
                 are not shared between instances)"
            );
        }
        Ok(Self {
            listener,
            base,
            client,
            sim,
            options: options.clone(),
            base_for_layer,
            cookie_key,
            made_up_staff_password: None,
            management,
            audit,
        })
    }

    /// The options the app was started with.
    #[must_use]
    pub fn options(&self) -> &CommonOptions {
        &self.options
    }

    /// The key of every cookie the app sets (from `COOKIE_SECRET`, else random): every
    /// instance given the same secret has the same key. For an app's own sealed cookies (a
    /// staff sign-in's); derive other keys from it, never use it as is for a second purpose.
    #[must_use]
    pub fn cookie_key(&self) -> &cookie::Key {
        &self.cookie_key
    }

    /// The management listener's address, unless `--management-listen off`.
    #[must_use]
    pub fn management_addr(&self) -> Option<SocketAddr> {
        self.management.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// What the staff gate calls for each sign-in, for the audit trail.
    #[must_use]
    pub fn staff_sign_in_audit(&self) -> StaffSignInAudit {
        StaffSignInAudit::new(self.audit.clone())
    }

    /// The Vipps client (on Vipps, or on the in-process simulator), for apps that drive
    /// logins without the layer (such as the identity bridge).
    #[must_use]
    pub fn client(&self) -> &VippsClient {
        &self.client
    }

    /// The layer's builder with what the options decide: `app_name`, `scopes`, the rate
    /// limits and cool-downs, the cookie secret (with the simulator and without a secret,
    /// a fresh random key: its sessions die with the process anyway, no warning needed),
    /// and the public base URL when `--public-url` was given or the app listens on
    /// loopback (the layer's cookies are `Secure` unless that URL is plain http).
    ///
    /// # Errors
    /// Scopes that do not parse.
    pub fn layer_builder(
        &self,
        app_name: &str,
        scopes: &str,
    ) -> Result<VippsLoginLayerBuilder, AppError> {
        let mut builder = VippsLoginLayer::builder(self.client.clone())
            .app_name(app_name)
            .scopes(scopes.parse::<Scopes>()?)
            .rate_limits(self.options.rate_limits())
            .default_language(self.options.language);
        if self.sim.is_some() {
            builder = crate::words::with_sim_hints(builder);
        }
        if self.options.trust_forwarded_for {
            builder = builder.client_ip(vipps_login_tower::ClientIp::RightmostForwardedFor);
        }
        if self.base_for_layer {
            builder = builder.public_base_url(self.base.clone());
        }
        Ok(builder.cookie_key(self.cookie_key.clone()))
    }

    /// The staff gate for a desk behind `layer` (its prefix, and its cookies' `Secure`), from
    /// `--staff-password`. Without one: with Vipps, an error (a desk that sends pushes
    /// must not be open to anyone); with the simulator, a made-up password (printed by
    /// the instructions) when `required`, else no gate.
    ///
    /// # Errors
    /// No password with Vipps, or one too short.
    pub fn staff_gate(
        &mut self,
        layer: &VippsLoginLayer,
        required: bool,
    ) -> Result<Option<StaffGate>, AppError> {
        let password = match (&self.options.staff_password, &self.sim) {
            (Some(password), _) => password.clone(),
            (None, None) => {
                return Err(AppError::Config(
                    "set STAFF_PASSWORD (or --staff-password, at least 12 characters): the desk \
                     sends login requests to customers' phones and must be for staff only"
                        .to_owned(),
                ));
            }
            (None, Some(_)) if required => {
                let made_up = made_up_password();
                self.made_up_staff_password = Some(made_up.clone());
                made_up
            }
            (None, Some(_)) => return Ok(None),
        };
        StaffGate::new(
            &password,
            self.cookie_key.clone(),
            layer.cookies_secure(),
            layer.prefix(),
        )
        .map(|gate| {
            Some(
                gate.language(self.options.language)
                    .clock(self.client.config().clock().clone())
                    .store(self.client.store().clone())
                    .behind_proxy(self.options.trust_forwarded_for)
                    .audit(self.staff_sign_in_audit()),
            )
        })
        .map_err(AppError::Config)
    }

    /// The app ready to serve: `router` (the app's pages behind the layer) on the bound
    /// listener, with its URLs and the simulator.
    ///
    /// # Errors
    /// A public URL that cannot be a base.
    pub fn into_server(self, router: Router) -> Result<Server, AppError> {
        let client = self.client.clone();
        Ok(Server {
            urls: self.urls()?,
            router,
            listener: self.listener,
            sim: self.sim,
            management: self.management,
            readiness: Arc::new(move || {
                let client = client.clone();
                Box::pin(async move { client.readiness().await })
            }),
            client: self.client,
            grace: Duration::from_secs(self.options.shutdown_grace_secs),
        })
    }

    /// The app's URLs: its base (the clerk's page) and, with the simulator, the demo
    /// customer's phone, the simulator's issuer and its base URL.
    fn urls(&self) -> Result<Urls, AppError> {
        let base = &self.base;
        let sim = self.sim.as_ref();
        Ok(Urls {
            app: base
                .join("")
                .map_err(|e| AppError::Config(format!("public URL {base}: {e}")))?,
            phone: sim.map(|s| s.phone_url(DEMO_CUSTOMER)),
            sim_issuer: sim.map(SimHandle::issuer),
            sim_base: sim.map(SimHandle::base_url),
            base: base.clone(),
            staff_password: self.made_up_staff_password.clone(),
        })
    }
}

/// An app ready to serve: its router, the bound listener, its URLs and, without Vipps
/// credentials, the simulator (which lives as long as the server).
#[non_exhaustive]
pub struct Server {
    /// The whole app: its pages behind the Vipps login layer.
    pub router: Router,
    /// The bound listener.
    pub listener: TcpListener,
    /// Where to find everything.
    pub urls: Urls,
    /// The in-process simulator, when there are no Vipps credentials.
    pub sim: Option<SimHandle>,
    /// The management listener, unless `--management-listen off`.
    pub management: Option<TcpListener>,
    /// What `/health/ready` checks (the client's checks; an app adds its own).
    pub readiness: ReadinessCheck,
    /// The Vipps client, released on a graceful stop.
    pub client: VippsClient,
    /// How long requests in flight may take to finish on a graceful stop.
    pub grace: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("urls", &self.urls)
            .field("simulator", &self.sim.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Serves until the listener fails (the simulator, if any, lives as long), with the
    /// management listener beside it.
    ///
    /// # Errors
    /// When accepting connections fails for good.
    pub async fn serve(self) -> Result<(), AppError> {
        self.serve_until(std::future::pending()).await
    }

    /// Serves until `stop` resolves, then stops gracefully: stops accepting, lets the
    /// requests in flight finish within [`grace`](Self::grace), and releases this
    /// instance's lease so that the other instances take its waiting logins over at once.
    ///
    /// # Errors
    /// When accepting connections fails for good, or the recorder cannot be installed.
    pub async fn serve_until(self, stop: impl Future<Output = ()>) -> Result<(), AppError> {
        let Server {
            router,
            listener,
            sim,
            management,
            readiness,
            client,
            grace,
            ..
        } = self;
        if let Some(management) = management {
            crate::ops::spawn_management(management, readiness)?;
        }
        let served = crate::serve::serve_until(
            listener,
            router,
            crate::serve::ServeLimits::default(),
            stop,
            grace,
        )
        .await;
        let released = client.shut_down().await;
        drop(sim);
        served?;
        released.map_err(AppError::from)
    }

    /// Writes the machine-readable lines: `app: <url>`, and with the simulator
    /// `phone: <url>` and `sim: <issuer>`.
    ///
    /// # Errors
    /// What writing to `out` returns.
    pub fn write_urls(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let urls = &self.urls;
        writeln!(out, "app: {}", urls.app)?;
        if let Some(phone) = &urls.phone {
            writeln!(out, "phone: {phone}")?;
        }
        if let Some(issuer) = &urls.sim_issuer {
            writeln!(out, "sim: {issuer}")?;
        }
        if let Some(addr) = self.management.as_ref().and_then(|l| l.local_addr().ok()) {
            writeln!(out, "management: http://{addr}/")?;
        }
        out.flush()
    }

    /// Runs as the binaries do: the URL lines to stdout, the app's `instructions` for
    /// these URLs to stderr, then serves until the listener fails, or stops gracefully on
    /// SIGTERM or Ctrl-C.
    ///
    /// # Errors
    /// Writing to stdout, or a failure to serve.
    pub async fn run(self, instructions: impl FnOnce(&Urls) -> String) -> Result<(), AppError> {
        {
            let mut out = std::io::stdout().lock();
            self.write_urls(&mut out)?;
        }
        eprintln!("{}", instructions(&self.urls));
        self.serve_until(crate::ops::stop_signal()).await
    }
}

/// The binaries' `main`: logs to stderr (filter from `RUST_LOG`, default `info`) and,
/// when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set, exports spans
/// there (see [`traces`](crate::traces)); runs the future `run` makes on a multi-threaded
/// tokio runtime, sends the last spans, and turns an error into `{bin}: {error}` on
/// stderr and a failing exit code.
pub fn main<F>(bin: &str, run: impl FnOnce() -> F) -> ExitCode
where
    F: Future<Output = Result<(), AppError>>,
{
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{bin}: no async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The exporter's batch task runs on the runtime.
    let traces = match runtime.block_on(async { crate::traces::init(bin) }) {
        Ok(traces) => traces,
        Err(e) => {
            eprintln!("{bin}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run());
    if let Some(traces) = traces {
        // The graceful stop's spans go out before the runtime stops; the flush waits
        // for the batch task, so it runs off the runtime's workers.
        let _ = runtime
            .block_on(async { tokio::task::spawn_blocking(move || traces.shut_down()).await });
    }
    // The graceful stop is done by now (requests finished, lease released): tasks still
    // running (keep-alive connections of the simulator, timers) are not waited for.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{bin}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `http://{addr}/`, with unspecified addresses (`0.0.0.0`, `::`) shown as loopback.
fn base_url(addr: SocketAddr) -> Result<Url, AppError> {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let shown = SocketAddr::new(ip, addr.port());
    Url::parse(&format!("http://{shown}/")).map_err(|e| AppError::Config(e.to_string()))
}

fn secs(value: f64, flag: &str) -> Result<Duration, AppError> {
    Duration::try_from_secs_f64(value).map_err(|e| AppError::Config(format!("--{flag}: {e}")))
}

/// A staff password for one simulator run: 20 random letters and digits.
fn made_up_password() -> String {
    use rand::Rng as _;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

/// Whether Vipps credentials are configured (`VIPPS_CLIENT_ID` set and not blank).
fn has_credentials() -> bool {
    std::env::var("VIPPS_CLIENT_ID").is_ok_and(|v| !v.trim().is_empty())
}

/// The Vipps client: Vipps itself when `VIPPS_CLIENT_ID` is set, else an in-process
/// simulator (returned too, so that it lives as long as the app).
async fn backend(
    options: &CommonOptions,
    audit: Option<Arc<dyn AuditSink>>,
) -> Result<(VippsClient, Option<SimHandle>), AppError> {
    let with_audit = |config: Config| match &audit {
        Some(sink) => config.with_audit(sink.clone()),
        None => config,
    };
    if has_credentials() && !options.simulator {
        let config = with_audit(Config::from_env()?);
        tracing::info!(
            issuer = %config.issuer(),
            client_id = config.client_id(),
            "using Vipps (credentials from VIPPS_* environment variables)"
        );
        return Ok((client_with_store(config, options).await?, None));
    }
    let interval = Duration::from_millis(options.sim_interval_ms.max(1));
    let mut sim_config = SimConfig::default()
        .listen(options.sim_listen)
        .interval(interval)
        .slow_down_step(interval)
        .expires_in(secs(options.sim_expires_in_secs, "sim-expires-in-secs")?)
        .auto_users(options.sim_auto_users);
    if let Some(ms) = options.sim_auto_approve_ms {
        sim_config = sim_config.policy(Policy::AutoApprove {
            after: Duration::from_millis(ms),
        });
    }
    let sim = Simulator::start(sim_config).await.map_err(|e| {
        AppError::Config(format!(
            "the Vipps simulator could not start on {} ({e}); is another demo running? \
             `--sim-listen 127.0.0.1:0` picks a free port",
            options.sim_listen
        ))
    })?;
    tracing::warn!(
        issuer = %sim.issuer(),
        "SIMULATOR MODE: no VIPPS_CLIENT_ID, logins go to an in-process Vipps simulator, not to Vipps"
    );
    let config = Config::builder(
        Issuer::Custom(sim.issuer()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
    .client_auth(ClientAuth::Basic)
    .build()?;
    let config = with_audit(config);
    Ok((client_with_store(config, options).await?, Some(sim)))
}

/// The client on Redis when `--redis-url` is given (instances share logins), else on
/// this process' memory. Its background work (heartbeat, takeover) starts right away, so
/// an instance that starts no logins still takes over those of a dead one.
async fn client_with_store(
    config: Config,
    options: &CommonOptions,
) -> Result<VippsClient, AppError> {
    let client = match &options.redis_url {
        Some(url) => {
            let store = vipps_login_redis::RedisStore::connect(url.as_str())
                .await
                .map_err(|e| AppError::Config(format!("--redis-url: {e}")))?;
            tracing::info!(
                "logins, sessions and limits are kept in Redis, shared by every instance"
            );
            VippsClient::with_store(config, std::sync::Arc::new(store))?
        }
        None => {
            let store = vipps_login_core::MemoryStore::with_clock(
                options.memory_store_capacity,
                config.clock().clone(),
            );
            VippsClient::with_store(config, std::sync::Arc::new(store))?
        }
    };
    client.start_background();
    Ok(client)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn unspecified_listen_addresses_show_as_loopback() {
        let url = base_url("0.0.0.0:3000".parse().unwrap()).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:3000/");
        let url = base_url("[::]:3000".parse().unwrap()).unwrap();
        assert_eq!(url.as_str(), "http://[::1]:3000/");
        let url = base_url("127.0.0.1:3000".parse().unwrap()).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:3000/");
    }

    #[test]
    fn bad_expiry_is_a_configuration_error() {
        assert!(matches!(
            secs(-1.0, "sim-expires-in-secs"),
            Err(AppError::Config(m)) if m.starts_with("--sim-expires-in-secs")
        ));
    }

    #[tokio::test]
    async fn url_lines_without_simulator_are_only_the_app() {
        let base = Url::parse("https://desk.example.com/").unwrap();
        let server = Server {
            router: Router::new(),
            listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            urls: Urls {
                app: base.clone(),
                base,
                phone: None,
                sim_issuer: None,
                sim_base: None,
                staff_password: None,
            },
            sim: None,
            management: None,
            readiness: Arc::new(|| {
                Box::pin(async { vipps_login_core::health::Readiness::default() })
            }),
            client: VippsClient::new(
                Config::builder(
                    Issuer::Custom(Url::parse("http://127.0.0.1:9/").unwrap()),
                    "c",
                    Secret::new("s"),
                )
                .build()
                .unwrap(),
            )
            .unwrap(),
            grace: Duration::ZERO,
        };
        let mut out = Vec::new();
        server.write_urls(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "app: https://desk.example.com/\n"
        );
    }

    #[test]
    fn the_banner_says_simulator_mode() {
        assert!(SIMULATOR_BANNER.contains("SIMULATOR MODE"));
        assert!(SIMULATOR_BANNER.ends_with("*\n\n"));
    }
}
