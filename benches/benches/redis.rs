//! The engine and the layer on Redis (a `redis-server` of its own on loopback), counted:
//!
//! 1. **Round trips per login**: N finish-in-app logins through the engine with the
//!    layer's default limits (start, polls, approval, redemption), on one instance. Each
//!    Redis command is counted by `RedisStore::round_trips`; the polls are counted by the
//!    simulator, so the figure splits into a fixed part and one per poll.
//! 2. **A logged-in request through the layer**, Redis store against memory store, side
//!    by side (interleaved rounds): requests per second and Redis round trips per request.
//!
//! A plain program: `cargo bench -p vipps-login-benches --bench redis` (or `cargo xtask
//! bench`). Under `cargo test` (no `--bench`) it runs a few logins and requests only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, header};
use tower::ServiceExt as _;
use vipps_login_benches::measure::spread;
use vipps_login_benches::monitor::{RedisMonitor, Sent};
use vipps_login_core::{
    LoginContext, LoginRequest, MemoryStore, Msisdn, RateLimits, Store, VippsClient,
};
use vipps_login_redis::RedisStore;
use vipps_login_sim::{Policy, SimConfig, SimHandle, Simulator};
use vipps_login_tests::procs::Redis;
use vipps_login_tower::{VippsLoginLayer, VippsUser};

use vipps_login_benches::sim::config;

async fn round_trips_per_login(sim: &SimHandle, store: &RedisStore, n: u32) {
    let client = VippsClient::with_store(config(sim), Arc::new(store.clone()))
        .unwrap()
        .with_limits(RateLimits::default())
        .unwrap();
    client.start_background();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = store.round_trips();
    let polls_before = sim.stats().token;
    let clock = Instant::now();
    let mut waits = Vec::new();
    for i in 0..n {
        let m = Msisdn::parse(&format!("479{i:07}")).unwrap();
        let owner = format!("bench-{i}");
        let ctx = LoginContext::new(owner.clone()).client_key(format!("till-{}", i % 100));
        let id = client
            .start_login(LoginRequest::new(m), ctx)
            .await
            .unwrap()
            .id;
        let c = client.clone();
        waits.push(tokio::spawn(async move {
            c.wait(&id).await.unwrap();
            c.redeem(&id, &owner).await.unwrap();
        }));
    }
    for w in waits {
        w.await.unwrap();
    }
    let elapsed = clock.elapsed();
    let trips = store.round_trips() - before;
    let polls = sim.stats().token - polls_before;
    let per_login = trips as f64 / f64::from(n);
    let polls_per_login = polls as f64 / f64::from(n);
    println!(
        "redis round trips per login: {per_login:.2} over {n} logins ({polls_per_login:.2} polls each, \
         so {:.2} + 1 per poll; heartbeats included), {:.1} s",
        per_login - polls_per_login,
        elapsed.as_secs_f64()
    );
}

