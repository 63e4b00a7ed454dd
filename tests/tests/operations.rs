//! What an operator sees of the reference binaries, with real parts: a real Prometheus
//! scraping a desk's and the identity bridge's management listeners during real logins
//! (read back through Prometheus' query API), readiness following a real Redis going
//! away and coming back, and the audit log of a desk.
//!
//! Needs `redis-server`, `prometheus` (Debian's package; `cargo xtask ci` installs both)
//! and the binaries in `target/debug` (`cargo build -p vipps-login-sim -p counter -p
//! identity-bridge`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use url::Url;
use vipps_login_tests::cluster::Cluster;
use vipps_login_tests::device::{DECIDED_WITHIN as WAIT, Device, http, join, until};
use vipps_login_tests::procs::{free_port, temp_dir};
use vipps_login_tests::prometheus::Prometheus;

/// A loopback address on a free port, for `--management-listen`.
fn management_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// `GET http://{addr}{path}`: status and JSON body.
async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let res = reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap_or_else(|e| panic!("GET {path} on the management listener: {e}"));
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A CIBA login at the bridge for `phone`, approved on the simulated phone, its tokens
/// fetched by polling: how many token requests it took.
async fn bridge_login(cluster: &Cluster, issuer: &Url, phone: &str) -> u32 {
    let http = reqwest::Client::new();
    let base = format!("{}/", issuer.as_str().trim_end_matches('/'));
    let res = http
        .post(join(&Url::parse(&base).unwrap(), "bc-authorize"))
        .basic_auth("demo-rp", Some("demo-rp-secret"))
        .form(&[
            ("scope", "openid phone"),
            ("login_hint", &format!("+{phone}")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "bc-authorize");
    let started: Value = res.json().await.unwrap();
    let auth_req_id = started["auth_req_id"].as_str().unwrap().to_owned();
    let req = cluster.sim.pending(phone).await;
    assert_eq!(cluster.sim.approve(&req).await.0, 200);
    // Polled as a client must: at the interval the bridge gave, longer after `slow_down`.
    let mut interval = Duration::from_secs(started["interval"].as_u64().unwrap_or(5));
    let deadline = std::time::Instant::now() + WAIT;
    let mut asked = 0;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no tokens from the bridge within {WAIT:?}"
        );
        tokio::time::sleep(interval).await;
        asked += 1;
        let res = http
            .post(join(&Url::parse(&base).unwrap(), "token"))
            .basic_auth("demo-rp", Some("demo-rp-secret"))
            .form(&[
                ("grant_type", "urn:openid:params:grant-type:ciba"),
                ("auth_req_id", &auth_req_id),
            ])
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            return asked;
        }
        let answer: Value = res.json().await.unwrap_or(Value::Null);
        match answer["error"].as_str() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += Duration::from_secs(5),
            _ => panic!("the bridge's token endpoint: {answer}"),
        }
    }
}

