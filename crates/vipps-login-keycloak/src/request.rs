//! A channel request from Keycloak: the bearer verified, the body read, `201` at once;
//! then, in the background, the user's number resolved and the Vipps login run (or ended
//! at once without a push), and its end reported.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use tokio::time::Instant;
use vipps_login_core::{BindingMessage, LoginId, RequestedExpiry};

use crate::bearer::{BearerClaims, BearerError};
use crate::callback::ChannelStatus;
use crate::channel::KeycloakChannel;
use crate::finish::{Report, status_for};
use crate::resolver::{ResolveContext, ResolveError};
use crate::vipps;

/// Largest channel request body read.
const MAX_BODY: usize = 16 * 1024;
/// Longest a login is followed, whatever the bearer's `exp` says: Vipps' longest expiry
/// (900 s) and a little.
const MAX_FOLLOW: Duration = Duration::from_secs(905);

/// What became of a channel request before any Vipps login ended.
enum Decided {
    /// Ended at once (no push was sent, or Vipps refused the start): report this.
    Now(ChannelStatus),
    /// A login was started; its end is reported by [`KeycloakChannel::finish`].
    Started(LoginId),
}

/// The JSON body of a channel request. Unknown fields are tolerated.
#[derive(Debug, Deserialize)]
struct ChannelRequest {
    #[serde(default)]
    login_hint: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    binding_message: Option<String>,
}

impl KeycloakChannel {
    /// The router: `POST /` is the channel. Nest it where Keycloak's
    /// `http-authentication-channel-uri` points. Called inside a tokio runtime, it also
    /// starts following the logins' ends on this instance, so that it reports to Keycloak
    /// the logins other instances started, should they die.
    pub fn router(&self) -> Router {
        self.follow_transitions();
        Router::new()
            .route("/", post(channel_request))
            .with_state(self.clone())
    }
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": code, "error_description": description})),
    )
        .into_response()
}

fn bearer_of(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A username for logs: usernames here are often phone numbers.
fn masked(text: &str) -> String {
    let n = text.chars().count();
    if n <= 4 {
        return "*".repeat(n);
    }
    text.chars()
        .enumerate()
        .map(|(i, c)| if i < 2 || i >= n - 2 { c } else { '*' })
        .collect()
}

async fn channel_request(
    State(channel): State<KeycloakChannel>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let res = answer_request(channel, headers, body).await;
    crate::metrics::request(res.status());
    res
}

/// The channel's answer to one authentication request (201: the login runs).
async fn answer_request(channel: KeycloakChannel, headers: HeaderMap, body: Bytes) -> Response {
    let received = Instant::now();
    let Some(token) = bearer_of(&headers) else {
        tracing::warn!("Keycloak channel request refused: no bearer token; no push sent");
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "a bearer token is required",
        );
    };
    let claims = match channel.inner.verifier.verify(token).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(reason = %e, "Keycloak channel request refused; no push sent");
            let status = if matches!(e, BearerError::Jwks(_) | BearerError::Store(_)) {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::UNAUTHORIZED
            };
            return error(status, "invalid_token", &e.to_string());
        }
    };
    if body.len() > MAX_BODY {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the body is too large",
        );
    }
    let request: ChannelRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(request = %claims.log_id(), "Keycloak channel request refused: the body is not the channel's JSON; no push sent");
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body is not a channel request",
            );
        }
    };
    let Some(username) = request.login_hint.clone().filter(|h| !h.is_empty()) else {
        tracing::warn!(request = %claims.log_id(), "Keycloak channel request refused: no login_hint; no push sent");
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "login_hint is required",
        );
    };
    tracing::info!(request = %claims.log_id(), user = %masked(&username), client = claims.azp.as_deref().unwrap_or("-"), "Keycloak channel request accepted");
    let token = token.to_owned();
    channel.follow_transitions();
    tokio::spawn(async move {
        channel
            .conduct(claims, token, username, request, received)
            .await;
    });
    StatusCode::CREATED.into_response()
}

