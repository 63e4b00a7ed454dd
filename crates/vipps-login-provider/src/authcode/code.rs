//! What way 2 keeps: authorization requests waiting for the operator are carried by the
//! browser, sealed (nothing is stored for them until the operator acts: then their
//! SHA-256 is marked used), and codes wait for the token endpoint in the provider's
//! records (under their SHA-256).

use std::time::Duration;

use vipps_login_core::token::sha256_b64url;

use crate::ApprovedLogin;

/// The sealing purpose of authorization requests carried to the operator page.
pub(crate) const AUTHORIZATION: &str = "vlp:authz-request";
/// The records' kind of the marks of authorization requests already completed or denied.
pub(crate) const AUTHORIZATION_USED: &str = "authz-used";
/// The longest sealed authorization request (its id): it travels in the operator page's
/// `return_to`, which the tower layer keeps under 2 KiB.
pub(crate) const MAX_REQUEST_ID: usize = 1800;
/// The records' kind of issued codes.
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
