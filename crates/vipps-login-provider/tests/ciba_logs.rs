//! What the CIBA provider logs at INFO and above while a login runs: never the
//! `auth_req_id` a client holds (with a client's credentials it is the login).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::Value;

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

#[tokio::test]
async fn no_auth_req_id_is_logged_above_debug() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let b = bridge().await;
    let (status, started) = b.bc_authorize(RP1, &start_form(KARI_HINT, &[])).await;
    assert_eq!(status, 200, "{started}");
    let id = started["auth_req_id"].as_str().unwrap().to_owned();
    approve(&b.sim, KARI).await;
    let mut tokens = Value::Null;
    for _ in 0..50 {
        let r = b.poll(RP1, &id).await;
        if r.status() == 200 {
            tokens = r.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    assert!(tokens["id_token"].is_string(), "the login completed");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("tokens issued"),
        "INFO logs were captured: {text}"
    );
    // Not the id, nor a recognisable piece of it.
    for piece in id.as_bytes().windows(8) {
        let piece = std::str::from_utf8(piece).unwrap();
        assert!(
            !text.contains(piece),
            "`{piece}` of the auth_req_id in the logs:\n{text}"
        );
    }
}