impl KeycloakChannel {
    /// Runs one login to its end and reports it to Keycloak.
    async fn conduct(
        &self,
        claims: BearerClaims,
        bearer: String,
        username: String,
        request: ChannelRequest,
        received: Instant,
    ) {
        let inner = &self.inner;
        let expires = received
            + claims
                .remaining_on(inner.vipps.config().clock().as_ref())
                .min(MAX_FOLLOW);
        let deadline = expires
            .checked_sub(inner.config.deadline_margin)
            .unwrap_or(received);
        let status = match self
            .decide(
                &claims, &bearer, &username, &request, received, expires, deadline,
            )
            .await
        {
            Decided::Now(status) => status,
            Decided::Started(id) => {
                // Every instance reports a login's end (see `finish`); this one waits for it
                // too, so that it cancels at Keycloak's deadline and reports even when no
                // notification reaches it.
                vipps::wait_until(&inner.vipps, &id, deadline).await;
                self.finish(&id).await;
                return;
            }
        };
        self.report(&bearer, &claims.log_id(), received, expires, status)
            .await;
    }

    #[allow(clippy::too_many_arguments)]
    async fn decide(
        &self,
        claims: &BearerClaims,
        bearer: &str,
        username: &str,
        request: &ChannelRequest,
        received: Instant,
        expires: Instant,
        deadline: Instant,
    ) -> Decided {
        let inner = &self.inner;
        let request_id = &claims.log_id();
        // A client not allowed still got `201` (Keycloak fails its client's request with
        // `503` on anything else); it hears `UNAUTHORIZED`, its client `access_denied`.
        if let Some(allowed) = &inner.config.clients
            && !claims.azp.as_ref().is_some_and(|azp| allowed.contains(azp))
        {
            tracing::warn!(request = %request_id, client = claims.azp.as_deref().unwrap_or("-"), "Keycloak client not allowed to start Vipps logins (see --keycloak-client): login ended as UNAUTHORIZED, no push sent");
            return Decided::Now(ChannelStatus::Unauthorized);
        }
        // Vipps keeps a push on the phone for at least its shortest expiry, and a push
        // cannot be taken back: one Keycloak stops waiting for first would stay there.
        let waits = deadline.saturating_duration_since(Instant::now());
        if waits < RequestedExpiry::MIN.as_duration() {
            tracing::warn!(request = %request_id, waits_s = waits.as_secs(), "Keycloak waits less than Vipps' shortest login ({} s) and the channel's margin: login ended, no push sent; raise the realm's CIBA 'Expires In' to at least {} s", RequestedExpiry::MIN.as_secs(), RequestedExpiry::MIN.as_secs() + inner.config.deadline_margin.as_secs() + 2);
            return Decided::Now(ChannelStatus::Cancelled);
        }
        let binding = match request.binding_message.as_deref() {
            None | Some("") => None,
            Some(b) => match BindingMessage::parse(b) {
                Ok(b) => Some(b),
                Err(e) => {
                    tracing::warn!(request = %request_id, reason = %e, "binding message Vipps would refuse (5-8 of A-Z, 0-9, '-'): login ended, no push sent");
                    return Decided::Now(ChannelStatus::Cancelled);
                }
            },
        };
        let cx = ResolveContext {
            issuer: &inner.config.issuer,
            http: &inner.http,
        };
        let msisdn = match inner
            .config
            .resolver
            .resolve(&cx, username, &claims.sub)
            .await
        {
            Ok(m) => m,
            Err(e @ ResolveError::Admin(_)) => {
                tracing::warn!(request = %request_id, user = %masked(username), reason = %e, "the user's phone number could not be read: login ended, no push sent");
                return Decided::Now(ChannelStatus::Cancelled);
            }
            Err(e) => {
                tracing::warn!(request = %request_id, user = %masked(username), reason = %e, "no phone number for this Keycloak user: login ended, no push sent");
                return Decided::Now(ChannelStatus::Unauthorized);
            }
        };
        let scopes = vipps::vipps_scopes(request.scope.as_deref(), &inner.config.pass_on);
        // The login belongs to this Keycloak request (its bearer's `jti` is single use).
        let owner = format!("keycloak:{}", claims.jti);
        let clock = inner.vipps.config().clock().as_ref();
        let report = Report::new(clock, bearer, request_id, received, expires);
        match vipps::start(
            &inner.vipps,
            &owner,
            report.to_extra(),
            msisdn.clone(),
            scopes,
            binding,
            deadline,
        )
        .await
        {
            Ok(id) => Decided::Started(id),
            Err(end) => Decided::Now(status_for(request_id, &msisdn.masked(), &end)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn logs_see_masked_usernames() {
        assert_eq!(masked("4712345678"), "47******78");
        assert_eq!(masked("abc"), "***");
    }

    #[test]
    fn bearer_header_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_of(&h), None);
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_of(&h), None);
        h.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer_of(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer_of(&h), None);
    }
}
