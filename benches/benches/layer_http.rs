//! A logged-in request through the layer over real HTTP, sessions on Redis against
//! sessions in memory, with an external load generator: what a user of the layer sees,
//! where `benches/benches/redis.rs` measures the same request in process, one at a time.
//!
//! A plain program: `cargo bench -p vipps-login-benches --bench layer_http` (or `cargo
//! xtask bench`). Needs `wrk` (Debian's package; `cargo xtask bench` installs it) and
//! `taskset` (util-linux).
//!
//! # The set-up
//! - Three servers, each this program run again as a child (`--serve memory`, `--serve
//!   redis=URL`, and `--serve redis-round-trip=URL`: the Redis store with its read cache
//!   off, one `GET` per request as before the cache), pinned with `taskset` to core 1: an axum app behind `VippsLoginLayer`
//!   with a route that answers the logged-in user's name (`VippsUser`), a simulator in
//!   process (idle while measured). Each logs in [`SESSIONS`] users through the layer's
//!   JSON API first and writes their session cookies to a file.
//! - A `redis-server` of its own, pinned to core 0 with the load generator: the server
//!   under test has core 1 to itself, as it would with Redis on another machine; the
//!   figures below show whether core 0 (Redis and wrk) ever became the limit.
//! - `wrk -t1 -c16` pinned to core 0, each request with the next of the cookies (a Lua
//!   script), so the requests are spread over many sessions as a shop's are.
//!
//! # What is printed
//! Rounds run the three in turn, each round in another order (`LAYER_HTTP_ROUNDS`, default 7,
//! `LAYER_HTTP_SECS` seconds each, default 4). Per round: requests per second (wrk), the
//! server's CPU time per request (from `/proc/PID/task/*/schedstat`, nanoseconds) and,
//! on Redis, redis-server's CPU per request and its commands per request (`INFO
//! commandstats` deltas); how busy each core was (`/proc/stat`). Then the medians and
//! the Redis/memory throughput ratios (median of the per-round ratios, min–max). A
//! response other than 200 stops the program.
//!
//! Without `--bench` (`cargo test --benches`, `--all-targets`) it is a smoke run of one
//! short round each; without `wrk` it fails and says how to install it.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use vipps_login_benches::measure::spread;
use vipps_login_core::{MemoryStore, RateLimits, Store, VippsClient};
use vipps_login_redis::RedisStore;
use vipps_login_sim::{Policy, SimConfig, Simulator};
use vipps_login_tests::procs::{Proc, Redis, temp_dir};
use vipps_login_tower::{VippsLoginLayer, VippsUser};

/// Sessions logged in on each server before it is measured.
const SESSIONS: usize = 256;
/// The load generator's connections.
const CONNECTIONS: usize = 16;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------- the server (child)

/// The child: serves the logged-in route on `store` (`memory`, `redis=URL`, or
/// `redis-round-trip=URL`: the Redis store with its read cache off), after
/// logging in [`SESSIONS`] users; writes their cookies to `cookies`, one per line, then
/// prints `listening: ADDR`.
fn serve(store: &str, cookies: &Path) {
    // As many workers as the cores it may run on (one, under `taskset -c 1`).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let sim = Simulator::start(
            SimConfig::default()
                .interval(Duration::from_millis(100))
                .auto_users(true)
                .max_pending_per_user(10),
        )
        .await
        .unwrap();
        sim.set_policy(Policy::AutoApprove {
            after: Duration::from_millis(10),
        });
        let store: Arc<dyn Store> = match store.split_once('=') {
            None => Arc::new(MemoryStore::new()),
            Some((kind, url)) => Arc::new(
                RedisStore::builder(url)
                    .cache_reads(kind == "redis")
                    .build()
                    .await
                    .unwrap(),
            ),
        };
        let config = vipps_login_benches::sim::config(&sim);
        let client = VippsClient::with_store(config, store)
            .unwrap()
            .with_limits(RateLimits::none())
            .unwrap();
        let layer = VippsLoginLayer::builder(client)
            .cookie_key(cookie::Key::generate())
            .build()
            .unwrap();
        let app =
            Router::new()
                .route(
                    "/",
                    get(|user: VippsUser| async move {
                        user.userinfo().name.clone().unwrap_or_default()
                    }),
                )
                .layer(layer);
        let mut logins = tokio::task::JoinSet::new();
        for i in 0..SESSIONS {
            let app = app.clone();
            logins.spawn(
                async move { vipps_login_benches::log_in(&app, &format!("4790{i:06}")).await },
            );
        }
        let mut lines = String::new();
        while let Some(cookie) = logins.join_next().await {
            lines.push_str(&cookie.unwrap());
            lines.push('\n');
        }
        std::fs::write(cookies, lines).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening: {}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
}

