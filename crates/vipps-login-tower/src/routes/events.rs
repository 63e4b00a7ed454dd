//! The waiting page's live status: server-sent events of one login, each status in the
//! request's language, bounded per login and per session.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use super::flow::own_login;
use super::json::Json;
use super::outcome::{Outcome, status_line};
use super::request::{RequestInfo, St, load_session};
use crate::response::json_error;

pub(super) async fn events(
    State(shared): St,
    info: RequestInfo,
    Path(id): Path<String>,
) -> Response {
    let json = Json::new(&shared, &info);
    let lang = json.lang();
    let session = match load_session(&shared, &info).await {
        Ok(Some(s)) => s,
        Ok(None) => return json.outcome(&Outcome::not_found()),
        Err(o) => return json.outcome(&o),
    };
    let view = match own_login(&shared, &session.data.owner, &id).await {
        Ok(Some(view)) => view,
        Ok(None) => return json.outcome(&Outcome::not_found()),
        Err(e) => return json.error(&e),
    };
    let Some(slot) = shared.streams.open(&id, &session.data.owner) else {
        let mut res = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            &shared.texts.get(lang, "api_too_many_streams"),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return res;
    };
    let rx = match shared.client.watch(&view.id).await {
        Ok(rx) => rx,
        Err(e) => return json.error(&e),
    };
    let flow = view.flow();
    // The stream words its events in the request's language.
    let speaker = Arc::clone(&shared);
    let next = shared.url(&format!("/wait/{id}"));
    let stream = futures_util::stream::unfold((rx, false, true), move |(mut rx, done, first)| {
        let next = next.clone();
        let speaker = Arc::clone(&speaker);
        // The stream (this closure) holds its slot until it ends or the client goes away.
        let _held = &slot;
        async move {
            if done {
                return None;
            }
            if !first && rx.changed().await.is_err() {
                return None;
            }
            let status = rx.borrow_and_update().clone();
            let over = status.is_final();
            let mut payload = json!({
                "status": status.as_str(),
                "message": speaker.texts.get(lang, status_line(&status, flow)),
            });
            if over {
                payload["next"] = json!(next);
            }
            let event = Event::default().event("status").data(payload.to_string());
            Some((Ok::<_, Infallible>(event), (rx, over, false)))
        }
    });
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
