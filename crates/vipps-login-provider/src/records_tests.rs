#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vipps_login_core::{MemoryStore, Secret, Store, SystemClock};

use super::Records;

const MINUTE: Duration = Duration::from_secs(60);
const ID: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn records_on(store: &Arc<MemoryStore>, secret: &str) -> Records {
    Records::sealed_with(
        store.clone() as Arc<dyn Store>,
        Arc::new(SystemClock),
        &Secret::new(secret),
    )
}

fn personal() -> Value {
    json!({"sub": "vipps-sub-1", "name": "Kari Nordmann", "phone_number": "4712345678"})
}

#[tokio::test]
async fn records_round_trip_and_are_not_readable_in_the_store() {
    let store = Arc::new(MemoryStore::new());
    let records = records_on(&store, "secret");
    records.put("at", ID, &personal(), MINUTE).await.unwrap();
    assert_eq!(
        records.get::<Value>("at", ID).await.unwrap(),
        Some(personal())
    );
    let key = records.store_key("at", ID);
    assert!(key.starts_with("vlp:at:"), "{key}");
    assert!(!key.contains(ID), "the key names no raw id: {key}");
    assert_ne!(
        key,
        format!(
            "vlp:at:{}",
            vipps_login_core::token::sha256_b64url(ID.as_bytes())
        ),
        "not a plain digest anyone can compute from the id"
    );
    let raw = store.get(&key).await.unwrap().expect("stored");
    for plain in [&b"Kari"[..], b"4712345678", b"vipps-sub-1", b"name"] {
        assert!(
            !raw.windows(plain.len()).any(|w| w == plain),
            "{:?} readable in the store",
            String::from_utf8_lossy(plain)
        );
    }
    // Another instance given the same secret opens it (the bridge's instances do).
    let other = records_on(&store, "secret");
    assert_eq!(
        other.take::<Value>("at", ID).await.unwrap(),
        Some(personal())
    );
    assert_eq!(records.get::<Value>("at", ID).await.unwrap(), None);
}

#[tokio::test]
async fn planted_edited_copied_and_foreign_records_do_not_open() {
    let store = Arc::new(MemoryStore::new());
    let records = records_on(&store, "secret");
    let key = records.store_key("code", ID);

    // Planted: plain JSON written straight to the store under the right key.
    store
        .set(&key, serde_json::to_vec(&personal()).unwrap(), MINUTE)
        .await
        .unwrap();
    assert_eq!(records.get::<Value>("code", ID).await.unwrap(), None);
    assert_eq!(records.take::<Value>("code", ID).await.unwrap(), None);

    // Edited: one byte of a genuine record changed.
    records.put("code", ID, &personal(), MINUTE).await.unwrap();
    let mut edited = store.get(&key).await.unwrap().unwrap();
    let last = edited.len() - 1;
    edited[last] ^= 1;
    store.set(&key, edited, MINUTE).await.unwrap();
    assert_eq!(records.get::<Value>("code", ID).await.unwrap(), None);

    // Copied: a genuine record of another id (or kind) moved under this key.
    records
        .put("code", "other-id", &personal(), MINUTE)
        .await
        .unwrap();
    let genuine = store
        .get(&records.store_key("code", "other-id"))
        .await
        .unwrap()
        .unwrap();
    store.set(&key, genuine.clone(), MINUTE).await.unwrap();
    assert_eq!(records.get::<Value>("code", ID).await.unwrap(), None);
    store
        .set(&records.store_key("at", "other-id"), genuine, MINUTE)
        .await
        .unwrap();
    assert_eq!(records.get::<Value>("at", "other-id").await.unwrap(), None);

    // Sealed with another secret (another merchant's bridge on the same Redis).
    let foreign = records_on(&store, "another secret");
    foreign.put("code", ID, &personal(), MINUTE).await.unwrap();
    assert_eq!(records.get::<Value>("code", ID).await.unwrap(), None);
    assert_ne!(
        foreign.store_key("code", ID),
        key,
        "names differ per secret"
    );
}

#[tokio::test]
async fn conditional_writes_are_sealed_too() {
    let store = Arc::new(MemoryStore::new());
    let records = records_on(&store, "secret");
    assert!(
        records
            .insert_if_absent("keys", "set", &json!(1), MINUTE)
            .await
            .unwrap()
    );
    assert!(
        !records
            .insert_if_absent("keys", "set", &json!(2), MINUTE)
            .await
            .unwrap()
    );
    let (v, read) = records
        .get_versioned::<Value>("keys", "set")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v, json!(1));
    assert!(
        records
            .replace("keys", "set", &read, &json!(3), MINUTE)
            .await
            .unwrap()
    );
    assert!(
        !records
            .replace("keys", "set", &read, &json!(4), MINUTE)
            .await
            .unwrap()
    );
    assert_eq!(
        records.get::<Value>("keys", "set").await.unwrap(),
        Some(json!(3))
    );
}

#[tokio::test]
async fn a_record_that_does_not_open_is_logged_by_kind_not_by_id() {
    use std::io::Write;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = Arc::new(MemoryStore::new());
    let records = records_on(&store, "secret");
    store
        .set(&records.store_key("code", ID), b"{}".to_vec(), MINUTE)
        .await
        .unwrap();
    assert_eq!(records.get::<Value>("code", ID).await.unwrap(), None);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("WARN") && text.contains("code"), "{text}");
    assert!(text.contains("treated as absent"), "{text}");
    assert!(!text.contains(ID), "{text}");
}
