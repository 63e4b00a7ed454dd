//! The identity bridge's OpenID provider beside Node's `oidc-provider`, on the real paths,
//! with an external load generator. A plain program (no criterion): `cargo bench -p
//! vipps-login-benches --bench provider_vs_oidc_provider`, or `cargo xtask bench`, which
//! first installs `wrk` when missing, builds `identity-bridge --release` and runs `npm ci`
//! in `benches/oidc-provider`.
//!
//! # The two servers
//! Each endpoint gets a fresh pair of child processes on 127.0.0.1, each pinned to core 1
//! (`taskset -c 1`; the load generator gets core 0), killed when the endpoint is done:
//! - **bridge**: the release `identity-bridge` (`target/release/identity-bridge`, or
//!   `IDENTITY_BRIDGE_BIN`), simulator in process with `--sim-auto-users` (every number
//!   is a Vipps user of the simulator, so each login is a real pending one), with
//!   `benches/benches/provider_vs_oidc_provider.toml`: the client `demo-rp` (plain
//!   secret, RS256 ID tokens), no start limit, enumeration-resistant. As deployed: its
//!   records sealed (always) and its signing keys shared through its store (the default
//!   without `--signing-key`); memory store; one tokio worker (one core). The config
//!   sets `max_concurrent_secret_checks = 64`: on one core the default (one check per
//!   core) answers a token request that arrives while another's client secret is being
//!   checked `503 temporarily_unavailable`, which 16 connections hit at once.
//! - **oidc-provider**: `node benches/oidc-provider/server.mjs` (`NODE_ENV=production`),
//!   `oidc-provider` 9.13.3 on the Node on `PATH` (or `NODE`; printed), with a plain Map
//!   as its adapter (its default in-memory adapter is an LRU that forgets entries past
//!   about 1 000), CIBA in poll mode, the same client (`client_secret_basic`, RS256, PKCE
//!   S256), the same key types (RSA 2048 and P-256), phone claims in the ID token.
//!
//! # What is measured, the same work on both sides
//! - `discovery`: `GET /.well-known/openid-configuration` (200).
//! - `jwks`: `GET` of the `jwks_uri` (200; two keys on each side).
//! - `CIBA 1st poll (pending)`: the first token request (client_secret_basic, the CIBA
//!   grant) for a login started just before (untimed) and still pending: 400
//!   `authorization_pending`. On the bridge a real pending login (a number the simulator
//!   knows, its push sent); its simulator polls every 10 minutes, so its engine does not
//!   poll the simulator during the round (the simulator's request count over the timed
//!   rounds is printed: it must be 0). The first poll, because the two differ on later
//!   ones (the bridge answers a poll sooner than `interval` with `slow_down`).
//! - `CIBA token (finished)`: the token request of an approved login, once each: 200 with
//!   an RS256 ID token and an access token. Untimed before each round: logins started at
//!   the backchannel endpoint, then approved: on the bridge through its simulator's
//!   control API (`POST /_sim/requests/{id}/approve`, as the phone does), after which the
//!   bench waits until the bridge's engine has fetched every login's tokens and userinfo
//!   (the simulator's counters); on oidc-provider through `server.mjs`'s bench-only
//!   control endpoint (a Grant, then `provider.backchannelResult`).
//! - `code exchange`: the authorization-code grant (client_secret_basic, `code`,
//!   `redirect_uri`, PKCE `code_verifier`): 200 with an RS256 ID token and an access
//!   token. Codes minted untimed: on the bridge by its real way (`/authorize`, the
//!   operator's login page behind the staff password, the number typed, the push
//!   approved by the simulator, the waiting page's redirect with the code); on
//!   oidc-provider by the bench control endpoint (a Grant and an `AuthorizationCode`).
//! - `code refused`: the same grant with a code that was never issued: 400
//!   `invalid_grant`.
//!
//! # How
//! The load generator is Debian's `wrk` (one thread, 16 connections by default), pinned
//! to core 0, with `benches/wrk/checked_requests.lua`: the requests of a round are
//! written to a file, one line each, each sent once; every answer's status and body are
//! checked, and a wrong one stops the program with the answer quoted. A round is a fixed
//! number of requests, sized from a warm-up round per server to last about
//! `PROVIDER_BENCH_SECS` (default 2) seconds, at most `PROVIDER_BENCH_MAX_LOGINS` (default
//! 20 000) CIBA logins or `PROVIDER_BENCH_MAX_CODES` (default 3 000) finished logins /
//! codes per round (their untimed set-up is what costs). Rounds alternate bridge,
//! oidc-provider, bridge … (`PROVIDER_BENCH_ROUNDS`, default 5 each, after one warm-up
//! each; `cargo xtask bench quick` sets `BENCH_QUICK`: 3 rounds of about 1 s).
//!
//! Printed per endpoint: req/s of every round (answers over the time from the first
//! request to the last answer), the median of each side, the median of the per-round
//! ratios (bridge / oidc-provider, round i of each) with their spread, and CPU time per
//! answered request over the timed rounds: of each server process (all its threads, from
//! `/proc/PID/task/*/schedstat`, nanoseconds on a CPU; the bridge's includes its
//! in-process simulator) and of wrk (its own CPU time), so one sees whether the load
//! generator was the cap. Then the time of one RS256 and one ES256 signature on this
//! machine in each runtime (aws-lc-rs, which the bridge signs with; Node's `crypto`),
//! which bounds the two finished token responses from below.
//!
//! Without `--bench` (`cargo test --benches`, `--all-targets`) it is a smoke run (one
//! round of 20 requests each); it fails when `wrk` is not installed (`apt-get install
//! wrk`) and is skipped with a message when the release binary or `node_modules` is
//! missing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod prepare;
mod servers;
mod signatures;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use base64::Engine as _;
use vipps_login_benches::wrk;

