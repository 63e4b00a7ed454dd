//! The identity bridge's OpenID provider beside Node's `oidc-provider`, in requests per
//! second. A plain program (no criterion): `cargo bench -p vipps-login-benches --bench
//! provider_vs_oidc_provider`, or `cargo xtask bench`, which first builds
//! `identity-bridge --release` and runs `npm ci` in `benches/oidc-provider`.
//!
//! # The two servers
//! Both run as child processes on 127.0.0.1 (killed when the program ends):
//! - **ours**: the release `identity-bridge` binary (next to this program's target dir,
//!   `target/release/identity-bridge`, or `IDENTITY_BRIDGE_BIN`), simulator in process,
//!   `RUST_LOG=warn`, with `benches/benches/provider_vs_oidc_provider.toml`: the client
//!   `demo-rp` (plain secret, RS256 ID tokens), no start limit, enumeration-resistant.
//! - **theirs**: `node benches/oidc-provider/server.mjs` (`NODE_ENV=production`),
//!   `oidc-provider` 9 with its in-memory adapter, CIBA in poll mode, the same client
//!   (`client_secret_basic`, RS256) and the same key types (RSA 2048 and P-256).
//!
//! Each server's endpoints are read from its own discovery document.
//!
//! # What is measured, equivalent on both sides
//! - `discovery`: `GET /.well-known/openid-configuration` (200).
//! - `jwks`: `GET` of the `jwks_uri` (200; two keys on each side).
//! - `token: CIBA pending`: the *first* poll of a fresh `auth_req_id` (client_secret_basic,
//!   `grant_type=urn:openid:params:grant-type:ciba`), answered 400 `authorization_pending`.
//!   The first poll, because the two differ on later ones: oidc-provider keeps no poll
//!   state and answers every poll `authorization_pending`; the bridge answers a poll
//!   sooner than `interval` with `slow_down`, as CIBA asks. So each round polls ids it
//!   has started just before (untimed, through each one's backchannel endpoint), in
//!   batches of 800 (oidc-provider's in-memory adapter keeps only the last 1 000–2 000
//!   entries; the timed parts of the batches are summed). On the bridge these are logins
//!   for numbers the simulator does not know, which the enumeration-resistant mode keeps
//!   pending (the simulator has only a few users, each allowed three pending logins);
//!   such a poll reads the engine (a miss), then the pending record, and writes the poll
//!   state.
//! - `token: code refused`: the authorization-code grant with an unknown code
//!   (client_secret_basic, `code`, `redirect_uri`), answered 400 `invalid_grant`.
//!
//! A finished token response (200 with a signed ID token) is not measured: it is single
//! use on both sides, and making one per request needs an approval path into each
//! server that the two do not share.
//!
//! # How
//! For each endpoint: one warm-up round per server, then rounds alternating ours,
//! theirs, ours, theirs … (`PROVIDER_BENCH_ROUNDS`, default 7 each). A round is a fixed
//! number of requests (`PROVIDER_BENCH_REQUESTS`, default 8 000; CIBA polls
//! `PROVIDER_BENCH_POLLS`, default 4 000) from a
//! fixed number of keep-alive connections (`PROVIDER_BENCH_CONNECTIONS`, default 16),
//! each a task with its own reqwest client (HTTP/1.1, one connection) on one 2-thread
//! tokio runtime: the same client code for both. Every answer is checked (status, and
//! the `error` of token answers); a wrong one stops the program.
//!
//! Printed per endpoint: the req/s of every round, the CPU time per request of the server
//! and of this load generator in the timed rounds (from `/proc`, 10 ms resolution), the
//! median req/s of ours and of theirs over the rounds, the median of the per-round ratios
//! (ours / theirs, round i of each) and their spread (min–max).
//!
//! Everything shares the machine's cores: the load generator, the bridge (multi-threaded)
//! and Node (one JavaScript thread). On a 2-core machine the bridge's rounds fill both
//! cores (the load generator spends more CPU per request than the bridge), so where the
//! bridge is cheapest (JWKS) its req/s shows the machine's ceiling rather than the
//! server's; the CPU-per-request lines tell the two apart.
//!
//! Without `--bench` (`cargo test --benches`, `--all-targets`) it is a smoke run: a few
//! requests per round, skipped with a message when the release binary or
//! `node_modules` is missing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::Value;

