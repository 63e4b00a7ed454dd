//! A typed, secure client for **Vipps merchant-initiated login** (OpenID Connect CIBA):
//! a merchant's till, call-center desk or kiosk identifies a customer from their phone
//! number, and the customer confirms in the Vipps/MobilePay app.
//!
//! What it does for you:
//!
//! - **Typed input** checked before anything is sent: [`Msisdn`] (`+47 123 45 678`,
//!   `0047…`, Danish and Finnish numbers), [`BindingMessage`] (validated, with a generator
//!   of readable codes), [`Scopes`], [`LoginHint`] (one parser of every `login_hint`
//!   form), [`RequestedExpiry`], [`HttpsOrLoopbackUrl`].
//! - **One vocabulary** for the crates built on this one: [`clock`] (the injectable
//!   [`Clock`] and Unix-time conversions), [`token`] (random tokens, SHA-256 in base64url,
//!   [`Nonce`]), [`i18n::Catalog`] (texts by language), [`SentenceParts`] (a sentence cut
//!   around its wait), and `store::contract` (with `test-util`: the store contract as a
//!   test suite every store runs).
//! - **Both variants**: the login finishes in the app ([`Flow::FinishInApp`], followed by
//!   one shared background poller honouring `interval`, `slow_down`, `Retry-After` and
//!   expiry, woken early by signed webhook pings), or continues in the phone's browser
//!   ([`Flow::ContinueInBrowser`], completed by [`VippsClient::complete_browser`] with
//!   the `state` and `code` the phone's browser brings back, or by
//!   [`VippsClient::complete_browser_code`] when Vipps returns no `state`; never polled,
//!   as Vipps answers that variant's token endpoint once).
//! - **One login engine** shared by every front end and every instance: each login is
//!   one record in a [`Store`] with the states of [`login::state`], moved only by
//!   conditional writes; a result is [redeemed](VippsClient::redeem) exactly once on
//!   whichever instance asks; polling survives the death of an instance (another takes
//!   its logins over); abuse limits ([`RateLimits`]) are counted in the store.
//! - **Verification**: ID tokens are checked against the issuer's JWKS (RS256/ES256 only,
//!   `iss`, `aud`, `exp`/`iat`, `nonce` when present, `auth_req_id`); userinfo comes typed
//!   ([`UserInfo`]) and must belong to the same `sub`; the verified number must be the one
//!   the login was started for. Where Vipps' documents leave a behaviour open, the
//!   [`protocol`] notes say what happens in every reading.
//! - **Operations**: discovery and JWKS cached for as long as Vipps allows, one [`Error`]
//!   type whose messages a cashier can act on (in Norwegian, Danish, Finnish or English:
//!   [`Error::sentence`], [`Language`]), secrets and phone numbers kept out of logs,
//!   login state in a pluggable [`Store`] ([`MemoryStore`] by default, Redis through
//!   `vipps-login-redis` for several instances).
//!
//! ```no_run
//! use std::time::Duration;
//! use vipps_login_core::{
//!     BindingMessage, Config, Issuer, LoginHint, LoginRequest, Secret, VippsClient,
//! };
//!
//! # async fn run() -> Result<(), vipps_login_core::Error> {
//! let config = Config::builder(Issuer::Test, "my-client-id", Secret::new("my-client-secret"))
//!     .build()?; // or Config::from_env()?
//! let client = VippsClient::new(config)?;
//!
//! let code = BindingMessage::generate();
//! let started = client
//!     .start(
//!         LoginRequest::new(LoginHint::Msisdn("+47 123 45 678".parse()?))
//!             .scopes("openid name phoneNumber".parse()?)
//!             .binding_message(code.clone())
//!             .requested_expiry(Duration::from_secs(300)),
//!     )
//!     .await?;
//! println!("Confirm {code} in the Vipps app");
//!
//! match client.wait(&started.id).await {
//!     Ok(identity) => println!("Welcome, {}", identity.userinfo.name.as_deref().unwrap_or("?")),
//!     Err(e) => println!("{e}"), // e.g. "The customer declined the login in the Vipps app."
//! }
//! # Ok(()) }
//! ```
//!
//! Against the simulator (`vipps-login-sim`), use `Issuer::Custom(sim.issuer())`; plain
//! `http://` issuers are accepted only on loopback.

pub mod audit;
mod client;
pub mod clock;

/// What Vipps documents, what it leaves open, and what this crate does in each case.
pub mod protocol {
    #![doc = include_str!("docs/protocol.md")]
}
mod config;
mod error;
mod expiry;
pub mod health;
mod hint;
mod http;
mod https_url;
pub mod i18n;
mod key_set_cache;
pub mod login;
mod metadata;
pub mod metrics;
mod msisdn;
mod secret;
pub mod store;
pub mod token;
pub mod trace;
mod types;
mod upstream;
mod userinfo;
mod verify;
mod webhook;
mod wire;

pub use crate::client::VippsClient;
pub use crate::clock::{Clock, SystemClock};
pub use crate::config::{ClientAuth, Config, ConfigBuilder, Issuer};
pub use crate::error::{
    CoolDownReason, Error, SentenceParts, TokenError, TransportError, Wait, WaitFormat,
};
pub use crate::expiry::{ExpiryOutOfRange, RequestedExpiry};
pub use crate::hint::{HintProblem, LoginHint};
pub use crate::https_url::{HttpsOrLoopbackUrl, InsecureUrl, is_loopback};
pub use crate::i18n::Language;
pub use crate::key_set_cache::{Fetched, KeySetCache};
pub use crate::login::policy::{RateLimits, Window};
pub use crate::login::sealed::Sealer;
pub use crate::login::state::{IllegalTransition, LoginStatus};
pub use crate::login::{
    FailureReason, FlowKind, LoginContext, LoginEnd, LoginKind, LoginView, Redeemed, Transition,
};
pub use crate::metrics::PollerStats;
pub use crate::msisdn::{Msisdn, PhoneProblem};
pub use crate::secret::Secret;
pub use crate::store::admission::{Admission, Admitted};
pub use crate::store::memory::{DEFAULT_MEMORY_STORE_CAPACITY, MemoryStore};
pub use crate::store::{Notification, Store, StoreError, StoreErrorSource, admit_step_by_step};
pub use crate::token::Nonce;
pub use crate::types::{BindingMessage, Flow, LoginId, LoginRequest, Scope, Scopes, StartedLogin};
pub use crate::userinfo::{Address, Consent, DelegatedConsents, Identity, UserInfo};
pub use crate::verify::{IdTokenVerifier, Jwks, VerifiedIdToken};
#[cfg(feature = "test-util")]
pub use crate::webhook::sign_webhook;
