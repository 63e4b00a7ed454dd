//! Traces: one trace per login across instances, exported by the real desks over OTLP/HTTP
//! to a receiver built here on the official `opentelemetry-proto` definitions.
//!
//! A login started on desk A, A stopped with SIGTERM (it hands the login over and sends
//! its last spans), the customer approves, desk B polls, ends and redeems the login: the
//! spans of both instances carry the trace id of the span that started it, and no
//! attribute holds the number, the `auth_req_id` or the login id.
//!
//! Needs `redis-server` and the binaries in `target/debug`, as `multi_instance.rs` does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message as _;
use vipps_login_tests::cluster::Cluster;
use vipps_login_tests::device::{DECIDED_WITHIN as WAIT, Device, http, until};

/// One exported span, as the receiver keeps it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    /// Every string in the span: its attributes, its events' and its resource's.
    strings: Vec<String>,
    /// The span's `login` attribute.
    login: Option<String>,
}

type Spans = Arc<Mutex<Vec<Received>>>;

/// An OTLP/HTTP receiver on a loopback port: decodes each `POST /v1/traces`.
async fn receiver() -> (SocketAddr, Spans) {
    let spans: Spans = Arc::default();
    let kept = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let kept = kept.clone();
            async move {
                let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                    return (axum::http::StatusCode::BAD_REQUEST, Vec::new());
                };
                kept.lock().unwrap().extend(spans_of(&request));
                (axum::http::StatusCode::OK, Vec::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, spans)
}

fn spans_of(request: &ExportTraceServiceRequest) -> Vec<Received> {
    let mut out = Vec::new();
    for resource_spans in &request.resource_spans {
        let resource = resource_spans
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        let service = string_attribute(resource, "service.name").unwrap_or_default();
        for scope in &resource_spans.scope_spans {
            for span in &scope.spans {
                let mut strings = Vec::new();
                collect(&span.attributes, &mut strings);
                for event in &span.events {
                    strings.push(event.name.clone());
                    collect(&event.attributes, &mut strings);
                }
                collect(resource, &mut strings);
                out.push(Received {
                    service: service.clone(),
                    name: span.name.clone(),
                    trace_id: span.trace_id.clone(),
                    strings,
                    login: string_attribute(&span.attributes, "login"),
                });
            }
        }
    }
    out
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .map(any_to_string)
}

fn collect(attributes: &[KeyValue], out: &mut Vec<String>) {
    for kv in attributes {
        out.push(kv.key.clone());
        if let Some(value) = &kv.value {
            out.push(any_to_string(value));
        }
    }
}

fn any_to_string(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_started_on_a_and_finished_on_b_is_one_trace() {
    let (addr, spans) = receiver().await;
    let mut cluster = Cluster::empty();
    cluster.set_env("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{addr}"));
    cluster.set_env("OTEL_BSP_SCHEDULE_DELAY", "200");
    cluster.set_env("OTEL_SERVICE_NAME", "desk-a");
    let a = cluster.counter(&[]);
    cluster.set_env("OTEL_SERVICE_NAME", "desk-b");
    let b = cluster.counter(&[]);
    cluster.apps.push(a);
    cluster.apps.push(b);
    let (a, b) = (cluster.url(0), cluster.url(1));

    let phone = "4798765432";
    let customer = Device::new(&http());
    let id = customer.login_started(&a, phone).await;
    let auth_req_id = cluster.sim.pending(phone).await;
    // Let A poll it at least once, so that A is its poller.
    until(WAIT, "the first poll", || async {
        let stats = cluster.sim.stats().await;
        (stats["token"].as_u64() >= Some(1)).then_some(())
    })
    .await;
    assert!(
        cluster.apps[0].proc.terminate(Duration::from_secs(5)),
        "A did not stop by itself within 5 s of SIGTERM"
    );
    assert_eq!(cluster.sim.approve(&auth_req_id).await.0, 200);
    let done = customer.decided(&b, &id).await;
    assert!(done.logged_in(), "completed on B: {:?}", done.body);

    let named = |service: &str, name: &str| {
        spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.service == service && s.name == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    // A flushed at its stop; B sends within its batch delay.
    let (redeemed, _) = until(WAIT, "B's redemption span", || async {
        named("desk-b", "vipps_login.redeem").pop()
    })
    .await;
    let started = named("desk-a", "vipps_login.start");
    assert_eq!(started.len(), 1, "one start span from A: {started:?}");
    let trace = started[0].trace_id.clone();
    assert_eq!(trace.len(), 16, "a W3C trace id");
    assert_eq!(
        redeemed.trace_id, trace,
        "B's redemption continues A's trace"
    );
    let polls_a = named("desk-a", "vipps_login.poll");
    let polls_b = named("desk-b", "vipps_login.poll");
    let seen = || {
        spans
            .lock()
            .unwrap()
            .iter()
            .map(|s| format!("{}: {}", s.service, s.name))
            .collect::<Vec<_>>()
    };
    assert!(!polls_a.is_empty(), "A polled the login: {:?}", seen());
    assert!(!polls_b.is_empty(), "B polled the login after A stopped");
    for poll in polls_a.iter().chain(&polls_b) {
        assert_eq!(
            poll.trace_id, trace,
            "every poll is in the login's trace: {poll:?}"
        );
    }
    // The login is named by its keyed hash, the same on both instances.
    let tag = started[0]
        .login
        .clone()
        .expect("the start span names the login");
    assert_ne!(tag, id);
    assert_eq!(redeemed.login.as_deref(), Some(tag.as_str()));

    let all = spans.lock().unwrap().clone();
    let digits = &phone[2..];
    for span in &all {
        for s in &span.strings {
            assert!(
                !s.contains(digits) && !s.contains(&auth_req_id) && !s.contains(&id),
                "span `{}` of {} holds the number, the auth_req_id or the login id: {s}",
                span.name,
                span.service
            );
        }
    }
    eprintln!(
        "one trace: {} spans from A and B, {} in the login's trace",
        all.len(),
        all.iter().filter(|s| s.trace_id == trace).count()
    );
}
