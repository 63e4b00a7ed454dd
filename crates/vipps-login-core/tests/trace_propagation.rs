//! The engine's side of one trace per login: the `traceparent` the installed
//! [`TracePropagation`] gives at the start is sealed with the login and handed back, and
//! the later steps (the poll that ends the login, the redemption) adopt it, with no
//! tracing backend in core.
//!
//! One test in this binary: it installs the process-wide propagation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use vipps_login_core::LoginContext;
use vipps_login_core::trace::{AlreadyInstalled, TracePropagation, set_propagation};
use vipps_login_sim::Policy;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Gives [`TRACEPARENT`] as the current span's and notes what the engine adopts.
struct Recording(Arc<Mutex<Vec<String>>>);

impl TracePropagation for Recording {
    fn current(&self) -> Option<String> {
        Some(TRACEPARENT.to_owned())
    }

    fn adopt(&self, _span: &tracing::Span, traceparent: &str) {
        self.0.lock().unwrap().push(traceparent.to_owned());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_traceparent_is_kept_with_the_login_and_adopted_by_later_steps() {
    let adopted = Arc::new(Mutex::new(Vec::new()));
    set_propagation(Recording(adopted.clone())).unwrap();
    assert_eq!(
        set_propagation(Recording(Arc::default())),
        Err(AlreadyInstalled),
        "installed once per process"
    );

    let sim = sim(fast_sim().policy(Policy::AutoApprove {
        after: Duration::from_millis(150),
    }))
    .await;
    let client = client_for(&sim);
    let started = client
        .start_login(kari(), LoginContext::new("till-4"))
        .await
        .unwrap();
    let view = client.login(&started.id).await.unwrap();
    assert_eq!(
        view.context.trace_parent_value(),
        Some(TRACEPARENT),
        "sealed with the record and read back"
    );

    let mut status = client.watch(&started.id).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(|s| !s.is_waiting()),
    )
    .await
    .expect("approved within 10 s")
    .unwrap();
    let polls = adopted.lock().unwrap().len();
    assert!(polls >= 1, "the polls adopt the start's trace");
    client.redeem(&started.id, "till-4").await.unwrap();
    let adopted = adopted.lock().unwrap().clone();
    assert!(
        adopted.len() > polls,
        "the redemption adopts it too: {adopted:?}"
    );
    assert!(adopted.iter().all(|t| t == TRACEPARENT), "{adopted:?}");
}
