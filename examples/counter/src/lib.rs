//! `counter`: a customer-club desk on axum, the reference deployment of Vipps login's
//! *finish in app* variant (variant 1).
//!
//! The clerk types the customer's mobile number on the layer's login page and reads the
//! confirmation code aloud; the customer checks that their Vipps app shows the same code
//! and approves; the clerk's screen (live, over server-sent events) moves on to the
//! member page with the customer's name, phone and address. A login hook keeps the club's
//! member list, so the page says "New member" the first time and "Welcome back" after.
//! Before any push the layer asks Vipps' user-exists: a number without Vipps gets none,
//! and the login form says "this number has no Vipps".
//! "Next customer" logs the desk out and goes straight on to the login form. The pages
//! speak Norwegian bokmål, Danish, Finnish or English, as the browser asks
//! (`--language` for browsers that ask for none of them).
//!
//! Without `VIPPS_CLIENT_ID` in the environment the app starts the Vipps **simulator**
//! in process (and says so loudly); with `VIPPS_CLIENT_ID`, `VIPPS_CLIENT_SECRET` and
//! friends ([`Config::from_env`](vipps_login_core::Config::from_env)) it talks to Vipps.
//!
//! The start-up that this app and `continue-on-phone` share (the common options, simulator
//! or Vipps, the layer's settings from the options, serving) is in the `example-support`
//! crate (`examples/support`); this crate holds what is the desk's own.
//!
//! The binary is a thin wrapper around [`run`]; tests and other programs use [`app`]:
//!
//! ```no_run
//! use clap::Parser as _;
//!
//! # async fn demo() -> Result<(), counter::AppError> {
//! let options = counter::Options::parse_from(["counter", "--listen", "127.0.0.1:0", "--simulator"]);
//! let app = counter::app(options).await?;
//! println!("clerk page: {}", app.server.urls.app);
//! if let Some(phone) = &app.server.urls.phone {
//!     println!("simulated phone: {phone}");
//! }
//! app.server.serve().await?;
//! # Ok(()) }
//! ```

mod members;
mod pages;
mod words;

use std::net::SocketAddr;

use example_support::{CommonOptions, SIMULATOR_BANNER, Startup};
use url::Url;

pub use example_support::{AppError, DEMO_CUSTOMER, Server, Urls};
pub use members::{Member, Members};

/// Command-line options (each also settable through the environment variable shown by
/// `--help`). Those both reference apps take are in [`CommonOptions`].
///
/// ```
/// use clap::Parser as _;
///
/// let options = counter::Options::parse_from(["counter"]);
/// assert_eq!(options.listen.to_string(), "127.0.0.1:3000");
/// assert_eq!(options.scopes, "openid name phoneNumber address");
/// ```
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "counter",
    version,
    about = "A customer-club desk: the clerk logs a customer in with Vipps (finish in app).",
    long_about = "A customer-club desk: the clerk logs a customer in with Vipps (finish in app).\n\n\
                  Without VIPPS_CLIENT_ID it runs against an in-process Vipps simulator; with \
                  VIPPS_CLIENT_ID, VIPPS_CLIENT_SECRET (and optionally VIPPS_ISSUER, \
                  VIPPS_MERCHANT_SERIAL_NUMBER, ...) it talks to Vipps."
)]
#[non_exhaustive]
pub struct Options {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "COUNTER_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// The public URL of this app (default: http://{listen address}/). Must be https
    /// unless it is a loopback address.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<Url>,
    /// The options both reference apps take: the simulator, rate limits, cookie secret.
    #[command(flatten)]
    pub common: CommonOptions,
    /// The scopes requested for every login.
    #[arg(long, default_value = "openid name phoneNumber address")]
    pub scopes: String,
}

/// The app, bound to its address and ready to serve (`app.server.serve()`).
#[derive(Debug)]
#[non_exhaustive]
pub struct App {
    /// The router (the desk's pages behind the Vipps login layer), the bound listener,
    /// the URLs and, without Vipps credentials, the simulator.
    pub server: Server,
    /// The club's member list (kept by the login hook).
    pub members: Members,
}

/// The newcomer's instructions (for stderr): with the simulator, what to try and where.
#[must_use]
pub fn instructions(urls: &Urls) -> String {
    match (&urls.phone, &urls.sim_base) {
        (Some(phone), Some(sim_base)) => format!(
            "{SIMULATOR_BANNER}\
             Try a login (it takes a minute):\n\
             \x20 1. Open the clerk's page:        {app}\n\
             \x20 2. Type the customer's number:   {DEMO_CUSTOMER}  (Kari Nordmann, a demo user)\n\
             \x20    and press \"Send login request\". Note the code on the screen.\n\
             \x20 3. Open the simulated phone:     {phone}\n\
             \x20    Check it shows the same code, tap \"I agree\" and then \"Confirm login\".\n\
             \x20 4. The clerk's page shows the member. \"Next customer\" logs out.\n\
             \n\
             Other demo phones: {sim_base}   (4798765432 is Ola Nordmann)\n\
             Stop with Ctrl-C. For real Vipps set VIPPS_CLIENT_ID and VIPPS_CLIENT_SECRET.\n",
            app = urls.app,
        ),
        _ => format!(
            "\nUsing Vipps. Open the clerk's page: {}\nStop with Ctrl-C.\n",
            urls.app
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
    let members = Members::default();
    let app_name = if start.sim.is_some() {
        "Customer club desk · simulator"
    } else {
        "Customer club desk"
    };
    // The name in every language (the English one above is the layer's default).
    let app_key = if start.sim.is_some() {
        "app_name_sim"
    } else {
        "app_name"
    };

    // Scopes, rate limits, cookie key and public URL come from the options.
    let mut builder = start
        .layer_builder(app_name, &options.scopes)?
        .continue_url("/member")
        .on_login(members.clone())
        // Vipps' user-exists first: a number without Vipps gets no push, and the login
        // form says so (the desk's words below), with or without JavaScript.
        .check_user_exists(true);
    builder = words::desk_words(builder, app_key);
    if let Some(sim) = &start.sim {
        builder = builder.templates(pages::simulator_templates(sim)?);
    }
    let layer = builder.build()?;
    // The whole desk is for staff when a staff password is set (always with Vipps); the
    // simulator demo runs open unless one is given.
    let gate = start.staff_gate(&layer, false)?;
    let mut router = pages::router(
        pages::Pages::new(members.clone(), app_key, options.common.language)?,
        &layer,
    )
    .layer(layer);
    if let Some(gate) = gate {
        router = router.layer(axum::middleware::from_fn_with_state(
            gate.public_prefix("/static/"),
            example_support::staff::StaffGate::require,
        ));
    }

    Ok(App {
        server: start.into_server(router)?,
        members,
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
