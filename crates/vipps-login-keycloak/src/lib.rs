//! Keycloak's CIBA **HTTP authentication channel**, served by us: Keycloak (26.x) keeps
//! its own CIBA endpoints, clients and tokens, and hands the user's authentication to
//! this channel, which runs it as a Vipps merchant-initiated login.
//!
//! The contract (Keycloak's `HttpAuthenticationChannelProvider` and
//! `BackchannelAuthenticationCallbackEndpoint`):
//!
//! 1. Keycloak `POST`s JSON (`login_hint` = the Keycloak **username**, `scope`,
//!    `binding_message`, `is_consent_required`, `acr_values`) with `Authorization: Bearer
//!    <JWT>`, signed by the realm key, `iss` and `aud` the realm issuer, `sub` the user id,
//!    `azp` the client, `jti`, `exp`. The channel verifies the token against the realm's
//!    JWKS (cached, refetched on an unknown `kid`, rate-limited), refuses a replayed `jti`,
//!    and answers `201` at once (anything else fails the client's request at Keycloak).
//! 2. In the background it resolves the user's phone number
//!    ([`PhoneResolver`](crate::PhoneResolver)) and runs the Vipps login. A
//!    binding message Vipps would refuse (`^[A-Z0-9\-]{5,8}$`) or a user without a usable
//!    number end the login at once, with a log line, and no push.
//! 3. It `POST`s `{"status": "SUCCEED" | "UNAUTHORIZED" | "CANCELLED"}` with the same
//!    bearer to `{issuer}/protocol/openid-connect/ext/ciba/auth/callback`, retrying
//!    transient failures and never again after a success. `SUCCEED` is sent only for an
//!    approval of the engine, which asks Vipps for the number and checks that the
//!    verified one is the one resolved for the user. Declined, ineligible or not the same
//!    person: `UNAUTHORIZED`; expired, cancelled, failed: `CANCELLED` (one table, from the
//!    engine's `LoginEnd`). Either way the client's next poll at Keycloak gets
//!    `access_denied`.
//!
//! ```no_run
//! use vipps_login_core::{Config, VippsClient};
//! use vipps_login_keycloak::{KeycloakChannel, KeycloakChannelConfig, PhoneResolver};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let vipps = VippsClient::new(Config::from_env()?)?;
//! let channel = KeycloakChannel::new(
//!     KeycloakChannelConfig::new("https://id.example.com/realms/staff")?
//!         .resolver(PhoneResolver::Username),
//!     vipps,
//! )?;
//! // Keycloak: --spi-ciba-auth-channel--ciba-http-auth-channel--http-authentication-channel-uri=https://bridge.example.com/keycloak/channel
//! let app = axum::Router::new().nest("/keycloak/channel", channel.router());
//! # let _ = app; Ok(()) }
//! ```
//!
#![doc = include_str!("register.md")]

mod bearer;
mod callback;
mod channel;
mod config;
mod finish;
mod http;
pub mod metrics;
mod request;
mod resolver;
mod vipps;

pub use bearer::{BearerClaims, BearerError};
pub use callback::ChannelStatus;
pub use channel::KeycloakChannel;
pub use config::{ChannelConfigError, KeycloakChannelConfig};
pub use resolver::{AttributeLookup, PhoneResolver, ResolveError};
