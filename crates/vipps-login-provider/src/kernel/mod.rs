//! The kernel both OpenID ways in stand on: the provider's shared state, the endpoint
//! paths, form bodies and client authentication (the `AuthenticatedClient` extractor,
//! rejected with the `OAuthError` to answer; secret checks bounded and throttled),
//! requests carried sealed instead of stored, token issuance with the token endpoint
//! and userinfo, discovery and JWKS. The ways ([`ciba`](crate::ciba),
//! [`authcode`](crate::authcode)) use it and register their grant handlers with the token
//! endpoint; the kernel knows neither of them.

pub(crate) mod caller;
pub(crate) mod client_auth;
pub(crate) mod discovery;
pub(crate) mod form;
pub mod paths;
pub(crate) mod sealed_token;
pub(crate) mod secret_checks;
pub(crate) mod shared;
pub(crate) mod tokens;
