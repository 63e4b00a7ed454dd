//! The control API under `/_sim/` for tests and demos.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::client::DEMO_CLIENT_ID;
use crate::config::Policy;
use crate::error::SimError;
use crate::faults::{Fault, FaultSpec};
use crate::request::RequestStatus;
use crate::state::Sim;
use crate::store::{lock, read, write};
use crate::tokens::random_token;

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            SimError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            SimError::NotPending(_) => (StatusCode::CONFLICT, "not_pending"),
            SimError::ConsentRequired(_) => (StatusCode::BAD_REQUEST, "consent_required"),
            SimError::Delivery(_) => (StatusCode::BAD_GATEWAY, "delivery_failed"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        (
            status,
            axum::Json(json!({"error": code, "error_description": self.to_string()})),
        )
            .into_response()
    }
}

fn bad_request(msg: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": "invalid_request", "error_description": msg.into()})),
    )
        .into_response()
}

fn parse_json<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

#[derive(Deserialize)]
struct ListQuery {
    msisdn: Option<String>,
    status: Option<RequestStatus>,
}

async fn list(State(sim): State<Arc<Sim>>, Query(q): Query<ListQuery>) -> Response {
    let list: Vec<_> = sim
        .all_requests()
        .into_iter()
        .filter(|r| q.msisdn.as_ref().is_none_or(|m| &r.msisdn == m))
        .filter(|r| q.status.is_none_or(|s| r.status == s))
        .collect();
    axum::Json(list).into_response()
}

async fn one(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    match sim.request(&id) {
        Some(r) => axum::Json(r).into_response(),
        None => SimError::NotFound.into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ApproveBody {
    delegated_consents: Option<BTreeMap<String, bool>>,
}

async fn approve(State(sim): State<Arc<Sim>>, Path(id): Path<String>, body: Bytes) -> Response {
    let body: ApproveBody = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    match sim.approve(&id, body.delegated_consents) {
        Ok(to) => axum::Json(json!({
            "status": "approved",
            "redirect_to": to.map(|u| u.to_string()),
        }))
        .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn deny(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    match sim.deny(&id) {
        Ok(()) => axum::Json(json!({"status": "denied"})).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, Default)]
struct PolicyBody {
    policy: String,
    #[serde(default)]
    after_ms: u64,
}

fn policy_json(p: Policy) -> serde_json::Value {
    match p {
        Policy::AutoApprove { after } => {
            json!({"policy": "auto_approve", "after_ms": after.as_millis() as u64})
        }
        Policy::AutoDeny { after } => {
            json!({"policy": "auto_deny", "after_ms": after.as_millis() as u64})
        }
        _ => json!({"policy": "manual"}),
    }
}

async fn get_policy(State(sim): State<Arc<Sim>>) -> Response {
    axum::Json(policy_json(*read(&sim.policy))).into_response()
}

async fn set_policy(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let b: PolicyBody = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    let after = Duration::from_millis(b.after_ms);
    let p = match b.policy.as_str() {
        "manual" => Policy::Manual,
        "auto_approve" => Policy::AutoApprove { after },
        "auto_deny" => Policy::AutoDeny { after },
        _ => return bad_request("policy must be manual, auto_approve or auto_deny"),
    };
    *write(&sim.policy) = p;
    axum::Json(policy_json(p)).into_response()
}

fn faults_json(sim: &Sim) -> Response {
    axum::Json(json!({"faults": lock(&sim.faults).describe()})).into_response()
}

async fn get_faults(State(sim): State<Arc<Sim>>) -> Response {
    faults_json(&sim)
}

async fn add_fault(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return bad_request(format!("invalid fault: {e}")),
    };
    match spec.into_fault() {
        None => rotate_now(&sim),
        Some((fault, endpoint)) => {
            if fault == Fault::WrongSigningKey {
                let sim2 = sim.clone();
                let made =
                    tokio::task::spawn_blocking(move || write(&sim2.keys).ensure_rogue()).await;
                if !matches!(made, Ok(Ok(()))) {
                    return SimError::Keys("cannot make the wrong key".into()).into_response();
                }
            }
            lock(&sim.faults).add(fault, endpoint);
            faults_json(&sim)
        }
    }
}

async fn clear_faults(State(sim): State<Arc<Sim>>) -> Response {
    lock(&sim.faults).clear();
    faults_json(&sim)
}

fn rotate_now(sim: &Sim) -> Response {
    let mut keys = write(&sim.keys);
    if let Err(e) = keys.rotate() {
        return e.into_response();
    }
    let (rs, es) = keys.kids();
    axum::Json(json!({"kids": {"RS256": rs, "ES256": es}})).into_response()
}

async fn rotate(State(sim): State<Arc<Sim>>) -> Response {
    let s = sim.clone();
    tokio::task::spawn_blocking(move || rotate_now(&s))
        .await
        .unwrap_or_else(|_| SimError::Keys("rotation failed".into()).into_response())
}

async fn stats(State(sim): State<Arc<Sim>>) -> Response {
    axum::Json(sim.stats_snapshot()).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WebhookBody {
    url: Option<Url>,
    secret: Option<String>,
    consent_revoked_url: Option<Url>,
}

async fn set_webhook(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let b: WebhookBody = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    match (b.url, b.secret) {
        (Some(url), Some(secret)) => *write(&sim.outbox.webhook) = Some((url, secret)),
        (None, None) => {}
        _ => return bad_request("url and secret go together"),
    }
    if let Some(u) = b.consent_revoked_url {
        *write(&sim.outbox.consent_revoked_url) = Some(u);
    }
    webhook_json(&sim)
}

fn webhook_json(sim: &Sim) -> Response {
    axum::Json(json!({
        "url": read(&sim.outbox.webhook).as_ref().map(|(u, _)| u.to_string()),
        "consent_revoked_url": read(&sim.outbox.consent_revoked_url).as_ref().map(Url::to_string),
    }))
    .into_response()
}

async fn clear_webhook(State(sim): State<Arc<Sim>>) -> Response {
    *write(&sim.outbox.webhook) = None;
    *write(&sim.outbox.consent_revoked_url) = None;
    webhook_json(&sim)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RevokeBody {
    msisdn: String,
    client_id: Option<String>,
}

async fn revoke(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let b: RevokeBody = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    let client_id = b.client_id.unwrap_or_else(|| DEMO_CLIENT_ID.to_owned());
    match sim.revoke_consent(&b.msisdn, &client_id).await {
        Ok(sub) => axum::Json(json!({"sub": sub})).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenBody {
    msisdn: String,
}

async fn customer_token(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let b: TokenBody = match parse_json(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    if sim.users.get(&b.msisdn).is_none() {
        return SimError::NotFound.into_response();
    }
    let token = random_token(16);
    sim.users.add_customer_token(token.clone(), b.msisdn);
    axum::Json(json!({"token": token, "login_hint": format!("urn:customer-token:{token}")}))
        .into_response()
}

pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/_sim/requests", get(list))
        .route("/_sim/requests/{id}", get(one))
        .route("/_sim/requests/{id}/approve", post(approve))
        .route("/_sim/requests/{id}/deny", post(deny))
        .route("/_sim/policy", get(get_policy).post(set_policy))
        .route(
            "/_sim/faults",
            get(get_faults).post(add_fault).delete(clear_faults),
        )
        .route("/_sim/keys/rotate", post(rotate))
        .route("/_sim/stats", get(stats))
        .route("/_sim/webhook", post(set_webhook).delete(clear_webhook))
        .route("/_sim/consent-revoked", post(revoke))
        .route("/_sim/customer-tokens", post(customer_token))
}
