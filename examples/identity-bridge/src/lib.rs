//! `identity-bridge`: the reference deployment of `vipps-login-provider`. It serves Vipps
//! phone login as an OpenID provider from a config file, so that an identity platform or
//! any OpenID client adds "log in with the customer's phone number" without knowing Vipps:
//! the **CIBA provider** (poll mode) for call centers, tills and kiosks whose software
//! speaks CIBA, and the **authorization-code provider** for staff consoles whose identity
//! platform only speaks authorization code (Keycloak brokering): its operator pages, where
//! the staff member types the customer's number and reads the code, are the tower
//! layer's own, under `{issuer}/operator/`. (Vipps allows merchant-initiated login only where the login does not
//! start in the customer's own browser or app; this is not a self-service web login.)
//! The operator pages are for signed-in staff only ([`StaffOptions`]): through the
//! organisation's own OpenID provider, or with the staff password; with Vipps the bridge
//! does not start without one of them.
//!
//! Without `VIPPS_CLIENT_ID` it starts the Vipps **simulator** in process and says so
//! loudly. On start it writes, on stdout, `issuer: <its issuer URL>`, and with the
//! simulator `sim: <the simulator's base URL>` and `phone: <the demo customer's phone>`.
//! With no `--config` it serves two demo clients, `demo-rp` / `demo-rp-secret` and
//! `demo-rp-2` / `demo-rp-2-secret` (see `identity-bridge.toml`).
//!
//! ```no_run
//! use clap::Parser as _;
//! # async fn demo() -> Result<(), identity_bridge::AppError> {
//! let options = identity_bridge::Options::parse_from(["identity-bridge", "--listen", "127.0.0.1:0"]);
//! let bridge = identity_bridge::app(options).await?;
//! println!("issuer: {}", bridge.issuer);
//! bridge.serve().await?;
//! # Ok(()) }
//! ```

mod config;
mod keys;
mod staff;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use example_support::{CommonOptions, SIMULATOR_BANNER, Startup};
use staff::StaffAuth;
use tokio::net::TcpListener;
use url::Url;
use vipps_login_keycloak::{
    AttributeLookup, KeycloakChannel, KeycloakChannelConfig, PhoneResolver,
};
use vipps_login_provider::authcode::OperatorCompletion;
use vipps_login_provider::keys::KeySet;
use vipps_login_provider::{DEFAULT_ITERATIONS, Provider, VippsPhoneLogin, hash_secret};

pub use config::{BridgeConfig, DEFAULT_CONFIG};
pub use example_support::{AppError, DEMO_CUSTOMER};
pub use keys::KeyOptions;
pub use staff::StaffOptions;

/// Command-line options.
///
/// ```
/// use clap::Parser as _;
/// let o = identity_bridge::Options::parse_from(["identity-bridge"]);
/// assert_eq!(o.listen.to_string(), "127.0.0.1:3400");
/// assert!(o.config.is_none());
/// ```
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "identity-bridge",
    version,
    about = "Vipps phone login as an OpenID provider (CIBA and authorization code) for identity platforms and OpenID clients.",
    long_about = "Vipps phone login as an OpenID provider (CIBA and authorization code) for identity platforms and OpenID clients.\n\n\
                  Without VIPPS_CLIENT_ID it runs against an in-process Vipps simulator; with \
                  VIPPS_CLIENT_ID, VIPPS_CLIENT_SECRET (and optionally VIPPS_ISSUER, \
                  VIPPS_MERCHANT_SERIAL_NUMBER, ...) it talks to Vipps, and then refuses to start \
                  unless staff sign in at the operator pages (--staff-oidc-* or STAFF_PASSWORD)."
)]
#[non_exhaustive]
pub struct Options {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "BRIDGE_LISTEN", default_value = "127.0.0.1:3400")]
    pub listen: SocketAddr,
    /// The public URL, which is the issuer (default: http://{listen address}). Must be
    /// https unless it is a loopback address.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<Url>,
    /// The config file (TOML: a `[bridge]` table and `[[clients]]`; default: the two
    /// demo clients of identity-bridge.toml).
    #[arg(long, env = "BRIDGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the client_secret_hash of this secret for the config file, and exit
    /// (PBKDF2-SHA256, 10 000 iterations: give it a long random secret, e.g.
    /// `openssl rand -base64 32`).
    #[arg(long, value_name = "SECRET")]
    pub hash_secret: Option<String>,
    /// The simulator's timings and the other options all reference apps take.
    #[command(flatten)]
    pub common: CommonOptions,
    /// Keycloak's CIBA HTTP authentication channel, served at `/keycloak/channel`.
    #[command(flatten)]
    pub keycloak: KeycloakOptions,
    /// The ID tokens' signing keys.
    #[command(flatten)]
    pub keys: KeyOptions,
    /// How staff sign in at the operator pages.
    #[command(flatten)]
    pub staff: StaffOptions,
}

