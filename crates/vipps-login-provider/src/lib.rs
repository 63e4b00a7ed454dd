//! Vipps phone-number login for identity servers and OpenID Connect relying parties.
//!
//! Vipps allows merchant-initiated login only where the login does **not** start in the
//! customer's own browser or app: tills, call centers, kiosks, staff consoles. Everything
//! here serves those callers; none of it is a customer's self-service web login.
//!
//! The ways in:
//!
//! * **The SPI**, [`PhoneLogin`]: an identity server written in Rust starts a login from
//!   a phone number, checks on it and redeems the verified result once.
//!   [`VippsPhoneLogin`] implements it over `vipps-login-core`.
//! * **A CIBA OpenID provider** ([`ciba`]): discovery, backchannel authentication, token
//!   (poll mode), JWKS and userinfo as an axum `Router`, with its own signing keys
//!   ([`keys`]), so any CIBA-capable OpenID client logs in with Vipps without knowing it.
//! * **An authorization-code provider** ([`authcode`]) for platforms that only broker
//!   authorization code (PKCE `S256`, single-use codes), its operator step on the tower
//!   layer's pages (the cargo feature `operator`, on by default; without it the crate
//!   builds without `vipps-login-tower`).
//!
//! Keycloak's CIBA HTTP authentication channel, where Keycloak itself is the CIBA
//! provider and Vipps confirms the user, is the crate `vipps-login-keycloak`.
//!
//! [`Provider`] serves the first two as one axum `Router` (discovery, JWKS, userinfo and
//! the token endpoint shared), from a [`ClientRegistry`] (TOML: hashed secrets, grants,
//! scopes, exact redirect URIs, start limits, public or pairwise subjects).
//!
//! Claims are the standard OpenID ones ([`map_claims`], [`OidcScopes`]); relying parties
//! are registered in a TOML [`ClientRegistry`].
//!
//! ```no_run
//! use vipps_login_provider::{
//!     LoginCheck, OidcScopes, PhoneLogin, StartRequest, VippsPhoneLogin, parse_login_hint,
//! };
//! # async fn demo(client: vipps_login_core::VippsClient) -> Result<(), vipps_login_provider::LoginError> {
//! let login = VippsPhoneLogin::new(client);
//! let started = login
//!     .start(StartRequest::new(
//!         "call-center",
//!         parse_login_hint("+4712345678")?,
//!         OidcScopes::parse("openid profile phone")?,
//!     ))
//!     .await?;
//! println!("Ask the customer to confirm {} in the Vipps app", started.binding_message);
//! loop {
//!     match login.check(&started.handle, "call-center").await? {
//!         LoginCheck::Pending => tokio::time::sleep(started.interval).await,
//!         LoginCheck::Approved(_) => {
//!             let who = login.redeem(&started.handle, "call-center").await?;
//!             println!("{} {:?}", who.subject, who.claims.get("name"));
//!             break;
//!         }
//!         other => { println!("not logged in: {other:?}"); break; }
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod authcode;
mod backend;
pub mod ciba;
mod claims;
mod credential;
mod error;
mod hint;
mod kernel;
pub mod keys;
mod metrics;
mod provider;
mod records;
mod registry;
mod spi;
mod subject;

pub use crate::backend::VippsPhoneLogin;
pub use crate::claims::{OidcScopes, PASS_THROUGH_SCOPES, STANDARD_SCOPES, map_claims};
pub use crate::credential::{DEFAULT_ITERATIONS, MAX_ITERATIONS, hash_secret};
pub use crate::error::{LoginError, OAuthError};
pub use crate::hint::parse_login_hint;
pub use crate::kernel::paths;
pub use crate::metrics::{TOKEN_REQUESTS, describe_metrics};
pub use crate::provider::{Provider, ProviderBuilder, ProviderError};
pub use crate::records::Records;
pub use crate::registry::{
    AUTHORIZATION_CODE_GRANT, CIBA_GRANT, Client, ClientRegistry, RegistryError, StartLimit,
    SubjectType,
};
pub use crate::spi::{
    ApprovedLogin, LoginCheck, LoginHandle, PhoneLogin, StartRequest, StartedPhoneLogin,
    parse_binding_message,
};
pub use crate::subject::SubjectMapping;
