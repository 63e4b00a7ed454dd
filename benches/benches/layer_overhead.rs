//! Per-request cost of an already-logged-in request: the Vipps login layer + `VippsUser`
//! extractor vs axum-login 0.18 + tower-sessions 0.14 (memory store) on the same tiny
//! app, with bare axum as the floor. Every variant is an `axum::Router` driven in process
//! with `tower::ServiceExt::oneshot`; the handler returns the logged-in user's name.
//!
//! Each comparison runs interleaved rounds (A B, B A, …) and prints the median ratio with
//! its spread; then each variant's instructions per request are counted under callgrind
//! (see `vipps_login_benches::measure`). Variants: bare axum (the floor), our layer with
//! the session's cookie already seen (`vipps_login_tower`), our layer with a cookie it
//! has not seen, for the same session (`vipps_login_tower_miss`: decrypt, store read,
//! unseal, parse), and axum-login + tower-sessions.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, UserId};
use http::{Request, header};
use tower::ServiceExt as _;
use vipps_login_benches::measure;
use vipps_login_core::VippsClient;
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

/// Our app, its logged-in cookie (`name=value`), the cookie key, and the simulator.
async fn vipps_app() -> (Router, String, cookie::Key, vipps_login_sim::SimHandle) {
    let sim = Simulator::start(SimConfig::default().interval(Duration::from_millis(20)))
        .await
        .unwrap();
    sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(10),
    });
    let config = vipps_login_benches::sim::config(&sim);
    let key = cookie::Key::generate();
    let layer = VippsLoginLayer::builder(VippsClient::new(config).unwrap())
        .cookie_key(key.clone())
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
    (app, cookie, key, sim)
}

/// `n` more cookies for the session of `cookie` (`name=value`): the same session id
/// sealed again, each with a fresh nonce, so each is a value the layer has not seen
/// (its decoded-session cache misses) yet a valid cookie for the same session.
fn fresh_cookies(cookie: &str, key: &cookie::Key, n: usize) -> Vec<String> {
    let (name, value) = cookie.split_once('=').unwrap();
    let jar = cookie::CookieJar::new();
    let id = jar
        .private(key)
        .decrypt(cookie::Cookie::new(name.to_owned(), value.to_owned()))
        .expect("the bench cookie decrypts")
        .value()
        .to_owned();
    (0..n)
        .map(|_| {
            let mut jar = cookie::CookieJar::new();
            jar.private_mut(key)
                .add(cookie::Cookie::new(name.to_owned(), id.clone()));
            format!("{name}={}", jar.get(name).unwrap().value())
        })
        .collect()
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

/// The identity bridge's provider on the same simulator, with a plain-text client secret
/// (the PBKDF2 of a hashed one would be all the count shows).
async fn provider_app(sim: &vipps_login_sim::SimHandle) -> Router {
    let config = vipps_login_benches::sim::config(sim);
    let login = vipps_login_provider::VippsPhoneLogin::new(VippsClient::new(config).unwrap());
    let records = login.records();
    let registry = vipps_login_provider::ClientRegistry::from_toml(
        r#"
[[clients]]
client_id = "bench-rp"
client_secret = "bench-rp-secret"
grant_types = ["urn:openid:params:grant-type:ciba"]
scopes = ["openid", "phone"]
"#,
    )
    .unwrap();
    vipps_login_provider::Provider::builder(
        "http://127.0.0.1:9".parse().unwrap(),
        registry,
        std::sync::Arc::new(login),
        records,
    )
    .build()
    .unwrap()
    .router()
}

/// A CIBA token request for a login nobody started: client authentication, the form, the
/// grant's refusal (`invalid_grant`) and its metric.
fn token_request() -> Request<Body> {
    Request::post("/token")
        .header(
            header::AUTHORIZATION,
            "Basic YmVuY2gtcnA6YmVuY2gtcnAtc2VjcmV0",
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            "grant_type=urn%3Aopenid%3Aparams%3Agrant-type%3Aciba&auth_req_id=unknown-request",
        ))
        .unwrap()
}

async fn one_token(app: &Router) {
    let res = app.clone().oneshot(token_request()).await.unwrap();
    debug_assert_eq!(res.status(), 400);
    std::hint::black_box(res);
}

struct Variants {
    rt: tokio::runtime::Runtime,
    bare: Router,
    provider: Router,
    vipps: (Router, String),
    key: cookie::Key,
    axum_login: (Router, String),
    _sim: vipps_login_sim::SimHandle,
}

/// The variants, on a runtime of the given flavour (current-thread for instruction
/// counts, so that nothing else runs on the measuring thread).
fn variants(current_thread: bool) -> Variants {
    let rt = if current_thread {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    };
    let (vipps, vcookie, key, sim, axl, acookie, provider) = rt.block_on(async {
        let (v, vc, key, sim) = vipps_app().await;
        let (a, ac) = axum_login_app().await;
        let provider = provider_app(&sim).await;
        (v, vc, key, sim, a, ac, provider)
    });
    let bare = Router::new().route("/", get(|| async { "Kari Nordmann".to_owned() }));
    // Sanity: both logged-in apps answer with the user's name, also for a fresh cookie.
    let fresh = fresh_cookies(&vcookie, &key, 1).remove(0);
    rt.block_on(async {
        for (app, cookie) in [(&vipps, &vcookie), (&vipps, &fresh), (&axl, &acookie)] {
            let res = app.clone().oneshot(request(cookie)).await.unwrap();
            assert_eq!(res.status(), 200);
            let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
            assert_eq!(&body[..], b"Kari Nordmann");
        }
        let res = provider.clone().oneshot(token_request()).await.unwrap();
        assert_eq!(
            res.status(),
            400,
            "the token endpoint refuses an unknown request"
        );
    });
    Variants {
        rt,
        bare,
        provider,
        vipps: (vipps, vcookie),
        key,
        axum_login: (axl, acookie),
        _sim: sim,
    }
}

