//! What way 2 keeps in the provider's records: authorization requests waiting for the
//! operator, and codes waiting for the token endpoint (under their SHA-256).

use std::time::Duration;

use vipps_login_core::token::sha256_b64url;

use crate::ApprovedLogin;

/// The records' kind of authorization requests waiting for the operator.
pub(crate) const AUTHORIZATION: &str = "authz";
/// The records' kind of codes ([`CodeState`]).
pub(crate) const CODE: &str = "code";
/// A code as kept under its digest: issued and waiting, or spent (the record stays, so
/// that a second use finds the token issued from the first and revokes it, RFC 6749
/// §4.1.2). It moves from one to the other by compare-and-swap: one redemption wins.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum CodeState {
    /// Waiting for the token endpoint.
    Issued(Box<CodeRecord>),
    /// Redeemed.
    Spent {
        /// The id of the access token issued from the code.
        access_token: String,
        /// A second use came: the token is revoked, also when it is written after.
        reused: bool,
    },
}

/// How long an authorization request waits for the operator.
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(900);

/// What the token endpoint redeems: one code.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct CodeRecord {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: Option<String>,
    pub(crate) approved: ApprovedLogin,
    pub(crate) expires_at_ms: u64,
}

/// The key a code is kept under: its SHA-256, so that a store dump hands out no codes.
pub(crate) fn code_digest(code: &str) -> String {
    sha256_b64url(code.as_bytes())
}
