//! `continue-on-phone`: the reference deployment of Vipps login's *continue in browser*
//! variant (variant 2), on axum.
//!
//! A clerk at a sign-up desk types the customer's mobile number on the layer's login page
//! and reads the confirmation code aloud. The customer approves in Vipps on their own
//! phone, and the phone's **browser** then opens this app (the layer's callback), logged
//! in as the customer, on a welcome page that asks them to accept the club's terms and,
//! if they like, marketing messages. The app stores the answer (in memory). The clerk's
//! screen says that the customer continues on the phone, and the desk page shows, live,
//! when the terms were accepted. The clerk's browser is never logged in as the customer.
//!
//! Without `VIPPS_CLIENT_ID` in the environment the app starts the Vipps **simulator**
//! in process (and says so loudly); with `VIPPS_CLIENT_ID`, `VIPPS_CLIENT_SECRET` and
//! friends ([`Config::from_env`]) it talks to Vipps. With Vipps, `--public-url` must be the
//! https origin the customer's phone can reach, and `{public-url}auth/vipps/callback` must
//! be registered as a redirect URI.
//!
//! The binary is a thin wrapper around [`run`]; tests and other programs use [`app`]:
//!
//! ```no_run
//! use clap::Parser as _;
//!
//! # async fn demo() -> Result<(), continue_on_phone::AppError> {
//! let options = continue_on_phone::Options::parse_from(["continue-on-phone", "--listen", "127.0.0.1:0", "--simulator"]);
//! let app = continue_on_phone::app(options).await?;
//! println!("desk: {}", app.urls.app);
//! app.serve().await?;
//! # Ok(()) }
//! ```

mod pages;
mod signups;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use url::Url;
use vipps_login_core::{ClientAuth, Config, Issuer, Scopes, Secret, VippsClient};
use vipps_login_sim::{Policy, SimConfig, SimHandle, Simulator};
use vipps_login_tower::{FlowChoice, RateLimits, StartContext, VippsLoginLayer, Window};

pub use signups::{Acceptance, Handover, Signups};

/// The demo customer the instructions point at (Kari Nordmann in the simulator).
pub const DEMO_CUSTOMER: &str = "4712345678";

