//! What an operator runs the reference binaries with: the management listener
//! (`--management-listen`: `/metrics` for Prometheus, `/health/live`, `/health/ready`),
//! the audit trail (`--audit-log FILE`), and the graceful stop on SIGTERM.
//!
//! The management listener is its own socket, on loopback by default, never the public
//! listener: metrics and health are for the load balancer, Kubernetes and Prometheus,
//! not for the customers on the public side.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use vipps_login_core::audit::{Actor, AuditEvent, AuditSink, JsonLinesFile};
use vipps_login_core::health::Readiness;
use vipps_login_tower::StaffMember;

use crate::error::AppError;

/// Where the management listener listens: `off`, or an address (`127.0.0.1:9464`;
/// port 0 picks a free port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManagementListen {
    /// No management listener.
    Off,
    /// Listen here.
    At(SocketAddr),
}

impl FromStr for ManagementListen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(ManagementListen::Off);
        }
        s.parse()
            .map(ManagementListen::At)
            .map_err(|_| format!("`{s}` is neither `off` nor an address such as 127.0.0.1:9464"))
    }
}

impl std::fmt::Display for ManagementListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManagementListen::Off => f.write_str("off"),
            ManagementListen::At(addr) => write!(f, "{addr}"),
        }
    }
}

/// The buckets of every latency histogram, in seconds: a store operation on loopback
/// takes well under a millisecond, a Vipps call tens to hundreds of milliseconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process' Prometheus recorder, installed on first use (one per process: every
/// app and client of the process reports to it).
///
/// # Errors
/// When another recorder was installed already.
pub fn prometheus() -> Result<&'static PrometheusHandle, AppError> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .map_err(|e| format!("histogram buckets: {e}"))?
                .install_recorder()
                .map_err(|e| format!("cannot install the Prometheus recorder: {e}"))?;
            vipps_login_core::metrics::describe();
            // Prometheus' text is rendered on scrape; this drains old histogram buckets.
            let upkeep = handle.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    upkeep.run_upkeep();
                }
            });
            Ok(handle)
        })
        .as_ref()
        .map_err(|e| AppError::Config(e.clone()))
}

/// A readiness check run on each `/health/ready`.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Readiness> + Send>> + Send + Sync>;

/// The management routes: `/metrics` (Prometheus text), `/health/live` (200 while the
/// process serves), `/health/ready` (200, or 503 with a JSON body naming what is missing).
pub fn management_router(metrics: PrometheusHandle, ready: ReadinessCheck) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let text = metrics.render();
                async move {
                    (
                        [(
                            http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        text,
                    )
                }
            }),
        )
        .route(
            "/health/live",
            get(|| async { axum::Json(serde_json::json!({"status": "live"})) }),
        )
        .route(
            "/health/ready",
            get(move || {
                let check = ready();
                async move { readiness_response(&check.await) }
            }),
        )
}

/// `/health/ready`'s answer for `readiness`.
#[must_use]
pub fn readiness_response(readiness: &Readiness) -> Response {
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(readiness.to_json())).into_response()
}

/// Binds the management listener, unless `off`.
///
/// # Errors
/// A taken port.
pub async fn bind_management(at: ManagementListen) -> Result<Option<TcpListener>, AppError> {
    match at {
        ManagementListen::Off => Ok(None),
        ManagementListen::At(addr) => TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|source| AppError::Listen { addr, source }),
    }
}

/// Serves the management routes on `listener` (in the background) until the process
/// ends: it keeps answering during a graceful stop, so that readiness can say so.
///
/// # Errors
/// Only when the recorder cannot be installed.
pub fn spawn_management(listener: TcpListener, ready: ReadinessCheck) -> Result<(), AppError> {
    let router = management_router(prometheus()?.clone(), ready);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "management listener: /metrics, /health/live, /health/ready");
    }
    tokio::spawn(async move {
        if let Err(e) = crate::serve::serve(listener, router).await {
            tracing::error!(error = %e, "the management listener stopped");
        }
    });
    Ok(())
}

/// The audit sink of `--audit-log FILE`.
///
/// # Errors
/// When the file cannot be opened for appending.
pub fn audit_log(path: &Path) -> Result<Arc<dyn AuditSink>, AppError> {
    let sink = JsonLinesFile::open(path).map_err(|e| {
        AppError::Config(format!(
            "--audit-log {}: cannot open it for appending ({e}); check the directory exists \
             and this user may write there",
            path.display()
        ))
    })?;
    Ok(Arc::new(sink))
}

/// Records staff sign-ins in the audit trail: the staff gate calls
/// [`record`](Self::record) for each sign-in attempt. Does nothing without `--audit-log`.
#[derive(Clone, Default)]
pub struct StaffSignInAudit(Option<Arc<dyn AuditSink>>);

impl std::fmt::Debug for StaffSignInAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "StaffSignInAudit(on)"
        } else {
            "StaffSignInAudit(off)"
        })
    }
}

impl StaffSignInAudit {
    /// Sign-ins go to `sink` (none: not recorded).
    #[must_use]
    pub fn new(sink: Option<Arc<dyn AuditSink>>) -> Self {
        StaffSignInAudit(sink)
    }

    /// One sign-in attempt of `member` from `client_address`; `signed_in` whether the gate
    /// let them in. Never pass the password or a token as the member's id.
    pub fn record(&self, member: &StaffMember, client_address: Option<String>, signed_in: bool) {
        if let Some(sink) = &self.0 {
            let actor = Actor::staff(member.id.clone(), member.name.clone());
            sink.record(&AuditEvent::staff_sign_in(actor, client_address, signed_in));
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT): the start of a graceful stop.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: stopping gracefully"),
                _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: stopping gracefully"),
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C: stopping gracefully");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn management_listen_parses_off_and_addresses() {
        assert_eq!("off".parse::<ManagementListen>(), Ok(ManagementListen::Off));
        assert_eq!(
            "127.0.0.1:9464".parse::<ManagementListen>(),
            Ok(ManagementListen::At("127.0.0.1:9464".parse().unwrap()))
        );
        let e = "9464".parse::<ManagementListen>().unwrap_err();
        assert!(e.contains("neither `off` nor an address"), "{e}");
    }

    #[test]
    fn not_ready_is_503_with_what_is_missing() {
        let mut r = Readiness::default();
        assert_eq!(readiness_response(&r).status(), StatusCode::OK);
        r.check("store", Err("the store does not answer".into()));
        assert_eq!(
            readiness_response(&r).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
