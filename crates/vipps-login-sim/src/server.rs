//! The HTTP server: routes, fault middleware and the accept loop.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::faults::Endpoint;
use crate::state::Sim;
use crate::store::lock;
use crate::{control, oauth, phone};

/// Marks a response whose connection is to be closed without answering.
#[derive(Clone, Copy)]
struct DropConnection;

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

async fn protocol_mw(
    State((sim, ep)): State<(Arc<Sim>, Endpoint)>,
    req: Request,
    next: Next,
) -> Response {
    sim.stats.hit(ep);
    let plan = {
        let mut f = lock(&sim.faults);
        if f.is_empty() { None } else { Some(f.plan(ep)) }
    };
    let Some(plan) = plan else {
        return next.run(req).await;
    };
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    if plan.drop {
        tracing::info!(endpoint = ?ep, "fault: dropping connection");
        let mut resp = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        resp.extensions_mut().insert(DropConnection);
        return resp;
    }
    if let Some(status) = plan.error {
        tracing::info!(endpoint = ?ep, status, "fault: server error");
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (
            status,
            axum::Json(serde_json::json!({
                "error": "server_error",
                "error_description": "Injected fault: the server failed",
            })),
        )
            .into_response();
    }
    let resp = next.run(req).await;
    if plan.malformed {
        tracing::info!(endpoint = ?ep, "fault: malformed body");
        let (mut parts, _) = resp.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Response::from_parts(parts, Body::from("{\"access_token\": \"trunc"));
    }
    resp
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "not_found", "error_description": "No such endpoint in vipps-login-sim"})),
    )
        .into_response()
}

pub(crate) fn router(sim: Arc<Sim>) -> Router {
    let mw = |ep: Endpoint| middleware::from_fn_with_state((sim.clone(), ep), protocol_mw);
    Router::new()
        .route(
            "/access-management-1.0/access/.well-known/openid-configuration",
            get(oauth::discovery).layer(mw(Endpoint::Discovery)),
        )
        .route(
            "/access-management-1.0/access/.well-known/jwks.json",
            get(oauth::jwks).layer(mw(Endpoint::Jwks)),
        )
        .route(
            "/access-management-1.0/access/oauth2/token",
            post(oauth::token).layer(mw(Endpoint::Token)),
        )
        .route(
            "/access-management-1.0/access/oauth2/auth",
            get(oauth::authorize),
        )
        .route(
            "/vipps-login-ciba/api/backchannel/authentication",
            post(oauth::backchannel).layer(mw(Endpoint::Backchannel)),
        )
        .route(
            "/vipps-userinfo-api/userinfo",
            get(oauth::userinfo)
                .post(oauth::userinfo)
                .layer(mw(Endpoint::Userinfo)),
        )
        .route(
            "/vipps-login-ciba/api/v1/user-exists",
            post(oauth::user_exists).layer(mw(Endpoint::UserExists)),
        )
        .merge(control::routes())
        .merge(phone::routes())
        .fallback(not_found)
        .with_state(sim)
}

/// Serves `router` until `shutdown` changes or its sender is dropped.
pub(crate) async fn serve(listener: TcpListener, router: Router, shutdown: watch::Receiver<bool>) {
    let mut stop = shutdown.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // e.g. too many open files: back off a little instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut stop_conn = shutdown.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let router = router.clone();
                async move {
                    let resp = match router.oneshot(req).await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    if resp.extensions().get::<DropConnection>().is_some() {
                        Err(Dropped)
                    } else {
                        Ok(resp)
                    }
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop_conn.changed() => {}
            }
        });
    }
}
