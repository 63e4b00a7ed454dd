//! Many concurrent pending logins through the one shared poller, against the in-process
//! simulator, on each store: the in-process `MemoryStore` (sized for them:
//! `MemoryStore::with_capacity`) and a real `redis-server` of its own. A plain program (no
//! criterion): `cargo bench -p vipps-login-benches --bench pending_logins`.
//! `PENDING_LOGINS` sets how many (default 250 000), `PENDING_INTERVAL_MS` the polling
//! interval the simulator hands out (default 60 000), `PENDING_STORES` which stores
//! (default `memory,redis`). On Redis it also reports `used_memory` per pending login.
//!
//! Phases:
//! 1. Start N logins (distinct numbers, `auto_users`), paced evenly over one interval (as
//!    logins arrive in life; all at once would make every later poll a burst of N).
//! 2. Let the poller carry them for two intervals: poll lateness (due time → request
//!    sent, from the poller's own histogram) and resident memory (`VmRSS`).
//! 3. Approve them all and wait until every login is complete, then count upstream
//!    requests per login from the simulator's counters.
//!
//! Then the same again with `PENDING_BURST` logins (default 10 000) and one interval of
//! steady state: the approval burst. For phase 3 of both runs the program says where the
//! time goes: the simulator and the client run on runtimes of their own (threads named
//! `sim` and `client`), and the CPU time of each (from `/proc/self/task/*/schedstat`)
//! is printed beside the wall-clock time the completions took.
//!
//! The simulator runs in this process, so the RSS growth includes its own state for N
//! requests. To tell the client's share, the program first runs itself once more in a
//! child process that only fills an in-process simulator with N requests (raw HTTP, no
//! client) and reports that growth.
//!
//! Why 60 s and not Vipps' 5 s: this machine has 2 cores shared by the simulator, the
//! client, Redis and the benchmark. 250 000 logins at 5 s are 50 000 polls/s, which
//! saturates both cores (the simulator's half included), so the lateness measured would be
//! CPU queueing, not scheduling. 60 s is ~4 200 polls/s, a load where the figure shows what
//! the poller adds. `PENDING_INTERVAL_MS=5000` shows the saturated case.
//!
//! The simulator signs polling ID tokens with ES256 here: RS256 *signing* costs it about
//! 1 ms per token, which would make the completion phase a benchmark of its RSA.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use vipps_login_benches::sim::{BareStarts, config_builder, pending_msisdn};
use vipps_login_core::{LoginRequest, LoginStatus, MemoryStore, Msisdn, Store, VippsClient};
use vipps_login_redis::RedisStore;
use vipps_login_sim::{SigningAlg, SimConfig, SimHandle, Simulator};
use vipps_login_tests::procs::Redis;

/// Where the logins are kept in one run.
enum Kept {
    Memory,
    Redis(Redis),
}

impl Kept {
    fn name(&self) -> &'static str {
        match self {
            Kept::Memory => "memory store",
            Kept::Redis(_) => "Redis",
        }
    }

    async fn store(&self, n: usize) -> Arc<dyn Store> {
        match self {
            // A waiting login holds one entry here (no per-number limits in this bench);
            // room for twice as many, so the capacity is not what is measured.
            Kept::Memory => Arc::new(MemoryStore::with_capacity(2 * n as u64 + 1_000)),
            Kept::Redis(r) => Arc::new(RedisStore::connect(r.url()).await.unwrap()),
        }
    }

    /// Redis' own `used_memory` in bytes (`INFO memory`), read from outside our code.
    fn used_memory(&self) -> Option<u64> {
        let Kept::Redis(r) = self else { return None };
        let out = Command::new("redis-cli")
            .args(["-p", &r.port().to_string(), "info", "memory"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
    }
}

/// Nanoseconds on a CPU so far of this process's threads, by role: the simulator's
/// runtime (`sim*`), the client's (`client*`), and the rest (the bench driver).
#[derive(Clone, Copy, Debug, Default)]
struct CpuSplit {
    sim: u64,
    client: u64,
    other: u64,
}

fn cpu_split() -> CpuSplit {
    let mut split = CpuSplit::default();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return split;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns: u64 = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0);
        if comm.starts_with("sim") {
            split.sim += ns;
        } else if comm.starts_with("client") {
            split.client += ns;
        } else {
            split.other += ns;
        }
    }
    split
}

