//! The webhook receiver: Vipps' signed ping, handed to the core client.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use vipps_login_core::Error;

use super::json::Json;
use super::request::{RequestInfo, St};

pub(super) async fn webhook(
    State(shared): St,
    info: RequestInfo,
    method: Method,
    body: Bytes,
) -> Response {
    let host = info
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| info.uri.authority().map(http::uri::Authority::as_str))
        .unwrap_or("")
        .to_owned();
    let path_and_query = info
        .uri
        .path_and_query()
        .map_or_else(|| info.uri.path().to_owned(), |p| p.as_str().to_owned());
    match shared
        .client
        .handle_webhook(&method, &path_and_query, &host, &info.headers, &body)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        // Verified, but for a login no instance follows any more (it ended, or a delivery
        // came late or twice): Vipps retries anything but 2xx for days, so say "done".
        Err(Error::LoginNotFound) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::info!(code = e.code(), "webhook refused");
            Json::new(&shared, &info).error(&e)
        }
    }
}
