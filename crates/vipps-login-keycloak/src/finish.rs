//! Reporting a finished login to Keycloak from whichever instance sees it end.
//!
//! What the report needs and the engine does not keep (Keycloak's bearer, the request's
//! id for logs, when the request came and how long Keycloak waits) is stored, sealed,
//! with the login's context; the number is the engine's. Every
//! instance follows the engine's transitions; the first to see a login of Keycloak's end
//! reports it: an approved one is redeemed first (exactly one caller wins), any other end
//! is claimed in the store. So the report survives the death of the instance that took
//! Keycloak's request, and is never sent twice.

use std::sync::{Arc, Weak};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use vipps_login_core::clock::unix_ms;
use vipps_login_core::{Clock, LoginEnd, LoginId};

use crate::callback::{ChannelStatus, deliver};
use crate::channel::{Inner, KeycloakChannel};
use crate::vipps::end_of;

/// How long the claim on a report is kept (longer than Keycloak ever waits).
const CLAIM_TTL: Duration = Duration::from_secs(3600);

/// What any instance needs to report a login's end to Keycloak.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Report {
    bearer: String,
    request: String,
    received_ms: u64,
    expires_ms: u64,
}

/// The wall-clock time of `at` (a monotonic instant) on `clock`, for other instances to
/// read.
fn wall(clock: &dyn Clock, at: Instant) -> u64 {
    let now = Instant::now();
    let wall_now = clock.now();
    let t = if at >= now {
        wall_now + (at - now)
    } else {
        wall_now.checked_sub(now - at).unwrap_or(UNIX_EPOCH)
    };
    unix_ms(t)
}

/// This instance's monotonic instant for the wall-clock time `ms` on `clock`.
fn instant(clock: &dyn Clock, ms: u64) -> Instant {
    let now = Instant::now();
    let here = clock.unix_ms();
    if ms >= here {
        now + Duration::from_millis(ms - here)
    } else {
        now.checked_sub(Duration::from_millis(here - ms))
            .unwrap_or(now)
    }
}

impl Report {
    pub(crate) fn new(
        clock: &dyn Clock,
        bearer: &str,
        request: &str,
        received: Instant,
        expires: Instant,
    ) -> Self {
        Report {
            bearer: bearer.to_owned(),
            request: request.to_owned(),
            received_ms: wall(clock, received),
            expires_ms: wall(clock, expires),
        }
    }

    /// The login context's `extra`: `{"keycloak": {...}}`.
    pub(crate) fn to_extra(&self) -> serde_json::Value {
        serde_json::json!({ "keycloak": self })
    }

    fn from_extra(extra: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(extra.get("keycloak")?.clone()).ok()
    }
}

impl KeycloakChannel {
    /// Follows the engine's transitions on this instance (once per channel), reporting
    /// the end of every Keycloak login, whichever instance started it.
    pub(crate) fn follow_transitions(&self) {
        if self.inner.following.set(()).is_err() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let mut transitions = self.inner.vipps.transitions();
        runtime.spawn(async move {
            loop {
                let transition = match transitions.recv().await {
                    Ok(t) => t,
                    // Missed notifications: the conductors still report their own logins.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                };
                if !matches!(
                    transition.status,
                    "approved" | "denied" | "expired" | "cancelled" | "failed"
                ) {
                    continue;
                }
                let Some(inner) = weak.upgrade() else { return };
                let channel = KeycloakChannel { inner };
                tokio::spawn(async move { channel.finish(&transition.id).await });
            }
        });
    }

    /// Reports the end of login `id` to Keycloak, if it is one of Keycloak's, it has
    /// ended, and nobody reported it yet.
    pub(crate) async fn finish(&self, id: &LoginId) {
        let inner = &self.inner;
        let Ok(view) = inner.vipps.login(id).await else {
            return;
        };
        let owner = view.context.owner();
        let Some(jti) = owner.strip_prefix("keycloak:") else {
            return;
        };
        let Some(report) = Report::from_extra(view.context.extra_value()) else {
            return;
        };
        let Some(end) = end_of(&inner.vipps, id, owner, &view).await else {
            return;
        };
        // An approved login was redeemed above by this caller alone; any other end is
        // claimed in the store, so that exactly one instance reports it.
        if !matches!(end, LoginEnd::Approved(_)) {
            let claim = format!("vlp:keycloak:reported:{jti}");
            match inner
                .vipps
                .store()
                .insert_if_absent(&claim, b"1".to_vec(), CLAIM_TTL)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(request = %report.request, error = %e, "could not claim the report (store unavailable); another instance will send it");
                    return;
                }
            }
        }
        let status = status_for(&report.request, &view.masked_hint, &end);
        self.report(
            &report.bearer,
            &report.request,
            instant(inner.vipps.config().clock().as_ref(), report.received_ms),
            instant(inner.vipps.config().clock().as_ref(), report.expires_ms),
            status,
        )
        .await;
    }

    /// Sends `status` for Keycloak's request `request` (its bearer, when it came and how
    /// long Keycloak waits), with the retries of [`deliver`], and logs how it went.
    pub(crate) async fn report(
        &self,
        bearer: &str,
        request: &str,
        received: Instant,
        expires: Instant,
        status: ChannelStatus,
    ) {
        let inner = &self.inner;
        match deliver(
            &inner.http,
            &inner.callback_url,
            bearer,
            status,
            received,
            expires,
            inner.config.retry,
        )
        .await
        {
            Ok(attempts) => {
                tracing::info!(request = %request, status = status.as_str(), attempts, "result delivered to Keycloak");
            }
            Err(e) => {
                tracing::warn!(request = %request, status = status.as_str(), reason = %e, "result not delivered to Keycloak");
            }
        }
    }
}

/// The Keycloak status for a Vipps login (of Keycloak's request `request_id`, for the
/// masked `number`) that ended as `end`, from the one table ([`ChannelStatus::of`]),
/// logged.
pub(crate) fn status_for(request_id: &str, number: &str, end: &LoginEnd) -> ChannelStatus {
    let status = ChannelStatus::of(end);
    match end {
        LoginEnd::Failed(reason) => {
            tracing::warn!(request = %request_id, number = %number, end = end.as_str(), error = %reason.code(), reason = %reason, status = status.as_str(), "the Vipps login failed");
        }
        _ => {
            tracing::info!(request = %request_id, number = %number, end = end.as_str(), status = status.as_str(), "the Vipps login ended");
        }
    }
    status
}
