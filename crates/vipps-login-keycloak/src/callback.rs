//! Telling Keycloak how the login ended: `POST {issuer}/protocol/openid-connect/ext/ciba/auth/callback`
//! with the channel request's bearer and `{"status": ...}`.

use std::time::Duration;

use tokio::time::Instant;
use url::Url;
use vipps_login_core::{FailureReason, LoginEnd, TokenError};

use crate::http::short;

/// The result reported to Keycloak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelStatus {
    /// The customer confirmed in the app and the verified number is the user's.
    Succeed,
    /// The customer declined, cannot use Vipps, or is not who Keycloak named.
    Unauthorized,
    /// The login expired, was cancelled, or could not be run.
    Cancelled,
}

impl ChannelStatus {
    /// The status Keycloak hears for a Vipps login that ended as `end`: the channel's
    /// one table. Only an approval (ID token, userinfo and the user's number verified by
    /// the engine) succeeds; a refusal by or for the person is `UNAUTHORIZED`; a login
    /// that could not finish is `CANCELLED`.
    pub(crate) fn of(end: &LoginEnd) -> ChannelStatus {
        match end {
            LoginEnd::Approved(_) => ChannelStatus::Succeed,
            // Declined, cannot use Vipps, or not the person Keycloak named (Vipps
            // verified another number than the user's).
            LoginEnd::Declined
            | LoginEnd::CannotUseVipps(_)
            | LoginEnd::Failed(FailureReason::TokenVerification(TokenError::PhoneNumber)) => {
                ChannelStatus::Unauthorized
            }
            // Expired (or Keycloak's deadline came first), cancelled, failed; a result
            // handed out elsewhere is nothing this caller may report as a success.
            LoginEnd::Expired | LoginEnd::Cancelled | LoginEnd::Failed(_) | LoginEnd::Redeemed => {
                ChannelStatus::Cancelled
            }
            _ => ChannelStatus::Cancelled,
        }
    }

    /// The wire value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelStatus::Succeed => "SUCCEED",
            ChannelStatus::Unauthorized => "UNAUTHORIZED",
            ChannelStatus::Cancelled => "CANCELLED",
        }
    }
}

/// Why a result could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CallbackError {
    /// Keycloak refused it for good (403: no longer pending, 400, 401, ...).
    #[error("Keycloak refused the result with HTTP {0}")]
    Refused(u16),
    /// Transient failures until the bearer's lifetime (or the attempt budget) ran out.
    #[error("Keycloak could not be reached in time ({0})")]
    GaveUp(String),
}

/// Retry policy of the callback.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    /// First pause between attempts; doubled each time up to `max_backoff`.
    pub(crate) first_backoff: Duration,
    /// Longest pause.
    pub(crate) max_backoff: Duration,
    /// Most attempts.
    pub(crate) max_attempts: u32,
    /// For this long after the channel request, a 403 is retried: Keycloak stores the
    /// request only after our 201, so a very early result may arrive before it.
    pub(crate) store_grace: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_attempts: 12,
            store_grace: Duration::from_secs(10),
        }
    }
}

/// Delivers `status` once. A 2xx ends it (never sent again); 5xx, 429, 404 and transport
/// failures are retried with backoff until `deadline`; a 403 only within
/// `retry.store_grace` of `received`.
pub(crate) async fn deliver(
    http: &reqwest::Client,
    url: &Url,
    bearer: &str,
    status: ChannelStatus,
    received: Instant,
    deadline: Instant,
    retry: Retry,
) -> Result<u32, CallbackError> {
    let body = serde_json::json!({ "status": status.as_str() });
    let mut backoff = retry.first_backoff;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let outcome = http
            .post(url.clone())
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await;
        let why = match outcome {
            Ok(resp) if resp.status().is_success() => {
                crate::metrics::callback(status.as_str(), "delivered");
                return Ok(attempt);
            }
            Ok(resp) => {
                let code = resp.status().as_u16();
                let transient = matches!(code, 404 | 408 | 429 | 500..=599)
                    || (code == 403 && received.elapsed() < retry.store_grace);
                if !transient {
                    crate::metrics::callback(status.as_str(), "refused");
                    return Err(CallbackError::Refused(code));
                }
                format!("HTTP {code}")
            }
            Err(e) => short(&e).to_owned(),
        };
        let next = Instant::now() + backoff;
        if attempt >= retry.max_attempts || next >= deadline {
            crate::metrics::callback(status.as_str(), "gave_up");
            return Err(CallbackError::GaveUp(why));
        }
        tracing::debug!(attempt, reason = %why, "Keycloak callback failed, retrying");
        tokio::time::sleep_until(next).await;
        backoff = (backoff * 2).min(retry.max_backoff);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use vipps_login_core::{Error, Identity, UserInfo};

    use super::*;

    fn approved() -> LoginEnd {
        let userinfo: UserInfo = serde_json::from_value(serde_json::json!({"sub": "s"})).unwrap();
        LoginEnd::Approved(Arc::new(Identity::new(
            "s".into(),
            serde_json::Map::new(),
            userinfo,
        )))
    }

    #[test]
    fn endings_map_to_keycloak_statuses() {
        assert_eq!(ChannelStatus::of(&approved()), ChannelStatus::Succeed);
        for (error, status) in [
            (Error::Declined, ChannelStatus::Unauthorized),
            (Error::InvalidUser, ChannelStatus::Unauthorized),
            (Error::OldApp, ChannelStatus::Unauthorized),
            // The engine's started-number check: Vipps verified another number than the
            // user's, so this is not the person Keycloak named.
            (
                Error::TokenVerification(TokenError::PhoneNumber),
                ChannelStatus::Unauthorized,
            ),
            (Error::Expired, ChannelStatus::Cancelled),
            (Error::Cancelled, ChannelStatus::Cancelled),
            (Error::AlreadyCompleted, ChannelStatus::Cancelled),
            (Error::InvalidClient, ChannelStatus::Cancelled),
            (
                Error::TokenVerification(TokenError::Nonce),
                ChannelStatus::Cancelled,
            ),
        ] {
            assert_eq!(
                ChannelStatus::of(&LoginEnd::from_error(&error)),
                status,
                "{error:?}"
            );
        }
    }
}