/// Serve Keycloak's CIBA HTTP authentication channel (see
/// `vipps_login_keycloak`) at `/keycloak/channel`, for one realm.
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct KeycloakOptions {
    /// The realm's issuer, e.g. `https://id.example.com/realms/staff`; turns the channel on.
    #[arg(long, env = "BRIDGE_KEYCLOAK_ISSUER")]
    pub keycloak_issuer: Option<String>,
    /// Only this Keycloak client may start Vipps logins (repeat for several; default: any
    /// CIBA client of the realm).
    #[arg(
        long = "keycloak-client",
        value_name = "CLIENT_ID",
        requires = "keycloak_issuer"
    )]
    pub keycloak_clients: Vec<String>,
    /// A Vipps scope the channel passes on to Vipps when Keycloak's request asks for it
    /// (`name`, `email`, `address`, `birthDate`; repeat for several). Default: none
    /// besides `openid` and `phoneNumber`; Keycloak never sees what Vipps returns.
    #[arg(
        long = "keycloak-scope",
        value_name = "SCOPE",
        requires = "keycloak_issuer"
    )]
    pub keycloak_scopes: Vec<vipps_login_core::Scope>,
    /// Read the phone number from this user attribute (else the username is the number).
    #[arg(long, requires_all = ["keycloak_issuer", "keycloak_admin_client", "keycloak_admin_secret"])]
    pub keycloak_attribute: Option<String>,
    /// The service-account client that reads users through the admin API (`view-users`).
    #[arg(long, requires = "keycloak_attribute")]
    pub keycloak_admin_client: Option<String>,
    /// Its secret.
    #[arg(
        long,
        env = "BRIDGE_KEYCLOAK_ADMIN_SECRET",
        hide_env_values = true,
        requires = "keycloak_attribute"
    )]
    pub keycloak_admin_secret: Option<String>,
}

/// The Keycloak channel's router, when `--keycloak-issuer` is given.
fn keycloak_channel(
    o: &KeycloakOptions,
    limits: vipps_login_core::RateLimits,
    vipps: &vipps_login_core::VippsClient,
) -> Result<Option<axum::Router>, AppError> {
    let Some(issuer) = &o.keycloak_issuer else {
        return Ok(None);
    };
    let config = |e: vipps_login_keycloak::ChannelConfigError| AppError::Config(e.to_string());
    // The desks' limits, counted in the same store as the CIBA provider's: a number is
    // limited alike whichever way in pushes to it.
    let pass_on = o
        .keycloak_scopes
        .iter()
        .fold(vipps_login_core::Scopes::openid(), |s, scope| {
            s.with(*scope)
        });
    let mut channel = KeycloakChannelConfig::new(issuer)
        .map_err(config)?
        .rate_limits(limits.no_per_client())
        .pass_on_scopes(pass_on);
    if !o.keycloak_clients.is_empty() {
        channel = channel.allowed_clients(o.keycloak_clients.iter().cloned());
    }
    if let (Some(attribute), Some(client), Some(secret)) = (
        &o.keycloak_attribute,
        &o.keycloak_admin_client,
        &o.keycloak_admin_secret,
    ) {
        channel = channel.resolver(PhoneResolver::AttributeOrUsername(AttributeLookup::new(
            attribute.clone(),
            client.clone(),
            vipps_login_core::Secret::new(secret.clone()),
        )));
    }
    let channel = KeycloakChannel::new(channel, vipps.clone()).map_err(config)?;
    tracing::info!(issuer = %issuer, "Keycloak CIBA channel at /keycloak/channel");
    Ok(Some(
        axum::Router::new().nest("/keycloak/channel", channel.router()),
    ))
}

