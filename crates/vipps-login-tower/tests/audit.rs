//! The audit trail of a desk: the staff member the app's gate put into the request's
//! extensions is named with every login started there, with the outcome; the file holds
//! no full number, token, `auth_req_id` or secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use common::*;
use url::Url;
use vipps_login_core::audit::JsonLinesFile;
use vipps_login_core::{ClientAuth, Config, Issuer, Secret, VippsClient};
use vipps_login_sim::Simulator;
use vipps_login_tower::{StaffMember, VippsLoginLayer};

#[tokio::test]
async fn the_audit_log_names_the_staff_member_and_the_outcome() {
    let dir = std::env::temp_dir().join(format!("tower-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("audit.jsonl");
    let sim = Simulator::start(sim_config()).await.unwrap();
    let config = Config::builder(
        Issuer::Custom(sim.issuer()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
    .client_auth(ClientAuth::Basic)
    .audit(Arc::new(JsonLinesFile::open(&log).unwrap()))
    .build()
    .unwrap();
    let client = VippsClient::new(config).unwrap();
    let layer = VippsLoginLayer::builder(client)
        .cookie_key(cookie::Key::generate())
        .build()
        .unwrap();
    // The app's staff gate, as far as the layer is concerned: it names who is signed in.
    let app = Router::new()
        .route("/", axum::routing::get(|| async { "desk" }))
        .layer(layer)
        .layer(axum::Extension(StaffMember {
            id: "clerk-17".into(),
            name: Some("Kari Kasse".into()),
        }));
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
    let app = TestApp { base, sim };

    let b = browser();
    let id = app.start_login(&b, KARI).await;
    let req = app.pending(KARI).await;
    app.sim.approve(&req.auth_req_id).await.unwrap();
    let done = app.wait_until_done(&b, &id).await;
    assert!(done.status < 400, "{}", done.body);

    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let started = events
        .iter()
        .find(|e| e["action"] == "login_started")
        .unwrap_or_else(|| panic!("no start in\n{text}"));
    assert_eq!(started["actor"]["kind"], "staff", "{text}");
    assert_eq!(started["actor"]["id"], "clerk-17");
    assert_eq!(started["actor"]["name"], "Kari Kasse");
    assert_eq!(started["client_address"], "127.0.0.1");
    let ended = events
        .iter()
        .find(|e| e["action"] == "login_ended")
        .unwrap_or_else(|| panic!("no end in\n{text}"));
    assert_eq!(ended["outcome"], "approved");
    assert_eq!(
        ended["actor"]["id"], "clerk-17",
        "the end names who started it"
    );
    for secret in [KARI, &req.auth_req_id, &id, app.sim.client_secret()] {
        assert!(
            !text.contains(secret),
            "the audit log holds `{secret}`:\n{text}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