use crate::prepare::{CLIENT_ID, CLIENT_SECRET};
use crate::servers::{Kind, Launch, Server};

/// The core each server runs on; the load generator runs on the other.
const SERVER_CORE: usize = 1;
const LOAD_CORE: usize = 0;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Endpoint {
    Discovery,
    Jwks,
    CibaPending,
    CibaFinished,
    CodeExchange,
    CodeRefused,
}

impl Endpoint {
    const ALL: [Endpoint; 6] = [
        Endpoint::Discovery,
        Endpoint::Jwks,
        Endpoint::CibaPending,
        Endpoint::CibaFinished,
        Endpoint::CodeExchange,
        Endpoint::CodeRefused,
    ];

    fn label(self) -> &'static str {
        match self {
            Endpoint::Discovery => "discovery",
            Endpoint::Jwks => "jwks",
            Endpoint::CibaPending => "CIBA 1st poll (pending)",
            Endpoint::CibaFinished => "CIBA token (finished)",
            Endpoint::CodeExchange => "code exchange",
            Endpoint::CodeRefused => "code refused",
        }
    }

    /// The status and a text every answer must have.
    fn expect(self) -> (u16, &'static str) {
        match self {
            Endpoint::Discovery => (200, "\"issuer\""),
            Endpoint::Jwks => (200, "\"keys\""),
            Endpoint::CibaPending => (400, "\"authorization_pending\""),
            Endpoint::CibaFinished | Endpoint::CodeExchange => (200, "\"id_token\""),
            Endpoint::CodeRefused => (400, "\"invalid_grant\""),
        }
    }

    /// The bridge's extra options: how often its simulator asks to be polled (never
    /// during a round of pending polls; soon after an approval where one is awaited),
    /// and for codes, the simulator approving every push by itself.
    fn bridge_options(self) -> (u64, &'static [&'static str]) {
        match self {
            Endpoint::CibaFinished => (500, &[]),
            Endpoint::CodeExchange => (500, &["--sim-auto-approve-ms", "1"]),
            _ => (600_000, &[]),
        }
    }
}

struct Settings {
    smoke: bool,
    rounds: usize,
    secs: f64,
    max_logins: usize,
    max_codes: usize,
    connections: usize,
}

