//! The pass-through path's decoded-session memo must never let a cookie through that the
//! layer without it would refuse: tampered or foreign cookies, sessions logged out on
//! another instance (with an in-process store and with one that must be awaited, as a
//! networked store is), all right after the same session was served from the memo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use tokio::sync::broadcast;
use tower::ServiceExt as _;
use vipps_login_core::{ClientAuth, Config, Issuer, MemoryStore, Notification, Secret, Store};
use vipps_login_core::{StoreError, VippsClient};
use vipps_login_sim::{Policy, SimConfig, SimHandle, Simulator};
use vipps_login_tower::{VippsLoginLayer, VippsUser};

/// A store that answers only through futures, as a networked one does (no `get_ready`).
struct Awaited(MemoryStore);

#[async_trait]
impl Store for Awaited {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key).await
    }
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        self.0.set(key, value, ttl).await
    }
    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.0.remove(key).await
    }
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.take(key).await
    }
    async fn insert_if_absent(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.0.insert_if_absent(key, value, ttl).await
    }
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: Option<Vec<u8>>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.0.compare_and_swap(key, expected, new, ttl).await
    }
    async fn increment(&self, key: &str, ttl: Duration) -> Result<(u64, Duration), StoreError> {
        self.0.increment(key, ttl).await
    }
    async fn index_add(
        &self,
        key: &str,
        member: &str,
        until: SystemTime,
    ) -> Result<(), StoreError> {
        self.0.index_add(key, member, until).await
    }
    async fn index_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        self.0.index_remove(key, member).await
    }
    async fn index_members(&self, key: &str) -> Result<Vec<(String, SystemTime)>, StoreError> {
        self.0.index_members(key).await
    }
    async fn publish(&self, channel: &str, message: Vec<u8>) -> Result<(), StoreError> {
        self.0.publish(channel, message).await
    }
    async fn subscribe(
        &self,
        channel: &str,
    ) -> Result<broadcast::Receiver<Notification>, StoreError> {
        self.0.subscribe(channel).await
    }
}

async fn simulator() -> SimHandle {
    let sim = Simulator::start(SimConfig::default().interval(Duration::from_millis(20)))
        .await
        .unwrap();
    sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(10),
    });
    sim
}

