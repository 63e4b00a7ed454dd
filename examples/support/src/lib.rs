//! `example-support`: the start-up that the two reference deployments, `counter` and
//! `continue-on-phone` (both in `examples/`), share, so that
//! each of them holds only what is its own: its pages, its login hook, its flow and its
//! instructions.
//!
//! What is here:
//!
//! * [`CommonOptions`]: the command-line options both apps take (`#[command(flatten)]`):
//!   the simulator's timings, the layer's rate limits and cool-downs, the cookie secret.
//! * [`Startup`]: binds the listener, picks the backend — Vipps when `VIPPS_CLIENT_ID` is
//!   set, else an in-process **simulator** (logged loudly) — and hands out a
//!   [`VippsLoginLayerBuilder`](vipps_login_tower::VippsLoginLayerBuilder) already
//!   carrying the settings derived from the options (scopes, rate limits, cookie key,
//!   public URL).
//! * [`Server`]: the router on the bound listener with its [`Urls`]; it writes the
//!   `app:`/`phone:`/`sim:` lines on stdout, serves, and stops on Ctrl-C.
//! * [`main`] for the binaries, the [`SIMULATOR_BANNER`] of the instructions, [`AppError`].
//! * [`ops`]: the management listener (`/metrics`, `/health/*`), the audit log and the
//!   graceful stop on SIGTERM.
//! * [`staff`]: the staff gate in front of a desk (a configured staff password), and
//!   [`throttle`]: its per-source throttle of wrong passwords; [`staff_oidc`]: staff
//!   sign-in through the organisation's own OpenID provider instead.
//! * [`pages`]: small helpers for the apps' own pages and for extending the layer's.
//! * [`testing`]: the start-up test of a binary, which both apps run against their own.
//! * [`words`]: the apps' texts in nb, da, fi and en, and the language of a request.
//!
//! An app's `app()` reads like this:
//!
//! ```no_run
//! # async fn demo(options: example_support::CommonOptions) -> Result<(), example_support::AppError> {
//! use example_support::Startup;
//!
//! let start = Startup::bind(([127, 0, 0, 1], 0).into(), None, &options).await?;
//! let layer = start
//!     .layer_builder("My desk", "openid name phoneNumber")?
//!     .continue_url("/member")
//!     .build()?;
//! let server = start.into_server(axum::Router::new().layer(layer))?;
//! println!("clerk page: {}", server.urls.app);
//! server.serve().await?;
//! # Ok(()) }
//! ```

mod error;
pub mod ops;
mod options;
pub mod pages;
pub mod serve;
pub mod staff;
mod staff_http;
pub mod staff_oidc;
mod startup;
pub mod testing;
pub mod throttle;
pub mod traces;
pub mod words;

pub use error::AppError;
pub use options::{CommonOptions, DEMO_CUSTOMER, Urls};
pub use startup::{SIMULATOR_BANNER, Server, Startup, main};
