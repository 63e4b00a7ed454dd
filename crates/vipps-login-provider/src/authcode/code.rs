//! What way 2 keeps in the provider's records: authorization requests waiting for the
//! operator, and codes waiting for the token endpoint (under their SHA-256).

use std::time::Duration;

use vipps_login_core::token::sha256_b64url;

use crate::ApprovedLogin;

/// The records' kind of authorization requests waiting for the operator.
pub(crate) const AUTHORIZATION: &str = "authz";
/// The records' kind of issued codes.
pub(crate) const CODE: &str = "code";
/// The records' kind of redeemed codes: the access token issued from each, revoked
/// should the code come back (RFC 6749 §4.1.2).
pub(crate) const SPENT_CODE: &str = "spent";

/// What a redeemed code leaves behind, as long as the token issued from it lives.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct SpentCode {
    /// The id of the access token issued from the code.
    pub(crate) access_token: String,
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