/// Command-line options (each also settable through the environment variable shown by
/// `--help`).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "continue-on-phone",
    version,
    about = "A sign-up desk: the clerk starts a Vipps login, the customer continues on their phone.",
    long_about = "A sign-up desk: the clerk starts a Vipps login, the customer continues on their phone \
                  and accepts the terms there (continue in browser).\n\n\
                  Without VIPPS_CLIENT_ID it runs against an in-process Vipps simulator; with \
                  VIPPS_CLIENT_ID, VIPPS_CLIENT_SECRET (and optionally VIPPS_ISSUER, \
                  VIPPS_MERCHANT_SERIAL_NUMBER, ...) it talks to Vipps."
)]
#[non_exhaustive]
pub struct Options {
    /// Address to listen on; port 0 picks a free port.
    #[arg(
        long,
        env = "CONTINUE_ON_PHONE_LISTEN",
        default_value = "127.0.0.1:3001"
    )]
    pub listen: SocketAddr,
    /// The public URL of this app, as the customer's phone reaches it (default:
    /// http://{listen address}/). Must be https unless it is a loopback address; the
    /// continue-in-browser redirect URI is this plus `auth/vipps/callback`.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<Url>,
    /// Use the in-process simulator even when VIPPS_CLIENT_ID is set.
    #[arg(long)]
    pub simulator: bool,
    /// Simulator: polling interval it hands out, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub sim_interval_ms: u64,
    /// Simulator: how long a login request waits for the customer, in seconds.
    #[arg(long, default_value_t = 300.0)]
    pub sim_expires_in_secs: f64,
    /// Simulator: approve every login by itself after this many milliseconds.
    #[arg(long)]
    pub sim_auto_approve_ms: Option<u64>,
    /// Simulator: the address it listens on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub sim_listen: SocketAddr,
    /// Starts allowed per phone number in the rate-limit window (layer default 3).
    #[arg(long)]
    pub rate_limit_per_number: Option<u32>,
    /// Starts allowed per client IP in the rate-limit window (layer default 30).
    #[arg(long)]
    pub rate_limit_per_ip: Option<u32>,
    /// Length of the rate-limit window for the two limits above, in seconds.
    #[arg(long, default_value_t = 600)]
    pub rate_limit_window_secs: u64,
    /// Cool-down after a customer declined, in seconds (layer default 60).
    #[arg(long)]
    pub declined_cool_down_secs: Option<u64>,
    /// Cool-down after a login expired unanswered, in seconds (layer default 300).
    #[arg(long)]
    pub ignored_cool_down_secs: Option<u64>,
    /// The scopes requested for every login.
    #[arg(long, default_value = "openid name phoneNumber")]
    pub scopes: String,
    /// At least 64 random bytes that encrypt the session cookie (default: a random key
    /// per start, so sessions end when the app restarts).
    #[arg(long, env = "COOKIE_SECRET", hide_env_values = true)]
    pub cookie_secret: Option<String>,
}

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A bad option.
    #[error("configuration: {0}")]
    Config(String),
    /// The listen address is taken or not allowed.
    #[error(
        "could not listen on {addr}: {source} (is another copy running? `--listen 127.0.0.1:0` picks a free port)"
    )]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The in-process simulator did not start.
    #[error("the Vipps simulator did not start: {0}")]
    Simulator(#[from] vipps_login_sim::SimError),
    /// The Vipps configuration or client is wrong.
    #[error("Vipps: {0}")]
    Vipps(#[from] vipps_login_core::Error),
    /// The login layer rejected its configuration.
    #[error(transparent)]
    Layer(#[from] vipps_login_tower::BuildError),
    /// Writing the URLs or serving failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The URLs a person (or a test) needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Urls {
    /// The app's base URL, e.g. `http://127.0.0.1:3000/`.
    pub base: Url,
    /// The clerk's desk page.
    pub app: Url,
    /// With the simulator: the simulated phone of [`DEMO_CUSTOMER`].
    pub phone: Option<Url>,
    /// With the simulator: its issuer URL.
    pub sim_issuer: Option<Url>,
    /// With the simulator: its base URL (phones are listed there, control API under `/_sim/`).
    pub sim_base: Option<Url>,
}

/// The app, bound to its address and ready to [`serve`](App::serve).
#[non_exhaustive]
pub struct App {
    /// The whole app: its pages behind the Vipps login layer.
    pub router: Router,
    /// The bound listener.
    pub listener: TcpListener,
    /// Where to find everything.
    pub urls: Urls,
    /// The in-process simulator, when there are no Vipps credentials.
    pub sim: Option<SimHandle>,
    /// Customers who continued on their phone, and their answers (kept in memory).
    pub signups: Signups,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("urls", &self.urls)
            .field("simulator", &self.sim.is_some())
            .finish_non_exhaustive()
    }
}

impl App {
    /// Serves until the listener fails (the simulator, if any, lives as long).
    ///
    /// # Errors
    /// What `axum::serve` returns.
    pub async fn serve(self) -> std::io::Result<()> {
        let App {
            router,
            listener,
            sim,
            ..
        } = self;
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
        drop(sim);
        served
    }

    /// Writes the machine-readable lines: `app: <url>`, and with the simulator
    /// `phone: <url>` and `sim: <issuer>`.
    ///
    /// # Errors
    /// What writing to `out` returns.
    pub fn write_urls(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "app: {}", self.urls.app)?;
        if let Some(phone) = &self.urls.phone {
            writeln!(out, "phone: {phone}")?;
        }
        if let Some(issuer) = &self.urls.sim_issuer {
            writeln!(out, "sim: {issuer}")?;
        }
        out.flush()
    }

    /// The newcomer's instructions (for stderr).
    #[must_use]
    pub fn instructions(&self) -> String {
        let urls = &self.urls;
        match (&urls.phone, &urls.sim_base) {
            (Some(phone), Some(sim_base)) => format!(
                "\n\
                 ************************************************************************\n\
                 *  SIMULATOR MODE: VIPPS_CLIENT_ID is not set, so this app talks to an  *\n\
                 *  in-process Vipps SIMULATOR, not to Vipps. No real phone gets a push. *\n\
                 ************************************************************************\n\
                 \n\
                 Try a sign-up (it takes a minute):\n\
                 \x20 1. Open the clerk's desk:        {app}\n\
                 \x20    Type the customer's number {DEMO_CUSTOMER} (Kari Nordmann, a demo user)\n\
                 \x20    and press \"Send login request\". Note the code on the screen.\n\
                 \x20 2. Open the simulated phone in a PRIVATE window (it plays the customer's\n\
                 \x20    own phone, which must not share the clerk's cookies):\n\
                 \x20                                   {phone}\n\
                 \x20    Check the code, tap \"I agree\" and \"Confirm login\": the phone's browser\n\
                 \x20    continues on this app's welcome page, logged in as the customer.\n\
                 \x20 3. Accept the terms on the phone. The clerk's desk shows it.\n\
                 \n\
                 Other demo phones: {sim_base}   (4798765432 is Ola Nordmann)\n\
                 Stop with Ctrl-C. For real Vipps set VIPPS_CLIENT_ID, VIPPS_CLIENT_SECRET and --public-url.\n",
                app = urls.app,
            ),
            _ => format!(
                "\nUsing Vipps. Open the clerk's desk: {}\nThe customer's phone returns to {}auth/vipps/callback.\nStop with Ctrl-C.\n",
                urls.app, urls.base
            ),
        }
    }
}