/// The bridge, bound and ready to serve.
#[non_exhaustive]
pub struct Bridge {
    /// The issuer identifier (its public URL, no trailing slash).
    pub issuer: String,
    /// With the simulator: its base URL.
    pub sim_base: Option<Url>,
    /// With the simulator: the demo customer's phone page.
    pub phone: Option<Url>,
    /// The staff password made up for this run (simulator only, when no staff sign-in
    /// was configured).
    pub staff_password: Option<String>,
    router: axum::Router,
    listener: TcpListener,
    provider: Provider,
    rotation: Duration,
    management: Option<TcpListener>,
    client: vipps_login_core::VippsClient,
    grace: Duration,
    /// Keeps the in-process simulator alive as long as the bridge.
    _sim: Option<vipps_login_sim::SimHandle>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Builds the bridge from `options`: binds, reads the config, starts Vipps or the
/// simulator, builds the provider.
///
/// # Errors
/// A bad config file, a taken port, a simulator or Vipps configuration problem.
pub async fn app(options: Options) -> Result<Bridge, AppError> {
    let config = match &options.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| AppError::Config(format!("{}: {e}", path.display())))?;
            BridgeConfig::parse(&text)
        }
        None => BridgeConfig::parse(DEFAULT_CONFIG),
    }
    .map_err(AppError::Config)?;
    let mut start =
        Startup::bind(options.listen, options.public_url.clone(), &options.common).await?;
    let issuer = start.base.clone();
    let login = VippsPhoneLogin::new(start.client().clone())
        .subject_mapping(config.subject_mapping()?)
        .enumeration_resistant(config.enumeration_resistant)
        .rate_limits(options.common.rate_limits())
        .map_err(|e| AppError::Config(e.to_string()))?;
    let records = login.records();
    // Way 2's operator pages: the tower layer's login page, under the issuer.
    let base_path = start.base.path().trim_end_matches('/').to_owned();
    let operator_prefix = format!("{base_path}/operator");
    let login_page = issuer
        .join(&format!(
            "{}/login",
            operator_prefix.trim_start_matches('/')
        ))
        .map_err(|e| AppError::Config(format!("operator page URL: {e}")))?;
    let keys = match options.keys.configured()? {
        Some(keys) => {
            tracing::info!("signing keys from configuration (rotated by the operator)");
            keys
        }
        None => {
            if options.common.redis_url.is_none() {
                tracing::warn!(
                    "no --redis-url and no --signing-key: the signing keys live in this process (ID tokens stop verifying on restart)"
                );
            }
            KeySet::shared(&records)
                .await
                .map_err(|e| AppError::Config(e.to_string()))?
        }
    };
    let rotation = options.keys.rotation(&config)?;
    let mut builder = Provider::builder(issuer, config.registry, Arc::new(login.clone()), records);
    if let Some(limit) = config.max_concurrent_secret_checks {
        builder = builder.max_concurrent_secret_checks(limit);
    }
    let provider = builder
        .keys(keys)
        .ways(true, true)
        .operator_redirect(move |id| OperatorCompletion::operator_url(&login_page, id))
        // Authorization requests travel to the operator page sealed, not stored: every
        // instance with the same --cookie-secret opens them (the provider derives its
        // own key from it).
        .request_sealing_secret(start.cookie_key().master())
        .build()
        .map_err(|e| AppError::Config(e.to_string()))?;
    let operator_pages = start
        .layer_builder("Identity bridge", "openid name phoneNumber")?
        .prefix(operator_prefix)
        .completion(OperatorCompletion::new(provider.clone(), login))
        .build()
        .map_err(|e| AppError::Config(e.to_string()))?;
    // Only signed-in staff reach the operator pages (and so "type a number").
    let staff =
        StaffAuth::from_options(&options.staff, &mut start, &operator_pages, &base_path).await?;
    // An issuer with a path (`--public-url https://id.example/vipps`) serves under it.
    let mut router = match base_path.as_str() {
        "" => provider.router(),
        path => axum::Router::new().nest(path, provider.router()),
    };
    if let Some(channel) = keycloak_channel(
        &options.keycloak,
        options.common.rate_limits(),
        start.client(),
    )? {
        router = router.merge(channel);
    }
    let server = start.into_server(staff.guard(router.layer(operator_pages)))?;
    let sim = server.sim;
    Ok(Bridge {
        issuer: provider.issuer().to_owned(),
        sim_base: sim.as_ref().map(|s| s.base_url()),
        phone: sim.as_ref().map(|s| s.phone_url(DEMO_CUSTOMER)),
        staff_password: server.urls.staff_password.clone(),
        router: server.router,
        listener: server.listener,
        provider,
        rotation,
        management: server.management,
        client: server.client,
        grace: server.grace,
        _sim: sim,
    })
}