impl Settings {
    /// Requests in a round of `endpoint` at `rate` req/s (the warm-up's).
    fn requests(&self, endpoint: Endpoint, rate: f64) -> usize {
        if self.smoke {
            return 20;
        }
        let cap = match endpoint {
            Endpoint::CibaPending => self.max_logins,
            Endpoint::CibaFinished | Endpoint::CodeExchange => self.max_codes,
            _ => 1_000_000,
        };
        ((rate * self.secs) as usize).clamp(200, cap.max(200))
    }

    /// Requests in the warm-up round.
    fn warm_up(&self, endpoint: Endpoint) -> usize {
        match (self.smoke, endpoint) {
            (true, _) => 20,
            (false, Endpoint::CibaFinished | Endpoint::CodeExchange) => 300,
            (false, _) => 2000,
        }
    }
}

/// One server's figures over the timed rounds of an endpoint.
struct Tally {
    rates: Vec<f64>,
    answered: u64,
    server_cpu: Duration,
    wrk_cpu: Duration,
    /// Requests the bridge's simulator answered during the timed rounds.
    sim_requests: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            rates: Vec::new(),
            answered: 0,
            server_cpu: Duration::ZERO,
            wrk_cpu: Duration::ZERO,
            sim_requests: 0,
        }
    }

    fn us_per_request(&self, d: Duration) -> f64 {
        d.as_secs_f64() * 1e6 / self.answered.max(1) as f64
    }
}

struct Bench<'a> {
    settings: &'a Settings,
    wrk: &'a Path,
    scratch: &'a Path,
    serial: AtomicUsize,
}

impl Bench<'_> {
    /// The requests of one round of `n` to `endpoint` at `server` (set up untimed):
    /// method, path, lines.
    async fn prepare(
        &self,
        server: &Server,
        endpoint: Endpoint,
        n: usize,
    ) -> (&'static str, String, Vec<String>) {
        let post = |lines: Vec<String>| ("POST", server.token.clone(), lines);
        match endpoint {
            Endpoint::Discovery => ("GET", String::new(), vec![server.discovery.clone(); n]),
            Endpoint::Jwks => ("GET", String::new(), vec![server.jwks.clone(); n]),
            Endpoint::CibaPending => {
                let ids = prepare::start_ciba(server, n, &self.serial).await;
                post(ids.iter().map(|id| prepare::ciba_poll(id)).collect())
            }
            Endpoint::CibaFinished => {
                let ids = prepare::start_ciba(server, n, &self.serial).await;
                prepare::approve_ciba(server, &ids).await;
                post(ids.iter().map(|id| prepare::ciba_poll(id)).collect())
            }
            Endpoint::CodeExchange => {
                let codes = prepare::mint_codes(server, n, &self.serial).await;
                post(codes.iter().map(|c| prepare::code_exchange(c)).collect())
            }
            Endpoint::CodeRefused => {
                let first = self
                    .serial
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                post(
                    (first..first + n)
                        .map(|i| prepare::code_exchange(&format!("bench{i:038}")))
                        .collect(),
                )
            }
        }
    }

    /// One round of `n` requests; its req/s, added to `tally`.
    async fn round(&self, server: &Server, endpoint: Endpoint, n: usize, tally: &mut Tally) -> f64 {
        let (method, path, lines) = self.prepare(server, endpoint, n).await;
        // A moment for the set-up's connections and timers to settle.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, contains) = endpoint.expect();
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
        );
        let base = server.base.clone();
        let file = self
            .scratch
            .join(format!("requests-{}.txt", server.kind.name()));
        let wrk_bin = self.wrk.to_path_buf();
        let connections = self.settings.connections;
        let sim_before = sim_requests(server).await;
        let cpu_before = wrk::process_cpu(server.pid());
        let outcome = tokio::task::spawn_blocking(move || {
            let round = wrk::Round {
                base: &base,
                method,
                path: &path,
                lines: &lines,
                status,
                contains,
                authorization: (method == "POST").then_some(authorization.as_str()),
                connections,
                core: LOAD_CORE,
            };
            wrk::run(&wrk_bin, &round, &file)
        })
        .await
        .unwrap();
        let server_cpu = wrk::process_cpu(server.pid()).saturating_sub(cpu_before);
        let outcome =
            outcome.unwrap_or_else(|e| panic!("{} {}: {e}", server.kind.name(), endpoint.label()));
        tally.sim_requests += sim_requests(server).await.saturating_sub(sim_before);
        tally.answered += outcome.answered;
        tally.server_cpu += server_cpu;
        tally.wrk_cpu += outcome.cpu;
        let rate = outcome.rate();
        tally.rates.push(rate);
        rate
    }
}

