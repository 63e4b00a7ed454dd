//! What the provider counts (through the `metrics` facade; a no-op until the application
//! installs a recorder): its token requests by grant and outcome. Label values come from
//! closed sets: the grants this provider knows (anything else is `other`) and the OAuth
//! error codes it answers with, which are constants in this crate.

/// Counter: token requests, by `grant` (`ciba`, `authorization_code`, `other`) and
/// `outcome` (`issued`, or the OAuth `error` code answered, e.g. `authorization_pending`).
pub const TOKEN_REQUESTS: &str = "vipps_login_provider_token_requests_total";

/// Registers the descriptions of the provider's metrics with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        TOKEN_REQUESTS,
        "Token requests to the provider, by grant and outcome."
    );
}

/// The `grant` label of a client-supplied `grant_type`.
pub(crate) fn grant_label(grant_type: Option<&str>) -> &'static str {
    match grant_type {
        Some(crate::registry::CIBA_GRANT) => "ciba",
        Some(crate::registry::AUTHORIZATION_CODE_GRANT) => "authorization_code",
        _ => "other",
    }
}

/// Records one token request.
pub(crate) fn token_request(grant: &'static str, outcome: &'static str) {
    metrics::counter!(TOKEN_REQUESTS, "grant" => grant, "outcome" => outcome).increment(1);
}