/// A finish-in-app login through the layer's JSON API, counted at the server (`MONITOR`):
/// the start, `pending_checks` status requests while the login waits, then the approval
/// and status requests until the session is logged in.
async fn layer_login_round_trips(
    sim: &SimHandle,
    store: &RedisStore,
    monitor: &RedisMonitor,
    logins: u32,
) {
    let client = VippsClient::with_store(config(sim), Arc::new(store.clone())).unwrap();
    let layer = VippsLoginLayer::builder(client)
        .cookie_key(cookie::Key::generate())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .layer(layer);
    sim.set_policy(Policy::Manual);
    // What the instances' background work (heartbeats, take-over scans) sends while
    // nothing happens, to take out of the figures below.
    monitor.reset();
    let quiet = Instant::now();
    // Two heartbeat ticks of each instance (a third of the 10 s poll lease).
    tokio::time::sleep(Duration::from_millis(6_800)).await;
    let background_per_s = monitor.sent().round_trips() as f64 / quiet.elapsed().as_secs_f64();
    let measured = Instant::now();
    let pending_checks = 5u32;
    let (mut total, mut statuses, mut polls) = (0u64, 0u64, 0u64);
    // The engine polls on its own while the status requests are made: one round trip each.
    let mut polls_while_checking = 0u64;
    let mut waiting = Sent::default();
    let mut whole = Sent::default();
    for i in 0..logins {
        let phone = format!("47478{i:05}");
        let polls_before = sim.stats().token;
        monitor.reset();
        let res = app
            .clone()
            .oneshot(
                Request::post("/auth/vipps/api/start")
                    .header("x-requested-with", "bench")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(format!(r#"{{"phone":"{phone}"}}"#)))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let cookie = vipps_login_benches::cookie_of(&res);
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let started: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let status_url = started["status_url"].as_str().unwrap().to_owned();
        let status = |cookie: String| {
            let app = app.clone();
            let url = status_url.clone();
            async move {
                app.oneshot(
                    Request::get(&url)
                        .header(header::COOKIE, cookie)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap()
            }
        };
        let started_sent = monitor.sent();
        let polls_at_checks = sim.stats().token;
        for _ in 0..pending_checks {
            assert_eq!(status(cookie.clone()).await.status(), 200);
        }
        let after_checks = monitor.sent();
        add(&mut waiting, &minus(&after_checks, &started_sent));
        polls_while_checking += sim.stats().token - polls_at_checks;
        let req = sim
            .wait_for_pending(&phone, Duration::from_secs(5))
            .await
            .unwrap();
        sim.approve(&req.auth_req_id).await.unwrap();
        let mut n = pending_checks;
        loop {
            n += 1;
            let res = status(cookie.clone()).await;
            if res.headers().contains_key(header::SET_COOKIE) {
                break;
            }
            assert!(n < 2_000, "the bench login never completed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let sent = monitor.sent();
        total += sent.round_trips();
        statuses += u64::from(n);
        polls += sim.stats().token - polls_before;
        add(&mut whole, &sent);
    }
    let background = background_per_s * measured.elapsed().as_secs_f64();
    let per_login = (total as f64 - background) / f64::from(logins);
    let per_status =
        (waiting.round_trips() - polls_while_checking) as f64 / f64::from(logins * pending_checks);
    let polls_per_login = polls as f64 / f64::from(logins);
    let statuses_per_login = statuses as f64 / f64::from(logins);
    println!(
        "through the layer's JSON API (redis-server MONITOR, {logins} finish-in-app logins): \
         {per_login:.2} round trips per login with {polls_per_login:.2} polls and \
         {statuses_per_login:.2} status requests each, background work ({background_per_s:.2} \
         round trips/s while idle) taken out; a status request while waiting: \
         {per_status:.2} round trips; so {:.2} + 1 per poll + {per_status:.2} per status request; \
         commands per login (background included): {}",
        per_login - polls_per_login - per_status * statuses_per_login,
        whole
            .by_command
            .iter()
            .map(|(c, k)| format!("{c} {:.2}", *k as f64 / f64::from(logins)))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn minus(a: &Sent, b: &Sent) -> Sent {
    let mut out = a.clone();
    for (c, n) in &b.by_command {
        if let Some(v) = out.by_command.get_mut(c) {
            *v -= n;
        }
    }
    out
}

fn add(into: &mut Sent, more: &Sent) {
    for (c, n) in &more.by_command {
        *into.by_command.entry(c.clone()).or_default() += n;
    }
}

async fn logged_in_app(sim: &SimHandle, store: Arc<dyn Store>) -> (Router, String) {
    let client = VippsClient::with_store(config(sim), store).unwrap();
    let layer = VippsLoginLayer::builder(client)
        .cookie_key(cookie::Key::generate())
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|user: VippsUser| async move { user.userinfo().name.clone().unwrap_or_default() }),
        )
        .layer(layer);
    let cookie = vipps_login_benches::log_in(&app, "4712345678").await;
    (app, cookie)
}

async fn requests(app: &Router, cookie: &str, n: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let res = app
            .clone()
            .oneshot(
                Request::get("/")
                    .header(header::COOKIE, cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        std::hint::black_box(res);
    }
    start.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (logins, rounds, per_round) = match (full, vipps_login_benches::measure::quick()) {
        (false, _) => (5, 1, 50),
        (true, true) => (200, 9, 3_000),
        (true, false) => (500, 15, 5_000),
    };
    let redis = Redis::start_new();
    let store = RedisStore::connect(redis.url()).await.unwrap();
    let sim = Simulator::start(
        SimConfig::default()
            .interval(Duration::from_millis(100))
            .slow_down_step(Duration::from_millis(100))
            .auto_users(true)
            .max_pending_per_user(1000),
    )
    .await
    .unwrap();
    sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(350),
    });
    round_trips_per_login(&sim, &store, logins).await;
    let monitor = RedisMonitor::start(redis.port());
    layer_login_round_trips(&sim, &store, &monitor, logins.min(20)).await;
    monitor.finish();

    sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(10),
    });
    let (on_redis, redis_cookie) = logged_in_app(&sim, Arc::new(store.clone())).await;
    let (on_memory, memory_cookie) = logged_in_app(&sim, Arc::new(MemoryStore::new())).await;
    let (mut redis_rates, mut memory_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let trips_before = store.round_trips();
    for round in 0..rounds {
        // Alternate which goes first.
        let (r, m) = if round % 2 == 0 {
            let r = requests(&on_redis, &redis_cookie, per_round).await;
            (r, requests(&on_memory, &memory_cookie, per_round).await)
        } else {
            let m = requests(&on_memory, &memory_cookie, per_round).await;
            (requests(&on_redis, &redis_cookie, per_round).await, m)
        };
        redis_rates.push(f64::from(per_round) / r.as_secs_f64());
        memory_rates.push(f64::from(per_round) / m.as_secs_f64());
        ratios.push(m.as_secs_f64() / r.as_secs_f64());
    }
    let trips = store.round_trips() - trips_before;
    let (r, m, q) = (
        spread(&redis_rates).median,
        spread(&memory_rates).median,
        spread(&ratios),
    );
    println!(
        "logged-in request through the layer: redis store {r:.0} req/s, memory store {m:.0} req/s \
         (medians of {rounds} interleaved rounds of {per_round}; redis/memory throughput ratio \
         median {:.3}, IQR {:.3}-{:.3}, range {:.3}-{:.3}); \
         {:.3} redis round trips per request (heartbeats included)",
        q.median,
        q.p25,
        q.p75,
        q.min,
        q.max,
        trips as f64 / f64::from(rounds * per_round)
    );
}
