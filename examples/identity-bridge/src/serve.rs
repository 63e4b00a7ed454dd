//! Serving with timeouts, as a reference deployment should: a slow client cannot hold a
//! connection open by trickling headers, no request runs forever, bodies are capped.

use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;

/// Time for a client to send a request's headers (also the idle keep-alive limit).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for one request, Vipps' answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request body.
const MAX_BODY: usize = 64 * 1024;

/// Serves `router` on `listener` until accepting fails.
pub(crate) async fn serve(listener: TcpListener, router: Router) -> std::io::Result<()> {
    let app = router.layer(
        ServiceBuilder::new()
            .layer(TimeoutLayer::with_status_code(
                http::StatusCode::REQUEST_TIMEOUT,
                REQUEST_TIMEOUT,
            ))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY)),
    );
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) if is_transient(&e) => {
                tracing::warn!(error = %e, "accept failed; continuing");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

/// Errors after which accepting can go on (too many open files, a reset handshake).
fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error() == Some(24)
}
