//! Vipps phone-number login for axum and hyper services, as one tower layer.
//!
//! `vipps-login-tower` gives a staff or kiosk app the whole merchant-initiated Vipps login
//! (OpenID CIBA): a login page where the number is typed, a waiting page showing the
//! confirmation code in large type with live status, clear result pages, a JSON API for
//! single-page apps and tills, the continue-in-browser callback, sessions, logout, and an
//! extractor for the identified customer. Protocol work is done by
//! [`vipps_login_core`].
//!
//! **Where you may use it.** Vipps allows merchant-initiated login only where the login
//! does *not* start in the customer's own browser or app: the staff screen of a till or a
//! customer-club desk, a call-center console, a kiosk. Do not use it as the login of your
//! customers' own web shop or app (use ordinary Vipps Login there). The person typing the
//! number is staff or a kiosk; with the continue-in-browser flow the customer is then
//! handed over to their own phone's browser.
//!
//! # axum in five lines
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use vipps_login_core::{Config, VippsClient};
//! use vipps_login_tower::{RequireVippsLogin, VippsLoginLayer, VippsUser};
//!
//! async fn member(user: VippsUser) -> String {
//!     format!("Hello {}", user.userinfo().name.as_deref().unwrap_or(user.sub()))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = VippsClient::new(Config::from_env()?)?;
//! let vipps = VippsLoginLayer::builder(client)
//!     .cookie_secret(std::env::var("COOKIE_SECRET")?.as_bytes())
//!     .build()?;
//! let app = Router::new()
//!     .route("/", get(member))
//!     .route_layer(RequireVippsLogin::layer()) // browsers go to /auth/vipps/login
//!     .layer(vipps); // serves /auth/vipps/*, sets VippsUser everywhere else
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! `Option<VippsUser>` accepts anonymous requests. `into_make_service_with_connect_info`
//! gives the per-IP rate limit the client address (see [`ClientIp`]).
//!
//! # plain hyper in five lines
//!
//! ```no_run
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use hyper_util::{rt::TokioIo, service::TowerToHyperService};
//! use vipps_login_core::{Config, VippsClient};
//! use vipps_login_tower::{VippsLoginLayer, VippsUser};
//!
//! async fn app(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     let text = match VippsUser::from_request_extensions(req.extensions()) {
//!         Ok(user) => format!("Hello {}", user.account_id()),
//!         Err(_) => "Log in at /auth/vipps/login".to_owned(),
//!     };
//!     Ok(Response::new(Full::new(Bytes::from(text))))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let vipps = VippsLoginLayer::builder(VippsClient::new(Config::from_env()?)?).build()?;
//! let service = tower::ServiceBuilder::new().layer(vipps).service_fn(app);
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//! loop {
//!     let (stream, _) = listener.accept().await?;
//!     let service = TowerToHyperService::new(service.clone());
//!     tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
//! }
//! # }
//! ```
//!
//! # What the layer serves
//!
//! Under the prefix (default `/auth/vipps`): `GET login`, `POST start`, `GET wait/{id}`,
//! `GET events/{id}` (server-sent events), `POST cancel/{id}`, `GET callback`,
//! `GET|POST logout`, the JSON API `POST api/start`, `GET api/status/{id}`,
//! `POST api/cancel/{id}`, `GET api/me`, `POST api/logout`, optionally `POST webhook` and
//! `POST api/user-exists` (Vipps' user-exists pre-check, for staff screens only),
//! and `static/style.css`, `static/vipps-login.js`, `static/favicon.svg`. Every other
//! request goes to your service.
//!
//! The pages and JSON messages speak Norwegian bokmål, Danish, Finnish or English, as the
//! request's `Accept-Language` asks ([`default_language`](VippsLoginLayerBuilder::default_language)
//! otherwise); [`text`](VippsLoginLayerBuilder::text) replaces any text in any language. The [`manual`] lists routes, element ids, template variables and the security
//! choices in detail.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod csrf;
mod guard;
mod hooks;
mod i18n;
mod layer;
mod memo;
mod passthrough;
mod response;
mod return_to;
mod routes;
mod session;
mod shared;
mod staff_member;
mod streams;
mod templates;
mod user;

pub mod manual {
    #![doc = include_str!("docs/manual.md")]
}

pub use crate::staff_member::StaffMember;
pub use builder::{BuildError, VippsLoginLayerBuilder};
pub use guard::{RequireVippsLogin, RequireVippsLoginLayer};
pub use hooks::{
    CompletedLogin, Completion, CompletionStep, FlowChoice, FlowChooser, HookError, LoginHook,
    RequestedFlow, StartContext,
};
pub use i18n::{default_text, text_keys};
pub use layer::{PassThrough, ResponseFuture, VippsLogin, VippsLoginLayer};
pub use return_to::safe_return_to;
pub use session::SecureCookies;
pub use shared::ClientIp;
pub use templates::{PAGE_TEMPLATES, default_template_source, default_templates};
pub use user::{VippsUser, VippsUserRejection};
/// The languages of the pages (re-exported for the builder).
pub use vipps_login_core::Language;
/// The abuse limits, applied by the core engine (re-exported for the builder).
pub use vipps_login_core::{RateLimits, Window};
