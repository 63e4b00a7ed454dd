//! The desks' staff password gate, served as the apps serve it (the peer address is the
//! source): wrong passwords are throttled per source, as a bearer and on the sign-in
//! form, and never lock out the real staff signing in from elsewhere; a request let in
//! carries who is signed in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use example_support::staff::StaffGate;
use vipps_login_tower::StaffMember;

const PASSWORD: &str = "the-real-staff-password";

async fn desk() -> SocketAddr {
    let gate = StaffGate::new(PASSWORD, cookie::Key::generate(), false, "/auth/vipps")
        .unwrap()
        .staff_id("front-desk");
    let router = Router::new()
        .route(
            "/desk",
            get(|axum::Extension(who): axum::Extension<StaffMember>| async move { who.id }),
        )
        .layer(axum::middleware::from_fn_with_state(
            gate,
            StaffGate::require,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example_support::serve::serve(listener, router));
    addr
}

/// A browser whose connections come from `source` (any 127.0.0.0/8 address is loopback).
fn from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn bearer_guesses_are_throttled_per_source() {
    let addr = desk().await;
    let url = format!("http://{addr}/desk");
    let attacker = from("127.0.0.2");
    let mut statuses = Vec::new();
    for i in 0..12 {
        let res = attacker
            .get(&url)
            .bearer_auth(format!("guess-number-{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(&statuses[..6], &[401; 6], "{statuses:?}");
    assert!(
        statuses[6..].iter().all(|s| *s == 429),
        "paused after the free failures: {statuses:?}"
    );
    // Paused, even the right password is not checked from that source...
    let res = attacker
        .get(&url)
        .bearer_auth(PASSWORD)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // ...while the real staff elsewhere are let in, as who the gate names them.
    let staff = from("127.0.0.3");
    let res = staff.get(&url).bearer_auth(PASSWORD).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "front-desk");
}

#[tokio::test]
async fn wrong_passwords_on_the_form_never_lock_out_the_real_staff() {
    let addr = desk().await;
    let sign_in = format!("http://{addr}/staff/sign-in");
    let attacker = from("127.0.0.4");
    for i in 0..8 {
        let res = attacker
            .post(&sign_in)
            .form(&[
                ("password", format!("wrong-{i}")),
                ("return_to", "/desk".into()),
            ])
            .send()
            .await
            .unwrap();
        assert!(
            [401, 429].contains(&res.status().as_u16()),
            "{}",
            res.status()
        );
    }
    let res = attacker
        .post(&sign_in)
        .form(&[("password", "wrong-again"), ("return_to", "/desk")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429, "the guessing source is paused");

    let staff = from("127.0.0.5");
    let res = staff
        .post(&sign_in)
        .form(&[("password", PASSWORD), ("return_to", "/desk")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "the real staff sign in from their own desk"
    );
    let res = staff
        .get(format!("http://{addr}/desk"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "front-desk");
}

#[tokio::test]
async fn behind_a_proxy_each_client_address_is_its_own_source() {
    let gate = StaffGate::new(PASSWORD, cookie::Key::generate(), false, "/auth/vipps")
        .unwrap()
        .behind_proxy(true);
    let router = Router::new()
        .route(
            "/desk",
            get(|axum::Extension(who): axum::Extension<StaffMember>| async move { who.id }),
        )
        .layer(axum::middleware::from_fn_with_state(
            gate,
            StaffGate::require,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example_support::serve::serve(listener, router));
    let url = format!("http://{addr}/desk");
    // Every request comes from the proxy's address; the proxy names the client.
    let proxy = from("127.0.0.8");
    for i in 0..8 {
        let _ = proxy
            .get(&url)
            .header("x-forwarded-for", "198.51.100.1")
            .bearer_auth(format!("guess-{i}"))
            .send()
            .await
            .unwrap();
    }
    let res = proxy
        .get(&url)
        .header("x-forwarded-for", "198.51.100.1")
        .bearer_auth(PASSWORD)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429, "the guessing client is paused");
    let res = proxy
        .get(&url)
        .header("x-forwarded-for", "198.51.100.2")
        .bearer_auth(PASSWORD)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the staff behind the same proxy are not");
}

/// The audit trail's sink of the test below: every event, kept.
#[derive(Default)]
struct Kept(std::sync::Mutex<Vec<vipps_login_core::audit::AuditEvent>>);

impl vipps_login_core::audit::AuditSink for Kept {
    fn record(&self, event: &vipps_login_core::audit::AuditEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

#[tokio::test]
async fn every_sign_in_and_every_wrong_password_is_in_the_audit_trail() {
    let kept = std::sync::Arc::new(Kept::default());
    let sink: std::sync::Arc<dyn vipps_login_core::audit::AuditSink> = kept.clone();
    let gate = StaffGate::new(PASSWORD, cookie::Key::generate(), false, "/auth/vipps")
        .unwrap()
        .staff_id("front-desk")
        .audit(example_support::ops::StaffSignInAudit::new(Some(sink)));
    let router = Router::new()
        .route("/desk", get(|| async { "desk" }))
        .layer(axum::middleware::from_fn_with_state(
            gate,
            StaffGate::require,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example_support::serve::serve(listener, router));
    let sign_in = format!("http://{addr}/staff/sign-in");
    let clerk = from("127.0.0.9");
    let mut statuses = Vec::new();
    for password in ["not-the-password", PASSWORD] {
        let res = clerk
            .post(&sign_in)
            .form(&[("password", password), ("return_to", "/desk")])
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(
        statuses[1], 303,
        "the right password signs in: {statuses:?}"
    );
    let events = kept.0.lock().unwrap().clone();
    let seen: Vec<(String, String, Option<String>)> = events
        .iter()
        .map(|e| {
            let json = serde_json::to_value(e).unwrap();
            (
                json["action"].as_str().unwrap().to_owned(),
                e.outcome.clone(),
                e.actor.as_ref().map(|a| a.id.clone()),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "staff_sign_in".to_owned(),
                "refused".to_owned(),
                Some("front-desk".to_owned())
            ),
            (
                "staff_sign_in".to_owned(),
                "signed_in".to_owned(),
                Some("front-desk".to_owned())
            ),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.client_address.as_deref() == Some("127.0.0.9"))
    );
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(PASSWORD) && !text.contains("not-the-password"));
}
