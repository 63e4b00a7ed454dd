//! Way 1: the CIBA OpenID provider (poll mode).
//!
//! `POST /bc-authorize` starts a login from a `login_hint` and answers
//! `{"auth_req_id", "expires_in", "interval", "binding_message"}` (the code to show, the
//! client's own or a generated one); the client then polls `POST /token` with
//! `grant_type=urn:openid:params:grant-type:ciba`:
//!
//! | situation | answer |
//! |---|---|
//! | the customer has not answered | `authorization_pending` |
//! | polled sooner than `interval` after the last poll | `slow_down` (and the interval grows by the step) |
//! | `requested_expiry` (or Vipps' expiry) has passed | `expired_token` |
//! | the customer declined (or the login failed) | `access_denied` |
//! | unknown, foreign, or already used `auth_req_id` | `invalid_grant` |
//! | approved | `200` with `access_token`, `id_token` (this provider's keys), `no-store` |
//!
//! The `auth_req_id` is 256 random bits, bound to the client that started it.
//! Mount through [`Provider::router`](crate::Provider::router); `ways(true, false)` serves
//! this way alone.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use vipps_login_core::RequestedExpiry;
use vipps_login_core::clock::duration_ms;

use crate::kernel::caller::Caller;
use crate::kernel::client_auth::AuthenticatedClient;
use crate::kernel::form::Form;
use crate::kernel::shared::{Grant, Shared};
use crate::kernel::tokens::{issue, no_store};
use crate::registry::{CIBA_GRANT, Client};
use crate::{
    LoginCheck, LoginError, LoginHandle, OAuthError, StartRequest, parse_binding_message,
    parse_login_hint,
};

/// The facade's poll state of one `auth_req_id`.
#[derive(Debug, Serialize, Deserialize)]
struct PollState {
    client_id: String,
    interval_ms: u64,
    last_poll_ms: Option<u64>,
    expires_at_ms: u64,
}

/// `POST /bc-authorize`: a confidential client starts a login.
pub(crate) async fn backchannel(
    State(s): State<Arc<Shared>>,
    AuthenticatedClient { caller, form }: AuthenticatedClient,
) -> Result<Response, OAuthError> {
    let Caller::Confidential(client) = caller else {
        return Err(OAuthError::invalid_client());
    };
    let s = &*s;
    let client = &*client;
    if !client.allows_grant(CIBA_GRANT) {
        return Err(OAuthError::bad(
            "unauthorized_client",
            "this client may not use the CIBA grant",
        ));
    }
    if form.get("login_hint_token").is_some() || form.get("id_token_hint").is_some() {
        return Err(OAuthError::invalid_request(
            "only login_hint is supported (a phone number)",
        ));
    }
    if form.get("request").is_some() {
        return Err(OAuthError::invalid_request(
            "signed requests are not supported",
        ));
    }
    let scopes = client.granted_scopes(form.require("scope")?)?;
    let hint = parse_login_hint(form.require("login_hint").map_err(|_| {
        OAuthError::invalid_request("login_hint is missing (a phone number such as +4712345678)")
    })?)
    .map_err(|e| OAuthError::from_start(&e))?;
    let binding = form
        .get("binding_message")
        .map(parse_binding_message)
        .transpose()
        .map_err(|e| OAuthError::from_start(&e))?;
    let expiry = form
        .get("requested_expiry")
        .map(|v| {
            v.parse::<u64>()
                .ok()
                .and_then(|n| RequestedExpiry::from_secs(n).ok())
                .map(RequestedExpiry::as_duration)
                .ok_or_else(|| {
                    OAuthError::invalid_request(format!(
                        "requested_expiry must be {} to {} seconds",
                        RequestedExpiry::MIN.as_secs(),
                        RequestedExpiry::MAX.as_secs()
                    ))
                })
        })
        .transpose()?;
    let nonce = form.get("nonce").map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > 256) {
        return Err(OAuthError::invalid_request("nonce is too long"));
    }
    let request = StartRequest::new(client.client_id.clone(), hint, scopes)
        .binding_message(binding)
        .requested_expiry(expiry)
        .nonce(nonce)
        .start_limit(client.start_limit)
        .subject_type(client.subject_type);
    let started = s
        .login
        .start(request)
        .await
        .map_err(|e| OAuthError::from_start(&e))?;
    let interval = s
        .poll_interval
        .unwrap_or(started.interval)
        .max(Duration::from_secs(1));
    let interval_secs = interval.as_secs() + u64::from(interval.subsec_nanos() > 0);
    let poll = PollState {
        client_id: client.client_id.clone(),
        interval_ms: interval_secs * 1000,
        last_poll_ms: None,
        expires_at_ms: s
            .records
            .now_ms()
            .saturating_add(duration_ms(started.expires_in)),
    };
    s.records
        .put(
            "ciba",
            &started.handle.store_key(),
            &poll,
            started.expires_in + Duration::from_secs(600),
        )
        .await
        .map_err(|_| OAuthError::server("the login could not be stored"))?;
    Ok(no_store(Json(json!({
        "auth_req_id": started.handle.as_str(),
        "expires_in": started.expires_in.as_secs().max(1),
        "interval": interval_secs,
        "binding_message": started.binding_message.as_str(),
    }))))
}

