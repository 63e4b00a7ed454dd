//! [`RequireVippsLogin`]: a guard that lets only logged-in sessions through.

use std::task::{Context, Poll};

use axum::BoxError;
use axum::body::Body;
use bytes::Bytes;
use futures_util::TryFutureExt as _;
use futures_util::future::{Either, MapOk, Ready, ready};
use http::{HeaderValue, Request, Response, StatusCode, header};
use tower::{Layer, Service};

use crate::return_to::safe_return_to;
use crate::user::{LayerMark, VippsUser, VippsUserRejection};

/// A guard for routes that need a logged-in [`VippsUser`].
///
/// Browsers (requests whose `Accept` names `text/html`) are redirected (`303`) to the login
/// page with a safe `return_to` pointing back at the guarded path; API clients get
/// `401 {"error":"not_logged_in",...}`. Put it *inside* the
/// [`VippsLoginLayer`](crate::VippsLoginLayer) (apply it to a nested router, or with
/// `route_layer`), since it reads what that layer sets:
///
/// ```
/// use axum::{Router, routing::get};
/// use vipps_login_tower::{RequireVippsLogin, VippsUser};
/// async fn member(user: VippsUser) -> String { user.account_id().to_owned() }
/// let protected: Router = Router::new()
///     .route("/member", get(member))
///     .route_layer(RequireVippsLogin::layer());
/// # let _ = protected;
/// ```
#[derive(Clone, Debug)]
pub struct RequireVippsLogin<S> {
    inner: S,
}

impl RequireVippsLogin<()> {
    /// The guard's layer.
    #[must_use]
    pub fn layer() -> RequireVippsLoginLayer {
        RequireVippsLoginLayer
    }
}

/// The [`Layer`] of [`RequireVippsLogin`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RequireVippsLoginLayer;

impl RequireVippsLoginLayer {
    /// The guard's layer (same as [`RequireVippsLogin::layer`]).
    #[must_use]
    pub fn new() -> Self {
        Self
    }
}

impl<S> Layer<S> for RequireVippsLoginLayer {
    type Service = RequireVippsLogin<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireVippsLogin { inner }
    }
}

fn wants_html<B>(req: &Request<B>) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

fn redirect_to_login(login_path: &str, original: &http::Uri) -> Response<Body> {
    let target = original
        .path_and_query()
        .map(http::uri::PathAndQuery::as_str)
        .and_then(safe_return_to);
    let location = match target {
        Some(back) => {
            let encoded: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            format!("{login_path}?return_to={encoded}")
        }
        None => login_path.to_owned(),
    };
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

impl<S, B, ResBody> Service<Request<B>> for RequireVippsLogin<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<
        MapOk<S::Future, fn(Response<ResBody>) -> Response<Body>>,
        Ready<Result<Response<Body>, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if req.extensions().get::<VippsUser>().is_some() {
            let to_body: fn(Response<ResBody>) -> Response<Body> = |res| res.map(Body::new);
            return Either::Left(self.inner.call(req).map_ok(to_body));
        }
        let response = match req.extensions().get::<LayerMark>() {
            Some(mark) if wants_html(&req) => redirect_to_login(&mark.login_path, req.uri()),
            Some(_) => {
                axum_core::response::IntoResponse::into_response(VippsUserRejection::NotLoggedIn)
            }
            None => {
                axum_core::response::IntoResponse::into_response(VippsUserRejection::MissingLayer)
            }
        };
        Either::Right(ready(Ok(response)))
    }
}