impl CpuSplit {
    fn since(self, before: CpuSplit) -> (f64, f64, f64) {
        let s = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1e9;
        (
            s(self.sim, before.sim),
            s(self.client, before.client),
            s(self.other, before.other),
        )
    }
}

const CHILD_ENV: &str = "PENDING_LOGINS_SIM_ONLY";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn simulator(interval: Duration) -> SimHandle {
    Simulator::start(
        SimConfig::default()
            .auto_users(true)
            .builtin_users(false)
            .max_pending_per_user(16)
            .interval(interval)
            .expires_in(Duration::from_secs(900))
            .retention(Duration::from_secs(900))
            .poll_signing_alg(SigningAlg::ES256),
    )
    .await
    .unwrap()
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`, `--all-targets`)
    // this is a smoke test: stay tiny.
    let test_mode = !std::env::args().any(|a| a == "--bench");
    let n = if test_mode {
        300
    } else {
        env_u64("PENDING_LOGINS", 250_000) as usize
    };
    let interval = Duration::from_millis(if test_mode {
        300
    } else {
        env_u64("PENDING_INTERVAL_MS", 60_000)
    });
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .enable_all()
            .build()
            .unwrap()
    };
    let (client_rt, sim_rt) = (runtime("client"), runtime("sim"));
    if std::env::var_os(CHILD_ENV).is_some() {
        client_rt.block_on(sim_only(n, interval));
        return;
    }
    let sim_share = if test_mode { None } else { measure_sim_share() };
    let stores = std::env::var("PENDING_STORES").unwrap_or_else(|_| "memory,redis".into());
    for name in stores.split(',').map(str::trim) {
        let kept = match name {
            "memory" => Kept::Memory,
            "redis" => Kept::Redis(Redis::start_new()),
            other => panic!("PENDING_STORES: unknown store {other:?} (memory, redis)"),
        };
        // Two intervals of steady state and three to complete, after the start phase
        // (however long that takes on this machine), and slack.
        let deadline = interval * 5 + Duration::from_secs(60);
        let sim = sim_rt.block_on(simulator(interval));
        client_rt.block_on(run(
            &sim, &sim_rt, &kept, n, 2, interval, deadline, sim_share,
        ));
        drop(sim);
        println!();
    }
    // The approval burst: fewer logins, one interval of steady state, all approved at once.
    let burst = if test_mode {
        100
    } else {
        env_u64("PENDING_BURST", 10_000) as usize
    };
    if burst > 0 {
        let burst_interval = Duration::from_millis(if test_mode { 300 } else { 15_000 });
        let sim = sim_rt.block_on(simulator(burst_interval));
        let deadline = Duration::from_secs(120);
        client_rt.block_on(run(
            &sim,
            &sim_rt,
            &Kept::Memory,
            burst,
            1,
            burst_interval,
            deadline,
            None,
        ));
    }
}

/// Runs this program as a child that only fills a simulator; returns its RSS growth.
fn measure_sim_share() -> Option<u64> {
    let exe = std::env::current_exe().ok()?;
    // Same arguments (`--bench`), so the child sizes N as this run does, not as a smoke test.
    let out = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(CHILD_ENV, "1")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("SIM_ONLY_RSS_KIB "))
        .and_then(|v| v.trim().parse().ok())
}

/// Child mode: N pending requests in an in-process simulator, started with bare HTTP.
async fn sim_only(n: usize, interval: Duration) {
    let sim = simulator(interval).await;
    let starts = Arc::new(BareStarts::new(&sim));
    starts.one(n).await; // warm-up
    let before = rss_kib();
    starts.all(n).await;
    println!("SIM_ONLY_RSS_KIB {}", rss_kib().saturating_sub(before));
}

#[allow(clippy::too_many_arguments)]
async fn run(
    sim: &SimHandle,
    sim_rt: &tokio::runtime::Runtime,
    kept: &Kept,
    n: usize,
    steady_intervals: u32,
    interval: Duration,
    after_starts: Duration,
    sim_share: Option<u64>,
) {
    let config = config_builder(sim)
        .max_concurrent_polls(128)
        .request_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let client = VippsClient::with_store(config, kept.store(n).await).unwrap();

    // Warm the caches and the connection pool with one login, outside the figures.
    let warm = client
        .start(LoginRequest::new(
            Msisdn::parse(&pending_msisdn(n)).unwrap(),
        ))
        .await
        .unwrap();
    client.cancel(&warm.id).await.unwrap();
    let rss_before = rss_kib();
    let redis_before = kept.used_memory();

    println!(
        "pending_logins on the {}: {n} logins, interval {interval:?}, expiry 900 s, 2 tokio workers, 2 cores",
        kept.name()
    );
    // Phase 1: start them all, evenly over one interval, at most 64 start calls in flight.
    let t0 = Instant::now();
    // Tasks are detached (a held JoinHandle keeps the whole finished task allocated);
    // ids come back through a channel.
    let gate = Arc::new(Semaphore::new(64));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let per_tick = (n as f64 / (interval.as_secs_f64() * 100.0)).max(1.0);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut released = 0.0f64;
    let mut i = 0;
    while i < n {
        tick.tick().await;
        released += per_tick;
        while (i as f64) < released && i < n {
            let permit = gate.clone().acquire_owned().await.unwrap();
            let client = client.clone();
            let tx = tx.clone();
            let m = Msisdn::parse(&pending_msisdn(i)).unwrap();
            tokio::spawn(async move {
                let r = client.start(LoginRequest::new(m)).await;
                drop(permit);
                tx.send(r.map(|s| s.id)).unwrap();
            });
            i += 1;
        }
    }
    drop(tx);
    let mut ids = Vec::with_capacity(n);
    while let Some(r) = rx.recv().await {
        ids.push(r.expect("start"));
    }
    let start_time = t0.elapsed();
    println!(
        "  started {n} in {:.1} s ({:.0}/s)",
        start_time.as_secs_f64(),
        n as f64 / start_time.as_secs_f64()
    );
    let rss_started = rss_kib();
    let hard_deadline = Instant::now() + after_starts;

    // Phase 2: steady state, every login pending and polled at its interval.
    client.reset_poller_stats();
    let polls_before = client.poller_stats().polls;
    let steady = (interval * steady_intervals)
        .min(hard_deadline.saturating_duration_since(Instant::now()) / 3)
        .max(interval);
    tokio::time::sleep(steady).await;
    let rss_pending = rss_kib();
    let st = client.poller_stats();
    let steady_polls = st.polls - polls_before;
    println!(
        "  steady state {:.1} s: {} polls ({:.0}/s), poll lateness p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        steady.as_secs_f64(),
        steady_polls,
        steady_polls as f64 / steady.as_secs_f64(),
        ms(st.lateness_p50),
        ms(st.lateness_p99),
        ms(st.lateness_max),
    );
    let grown = rss_pending.saturating_sub(rss_before);
    println!(
        "  resident memory right after the starts: +{:.1} MiB",
        mib(rss_started.saturating_sub(rss_before))
    );
    println!(
        "  resident memory: {:.1} MiB before, {:.1} MiB with {n} pending: +{:.1} MiB ({:.2} KiB per login, simulator included)",
        mib(rss_before),
        mib(rss_pending),
        mib(grown),
        grown as f64 / n as f64,
    );
    if let (Some(before), Some(now)) = (redis_before, kept.used_memory()) {
        let grown = now.saturating_sub(before);
        println!(
            "  Redis used_memory: +{:.1} MiB with {n} pending ({:.0} bytes per login)",
            grown as f64 / 1_048_576.0,
            grown as f64 / n as f64,
        );
    }
    if let Some(sim_kib) = sim_share.filter(|_| matches!(kept, Kept::Memory)) {
        let client_kib = grown.saturating_sub(sim_kib);
        println!(
            "  of which the simulator alone (child run, same N): +{:.1} MiB; client's share ≈ {:.1} MiB ({:.2} KiB per login)",
            mib(sim_kib),
            mib(client_kib),
            client_kib as f64 / n as f64,
        );
    }

    // Phase 3: approve everything; the next poll of each login collects its tokens.
    client.reset_poller_stats();
    let cpu_before = cpu_split();
    let t1 = Instant::now();
    // On the simulator's runtime: approving is the simulator's work.
    let approver = sim.clone();
    sim_rt
        .spawn(async move {
            for r in approver.requests() {
                if r.status == vipps_login_sim::RequestStatus::Pending {
                    let _ = approver.approve(&r.auth_req_id).await;
                }
            }
        })
        .await
        .unwrap();
    let approve_time = t1.elapsed();
    while client.poller_stats().scheduled > 0 && Instant::now() < hard_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let complete_time = t1.elapsed();
    let (sim_cpu, client_cpu, other_cpu) = cpu_split().since(cpu_before);
    // Approved, still waiting when the bench stopped waiting, or anything else (a login
    // that is gone or failed: lost).
    let (mut approved, mut waiting) = (0, 0);
    for id in &ids {
        match client.status(id).await {
            Ok(LoginStatus::Approved(_)) => approved += 1,
            Ok(LoginStatus::Pending) => waiting += 1,
            _ => {}
        }
    }
    let done = client.poller_stats();
    let s = sim.stats();
    let logins = n as f64;
    println!(
        "  approved {approved}/{n} at once (approving took {:.2} s), all complete {:.2} s after approval (one interval is {:.1} s); lateness in this phase p50 {:.2} ms, p99 {:.2} ms",
        approve_time.as_secs_f64(),
        complete_time.as_secs_f64(),
        interval.as_secs_f64(),
        ms(done.lateness_p50),
        ms(done.lateness_p99),
    );
    println!(
        "  CPU time in this phase: client {client_cpu:.2} s ({:.0} µs per login), simulator {sim_cpu:.2} s ({:.0} µs per login), bench driver {other_cpu:.2} s; on 2 cores the work alone needs ≥ {:.2} s",
        client_cpu * 1e6 / n as f64,
        sim_cpu * 1e6 / n as f64,
        (client_cpu + sim_cpu + other_cpu) / 2.0,
    );
    // The warm-up login counts one start and no poll.
    println!(
        "  upstream requests per login: start {:.3}, token {:.2}, userinfo {:.3}; discovery {} and JWKS {} in total",
        (s.backchannel - 1) as f64 / logins,
        s.token as f64 / logins,
        s.userinfo as f64 / logins,
        s.discovery,
        s.jwks,
    );
    // On average a login waits half the start phase, the steady phase, and half an
    // interval for the poll that collects its tokens.
    let pending_time =
        start_time.as_secs_f64() / 2.0 + steady.as_secs_f64() + interval.as_secs_f64() / 2.0;
    println!(
        "  (expected token calls per login ≈ average time pending / interval ≈ {:.2}; retries {})",
        pending_time / interval.as_secs_f64(),
        done.retries
    );
    println!(
        "  resident memory at the end {:.1} MiB; total time {:.1} s",
        mib(rss_kib()),
        t0.elapsed().as_secs_f64()
    );
    println!(
        "  logins lost: {} of {n}; still waiting when the bench stopped: {waiting}",
        n - approved - waiting
    );
    assert_eq!(approved, n, "every login completes");
    assert_eq!((s.discovery, s.jwks), (1, 1), "metadata fetched once");
}
