//! Client authentication (`client_secret_basic`, `client_secret_post`, and `none` for
//! public clients of the authorization-code grant) as an axum extractor,
//! [`AuthenticatedClient`], whose rejection is the OAuth error answer.
//!
//! A secret check is a PBKDF2 derivation anyone can ask for by sending a secret, so it
//! is kept cheap for the bridge:
//! * it runs on tokio's blocking pool, never on an async worker, so discovery, JWKS and
//!   polls stay fast while secrets are checked;
//! * at most as many run at once as the builder's `max_concurrent_secret_checks` says; a request beyond that is answered
//!   `503 temporarily_unavailable` at once instead of queueing;
//! * failed checks are counted per source address (the peer address of axum's
//!   `ConnectInfo`) in the provider's store, so the count holds across instances: after
//!   [`FREE_FAILURES`] failures in [`FAILURE_WINDOW`], each further failure makes the
//!   source wait twice as long as the one before (2 s, 4 s, ... up to [`MAX_WAIT`])
//!   before it may try a secret again. Only the source is held back: the same client
//!   authenticating from anywhere else is unaffected.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, StatusCode, header};
use vipps_login_core::token::sha256_b64url;

use super::caller::Caller;
use super::form::Form;
use super::shared::Shared;
use crate::OAuthError;
use crate::registry::Client;

/// Failed secret checks a source may make in [`FAILURE_WINDOW`] before it has to wait.
pub(crate) const FREE_FAILURES: u64 = 5;
/// The window failed checks are counted in.
pub(crate) const FAILURE_WINDOW: Duration = Duration::from_secs(900);
/// The longest a source is made to wait after a failure.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(900);

/// The records' kinds of the per-source counts (keys are the SHA-256 of the address).
const FAILURES: &str = "auth-failures";
const WAITING: &str = "auth-wait";

/// An authenticated caller with its form body: what the token and backchannel endpoints
/// take. Rejected with the [`OAuthError`] to answer (`invalid_client`, `invalid_request`,
/// `temporarily_unavailable`).
pub(crate) struct AuthenticatedClient {
    /// Who called.
    pub(crate) caller: Caller,
    /// The request's parameters.
    pub(crate) form: Form,
}

impl FromRequest<Arc<Shared>> for AuthenticatedClient {
    type Rejection = OAuthError;

    async fn from_request(req: Request, s: &Arc<Shared>) -> Result<Self, OAuthError> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, s)
            .await
            .map_err(|_| OAuthError::invalid_request("the request body cannot be read"))?;
        let form = Form::parse(&headers, &body)?;
        let caller = authenticate(s, peer, &headers, &form).await?;
        Ok(AuthenticatedClient { caller, form })
    }
}

/// The `client_id` and secret of `Authorization: Basic`, if sent.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| OAuthError::invalid_client())?;
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Err(OAuthError::invalid_client());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client());
    }
    let decoded = STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(OAuthError::invalid_client)?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(OAuthError::invalid_client)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    match (unescape(id), unescape(secret)) {
        (Some(i), Some(s)) => Ok(Some((i, s))),
        _ => Err(OAuthError::invalid_client()),
    }
}

/// Authenticates the caller by exactly one method. Unknown clients and wrong secrets are
/// the same `invalid_client`.
async fn authenticate(
    s: &Arc<Shared>,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Caller, OAuthError> {
    let basic = basic_credentials(headers)?;
    let post_secret = form.get("client_secret");
    let (client_id, secret) = match (basic, post_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not both",
            ));
        }
        (Some((id, secret)), None) => {
            if form.get("client_id").is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the authenticated client",
                ));
            }
            (id, Some(secret))
        }
        (None, secret) => {
            let id = form
                .get("client_id")
                .ok_or_else(OAuthError::invalid_client)?
                .to_owned();
            (id, secret.map(str::to_owned))
        }
    };
    match secret {
        Some(secret) => check_secret(s, peer, client_id, secret)
            .await
            .map(Caller::Confidential),
        None => match s.registry.client(&client_id) {
            Some(c) if !c.is_confidential() => Ok(Caller::Public(c)),
            _ => Err(OAuthError::invalid_client()),
        },
    }
}

