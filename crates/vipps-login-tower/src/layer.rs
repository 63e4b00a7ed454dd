//! [`VippsLoginLayer`] and its service [`VippsLogin`]: the layer's own routes under the
//! prefix, the user attached to every other request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::BoxError;
use axum::body::{Body, HttpBody};
use bytes::Bytes;
use futures_util::TryFutureExt as _;
use futures_util::future::{Either, MapOk};
use http::{Request, Response};
use tower::{Layer, Service, ServiceExt as _};

use crate::shared::Shared;

/// The tower [`Layer`] that adds Vipps phone-number login to an axum or hyper service.
///
/// Requests under the prefix (default `/auth/vipps`) are answered by the layer's own
/// pages and JSON API; every other request goes to the inner service with the
/// logged-in [`VippsUser`](crate::VippsUser) (if any) in its extensions. Cloning is
/// cheap. See the [crate docs](crate) for the routes and a full example.
#[derive(Clone)]
pub struct VippsLoginLayer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) router: axum::Router,
}

impl std::fmt::Debug for VippsLoginLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.fmt(f)
    }
}

impl VippsLoginLayer {
    /// The route prefix, e.g. `/auth/vipps`.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// Whether the layer's cookies are `Secure`, as the builder decided it from the
    /// configuration ([`SecureCookies`](crate::SecureCookies)); an app that sets cookies
    /// of its own beside the layer's follows the same decision.
    #[must_use]
    pub fn cookies_secure(&self) -> bool {
        self.shared.sessions.secure
    }

    /// The path of the login page, e.g. `/auth/vipps/login`.
    #[must_use]
    pub fn login_path(&self) -> &str {
        &self.shared.mark.login_path
    }

    /// Whether the layer can serve logins now, for an app that serves its own readiness
    /// endpoint: its store (logins and sessions) answers, and Vipps' discovery document
    /// and JWKS are loaded. The same checks as the reference binaries' `/health/ready`.
    pub async fn readiness(&self) -> vipps_login_core::health::Readiness {
        self.shared.client.readiness().await
    }
}

impl<S> Layer<S> for VippsLoginLayer {
    type Service = VippsLogin<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VippsLogin {
            inner,
            shared: Arc::clone(&self.shared),
            router: self.router.clone(),
        }
    }
}

/// The service made by [`VippsLoginLayer`]. Cheap to clone.
#[derive(Clone)]
pub struct VippsLogin<S> {
    inner: S,
    shared: Arc<Shared>,
    router: axum::Router,
}

impl<S> std::fmt::Debug for VippsLogin<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.fmt(f)
    }
}

/// The response future of [`VippsLogin`] when it has to wait: the layer's own answer, or
/// the inner service's once the user is attached after a store read that waits (a
/// networked store). When the session is known at once, [`VippsLogin`] answers with the
/// inner service's own future instead (see [`PassThrough`]).
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<E> {
    inner: Pin<Box<dyn Future<Output = Result<Response<Body>, E>> + Send>>,
}

impl<E> std::fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<E> Future for ResponseFuture<E> {
    type Output = Result<Response<Body>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

/// The future of a request passed straight on: the inner service's, with its body boxed.
pub type PassThrough<F, ResBody> = MapOk<F, fn(Response<ResBody>) -> Response<Body>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for VippsLogin<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: HttpBody<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<PassThrough<S::Future, ResBody>, ResponseFuture<S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        if self.shared.is_own_path(req.uri().path()) {
            let router = self.router.clone();
            let req = req.map(Body::new);
            return Either::Right(ResponseFuture {
                inner: Box::pin(async move {
                    match router.oneshot(req).await {
                        Ok(res) => Ok(res),
                        Err(never) => match never {},
                    }
                }),
            });
        }
        let pending = match self.shared.attach_now(&mut req) {
            Ok(()) => {
                // `poll_ready` was called on `self.inner`: it takes the request itself.
                let to_body: fn(Response<ResBody>) -> Response<Body> = |res| res.map(Body::new);
                return Either::Left(self.inner.call(req).map_ok(to_body));
            }
            Err(pending) => pending,
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Either::Right(ResponseFuture {
            inner: Box::pin(async move {
                shared.attach_later(&mut req, pending).await;
                let res = inner.call(req).await?;
                Ok(res.map(Body::new))
            }),
        })
    }
}