// ---------------------------------------------------------------- measuring (parent)

/// CPU time (ns) of every thread of process `pid` so far.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Busy and total jiffies of cores 0 and 1 (`/proc/stat`).
fn core_times() -> [(u64, u64); 2] {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let mut out = [(0, 0); 2];
    for (i, slot) in out.iter_mut().enumerate() {
        let prefix = format!("cpu{i} ");
        if let Some(line) = stat.lines().find(|l| l.starts_with(&prefix)) {
            let v: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            let total: u64 = v.iter().sum();
            // idle + iowait
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            *slot = (total - idle, total);
        }
    }
    out
}

/// Total calls of every command so far (`INFO commandstats`).
fn redis_calls(port: u16) -> u64 {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "info", "commandstats"])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
        .filter_map(|l| {
            let calls = l.split("calls=").nth(1)?;
            calls.split(',').next()?.parse::<u64>().ok()
        })
        .sum()
}

/// One server under test.
struct Server {
    name: &'static str,
    proc: Proc,
    url: String,
}

fn start_server(name: &'static str, store: &str, dir: &Path) -> (Server, PathBuf) {
    let cookies = dir.join(format!("{name}-cookies.txt"));
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1"])
        .arg(std::env::current_exe().unwrap())
        .args(["--serve", store])
        .arg(&cookies)
        .env("RUST_LOG", "warn");
    let (proc, addr) = Proc::spawn_until_line(cmd, dir, name, "listening: ");
    (
        Server {
            name,
            proc,
            url: format!("http://{addr}/"),
        },
        cookies,
    )
}

/// wrk's Lua script: each request carries the next of the cookies in `cookies`.
fn wrk_script(dir: &Path, name: &str, cookies: &Path) -> PathBuf {
    let path = dir.join(format!("{name}.lua"));
    let mut f = std::fs::File::create(&path).unwrap();
    write!(
        f,
        r#"local cookies = {{}}
for line in io.lines("{}") do cookies[#cookies + 1] = line end
local i = 0
request = function()
  i = i % #cookies + 1
  return wrk.format("GET", "/", {{ ["Cookie"] = cookies[i] }})
end
"#,
        cookies.display()
    )
    .unwrap();
    path
}

/// What one round measured.
struct Round {
    rps: f64,
    server_us: f64,
    redis_us: Option<f64>,
    commands: Option<f64>,
    busy: [f64; 2],
}

fn round(server: &Server, script: &Path, secs: u64, redis: Option<(&Redis, u32)>) -> Round {
    let pid = server.proc.pid().unwrap();
    let (cpu0, redis0, calls0, cores0) = (
        cpu_ns(pid),
        redis.map(|(_, p)| cpu_ns(p)),
        redis.map(|(r, _)| redis_calls(r.port())),
        core_times(),
    );
    // `WRK` as `cargo xtask bench` sets it, else `wrk` on PATH.
    let wrk = std::env::var("WRK").unwrap_or_else(|_| "wrk".to_owned());
    let out = Command::new("taskset")
        .args(["-c", "0", &wrk, "-t1"])
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{secs}s"))
        .arg("-s")
        .arg(script)
        .arg(&server.url)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run wrk ({e}): install it with `apt-get install -y wrk` (`cargo xtask bench` does), or set WRK")
        });
    let (cpu1, cores1) = (cpu_ns(pid), core_times());
    let redis_ns = redis.map(|(_, p)| cpu_ns(p) - redis0.unwrap());
    let calls = redis.map(|(r, _)| redis_calls(r.port()) - calls0.unwrap());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wrk failed on {}: {text}{}",
        server.name,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "{}: answers other than 200:\n{text}",
        server.name
    );
    let requests: f64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"));
    let rps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"));
    let busy = [0, 1].map(|i| {
        let (b, t) = (cores1[i].0 - cores0[i].0, cores1[i].1 - cores0[i].1);
        100.0 * b as f64 / t.max(1) as f64
    });
    Round {
        rps,
        server_us: (cpu1 - cpu0) as f64 / 1_000.0 / requests,
        redis_us: redis_ns.map(|ns| ns as f64 / 1_000.0 / requests),
        commands: calls.map(|c| c as f64 / requests),
        busy,
    }
}