/// The CIBA grant at the token endpoint.
pub(crate) struct CibaGrant;

#[async_trait]
impl Grant for CibaGrant {
    fn grant_type(&self) -> &'static str {
        CIBA_GRANT
    }

    async fn grant(
        &self,
        s: &Shared,
        caller: &Caller,
        form: &Form,
    ) -> Result<Response, OAuthError> {
        let Caller::Confidential(client) = caller else {
            return Err(OAuthError::invalid_client());
        };
        answer_poll(s, client, form).await
    }
}

/// A poll of `auth_req_id` by its client (authenticated and allowed the grant).
async fn answer_poll(s: &Shared, client: &Client, form: &Form) -> Result<Response, OAuthError> {
    let unknown =
        || OAuthError::invalid_grant("the auth_req_id is unknown, expired or already used");
    let id = form.require("auth_req_id")?;
    let handle = LoginHandle::parse(id).ok_or_else(unknown)?;
    let store_failed = |_| OAuthError::server("the login store failed");
    let mut poll = match s
        .records
        .get::<PollState>("ciba", &handle.store_key())
        .await
        .map_err(store_failed)?
    {
        Some(p) if p.client_id == client.client_id => p,
        _ => return Err(unknown()),
    };
    let now = s.records.now_ms();
    if now >= poll.expires_at_ms {
        return Err(OAuthError::bad(
            "expired_token",
            "the login request has expired",
        ));
    }
    let too_soon = poll.last_poll_ms.is_some_and(|last| {
        now.saturating_add(poll.interval_ms / 10) < last.saturating_add(poll.interval_ms)
    });
    if too_soon {
        poll.interval_ms = poll
            .interval_ms
            .saturating_add(duration_ms(s.slow_down_step));
    }
    poll.last_poll_ms = Some(now);
    let ttl =
        Duration::from_millis(poll.expires_at_ms.saturating_sub(now)) + Duration::from_secs(600);
    s.records
        .put("ciba", &handle.store_key(), &poll, ttl)
        .await
        .map_err(store_failed)?;
    if too_soon {
        return Err(OAuthError::bad(
            "slow_down",
            format!(
                "poll no more often than every {} seconds",
                poll.interval_ms / 1000
            ),
        ));
    }
    let check = match s.login.check(&handle, &client.client_id).await {
        Ok(c) => c,
        Err(LoginError::NotFound) => return Err(unknown()),
        Err(e) => {
            return Err(OAuthError {
                status: http::StatusCode::SERVICE_UNAVAILABLE,
                error: "temporarily_unavailable",
                description: e.to_string().into(),
            });
        }
    };
    match check {
        LoginCheck::Pending => Err(OAuthError::bad(
            "authorization_pending",
            "the customer has not confirmed in the Vipps app yet",
        )),
        LoginCheck::Denied => Err(OAuthError::bad("access_denied", "the customer declined")),
        LoginCheck::Expired => Err(OAuthError::bad(
            "expired_token",
            "the login request has expired",
        )),
        LoginCheck::Failed(e) => Err(OAuthError::bad("access_denied", e.to_string())),
        LoginCheck::Approved(_) => {
            let approved = match s.login.redeem(&handle, &client.client_id).await {
                Ok(a) => a,
                Err(_) => return Err(unknown()),
            };
            let _ = s.records.remove("ciba", &handle.store_key()).await;
            issue(s, client, approved).await
        }
    }
}