impl Bridge {
    /// The bound address.
    ///
    /// # Errors
    /// When the OS cannot say.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The management listener's address, unless `--management-listen off`.
    #[must_use]
    pub fn management_addr(&self) -> Option<SocketAddr> {
        self.management.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves (with header-read, request and idle timeouts) and rotates the signing keys,
    /// with the management listener beside it.
    ///
    /// # Errors
    /// When accepting connections fails.
    pub async fn serve(self) -> Result<(), AppError> {
        self.serve_until(std::future::pending()).await
    }

    /// Serves until `stop` resolves, then stops gracefully: stops accepting, lets the
    /// requests in flight finish, and releases this instance's lease.
    ///
    /// # Errors
    /// When accepting connections fails.
    pub async fn serve_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), AppError> {
        if let Some(management) = self.management {
            vipps_login_provider::describe_metrics();
            vipps_login_keycloak::metrics::describe();
            let provider = self.provider.clone();
            example_support::ops::spawn_management(
                management,
                Arc::new(move || {
                    let provider = provider.clone();
                    Box::pin(async move { provider.readiness().await })
                }),
            )?;
        }
        let keys = self.provider.keys().clone();
        let every = self.rotation;
        // Every instance looks often; the keys' stored age and the lease decide that one
        // of them rotates once per period.
        let look = (every / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let rotation = tokio::spawn(async move {
            if keys.is_configured() {
                return;
            }
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + look, look);
            loop {
                tick.tick().await;
                match keys
                    .rotate_if_due(every, crate::keys::retired_grace(every))
                    .await
                {
                    Ok(true) => tracing::info!("signing keys rotated"),
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "signing key rotation failed"),
                }
            }
        });
        let served = example_support::serve::serve_until(
            self.listener,
            self.router,
            example_support::serve::ServeLimits::default(),
            stop,
            self.grace,
        )
        .await;
        rotation.abort();
        let released = self.client.shut_down().await;
        served?;
        released.map_err(AppError::from)
    }
}

/// What the binary does: `--hash-secret`, or the URL lines, the instructions, serving.
///
/// # Errors
/// See [`app`] and [`Bridge::serve`].
pub async fn run(options: Options) -> Result<(), AppError> {
    if let Some(secret) = &options.hash_secret {
        println!("{}", hash_secret(secret, DEFAULT_ITERATIONS));
        return Ok(());
    }
    let bridge = app(options).await?;
    println!("issuer: {}", bridge.issuer);
    if let (Some(sim), Some(phone)) = (&bridge.sim_base, &bridge.phone) {
        println!("sim: {sim}");
        println!("phone: {phone}");
    }
    if let Some(password) = &bridge.staff_password {
        println!("staff-password: {password}");
    }
    if let Some(addr) = bridge.management_addr() {
        println!("management: http://{addr}/");
    }
    eprintln!("{}", instructions(&bridge));
    bridge
        .serve_until(example_support::ops::stop_signal())
        .await
}

fn instructions(b: &Bridge) -> String {
    let mut s = String::new();
    if b.sim_base.is_some() {
        s.push_str(SIMULATOR_BANNER);
    }
    if let Some(password) = &b.staff_password {
        s.push_str(&format!(
            "Staff password for the operator pages this run: {password}   (set STAFF_PASSWORD, or --staff-oidc-*, to choose)\n"
        ));
    }
    s.push_str(&format!(
        "OpenID provider (CIBA, poll mode, and authorization code with the operator pages at {issuer}/operator/login) at {issuer}\n  discovery: {issuer}/.well-known/openid-configuration\n  demo clients: demo-rp / demo-rp-secret, demo-rp-2 / demo-rp-2-secret\n",
        issuer = b.issuer
    ));
    if let (Some(sim), Some(phone)) = (&b.sim_base, &b.phone) {
        s.push_str(&format!(
            "  try: curl -u demo-rp:demo-rp-secret -d scope='openid phone' -d login_hint=+{DEMO_CUSTOMER} {}/bc-authorize\n  then approve on the simulated phone of {DEMO_CUSTOMER}: {phone}\n  simulator: {sim}\n",
            b.issuer
        ));
    }
    s
}
