//! Serving as a reference deployment should: a slow client cannot hold a connection open
//! by trickling headers or by idling between requests (the header-read timeout covers
//! both), no request runs forever, bodies are capped, and the number of open connections
//! is bounded. Apps that mount the layer on their own server should do the same; each
//! handler sees the peer address as axum's `ConnectInfo` (the layer's per-IP limit).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;

/// The bounds a server keeps.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ServeLimits {
    /// Time for a client to send a request's headers (also the idle keep-alive limit).
    pub header_read_timeout: Duration,
    /// Time for one request, Vipps' answer included.
    pub request_timeout: Duration,
    /// The largest request body.
    pub max_body: usize,
    /// Open connections at most; further clients wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_body: 64 * 1024,
            max_connections: 1024,
        }
    }
}

/// Serves `router` on `listener` with the default [`ServeLimits`] until accepting fails.
///
/// # Errors
/// When accepting connections fails for good.
pub async fn serve(listener: TcpListener, router: Router) -> std::io::Result<()> {
    serve_with(listener, router, ServeLimits::default()).await
}

/// Serves `router` on `listener` within `limits` until accepting fails.
///
/// # Errors
/// When accepting connections fails for good.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
) -> std::io::Result<()> {
    serve_until(
        listener,
        router,
        limits,
        std::future::pending(),
        Duration::ZERO,
    )
    .await
}

/// Serves `router` on `listener` within `limits` until `stop` resolves (or accepting
/// fails), then stops gracefully: no new connection is accepted (the listener is
/// closed), idle keep-alive connections are closed, and requests in flight get up to
/// `grace` to finish before their connections are dropped.
///
/// # Errors
/// When accepting connections fails for good.
pub async fn serve_until(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    stop: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let app = router.layer(
        ServiceBuilder::new()
            .layer(TimeoutLayer::with_status_code(
                http::StatusCode::REQUEST_TIMEOUT,
                limits.request_timeout,
            ))
            .layer(axum::extract::DefaultBodyLimit::max(limits.max_body)),
    );
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    let accepted = loop {
        let next = async {
            let slot = Arc::clone(&slots).acquire_owned().await.ok()?;
            Some((slot, listener.accept().await))
        };
        let (slot, accepted) = tokio::select! {
            () = &mut stop => break Ok(()),
            next = next => match next {
                Some(n) => n,
                None => break Ok(()),
            },
        };
        let (stream, peer) = match accepted {
            Ok(s) => s,
            Err(e) if is_transient(&e) => {
                tracing::warn!(error = %e, "accept failed; continuing");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => break Err(e),
        };
        let with_peer = app.clone().layer(axum::Extension(ConnectInfo(peer)));
        let service = TowerToHyperService::new(with_peer);
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    };
    drop(listener);
    if grace > Duration::ZERO {
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                grace_secs = grace.as_secs_f64(),
                "requests still in flight after the grace period; dropping them"
            );
        } else {
            tracing::info!("every request in flight finished");
        }
    }
    accepted
}

/// Errors after which accepting can go on (too many open files, a reset handshake).
fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error() == Some(24)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::net::SocketAddr;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    use super::*;

    async fn server(limits: ServeLimits) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        );
        tokio::spawn(serve_with(listener, app, limits));
        addr
    }

    fn short() -> ServeLimits {
        ServeLimits {
            header_read_timeout: Duration::from_millis(300),
            max_connections: 2,
            ..ServeLimits::default()
        }
    }

    /// Reads until the server closes the connection (bounded).
    async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
        let mut buf = [0u8; 1024];
        let read = async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(limit, read).await.is_ok()
    }

    #[tokio::test]
    async fn half_sent_and_idle_connections_are_closed() {
        let addr = server(short()).await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        assert!(
            closed_within(&mut slow, Duration::from_secs(3)).await,
            "slowloris kept open"
        );
        let mut idle = TcpStream::connect(addr).await.unwrap();
        assert!(
            closed_within(&mut idle, Duration::from_secs(3)).await,
            "idle kept open"
        );
    }

    #[tokio::test]
    async fn connections_are_capped_and_handlers_see_the_peer() {
        let addr = server(ServeLimits {
            header_read_timeout: Duration::from_secs(5),
            ..short()
        })
        .await;
        let _a = TcpStream::connect(addr).await.unwrap();
        let _b = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut third = TcpStream::connect(addr).await.unwrap();
        third
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let waited =
            tokio::time::timeout(Duration::from_millis(500), third.read_to_end(&mut out)).await;
        assert!(
            waited.is_err(),
            "a third connection was served beyond the cap"
        );
        drop((_a, _b));
        tokio::time::timeout(Duration::from_secs(3), third.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(
            text.ends_with("127.0.0.1"),
            "the handler saw the peer: {text}"
        );
    }
}