const CLIENT_ID: &str = "demo-rp";
const CLIENT_SECRET: &str = "demo-rp-secret";
const CIBA_GRANT: &str = "urn:openid:params:grant-type:ciba";
const REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// The most fresh CIBA requests polled in one go: oidc-provider's in-memory adapter is an
/// LRU that keeps only the last 1 000 to 2 000 entries, so a larger batch would find its
/// first requests evicted (`invalid_grant`).
const POLL_BATCH: usize = 800;
/// The whole program stops by itself after this.
const DEADLINE: Duration = Duration::from_secs(20 * 60);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A server under test, a child process killed on drop.
struct Server {
    name: &'static str,
    child: Child,
    discovery: String,
    jwks: String,
    token: String,
    backchannel: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd`, reads `issuer: URL` (or a bare URL) from its first stdout line, and
/// keeps draining its stdout so that later lines never meet a closed pipe.
fn spawn(name: &'static str, mut cmd: Command, log: &Path) -> (Child, String) {
    let log_file = std::fs::File::create(log).expect("log file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: cannot start {cmd:?}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
    });
    let line = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(l) if !l.trim().is_empty() => l,
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{name} did not print its issuer; its stderr is in {}",
                log.display()
            );
        }
    };
    let issuer = line
        .trim()
        .strip_prefix("issuer:")
        .unwrap_or(line.trim())
        .trim()
        .trim_end_matches('/')
        .to_owned();
    (child, issuer)
}

async fn server(name: &'static str, cmd: Command, log: &Path) -> Server {
    let (child, issuer) = spawn(name, cmd, log);
    let discovery = format!("{issuer}/.well-known/openid-configuration");
    let doc: Value = reqwest::get(&discovery)
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("{name}: discovery: {e}"))
        .json()
        .await
        .unwrap();
    let field = |k: &str| {
        doc[k]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: discovery has no {k}"))
            .to_owned()
    };
    assert_eq!(field("issuer"), issuer, "{name}: issuer");
    let algs = doc["id_token_signing_alg_values_supported"].to_string();
    assert!(algs.contains("RS256"), "{name}: RS256 missing: {algs}");
    Server {
        name,
        jwks: field("jwks_uri"),
        token: field("token_endpoint"),
        backchannel: field("backchannel_authentication_endpoint"),
        discovery,
        child,
    }
}

/// One request of a round.
#[derive(Clone)]
enum Job {
    Get(String),
    /// A form POST with client_secret_basic.
    Post(String, String),
}

/// What every answer of a round must be.
#[derive(Clone, Copy)]
enum Expect {
    /// 200.
    Ok,
    /// 200 with a JSON string `field`, collected.
    Collect(&'static str),
    /// 400 with this OAuth `error`.
    Error(&'static str),
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// One keep-alive connection each (HTTP/1.1; idle ones are dropped before either
/// server's idle timeout, so a round never sends on a connection being closed).
fn clients(n: usize) -> Vec<reqwest::Client> {
    (0..n)
        .map(|_| {
            reqwest::Client::builder()
                .http1_only()
                .pool_max_idle_per_host(1)
                .pool_idle_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(10))
                .no_proxy()
                .build()
                .unwrap()
        })
        .collect()
}

/// Sends `jobs` from `clients` (one task each, taking the next job until none is left);
/// returns the elapsed time and the collected values.
async fn round(
    server: &str,
    clients: &[reqwest::Client],
    jobs: Vec<Job>,
    expect: Expect,
) -> (Duration, Vec<String>) {
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let collected = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .cloned()
        .map(|http| {
            let jobs = jobs.clone();
            let next = next.clone();
            let collected = collected.clone();
            let server = server.to_owned();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let req = match job {
                        Job::Get(url) => http.get(url),
                        Job::Post(url, body) => http
                            .post(url)
                            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                            .header(
                                http::header::CONTENT_TYPE,
                                "application/x-www-form-urlencoded",
                            )
                            .body(body.clone()),
                    };
                    let res = req
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("{server}: request failed: {e}"));
                    let status = res.status();
                    let body = res
                        .bytes()
                        .await
                        .unwrap_or_else(|e| panic!("{server}: body failed: {e}"));
                    let wrong = |why: &str| -> ! {
                        panic!(
                            "{server}: {why}: {status} {}",
                            String::from_utf8_lossy(&body)
                        )
                    };
                    match expect {
                        Expect::Ok if status == StatusCode::OK => {}
                        Expect::Collect(field) if status == StatusCode::OK => {
                            let v: Value =
                                serde_json::from_slice(&body).unwrap_or_else(|_| wrong("not JSON"));
                            let s = v[field]
                                .as_str()
                                .unwrap_or_else(|| wrong("field missing"))
                                .to_owned();
                            collected.lock().unwrap().push(s);
                        }
                        Expect::Error(error) if status == StatusCode::BAD_REQUEST => {
                            let v: Value =
                                serde_json::from_slice(&body).unwrap_or_else(|_| wrong("not JSON"));
                            if v["error"] != error {
                                wrong(&format!("expected {error}"));
                            }
                        }
                        _ => wrong("unexpected answer"),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let collected = std::mem::take(&mut *collected.lock().unwrap());
    (elapsed, collected)
}

#[derive(Clone, Copy, PartialEq)]
enum Endpoint {
    Discovery,
    Jwks,
    CibaPending,
    CodeRefused,
}

impl Endpoint {
    fn label(self) -> &'static str {
        match self {
            Endpoint::Discovery => "discovery",
            Endpoint::Jwks => "jwks",
            Endpoint::CibaPending => "token: CIBA pending (1st poll)",
            Endpoint::CodeRefused => "token: code refused",
        }
    }
}

/// CPU time (user + system) of process `pid` (`self` for this one), from `/proc`, which
/// counts in USER_HZ: 1/100 s on Linux.
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat(5); 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Per-server state: its connections, a counter for unique phone numbers / codes, and
/// the CPU time the server and this load generator spent in timed rounds.
struct Side {
    server: Server,
    clients: Vec<reqwest::Client>,
    serial: usize,
    server_cpu: Duration,
    client_cpu: Duration,
    requests: usize,
}

impl Side {
    /// The jobs of one round of `n` requests to `endpoint` (for CIBA polls, starts `n`
    /// fresh logins first, untimed).
    async fn jobs(&mut self, endpoint: Endpoint, n: usize) -> (Vec<Job>, Expect) {
        let s = &self.server;
        match endpoint {
            Endpoint::Discovery => (vec![Job::Get(s.discovery.clone()); n], Expect::Ok),
            Endpoint::Jwks => (vec![Job::Get(s.jwks.clone()); n], Expect::Ok),
            Endpoint::CodeRefused => {
                let jobs = (0..n)
                    .map(|_| {
                        self.serial += 1;
                        let code = format!("bench{:038}", self.serial);
                        Job::Post(
                            s.token.clone(),
                            form(&[
                                ("grant_type", "authorization_code"),
                                ("code", &code),
                                ("redirect_uri", REDIRECT_URI),
                            ]),
                        )
                    })
                    .collect();
                (jobs, Expect::Error("invalid_grant"))
            }
            Endpoint::CibaPending => {
                let starts = (0..n)
                    .map(|_| {
                        self.serial += 1;
                        // Norwegian mobile numbers the simulator does not know.
                        let hint = format!("+474{:07}", self.serial);
                        Job::Post(
                            s.backchannel.clone(),
                            form(&[
                                ("scope", "openid phone"),
                                ("login_hint", &hint),
                                ("binding_message", "BENCH-1"),
                                ("requested_expiry", "600"),
                            ]),
                        )
                    })
                    .collect();
                let (_, ids) = round(
                    s.name,
                    &self.clients,
                    starts,
                    Expect::Collect("auth_req_id"),
                )
                .await;
                let jobs = ids
                    .iter()
                    .map(|id| {
                        Job::Post(
                            s.token.clone(),
                            form(&[("grant_type", CIBA_GRANT), ("auth_req_id", id)]),
                        )
                    })
                    .collect();
                (jobs, Expect::Error("authorization_pending"))
            }
        }
    }

    /// One timed round of `n` requests; requests per second. CIBA polls go in batches of
    /// at most [`POLL_BATCH`] fresh ids, each started just before it; only the polls are
    /// timed.
    async fn measure(&mut self, endpoint: Endpoint, n: usize) -> f64 {
        let batch = if endpoint == Endpoint::CibaPending {
            POLL_BATCH
        } else {
            n
        };
        let mut elapsed = Duration::ZERO;
        let mut left = n;
        while left > 0 {
            let size = left.min(batch);
            left -= size;
            let (jobs, expect) = self.jobs(endpoint, size).await;
            // A moment for the untimed set-up's connections and timers to settle.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let pid = self.server.child.id().to_string();
            let (server0, client0) = (cpu_time(&pid), cpu_time("self"));
            elapsed += round(self.server.name, &self.clients, jobs, expect).await.0;
            self.server_cpu += cpu_time(&pid).saturating_sub(server0);
            self.client_cpu += cpu_time("self").saturating_sub(client0);
        }
        self.requests += n;
        n as f64 / elapsed.as_secs_f64()
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// `target/` of this program (it runs from `target/<profile>/deps/`).
fn target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.to_path_buf())
}

struct Settings {
    rounds: usize,
    requests: usize,
    polls: usize,
    connections: usize,
}

fn main() {
    // `cargo bench` passes `--bench`; without it this is a smoke run: stay tiny.
    let test_mode = !std::env::args().any(|a| a == "--bench");
    let settings = if test_mode {
        Settings {
            rounds: 2,
            requests: 20,
            polls: 20,
            connections: 2,
        }
    } else {
        Settings {
            rounds: env_usize("PROVIDER_BENCH_ROUNDS", 7).max(1),
            requests: env_usize("PROVIDER_BENCH_REQUESTS", 8000).max(1),
            polls: env_usize("PROVIDER_BENCH_POLLS", 4000).max(1),
            connections: env_usize("PROVIDER_BENCH_CONNECTIONS", 16).max(1),
        }
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let node_dir = manifest.join("oidc-provider");
    let target = target_dir().expect("the target directory");
    let bridge_bin = std::env::var_os("IDENTITY_BRIDGE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("release").join("identity-bridge"));
    let missing = [
        (!bridge_bin.exists()).then(|| {
            format!(
                "{} (cargo build --release -p identity-bridge)",
                bridge_bin.display()
            )
        }),
        (!node_dir.join("node_modules").exists()).then(|| {
            format!(
                "{}/node_modules (npm ci in that directory)",
                node_dir.display()
            )
        }),
    ];
    let missing: Vec<String> = missing.into_iter().flatten().collect();
    if !missing.is_empty() {
        let msg = format!("provider_vs_oidc_provider: missing {}", missing.join(", "));
        if test_mode {
            eprintln!("{msg}: smoke run skipped (cargo xtask bench prepares both)");
            return;
        }
        panic!("{msg}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    // Bounded: a watchdog ends the program (the children die with their pipes and the
    // kill in Drop does not run on exit, so kill them here too).
    let pids = Arc::new(Mutex::new(Vec::<u32>::new()));
    let watchdog_pids = pids.clone();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(DEADLINE) {
            eprintln!("provider_vs_oidc_provider: deadline of {DEADLINE:?} passed, stopping");
            for pid in watchdog_pids.lock().unwrap().iter() {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
            std::process::exit(2);
        }
    });
    runtime.block_on(run(&settings, &bridge_bin, &node_dir, &target, &pids));
    let _ = done_tx.send(());
}

async fn run(
    settings: &Settings,
    bridge_bin: &Path,
    node_dir: &Path,
    target: &Path,
    pids: &Mutex<Vec<u32>>,
) {
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join("provider_vs_oidc_provider.toml");
    let mut ours_cmd = Command::new(bridge_bin);
    ours_cmd
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env_remove("VIPPS_CLIENT_ID")
        .env_remove("PUBLIC_URL")
        .env_remove("BRIDGE_CONFIG")
        .env_remove("REDIS_URL")
        .env("RUST_LOG", "warn");
    let mut theirs_cmd = Command::new(std::env::var_os("NODE").unwrap_or_else(|| "node".into()));
    theirs_cmd
        .arg("server.mjs")
        .current_dir(node_dir)
        .env("NODE_ENV", "production");
    let ours = server(
        "ours",
        ours_cmd,
        &target.join("provider_vs_oidc_provider-ours.log"),
    )
    .await;
    pids.lock().unwrap().push(ours.child.id());
    let theirs = server(
        "oidc-provider",
        theirs_cmd,
        &target.join("provider_vs_oidc_provider-oidc-provider.log"),
    )
    .await;
    pids.lock().unwrap().push(theirs.child.id());
    let node_version = Command::new(std::env::var_os("NODE").unwrap_or_else(|| "node".into()))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!(
        "ours: {} ({})\ntheirs: oidc-provider on node {node_version} ({})",
        ours.discovery,
        bridge_bin.display(),
        theirs.discovery
    );
    println!(
        "{} connections, {} rounds each (after one warm-up), {} requests per round ({} for CIBA polls); load average {}",
        settings.connections,
        settings.rounds,
        settings.requests,
        settings.polls,
        loadavg()
    );
    let mut a = Side {
        server: ours,
        clients: clients(settings.connections),
        serial: 0,
        server_cpu: Duration::ZERO,
        client_cpu: Duration::ZERO,
        requests: 0,
    };
    let mut b = Side {
        server: theirs,
        clients: clients(settings.connections),
        serial: 0,
        server_cpu: Duration::ZERO,
        client_cpu: Duration::ZERO,
        requests: 0,
    };
    let mut rows = Vec::new();
    for endpoint in [
        Endpoint::Discovery,
        Endpoint::Jwks,
        Endpoint::CibaPending,
        Endpoint::CodeRefused,
    ] {
        let n = if endpoint == Endpoint::CibaPending {
            settings.polls
        } else {
            settings.requests
        };
        a.measure(endpoint, n).await;
        b.measure(endpoint, n).await;
        for side in [&mut a, &mut b] {
            side.server_cpu = Duration::ZERO;
            side.client_cpu = Duration::ZERO;
            side.requests = 0;
        }
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..settings.rounds {
            ours.push(a.measure(endpoint, n).await);
            theirs.push(b.measure(endpoint, n).await);
        }
        let per_request = |side: &mut Side| {
            let us = |d: Duration| d.as_secs_f64() * 1e6 / side.requests as f64;
            let shown = format!(
                "server {:.1} µs, load generator {:.1} µs",
                us(side.server_cpu),
                us(side.client_cpu)
            );
            side.server_cpu = Duration::ZERO;
            side.client_cpu = Duration::ZERO;
            side.requests = 0;
            shown
        };
        println!(
            "  {} (CPU per request, timed rounds): ours: {}; theirs: {}",
            endpoint.label(),
            per_request(&mut a),
            per_request(&mut b)
        );
        let ratios: Vec<f64> = ours.iter().zip(&theirs).map(|(o, t)| o / t).collect();
        let (lo, hi) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
        let row = (
            endpoint.label(),
            median(&ours),
            median(&theirs),
            median(&ratios),
            lo,
            hi,
        );
        println!(
            "  {} (req/s per round): ours {:?}, theirs {:?}",
            row.0,
            ours.iter().map(|v| v.round()).collect::<Vec<_>>(),
            theirs.iter().map(|v| v.round()).collect::<Vec<_>>()
        );
        rows.push(row);
    }
    println!(
        "\n{:<32} {:>12} {:>16} {:>8} {:>14}",
        "endpoint", "ours req/s", "oidc-provider", "ratio", "ratio min–max"
    );
    for (label, o, t, r, lo, hi) in &rows {
        println!("{label:<32} {o:>12.0} {t:>16.0} {r:>7.2}× {lo:>6.2}–{hi:<6.2}");
    }
    let below: Vec<&str> = rows.iter().filter(|r| r.3 < 3.0).map(|r| r.0).collect();
    if below.is_empty() {
        println!("\ngoal (at least 3× oidc-provider): met on every endpoint");
    } else {
        println!(
            "\ngoal (at least 3× oidc-provider): not met on {}",
            below.join(", ")
        );
    }
    println!("load average at the end: {}", loadavg());
}
