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
//! friends ([`Config::from_env`](vipps_login_core::Config::from_env)) it talks to Vipps. With Vipps, `--public-url` must be the
//! https origin the customer's phone can reach, and `{public-url}auth/vipps/callback` must
//! be registered as a redirect URI.
//!
//! The start-up that this app and `counter` share (the common options, simulator or Vipps,
//! the layer's settings from the options, serving) is in the `example-support` crate
//! (`examples/support`); this crate holds what is the sign-up desk's own.
//!
//! The binary is a thin wrapper around [`run`]; tests and other programs use [`app`]:
//!
//! ```no_run
//! use clap::Parser as _;
//!
//! # async fn demo() -> Result<(), continue_on_phone::AppError> {
//! let options = continue_on_phone::Options::parse_from(["continue-on-phone", "--listen", "127.0.0.1:0", "--simulator"]);
//! let app = continue_on_phone::app(options).await?;
//! println!("desk: {}", app.server.urls.app);
//! app.server.serve().await?;
//! # Ok(()) }
//! ```

mod pages;
mod signups;
mod words;

use std::net::SocketAddr;

use example_support::staff::StaffGate;
use example_support::{CommonOptions, SIMULATOR_BANNER, Startup};
use url::Url;
use vipps_login_tower::{FlowChoice, StartContext};

pub use example_support::{AppError, DEMO_CUSTOMER, Server, Urls};
pub use signups::{Acceptance, Handover, Signups};

/// Command-line options (each also settable through the environment variable shown by
/// `--help`). Those both reference apps take are in [`CommonOptions`].
///
/// ```
/// use clap::Parser as _;
///
/// let options = continue_on_phone::Options::parse_from(["continue-on-phone"]);
/// assert_eq!(options.listen.to_string(), "127.0.0.1:3001");
/// assert_eq!(options.scopes, "openid name phoneNumber");
/// ```
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
    /// The options both reference apps take: the simulator, rate limits, cookie secret.
    #[command(flatten)]
    pub common: CommonOptions,
    /// The scopes requested for every login.
    #[arg(long, default_value = "openid name phoneNumber")]
    pub scopes: String,
}

/// The app, bound to its address and ready to serve (`app.server.serve()`).
#[derive(Debug)]
#[non_exhaustive]
pub struct App {
    /// The router (the desk's pages behind the Vipps login layer), the bound listener,
    /// the URLs and, without Vipps credentials, the simulator.
    pub server: Server,
    /// Customers who continued on their phone, and their answers (kept in memory).
    pub signups: Signups,
}

/// The newcomer's instructions (for stderr): with the simulator, what to try and where.
#[must_use]
pub fn instructions(urls: &Urls) -> String {
    let staff = urls
        .staff_password
        .as_deref()
        .map_or_else(String::new, |p| {
            format!("Staff password for this run: {p}   (set STAFF_PASSWORD to choose one)\n")
        });
    match (&urls.phone, &urls.sim_base) {
        (Some(phone), Some(sim_base)) => format!(
            "{SIMULATOR_BANNER}\
             {staff}\
             Try a sign-up (it takes a minute):\n\
             \x20 1. Open the clerk's desk:        {app}\n\
             \x20    and sign in with the staff password.\n\
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

/// Builds the app: binds `options.listen`, starts the simulator (without Vipps
/// credentials, or with `--simulator`), mounts the Vipps login layer in front of the
/// desk's pages. The start-up both reference apps share is in `example-support`.
///
/// # Errors
/// A bad option, a taken port, a simulator or Vipps configuration problem.
pub async fn app(options: Options) -> Result<App, AppError> {
    let mut start = Startup::bind(options.listen, options.public_url, &options.common).await?;
    let signups = Signups::default();
    let app_name = if start.sim.is_some() {
        "Club sign-up desk · simulator"
    } else {
        "Club sign-up desk"
    };
    // The name in every language (the English one above is the layer's default).
    let app_key = if start.sim.is_some() {
        "app_name_sim"
    } else {
        "app_name"
    };

    // Scopes, rate limits and the cookie key come from the options.
    let layer = start
        .layer_builder(app_name, &options.scopes)?
        // The customer's phone lands here after the layer's callback logged it in.
        .continue_url("/welcome")
        // Always, also without --public-url: the phone's browser returns to this origin.
        .public_base_url(start.base.clone())
        // Every login started at this desk continues in the customer's phone browser:
        // the clerk's own browser is never logged in as the customer.
        .flow_chooser(|ctx: StartContext| async move {
            tracing::info!(phone = %ctx.msisdn.masked(), "the customer continues on their phone");
            FlowChoice::ContinueInBrowser
        })
        .on_login(signups.clone());
    let layer = words::add_to_layer(layer, app_key)
        .templates(pages::layer_templates(start.sim.as_ref())?)
        .build()?;
    // The desk (its pages and the layer's, which send pushes) is for staff; the customer's
    // callback, welcome page and logout, and static files stay public.
    let gate = start
        .staff_gate(&layer, true)?
        .ok_or_else(|| AppError::Config("the sign-up desk needs a staff password".to_owned()))?
        .public_path("/welcome")
        .public_path(format!("{}/logout", layer.prefix()))
        .public_prefix("/static/");
    let router = pages::router(
        pages::Pages::new(
            signups.clone(),
            app_key,
            start.sim.as_ref(),
            options.common.language,
        )?,
        &layer,
    )
    .layer(layer)
    .layer(axum::middleware::from_fn_with_state(
        gate,
        StaffGate::require,
    ));

    Ok(App {
        server: start.into_server(router)?,
        signups,
    })
}

/// Runs the app as the binary does: [`app`], then [`Server::run`] with the
/// [`instructions`].
///
/// # Errors
/// See [`app`]; also a failure to serve.
pub async fn run(options: Options) -> Result<(), AppError> {
    app(options).await?.server.run(instructions).await
}
