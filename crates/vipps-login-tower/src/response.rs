//! Small response builders every part of the layer uses: security headers, JSON
//! answers, redirects, `Retry-After`.

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;

pub(crate) fn security_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// A JSON error `{"error": code, "message": message}` with `status`.
pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut res = (
        status,
        axum::Json(json!({ "error": code, "message": message })),
    )
        .into_response();
    security_headers(res.headers_mut());
    res
}

pub(crate) fn json_ok(status: StatusCode, body: serde_json::Value) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    security_headers(res.headers_mut());
    res
}

pub(crate) fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

pub(crate) fn set_retry_after(res: &mut Response, d: Duration) {
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(d).max(1)),
    );
}

pub(crate) fn redirect(location: &str) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    security_headers(res.headers_mut());
    res
}
