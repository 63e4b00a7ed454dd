//! A desk on a full in-memory store: the start is refused before anything is sent to
//! Vipps, with 503, `Retry-After` and a sentence naming the setting; the form gets the
//! same sentence on the result page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::*;
use url::Url;
use vipps_login_core::{ClientAuth, Config, Issuer, MemoryStore, Secret, Store, VippsClient};
use vipps_login_sim::Simulator;
use vipps_login_tower::VippsLoginLayer;

#[tokio::test]
async fn a_full_store_answers_503_with_retry_after_and_sends_nothing() {
    let sim = Simulator::start(sim_config()).await.unwrap();
    let store = Arc::new(MemoryStore::with_capacity(8));
    let shared: Arc<dyn Store> = store.clone();
    let config = Config::builder(
        Issuer::Custom(sim.issuer()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
    .client_auth(ClientAuth::Basic)
    .build()
    .unwrap();
    let client = VippsClient::with_store(config, shared).unwrap();
    let layer = VippsLoginLayer::builder(client)
        .cookie_key(cookie::Key::generate())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });

    // What other logins and sessions hold: the store is at its capacity.
    for i in 0..8 {
        store
            .set(&format!("other-{i}"), vec![0; 16], Duration::from_secs(600))
            .await
            .unwrap();
    }

    let b = browser();
    let res = api_post(
        &b,
        base.join("auth/vipps/api/start").unwrap(),
        "fetch",
        Some(serde_json::json!({ "phone": KARI })),
    )
    .await;
    let retry_after = res.headers().get("retry-after").cloned();
    let page = Page::read(res).await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert_eq!(page.json()["error"], "unavailable");
    assert_eq!(retry_after.unwrap().to_str().unwrap(), "30");
    let message = page.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("full"), "{message}");
    assert_eq!(sim.stats().backchannel, 0, "nothing may reach Vipps");

    // Logins that end make room: the next start goes out.
    for i in 0..8 {
        store.remove(&format!("other-{i}")).await.unwrap();
    }
    let res = api_post(
        &b,
        base.join("auth/vipps/api/start").unwrap(),
        "fetch",
        Some(serde_json::json!({ "phone": KARI })),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(sim.stats().backchannel, 1);
}
