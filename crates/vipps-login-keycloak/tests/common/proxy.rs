//! The simulator behind a proxy that makes Vipps verify another number than the one a
//! login was started for: every userinfo answer names `number`. The simulator announces
//! the proxy's address, so the issuer and every endpoint point at it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::Value;
use url::Url;
use vipps_login_sim::{SimConfig, SimHandle, Simulator};

#[derive(Clone)]
struct Proxy {
    upstream: String,
    number: &'static str,
    http: reqwest::Client,
}

/// The simulator (with `config`) behind a proxy whose userinfo answers carry `number`.
pub async fn sim_verifying(config: SimConfig, number: &'static str) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let sim = Simulator::start(config.public_url(public)).await.unwrap();
    let proxy = Proxy {
        upstream: format!("http://{}", sim.local_addr()),
        number,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    sim
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let mut rb = p
        .http
        .request(parts.method.clone(), format!("{}{path}", p.upstream));
    for (k, v) in &parts.headers {
        if k != http::header::HOST && k != http::header::CONTENT_LENGTH {
            rb = rb.header(k, v);
        }
    }
    let resp = rb.body(body).send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut bytes: Bytes = resp.bytes().await.unwrap();
    if parts.uri.path().ends_with("/userinfo")
        && status.is_success()
        && let Ok(mut doc) = serde_json::from_slice::<Value>(&bytes)
    {
        doc["phone_number"] = Value::String(p.number.to_owned());
        bytes = Bytes::from(doc.to_string());
    }
    let mut r = Response::builder().status(status.as_u16());
    for (k, v) in &headers {
        if k != http::header::CONTENT_LENGTH && k != http::header::TRANSFER_ENCODING {
            r = r.header(k, v);
        }
    }
    r.body(Body::from(bytes)).unwrap()
}