/// Waits until Prometheus' answer to `expr` is `want` (it scrapes every 500 ms).
async fn prometheus_says(prometheus: &Prometheus, expr: &str, want: f64) {
    let mut last = None;
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let value = prometheus.value(expr).await;
            if value == Some(want) {
                return;
            }
            last = value;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "Prometheus: `{expr}` is {last:?}, not {want} (its files: {})",
        prometheus.dir().display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_reads_back_what_a_desk_and_the_bridge_did() {
    let mut cluster = Cluster::empty();
    let (desk_mgmt, bridge_mgmt) = (management_addr(), management_addr());
    let desk = cluster.counter(&["--management-listen", &desk_mgmt.to_string()]);
    let bridge = cluster.bridge(&["--management-listen", &bridge_mgmt.to_string()]);
    let prometheus = Prometheus::start(&[("desk", desk_mgmt), ("bridge", bridge_mgmt)]).await;

    // At the desk: two logins approved, one cancelled.
    let customer = Device::new(&http());
    for phone in ["4712345678", "4798765432"] {
        let id = customer.login_started(&desk.url, phone).await;
        let req = cluster.sim.pending(phone).await;
        assert_eq!(cluster.sim.approve(&req).await.0, 200);
        assert!(customer.decided(&desk.url, &id).await.logged_in());
    }
    let id = customer.login_started(&desk.url, "4791112222").await;
    cluster.sim.pending("4791112222").await;
    assert_eq!(customer.cancel(&desk.url, &id).await.status, 200);

    // At the bridge: one CIBA login, its tokens polled for.
    let token_requests = bridge_login(&cluster, &bridge.url, "4793334444").await;

    let ended = |job: &str, outcome: &str| {
        format!("sum(vipps_login_logins_ended_total{{job=\"{job}\",outcome=\"{outcome}\"}})")
    };
    prometheus_says(&prometheus, &ended("desk", "approved"), 2.0).await;
    prometheus_says(&prometheus, &ended("desk", "cancelled"), 1.0).await;
    prometheus_says(&prometheus, &ended("bridge", "approved"), 1.0).await;
    prometheus_says(
        &prometheus,
        "sum(vipps_login_logins_started_total{job=\"desk\"})",
        3.0,
    )
    .await;
    prometheus_says(
        &prometheus,
        "sum(vipps_login_logins_redeemed_total{job=\"desk\"})",
        2.0,
    )
    .await;
    prometheus_says(
        &prometheus,
        "vipps_login_provider_token_requests_total{job=\"bridge\",grant=\"ciba\",outcome=\"issued\"}",
        1.0,
    )
    .await;
    prometheus_says(
        &prometheus,
        "sum(vipps_login_provider_token_requests_total{job=\"bridge\",grant=\"ciba\"})",
        f64::from(token_requests),
    )
    .await;
    prometheus_says(
        &prometheus,
        "sum(vipps_login_vipps_calls_total{job=\"desk\",endpoint=\"backchannel\",status=\"2xx\"})",
        3.0,
    )
    .await;
    prometheus_says(&prometheus, "vipps_login_pending_logins{job=\"desk\"}", 0.0).await;
    // Latency histograms are histograms (buckets), and store operations are counted.
    let buckets = prometheus
        .query("vipps_login_vipps_call_duration_seconds_bucket{job=\"desk\",endpoint=\"token\"}")
        .await;
    assert!(buckets.len() > 5, "no buckets: {buckets:?}");
    let store_ops = prometheus
        .value("sum(vipps_login_store_operations_total{job=\"desk\",op=\"compare_and_swap\"})")
        .await;
    assert!(store_ops.is_some_and(|n| n >= 3.0), "{store_ops:?}");
    // Every label value comes from a closed set: no number, id or client string.
    for sample in prometheus.query("{__name__=~\"vipps_login_.*\"}").await {
        for (name, value) in &sample.labels {
            if matches!(name.as_str(), "__name__" | "instance" | "job") {
                continue; // Prometheus' own labels
            }
            assert!(
                !value.contains("4712345678") && !value.contains(&id) && value.len() < 40,
                "label {name}={value} of {:?} is not from a closed set",
                sample.labels
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_redis_and_liveness_stays() {
    let mut cluster = Cluster::empty();
    let mgmt = management_addr();
    let desk = cluster.counter(&["--management-listen", &mgmt.to_string()]);
    cluster.apps.push(desk);
    let (status, body) = get(mgmt, "/health/ready").await;
    assert_eq!(
        (status, &body["status"]),
        (200, &Value::from("ready")),
        "{body}"
    );
    assert_eq!(get(mgmt, "/health/live").await.0, 200);

    cluster.redis.stop();
    let (body, _) = until(Duration::from_secs(15), "readiness to say 503", || async {
        let (status, body) = get(mgmt, "/health/ready").await;
        (status == 503).then_some(body)
    })
    .await;
    assert_eq!(body["status"], "not_ready", "{body}");
    let missing = body["missing"].as_array().unwrap();
    assert!(
        missing.iter().any(|m| m["check"] == "store"),
        "the store is named as missing: {body}"
    );
    assert_eq!(get(mgmt, "/health/live").await.0, 200, "still live");

    cluster.redis.start();
    until(
        Duration::from_secs(30),
        "readiness to say 200 again",
        || async { (get(mgmt, "/health/ready").await.0 == 200).then_some(()) },
    )
    .await;
    assert_eq!(get(mgmt, "/health/live").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desks_audit_log_has_each_step_and_no_number_token_or_secret() {
    let mut cluster = Cluster::empty();
    let dir = temp_dir("audit");
    let log = dir.join("audit.jsonl");
    let desk = cluster.counter(&["--audit-log", log.to_str().unwrap()]);
    let customer = Device::new(&http());
    let id = customer.login_started(&desk.url, "4712345678").await;
    let req = cluster.sim.pending("4712345678").await;
    assert_eq!(cluster.sim.approve(&req).await.0, 200);
    assert!(customer.decided(&desk.url, &id).await.logged_in());
    let cancelled = customer.login_started(&desk.url, "4798765432").await;
    let other_req = cluster.sim.pending("4798765432").await;
    assert_eq!(customer.cancel(&desk.url, &cancelled).await.status, 200);

    let (text, _) = until(WAIT, "the audit log's five events", || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        (text.lines().count() >= 5).then_some(text)
    })
    .await;
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "login_started",
            "login_ended",
            "login_redeemed",
            "login_started",
            "login_cancelled"
        ],
        "{text}"
    );
    assert_eq!(events[1]["outcome"], "approved");
    assert_eq!(events[4]["outcome"], "cancelled");
    assert_eq!(
        events[0]["login"], events[2]["login"],
        "one login, one name"
    );
    assert_ne!(events[0]["login"], events[3]["login"]);
    assert_eq!(events[0]["client_address"], "127.0.0.1");
    // Who sent the push: the staff member the desk's gate let in.
    assert_eq!(events[0]["actor"]["kind"], "staff", "{text}");
    assert_eq!(events[0]["actor"]["id"], "staff-password", "{text}");
    assert_eq!(events[3]["actor"]["id"], "staff-password", "{text}");
    assert!(events[0]["masked_number"].as_str().unwrap().contains('*'));
    assert!(events[0]["binding_message"].is_string());
    // Nothing that identifies the customer or opens anything.
    for secret in [
        "4712345678",
        "4798765432",
        req.as_str(),
        other_req.as_str(),
        id.as_str(),
        cancelled.as_str(),
        "demo-secret",
        "multi-instance-staff",
    ] {
        assert!(
            !text.contains(secret),
            "the audit log holds `{secret}`:\n{text}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