/// Builds the app: binds `options.listen`, starts the simulator (without Vipps
/// credentials, or with `--simulator`), mounts the Vipps login layer in front of the
/// desk's pages.
///
/// # Errors
/// A bad option, a taken port, a simulator or Vipps configuration problem.
pub async fn app(options: Options) -> Result<App, AppError> {
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|source| AppError::Listen {
            addr: options.listen,
            source,
        })?;
    let local = listener.local_addr()?;
    let base = match &options.public_url {
        Some(url) => url.clone(),
        None => base_url(local)?,
    };
    let (client, sim) = backend(&options).await?;
    let signups = Signups::default();
    let app_name = if sim.is_some() {
        "Club sign-up desk · simulator"
    } else {
        "Club sign-up desk"
    };

    let mut builder = VippsLoginLayer::builder(client)
        .app_name(app_name)
        .scopes(options.scopes.parse::<Scopes>()?)
        // The customer's phone lands here after the layer's callback logged it in.
        .continue_url("/welcome")
        .public_base_url(base.clone())
        // Every login started at this desk continues in the customer's phone browser:
        // the clerk's own browser is never logged in as the customer.
        .flow_chooser(|ctx: StartContext| async move {
            tracing::info!(phone = %ctx.msisdn.masked(), "the customer continues on their phone");
            FlowChoice::ContinueInBrowser
        })
        .rate_limits(rate_limits(&options))
        .on_login(signups.clone());
    builder = match (&options.cookie_secret, &sim) {
        (Some(secret), _) => builder.cookie_secret(secret.as_bytes()),
        // The simulator's sessions die with the process anyway: no warning needed.
        (None, Some(_)) => builder.cookie_key(cookie::Key::generate()),
        (None, None) => builder,
    };
    builder = builder.templates(pages::layer_templates(sim.as_ref())?);
    let layer = builder.build()?;
    let router = pages::router(
        pages::Pages::new(signups.clone(), app_name, sim.as_ref())?,
        &layer,
    )
    .layer(layer);

    let join = |path: &str| {
        base.join(path)
            .map_err(|e| AppError::Config(format!("public URL {base}: {e}")))
    };
    let urls = Urls {
        app: join("")?,
        phone: sim.as_ref().map(|s| s.phone_url(DEMO_CUSTOMER)),
        sim_issuer: sim.as_ref().map(SimHandle::issuer),
        sim_base: sim.as_ref().map(SimHandle::base_url),
        base,
    };
    Ok(App {
        router,
        listener,
        urls,
        sim,
        signups,
    })
}

/// Runs the app as the binary does: prints the URLs to stdout, instructions to stderr,
/// serves until Ctrl-C.
///
/// # Errors
/// See [`app`]; also a failure to serve.
pub async fn run(options: Options) -> Result<(), AppError> {
    let app = app(options).await?;
    {
        let mut out = std::io::stdout().lock();
        app.write_urls(&mut out)?;
    }
    eprintln!("{}", app.instructions());
    tokio::select! {
        served = app.serve() => served?,
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: shutting down"),
    }
    Ok(())
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

/// The Vipps client: Vipps itself when `VIPPS_CLIENT_ID` is set, else an in-process
/// simulator (returned too, so that it lives as long as the app).
async fn backend(options: &Options) -> Result<(VippsClient, Option<SimHandle>), AppError> {
    let has_credentials = std::env::var("VIPPS_CLIENT_ID").is_ok_and(|v| !v.trim().is_empty());
    if has_credentials && !options.simulator {
        let config = Config::from_env()?;
        tracing::info!(
            issuer = %config.issuer(),
            client_id = config.client_id(),
            "using Vipps (credentials from VIPPS_* environment variables)"
        );
        return Ok((VippsClient::new(config)?, None));
    }
    let interval = Duration::from_millis(options.sim_interval_ms.max(1));
    let mut sim_config = SimConfig::default()
        .listen(options.sim_listen)
        .interval(interval)
        .slow_down_step(interval)
        .expires_in(secs(options.sim_expires_in_secs, "sim-expires-in-secs")?);
    if let Some(ms) = options.sim_auto_approve_ms {
        sim_config = sim_config.policy(Policy::AutoApprove {
            after: Duration::from_millis(ms),
        });
    }
    let sim = Simulator::start(sim_config).await?;
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
    Ok((VippsClient::new(config)?, Some(sim)))
}

fn rate_limits(options: &Options) -> RateLimits {
    let window = Duration::from_secs(options.rate_limit_window_secs.max(1));
    let mut limits = RateLimits::default();
    if let Some(max) = options.rate_limit_per_number {
        limits = limits.per_number(Window::new(max, window));
    }
    if let Some(max) = options.rate_limit_per_ip {
        limits = limits.per_ip(Window::new(max, window));
    }
    if let Some(s) = options.declined_cool_down_secs {
        limits = limits.declined_cool_down(Duration::from_secs(s));
    }
    if let Some(s) = options.ignored_cool_down_secs {
        limits = limits.ignored_cool_down(Duration::from_secs(s));
    }
    limits
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
    fn options_defaults() {
        use clap::Parser as _;
        let o = Options::try_parse_from(["continue-on-phone"]).unwrap();
        assert_eq!(o.listen.port(), 3001);
        assert_eq!(o.scopes, "openid name phoneNumber");
        assert!(o.sim_auto_approve_ms.is_none());
    }
}
