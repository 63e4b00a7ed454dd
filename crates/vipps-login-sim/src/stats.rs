//! Request counters: the live atomic counters and the [`SimStats`] snapshot of them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::faults::Endpoint;

/// Request counters per endpoint, and a few more.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct SimStats {
    /// Discovery requests.
    pub discovery: u64,
    /// JWKS requests.
    pub jwks: u64,
    /// Backchannel authentication (start) requests.
    pub backchannel: u64,
    /// Token requests (polls and code exchanges).
    pub token: u64,
    /// Userinfo requests.
    pub userinfo: u64,
    /// User-exists requests.
    pub user_exists: u64,
    /// Successful token responses.
    pub tokens_issued: u64,
    /// Token requests with the redirect (code) grant of variant 2.
    pub code_exchanges: u64,
    /// Webhook pings answered with 2xx.
    pub webhooks_sent: u64,
    /// Webhook pings that failed or were refused.
    pub webhooks_failed: u64,
    /// Consent-revoked notifications delivered.
    pub consent_revoked_sent: u64,
    /// Login requests currently pending.
    pub pending: u64,
}

/// The live counters behind [`SimStats`], bumped concurrently.
#[derive(Default)]
pub(crate) struct Counters {
    discovery: AtomicU64,
    jwks: AtomicU64,
    backchannel: AtomicU64,
    token: AtomicU64,
    userinfo: AtomicU64,
    user_exists: AtomicU64,
    pub(crate) webhooks_sent: AtomicU64,
    pub(crate) webhooks_failed: AtomicU64,
    pub(crate) consent_revoked_sent: AtomicU64,
    pub(crate) tokens_issued: AtomicU64,
    pub(crate) code_exchanges: AtomicU64,
}

impl Counters {
    /// Counts one request to `ep`.
    pub(crate) fn hit(&self, ep: Endpoint) {
        let c = match ep {
            Endpoint::Discovery => &self.discovery,
            Endpoint::Jwks => &self.jwks,
            Endpoint::Backchannel => &self.backchannel,
            Endpoint::Token => &self.token,
            Endpoint::Userinfo => &self.userinfo,
            Endpoint::UserExists => &self.user_exists,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now, with `pending` (counted by the caller, not here) filled in.
    pub(crate) fn snapshot(&self, pending: u64) -> SimStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SimStats {
            discovery: g(&self.discovery),
            jwks: g(&self.jwks),
            backchannel: g(&self.backchannel),
            token: g(&self.token),
            userinfo: g(&self.userinfo),
            user_exists: g(&self.user_exists),
            tokens_issued: g(&self.tokens_issued),
            code_exchanges: g(&self.code_exchanges),
            webhooks_sent: g(&self.webhooks_sent),
            webhooks_failed: g(&self.webhooks_failed),
            consent_revoked_sent: g(&self.consent_revoked_sent),
            pending,
        }
    }
}
