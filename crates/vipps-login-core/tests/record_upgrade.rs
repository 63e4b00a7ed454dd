//! A login whose record the previous release wrote (sealed JSON) goes on under this one
//! (which writes a compact form): a rolling upgrade, or a restart onto the new release,
//! loses no waiting login.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{Map, Value};
use vipps_login_core::{LoginStatus, MemoryStore, Sealer, Store, VippsClient};

/// The names the previous release gave the record's fields, in the order the compact
/// form keeps them (its two cool-downs were one object).
const PREVIOUS_NAMES: [&str; 17] = [
    "version",
    "status",
    "kind",
    "auth_req_id",
    "nonce",
    "browser",
    "expires_at",
    "interval_ms",
    "poller",
    "number_key",
    "number",
    "checks_number",
    "declined_ms",
    "ignored_ms",
    "binding_message",
    "masked_hint",
    "context",
];

/// The record's plain bytes as the previous release wrote them: one JSON object.
fn as_previous_release(compact: &[u8]) -> Vec<u8> {
    assert_eq!(compact[0], 2, "the compact form's marker");
    let fields: Vec<ciborium::Value> = ciborium::from_reader(&compact[1..]).unwrap();
    assert_eq!(fields.len(), PREVIOUS_NAMES.len());
    let mut object = Map::new();
    let mut cool_downs = Map::new();
    for (name, value) in PREVIOUS_NAMES.iter().zip(fields) {
        let value = serde_json::to_value(&value).unwrap();
        if name.ends_with("_ms") && *name != "interval_ms" {
            cool_downs.insert((*name).into(), value);
        } else {
            object.insert((*name).into(), value);
        }
    }
    object.insert("cool_downs".into(), Value::Object(cool_downs));
    let json = serde_json::to_vec(&Value::Object(object)).unwrap();
    assert_eq!(json[0], b'{');
    json
}

#[tokio::test]
async fn a_waiting_login_of_the_previous_release_completes() {
    let sim = sim(fast_sim()).await;
    let store = Arc::new(MemoryStore::new());
    let config = config_for(&sim).build().unwrap();
    let sealer = Sealer::new(sim.client_secret().as_bytes()).unwrap();
    let shared: Arc<dyn Store> = store.clone();
    let client = VippsClient::with_store(config, shared).unwrap();
    let started = client.start(kari()).await.unwrap();

    // Rewrite its record as the previous release would have written it.
    let key = format!("vipps-login:login:{}", started.id);
    let sealed = store.get(&key).await.unwrap().unwrap();
    let json = as_previous_release(&sealer.open(&key, &sealed).unwrap());
    let old = sealer.seal(&key, &json).unwrap();
    assert!(
        store
            .compare_and_swap(&key, &sealed, Some(old), Duration::from_secs(600))
            .await
            .unwrap()
    );

    assert!(matches!(
        client.status(&started.id).await.unwrap(),
        LoginStatus::Pending
    ));
    let request = pending(&sim, KARI).await;
    sim.approve(&request.auth_req_id).await.unwrap();
    let identity = client.wait(&started.id).await.unwrap();
    assert!(!identity.sub.is_empty());
    // The approval wrote the record again, in the compact form.
    let sealed = store.get(&key).await.unwrap().unwrap();
    assert_eq!(sealer.open(&key, &sealed).unwrap()[0], 2);
    let redeemed = client.redeem(&started.id, "").await.unwrap();
    assert_eq!(redeemed.sub, identity.sub);
}
