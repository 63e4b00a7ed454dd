//! Way 2: the authorization-code provider, for staff consoles and kiosks whose identity
//! platform only speaks authorization code (Keycloak brokering, Hydra, authentik, ...).
//!
//! 1. `GET /authorize` validates the request (exact `redirect_uri`, `state`, `nonce`,
//!    PKCE `S256`, required from every client unless the registry exempts a confidential one) and sends the operator's browser to the
//!    **operator page** with `?authorization={id}`. A bad client or `redirect_uri` is an
//!    error page, never a redirect.
//! 2. The operator page (the tower layer's login and waiting pages, reached through the
//!    layer's replaceable completion step) logs the customer in, then calls
//!    [`Provider::complete_authorization`](crate::Provider::complete_authorization) (or
//!    [`Provider::deny_authorization`](crate::Provider::deny_authorization)) and
//!    redirects the browser to the URL it returns: `redirect_uri?code=...&state=...`.
//! 3. The client redeems the code at `POST /token` (`grant_type=authorization_code`):
//!    single use, short-lived, bound to the client, the redirect URI and the PKCE verifier.

pub(crate) mod authorize;
mod code;
mod complete;
pub(crate) mod grant;
#[cfg(feature = "operator")]
mod operator;
mod request;

#[cfg(feature = "operator")]
pub use self::operator::{OPERATOR_RETURN_PREFIX, OperatorCompletion};
pub use self::request::PendingAuthorization;