/// Every request the bridge's simulator has answered (0 for oidc-provider).
async fn sim_requests(server: &Server) -> u64 {
    let Some(sim) = &server.sim else { return 0 };
    let stats = prepare::sim_stats(&prepare::http(), sim).await;
    [
        "discovery",
        "jwks",
        "backchannel",
        "token",
        "userinfo",
        "user_exists",
    ]
    .iter()
    .map(|k| stats[k].as_u64().unwrap_or(0))
    .sum()
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

/// `target/` of this program (it runs from `target/<profile>/deps/`).
fn target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.to_path_buf())
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn main() {
    // `cargo bench` passes `--bench`; without it this is a smoke run: stay tiny.
    let smoke = !std::env::args().any(|a| a == "--bench");
    // `cargo xtask bench quick`: fewer, shorter rounds.
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let settings = Settings {
        smoke,
        rounds: if smoke {
            1
        } else {
            env_usize("PROVIDER_BENCH_ROUNDS", if quick { 3 } else { 5 }).max(1)
        },
        secs: std::env::var("PROVIDER_BENCH_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if quick { 1.0 } else { 2.0 }),
        max_logins: env_usize("PROVIDER_BENCH_MAX_LOGINS", 20_000),
        max_codes: env_usize("PROVIDER_BENCH_MAX_CODES", 3_000),
        connections: env_usize("PROVIDER_BENCH_CONNECTIONS", 16).max(1),
    };
    // The load generator is required, smoke run included: no silent skip.
    let wrk_bin = wrk::wrk_program().unwrap_or_else(|e| panic!("provider_vs_oidc_provider: {e}"));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let node_dir = manifest.join("oidc-provider");
    let target = target_dir().expect("the target directory");
    let bridge_bin = std::env::var_os("IDENTITY_BRIDGE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("release").join("identity-bridge"));
    let missing: Vec<String> = [
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
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        let msg = format!("provider_vs_oidc_provider: missing {}", missing.join(", "));
        if smoke {
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
    let config = manifest
        .join("benches")
        .join("provider_vs_oidc_provider.toml");
    let launch = Launch {
        bridge_bin: &bridge_bin,
        bridge_config: &config,
        node_dir: &node_dir,
        logs: &target,
        core: SERVER_CORE,
    };
    let bench = Bench {
        settings: &settings,
        wrk: &wrk_bin,
        scratch: &target,
        serial: AtomicUsize::new(0),
    };
    runtime.block_on(run(&bench, &launch));
}

/// One endpoint's row of the summary.
struct Row {
    endpoint: Endpoint,
    bridge: Tally,
    theirs: Tally,
}

async fn run(bench: &Bench<'_>, launch: &Launch<'_>) {
    let s = bench.settings;
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let node_version = command_line(&node, &["--version"]);
    let date = command_line("date", &["-u", "+%Y-%m-%d"]);
    println!(
        "bridge: {} (pinned to core {SERVER_CORE}); oidc-provider 9.13.3 on node {node_version} (core {SERVER_CORE}); wrk -t1 -c{} on core {LOAD_CORE}",
        launch.bridge_bin.display(),
        s.connections,
    );
    println!(
        "{} rounds each after one warm-up, about {} s per round; {date}",
        s.rounds, s.secs
    );
    let mut rows = Vec::new();
    for endpoint in Endpoint::ALL {
        let (interval, extra) = endpoint.bridge_options();
        let ours = servers::start(Kind::Bridge, launch, interval, extra).await;
        let theirs = servers::start(Kind::OidcProvider, launch, interval, &[]).await;
        let warm_up = s.warm_up(endpoint);
        let mut scratch = Tally::new();
        let ours_rate = bench.round(&ours, endpoint, warm_up, &mut scratch).await;
        let theirs_rate = bench.round(&theirs, endpoint, warm_up, &mut scratch).await;
        let (n_ours, n_theirs) = (
            s.requests(endpoint, ours_rate),
            s.requests(endpoint, theirs_rate),
        );
        let (mut a, mut b) = (Tally::new(), Tally::new());
        for _ in 0..s.rounds {
            bench.round(&ours, endpoint, n_ours, &mut a).await;
            bench.round(&theirs, endpoint, n_theirs, &mut b).await;
        }
        println!(
            "  {:<24} req/s per round: bridge {:?} ({n_ours} requests each), oidc-provider {:?} ({n_theirs} each)",
            endpoint.label(),
            a.rates.iter().map(|v| v.round()).collect::<Vec<_>>(),
            b.rates.iter().map(|v| v.round()).collect::<Vec<_>>(),
        );
        println!(
            "  {:<24} CPU µs per request: bridge {:.1} (wrk {:.1}), oidc-provider {:.1} (wrk {:.1}); the bridge's simulator answered {} requests during its timed rounds",
            endpoint.label(),
            a.us_per_request(a.server_cpu),
            a.us_per_request(a.wrk_cpu),
            b.us_per_request(b.server_cpu),
            b.us_per_request(b.wrk_cpu),
            a.sim_requests,
        );
        rows.push(Row {
            endpoint,
            bridge: a,
            theirs: b,
        });
    }
    summary(&rows, &date, &node_version);
    signatures::report(&node, launch.node_dir).await;
}

fn summary(rows: &[Row], date: &str, node_version: &str) {
    println!(
        "\n{:<24} {:>11} {:>14} {:>22} {:>14} {:>14}",
        "endpoint",
        "bridge req/s",
        "oidc-provider",
        "ratio median (min–max)",
        "bridge CPU µs",
        "theirs CPU µs"
    );
    let mut readme = Vec::new();
    let mut missed = Vec::new();
    for row in rows {
        let ratios: Vec<f64> = row
            .bridge
            .rates
            .iter()
            .zip(&row.theirs.rates)
            .map(|(o, t)| o / t)
            .collect();
        let lo = ratios.iter().copied().fold(f64::MAX, f64::min);
        let hi = ratios.iter().copied().fold(f64::MIN, f64::max);
        let (o, t, r) = (
            median(&row.bridge.rates),
            median(&row.theirs.rates),
            median(&ratios),
        );
        let co = row.bridge.us_per_request(row.bridge.server_cpu);
        let ct = row.theirs.us_per_request(row.theirs.server_cpu);
        let label = row.endpoint.label();
        println!(
            "{label:<24} {o:>11.0} {t:>14.0} {:>22} {co:>14.1} {ct:>14.1}",
            format!("{r:.2}× ({lo:.2}–{hi:.2})")
        );
        readme.push(format!(
            "| {label} | {o:.0} | {t:.0} | {r:.2}× ({lo:.2}–{hi:.2}) | {co:.1} | {ct:.1} | {date} | node {node_version} |"
        ));
        if r < 5.0 || co * 5.0 > ct {
            missed.push(format!("{label} ({r:.2}×, CPU 1/{:.1})", ct / co));
        }
    }
    if missed.is_empty() {
        println!(
            "\ngoal (≥ 5× oidc-provider's req/s and ≤ 1/5 of its CPU per request): met on every endpoint"
        );
    } else {
        println!(
            "\ngoal (≥ 5× oidc-provider's req/s and ≤ 1/5 of its CPU per request): not met on {}",
            missed.join(", ")
        );
    }
    println!(
        "\n| endpoint | bridge req/s | oidc-provider req/s | ratio median (min–max) | bridge CPU µs/request | oidc-provider CPU µs/request | date | Node |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for line in readme {
        println!("{line}");
    }
}