/// One instance: its own client and layer, on the shared session `store` and cookie key.
fn instance(sim: &SimHandle, store: Arc<dyn Store>, key: &cookie::Key) -> Router {
    let config = Config::builder(
        Issuer::Custom(sim.issuer()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
    .client_auth(ClientAuth::Basic)
    .build()
    .unwrap();
    let client = VippsClient::with_store(config, Arc::clone(&store)).unwrap();
    let layer = VippsLoginLayer::builder(client)
        .cookie_key(key.clone())
        .store(store)
        .build()
        .unwrap();
    Router::new()
        .route("/", get(|u: VippsUser| async move { u.sub().to_owned() }))
        .layer(layer)
}

fn set_cookie(res: &http::Response<Body>) -> String {
    let set = res.headers()[header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// Logs a customer in through the JSON API; the session cookie as `name=value`.
async fn log_in(app: &Router) -> String {
    let res = app
        .clone()
        .oneshot(
            Request::post("/auth/vipps/api/start")
                .header("x-requested-with", "test")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"phone":"4712345678"}"#))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let first = set_cookie(&res);
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let started: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let status_url = started["status_url"].as_str().unwrap().to_owned();
    for _ in 0..500 {
        let res = app
            .clone()
            .oneshot(
                Request::get(&status_url)
                    .header(header::COOKIE, &first)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        if res.headers().contains_key(header::SET_COOKIE) {
            return set_cookie(&res);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the login never completed");
}

async fn status(app: &Router, cookie: &str) -> StatusCode {
    app.clone()
        .oneshot(
            Request::get("/")
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap()
        .status()
}

async fn log_out(app: &Router, cookie: &str) {
    let res = app
        .clone()
        .oneshot(
            Request::post("/auth/vipps/api/logout")
                .header("x-requested-with", "test")
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// The same session id sealed again under `key` (a fresh nonce: another cookie value).
fn reseal(cookie: &str, key: &cookie::Key, under: &cookie::Key) -> String {
    let (name, value) = cookie.split_once('=').unwrap();
    let id = cookie::CookieJar::new()
        .private(key)
        .decrypt(cookie::Cookie::new(name.to_owned(), value.to_owned()))
        .unwrap()
        .value()
        .to_owned();
    let mut jar = cookie::CookieJar::new();
    jar.private_mut(under)
        .add(cookie::Cookie::new(name.to_owned(), id));
    format!("{name}={}", jar.get(name).unwrap().value())
}

/// Logout on instance B ends the session on instance A at once, though A has just served
/// it from its memo.
async fn logout_elsewhere_is_seen_at_once(store: Arc<dyn Store>) {
    let sim = simulator().await;
    let key = cookie::Key::generate();
    let a = instance(&sim, Arc::clone(&store), &key);
    let b = instance(&sim, store, &key);
    let cookie = log_in(&a).await;
    for _ in 0..3 {
        assert_eq!(status(&a, &cookie).await, StatusCode::OK);
        assert_eq!(status(&b, &cookie).await, StatusCode::OK);
    }
    log_out(&b, &cookie).await;
    assert_eq!(status(&b, &cookie).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&a, &cookie).await, StatusCode::UNAUTHORIZED);
    // And stays refused (the memo entry is gone, not revived).
    assert_eq!(status(&a, &cookie).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_on_another_instance_ends_the_session_at_once_in_process_store() {
    logout_elsewhere_is_seen_at_once(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn logout_on_another_instance_ends_the_session_at_once_awaited_store() {
    logout_elsewhere_is_seen_at_once(Arc::new(Awaited(MemoryStore::new()))).await;
}

#[tokio::test]
async fn tampered_and_foreign_cookies_are_refused_after_a_memo_hit() {
    let sim = simulator().await;
    let key = cookie::Key::generate();
    for store in [
        Arc::new(MemoryStore::new()) as Arc<dyn Store>,
        Arc::new(Awaited(MemoryStore::new())),
    ] {
        let app = instance(&sim, store, &key);
        let cookie = log_in(&app).await;
        assert_eq!(status(&app, &cookie).await, StatusCode::OK);
        assert_eq!(status(&app, &cookie).await, StatusCode::OK, "memo hit");
        let (name, value) = cookie.split_once('=').unwrap();
        // One character changed: in the middle, and in the tail the memo hashes.
        for at in [value.len() / 2, value.len() - 3] {
            let mut bytes = value.as_bytes().to_vec();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let tampered = format!("{name}={}", String::from_utf8(bytes).unwrap());
            assert_eq!(status(&app, &tampered).await, StatusCode::UNAUTHORIZED);
        }
        // Truncated, extended, and the same id sealed under another key.
        let truncated = &cookie[..cookie.len() - 1];
        assert_eq!(status(&app, truncated).await, StatusCode::UNAUTHORIZED);
        let extended = format!("{cookie}A");
        assert_eq!(status(&app, &extended).await, StatusCode::UNAUTHORIZED);
        let foreign = reseal(&cookie, &key, &cookie::Key::generate());
        assert_eq!(status(&app, &foreign).await, StatusCode::UNAUTHORIZED);
        // Another valid sealing of the same session works, and ends with it.
        let again = reseal(&cookie, &key, &key);
        assert_ne!(again, cookie);
        assert_eq!(status(&app, &again).await, StatusCode::OK);
        assert_eq!(status(&app, &cookie).await, StatusCode::OK);
        log_out(&app, &again).await;
        assert_eq!(status(&app, &cookie).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status(&app, &again).await, StatusCode::UNAUTHORIZED);
    }
}