fn describe(name: &str, r: &Round) -> String {
    let mut s = format!(
        "{name}: {:>8.0} req/s, server {:>5.1} µs CPU/request",
        r.rps, r.server_us
    );
    if let (Some(us), Some(c)) = (r.redis_us, r.commands) {
        s += &format!(", redis-server {us:.1} µs/request, {c:.3} commands/request");
    }
    s + &format!(
        " (core 0 {:.0} % busy, core 1 {:.0} %)",
        r.busy[0], r.busy[1]
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        serve(&args[i + 1], Path::new(&args[i + 2]));
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let quick = vipps_login_benches::measure::quick();
    let (rounds, secs) = match (full, quick) {
        (false, _) => (1, 1),
        (true, true) => (3, env_u64("LAYER_HTTP_SECS", 3)),
        (true, false) => (
            env_u64("LAYER_HTTP_ROUNDS", 7),
            env_u64("LAYER_HTTP_SECS", 4),
        ),
    };
    let dir = temp_dir("layer-http");
    let redis = Redis::start_new();
    let redis_pid = redis.pid().unwrap();
    let pinned = Command::new("taskset")
        .args(["-a", "-p", "-c", "0", &redis_pid.to_string()])
        .output()
        .expect("taskset (util-linux)");
    assert!(
        pinned.status.success(),
        "could not pin redis-server to core 0"
    );
    let (memory, memory_cookies) = start_server("memory", "memory", &dir);
    let (on_redis, redis_cookies) = start_server("redis", &format!("redis={}", redis.url()), &dir);
    let (trips, trips_cookies) = start_server(
        "redis-round-trip",
        &format!("redis-round-trip={}", redis.url()),
        &dir,
    );
    let memory_script = wrk_script(&dir, "memory", &memory_cookies);
    let redis_script = wrk_script(&dir, "redis", &redis_cookies);
    let trips_script = wrk_script(&dir, "redis-round-trip", &trips_cookies);
    let on = Some((&redis, redis_pid));
    // Warm-up: connections, the layer's memo of decoded sessions, the allocator.
    round(&memory, &memory_script, 1, None);
    round(&on_redis, &redis_script, 1, on);
    round(&trips, &trips_script, 1, on);
    let (mut m, mut r, mut t, mut ratios, mut trip_ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..rounds {
        // Each round in another order, so no variant always follows the same one.
        let mut order = [0, 1, 2];
        order.rotate_left(usize::try_from(i % 3).unwrap());
        let (mut a, mut b, mut c) = (None, None, None);
        for which in order {
            match which {
                0 => a = Some(round(&memory, &memory_script, secs, None)),
                1 => b = Some(round(&on_redis, &redis_script, secs, on)),
                _ => c = Some(round(&trips, &trips_script, secs, on)),
            }
        }
        let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
        println!("round {i}: {}", describe("memory", &a));
        println!("round {i}: {}", describe("redis", &b));
        println!(
            "round {i}: {}",
            describe("redis, a round trip per request", &c)
        );
        ratios.push(b.rps / a.rps);
        trip_ratios.push(c.rps / a.rps);
        m.push(a);
        r.push(b);
        t.push(c);
    }
    let med = |v: &[Round], f: fn(&Round) -> f64| spread(&v.iter().map(f).collect::<Vec<_>>());
    let q = spread(&ratios);
    let qt = spread(&trip_ratios);
    println!(
        "logged-in request through the layer over HTTP ({CONNECTIONS} connections, wrk on core 0 \
         with redis-server, server on core 1, {SESSIONS} sessions, {rounds} interleaved rounds \
         of {secs} s): memory store {:.0} req/s at {:.1} µs server CPU/request; Redis {:.0} req/s \
         at {:.1} µs server CPU/request + {:.1} µs of redis-server, {:.3} commands/request; \
         Redis/memory throughput ratio median {:.3} (range {:.3}-{:.3})",
        med(&m, |x| x.rps).median,
        med(&m, |x| x.server_us).median,
        med(&r, |x| x.rps).median,
        med(&r, |x| x.server_us).median,
        med(&r, |x| x.redis_us.unwrap_or(0.0)).median,
        med(&r, |x| x.commands.unwrap_or(0.0)).median,
        q.median,
        q.min,
        q.max
    );
    println!(
        "the same on Redis with the read cache off (a GET per request): {:.0} req/s at {:.1} µs \
         server CPU/request + {:.1} µs of redis-server, {:.3} commands/request; ratio to memory \
         median {:.3} (range {:.3}-{:.3})",
        med(&t, |x| x.rps).median,
        med(&t, |x| x.server_us).median,
        med(&t, |x| x.redis_us.unwrap_or(0.0)).median,
        med(&t, |x| x.commands.unwrap_or(0.0)).median,
        qt.median,
        qt.min,
        qt.max
    );
    drop(trips);
    drop(memory);
    drop(on_redis);
    let _ = std::fs::remove_dir_all(&dir);
}
