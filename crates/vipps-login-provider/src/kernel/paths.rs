//! Paths of the endpoints, relative to the issuer.

/// Discovery.
pub const DISCOVERY: &str = "/.well-known/openid-configuration";
/// JWKS.
pub const JWKS: &str = "/jwks";
/// Token endpoint (both grants).
pub const TOKEN: &str = "/token";
/// Userinfo.
pub const USERINFO: &str = "/userinfo";
/// CIBA backchannel authentication endpoint.
pub const BACKCHANNEL: &str = "/bc-authorize";
/// Authorization endpoint (way 2).
pub const AUTHORIZE: &str = "/authorize";
