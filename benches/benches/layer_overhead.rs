//! Per-request cost of an already-logged-in request: the Vipps login layer + `VippsUser`
//! extractor vs axum-login 0.18 + tower-sessions 0.14 (memory store) on the same tiny
//! app, with bare axum as the floor. Every variant is an `axum::Router` driven in process
//! with `tower::ServiceExt::oneshot`; the handler returns the logged-in user's name.
//!
//! Criterion measures the mean; a second pass times 200 000 single requests per variant
//! for p50/p99 and requests per second, and prints the ratio.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, UserId};
use criterion::{Criterion, criterion_group};
use http::{Request, header};
use tower::ServiceExt as _;
use vipps_login_core::{ClientAuth, Config, Issuer, Secret, VippsClient};
use vipps_login_sim::{Policy, SimConfig, Simulator};
use vipps_login_tower::{VippsLoginLayer, VippsUser};

// ---- axum-login baseline ----------------------------------------------------------------

#[derive(Clone, Debug)]
struct User {
    id: u64,
    name: String,
    hash: Vec<u8>,
}

impl AuthUser for User {
    type Id = u64;
    fn id(&self) -> u64 {
        self.id
    }
    fn session_auth_hash(&self) -> &[u8] {
        &self.hash
    }
}

#[derive(Clone)]
struct Backend {
    users: std::sync::Arc<HashMap<u64, User>>,
}

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = u64;
    type Error = std::convert::Infallible;
    async fn authenticate(&self, id: u64) -> Result<Option<User>, Self::Error> {
        Ok(self.users.get(&id).cloned())
    }
    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, Self::Error> {
        Ok(self.users.get(id).cloned())
    }
}

async fn axum_login_app() -> (Router, String) {
    let mut users = HashMap::new();
    users.insert(
        1,
        User {
            id: 1,
            name: "Kari Nordmann".into(),
            hash: b"0123456789abcdef0123456789abcdef".to_vec(),
        },
    );
    let backend = Backend {
        users: std::sync::Arc::new(users),
    };
    let sessions = tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default())
        .with_secure(false);
    let auth = AuthManagerLayerBuilder::new(backend, sessions).build();
    let app = Router::new()
        .route(
            "/",
            get(
                |s: AuthSession<Backend>| async move { s.user.map(|u| u.name).unwrap_or_default() },
            ),
        )
        .route(
            "/login",
            get(|mut s: AuthSession<Backend>| async move {
                let user = s.authenticate(1).await.unwrap().unwrap();
                s.login(&user).await.unwrap();
                "ok"
            }),
        )
        .layer(auth);
    let res = app
        .clone()
        .oneshot(Request::get("/login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let cookie = vipps_login_benches::cookie_of(&res);
    (app, cookie)
}

// ---- our layer --------------------------------------------------------------------------

async fn vipps_app() -> (Router, String, vipps_login_sim::SimHandle) {
    let sim = Simulator::start(SimConfig::default().interval(Duration::from_millis(20)))
        .await
        .unwrap();
    sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(10),
    });
    let config = Config::builder(
        Issuer::Custom(sim.issuer()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
    .client_auth(ClientAuth::Basic)
    .build()
    .unwrap();
    let layer = VippsLoginLayer::builder(VippsClient::new(config).unwrap())
        .cookie_key(cookie::Key::generate())
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|user: VippsUser| async move { user.userinfo().name.clone().unwrap_or_default() }),
        )
        .layer(layer);

    // Log in once through the JSON API (the simulator approves by itself).
    let cookie = vipps_login_benches::log_in(&app, "4712345678").await;
    (app, cookie, sim)
}

// ---- shared -----------------------------------------------------------------------------

fn request(cookie: &str) -> Request<Body> {
    Request::get("/")
        .header(header::COOKIE, cookie)
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap()
}

async fn one(app: &Router, cookie: &str) {
    let res = app.clone().oneshot(request(cookie)).await.unwrap();
    debug_assert_eq!(res.status(), 200);
    std::hint::black_box(res);
}

struct Variants {
    rt: tokio::runtime::Runtime,
    bare: Router,
    vipps: (Router, String),
    axum_login: (Router, String),
    _sim: vipps_login_sim::SimHandle,
}

fn variants() -> Variants {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (vipps, vcookie, sim, axl, acookie) = rt.block_on(async {
        let (v, vc, sim) = vipps_app().await;
        let (a, ac) = axum_login_app().await;
        (v, vc, sim, a, ac)
    });
    let bare = Router::new().route("/", get(|| async { "Kari Nordmann".to_owned() }));
    // Sanity: both logged-in apps answer with the user's name.
    rt.block_on(async {
        for (app, cookie) in [(&vipps, &vcookie), (&axl, &acookie)] {
            let res = app.clone().oneshot(request(cookie)).await.unwrap();
            assert_eq!(res.status(), 200);
            let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
            assert_eq!(&body[..], b"Kari Nordmann");
        }
    });
    Variants {
        rt,
        bare,
        vipps: (vipps, vcookie),
        axum_login: (axl, acookie),
        _sim: sim,
    }
}

fn bench(c: &mut Criterion) {
    let v = variants();
    let mut group = c.benchmark_group("logged_in_request");
    group.bench_function("bare_axum", |b| {
        b.to_async(&v.rt).iter(|| one(&v.bare, &v.vipps.1));
    });
    group.bench_function("vipps_login_tower", |b| {
        b.to_async(&v.rt).iter(|| one(&v.vipps.0, &v.vipps.1));
    });
    group.bench_function("axum_login_tower_sessions", |b| {
        b.to_async(&v.rt)
            .iter(|| one(&v.axum_login.0, &v.axum_login.1));
    });
    group.finish();
}

criterion_group!(benches, bench);

/// Times single requests: (requests per second, p50, p99).
fn percentiles(v: &Variants, app: &Router, cookie: &str, n: usize) -> (f64, Duration, Duration) {
    v.rt.block_on(async {
        for _ in 0..10_000 {
            one(app, cookie).await;
        }
        let mut samples = Vec::with_capacity(n);
        let start = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            one(app, cookie).await;
            samples.push(t.elapsed());
        }
        let total = start.elapsed();
        samples.sort_unstable();
        let rps = n as f64 / total.as_secs_f64();
        (rps, samples[n / 2], samples[n * 99 / 100])
    })
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();

    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    if quick {
        return;
    }
    let v = variants();
    let n = 200_000;
    let bare = percentiles(&v, &v.bare, &v.vipps.1, n);
    let ours = percentiles(&v, &v.vipps.0, &v.vipps.1, n);
    let theirs = percentiles(&v, &v.axum_login.0, &v.axum_login.1, n);
    println!("\nlogged-in request, {n} sequential requests each (oneshot, in process)");
    println!(
        "{:<28} {:>12} {:>10} {:>10}",
        "variant", "req/s", "p50", "p99"
    );
    for (name, (rps, p50, p99)) in [
        ("bare axum", bare),
        ("vipps-login-tower", ours),
        ("axum-login+tower-sessions", theirs),
    ] {
        println!("{name:<28} {rps:>12.0} {p50:>10.2?} {p99:>10.2?}");
    }
    println!(
        "throughput ratio vipps-login-tower / axum-login: {:.2}x",
        ours.0 / theirs.0
    );
}