/// The store id of a source's counts: the SHA-256 of its address, never the address.
fn source_id(ip: IpAddr) -> String {
    sha256_b64url(ip.to_string().as_bytes())
}

/// Checks `secret` off the async workers, bounded and throttled per source.
async fn check_secret(
    s: &Arc<Shared>,
    peer: Option<IpAddr>,
    client_id: String,
    secret: String,
) -> Result<Arc<Client>, OAuthError> {
    let source = match peer {
        Some(ip) => Some(source_id(ip)),
        None => {
            if s.secret_checks.first_warning_without_peer() {
                tracing::warn!(
                    "the provider is served without ConnectInfo<SocketAddr> \
                     (into_make_service_with_connect_info): failed client authentications \
                     cannot be throttled per source"
                );
            }
            None
        }
    };
    if let Some(source) = &source {
        let waiting = s
            .records
            .get::<u64>(WAITING, source)
            .await
            .map_err(|_| OAuthError::server("the login store failed"))?;
        if let Some(until_ms) = waiting {
            let left_ms = until_ms.saturating_sub(s.records.now_ms());
            if left_ms > 0 {
                return Err(throttled(left_ms.div_ceil(1000)));
            }
        }
    }
    let Some(permit) = s.secret_checks.try_start() else {
        return Err(OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "temporarily_unavailable",
            description: "too many client authentications at once; try again shortly".into(),
        });
    };
    let shared = Arc::clone(s);
    let id = client_id.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        shared.registry.check(&id, &secret)
    })
    .await
    .map_err(|_| OAuthError::server("the client secret could not be checked"))?;
    if let Some(client) = checked {
        return Ok(client);
    }
    tracing::info!(client_id = %client_id.chars().take(64).collect::<String>(), "client authentication failed");
    if let Some(source) = &source {
        record_failure(s, source).await;
    }
    Err(OAuthError::invalid_client())
}

/// Counts a failure of `source`; past the free ones, makes it wait (doubling each time).
async fn record_failure(s: &Shared, source: &str) {
    let failures = match s.records.increment(FAILURES, source, FAILURE_WINDOW).await {
        Ok(n) => n,
        Err(_) => {
            tracing::warn!("a failed client authentication could not be counted");
            return;
        }
    };
    let Some(wait) = wait_after(failures) else {
        return;
    };
    let until_ms = s
        .records
        .now_ms()
        .saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
    if s.records
        .put(WAITING, source, &until_ms, wait)
        .await
        .is_err()
    {
        tracing::warn!("a source's wait after failed client authentications could not be kept");
    }
}

/// How long a source waits after its `failures`-th failure in the window, if at all:
/// nothing for the first [`FREE_FAILURES`], then 2 s, 4 s, 8 s, ... up to [`MAX_WAIT`].
pub(crate) fn wait_after(failures: u64) -> Option<Duration> {
    let over = failures.checked_sub(FREE_FAILURES).filter(|o| *o > 0)?;
    let secs = 1u64
        .checked_shl(u32::try_from(over).unwrap_or(u32::MAX))
        .unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_WAIT))
}

fn throttled(secs: u64) -> OAuthError {
    OAuthError {
        status: StatusCode::TOO_MANY_REQUESTS,
        error: "invalid_client",
        description: format!(
            "too many failed client authentications from this address; try again in {secs} s"
        )
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_grows_with_each_failure_past_the_free_ones() {
        assert_eq!(wait_after(1), None);
        assert_eq!(wait_after(FREE_FAILURES), None);
        assert_eq!(wait_after(FREE_FAILURES + 1), Some(Duration::from_secs(2)));
        assert_eq!(wait_after(FREE_FAILURES + 2), Some(Duration::from_secs(4)));
        assert_eq!(wait_after(FREE_FAILURES + 60), Some(MAX_WAIT));
        assert_eq!(wait_after(u64::MAX), Some(MAX_WAIT));
    }
}