/// What each variant runs `n` times.
enum Op<'a> {
    Token(&'a Router),
    Same(&'a Router, &'a str),
    Cycle(&'a Router, &'a [String]),
}

impl Variants {
    fn op<'a>(&'a self, variant: &str, fresh: &'a [String]) -> Op<'a> {
        match variant {
            "bare_axum" => Op::Same(&self.bare, &self.vipps.1),
            "vipps_login_tower" => Op::Same(&self.vipps.0, &self.vipps.1),
            "vipps_login_tower_miss" => Op::Cycle(&self.vipps.0, fresh),
            "axum_login_tower_sessions" => Op::Same(&self.axum_login.0, &self.axum_login.1),
            "provider_token" => Op::Token(&self.provider),
            other => panic!("unknown variant {other}"),
        }
    }

    /// Runs `n` requests of `op` (for a cycle, from position `*at` on).
    fn run(&self, op: &Op<'_>, n: u64, at: &mut usize) {
        self.rt.block_on(async {
            for _ in 0..n {
                match op {
                    Op::Token(app) => one_token(app).await,
                    Op::Same(app, cookie) => one(app, cookie).await,
                    Op::Cycle(app, cookies) => {
                        one(app, &cookies[*at % cookies.len()]).await;
                        *at += 1;
                    }
                }
            }
        });
    }
}

const VARIANTS: [&str; 8] = [
    "bare_axum",
    "vipps_login_tower",
    "vipps_login_tower_miss",
    "axum_login_tower_sessions",
    "vipps_login_tower+metrics",
    "vipps_login_tower_miss+metrics",
    "provider_token",
    "provider_token+metrics",
];

/// Instruction-count mode: `n` requests of one variant inside the measured section. A
/// variant ending in `+metrics` runs with the Prometheus recorder installed, as the
/// reference binaries run with `--management-listen` (each count is a process of its own).
fn count_mode(variant: &str, n: u64) {
    let variant = match variant.strip_suffix("+metrics") {
        Some(base) => {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("the only recorder of this process");
            base
        }
        None => variant,
    };
    let v = variants(true);
    let fresh = fresh_cookies(&v.vipps.1, &v.key, usize::try_from(n).unwrap().max(1));
    // Warm up the path once (first-use allocations), with its own cookie for the miss.
    let warm = fresh_cookies(&v.vipps.1, &v.key, 1);
    let mut at = 0;
    v.run(&v.op(variant, &warm), 1, &mut at);
    let op = v.op(variant, &fresh);
    let mut at = 0;
    // One section around the whole loop; the difference of two runs is per request.
    measure::callgrind_measured_section(1, || v.run(&op, n, &mut at));
}

fn main() {
    if let Some((variant, n)) = measure::instructions_mode() {
        count_mode(&variant, n);
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `cargo test --benches` runs each bench without `--bench`: a quick sanity check.
    let sanity = !std::env::args().any(|a| a == "--bench");
    let v = variants(false);
    let (rounds, batch) = match (sanity, measure::quick()) {
        (true, _) => (2, 100),
        (false, true) => (11, 20_000),
        (false, false) => (31, 40_000),
    };
    // Cache-missing cookies: one per request of the miss comparison, none repeats.
    let fresh = fresh_cookies(&v.vipps.1, &v.key, (rounds + 1) * batch as usize);
    let mut at = 0;
    let mut pair = |a: &str, b: &str| {
        let (oa, ob) = (v.op(a, &fresh), v.op(b, &fresh));
        let mut at_b = 0;
        let c = measure::interleaved(
            rounds,
            batch,
            |n| v.run(&oa, n, &mut at),
            |n| v.run(&ob, n, &mut at_b),
        );
        println!("{}", c.line(a, b));
    };
    println!("\nlogged-in GET through each variant (oneshot, in process, one worker thread)");
    pair("vipps_login_tower", "axum_login_tower_sessions");
    pair("vipps_login_tower_miss", "axum_login_tower_sessions");
    pair("vipps_login_tower", "bare_axum");
    if sanity {
        return;
    }
    match measure::count_instructions(&VARIANTS, 200, 1_200, &[]) {
        Ok(counts) => {
            println!("\ninstructions per logged-in GET (callgrind, (I(1200) - I(200)) / 1000):");
            let bare = counts[0].1;
            for (name, count) in &counts {
                println!(
                    "{name:<32} {count:>10.0}   {:>+10.0} over bare axum",
                    count - bare
                );
            }
            let of = |name: &str| counts.iter().find(|(n, _)| n == name).map(|c| c.1);
            for base in [
                "vipps_login_tower",
                "vipps_login_tower_miss",
                "provider_token",
            ] {
                if let (Some(off), Some(on)) = (of(base), of(&format!("{base}+metrics"))) {
                    println!(
                        "metrics on vs off, {base}: {:+.2} % ({:+.0} instructions)",
                        (on / off - 1.0) * 100.0,
                        on - off
                    );
                }
            }
        }
        Err(e) => println!("\ninstruction counts skipped: {e}"),
    }
}
