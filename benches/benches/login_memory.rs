//! Where the bytes of a waiting login go, counted by the allocator: a plain program (no
//! criterion), `cargo bench -p vipps-login-benches --bench login_memory`, with
//! `LOGIN_MEMORY_N` logins (default 50 000). `pending_logins` measures resident memory
//! per waiting login; this one says what it is made of.
//!
//! A counting global allocator around the system's (`stats_alloc`) keeps the live heap
//! bytes as asked, and the number of live blocks; glibc's malloc adds about 16 bytes to
//! each (8 of header, and rounding up to 16-byte steps), which the "in malloc blocks"
//! figures add. Then, against the in-process
//! simulator (ES256, an interval long enough that nothing is polled while counting):
//!
//! 1. The simulator alone with N requests started by bare HTTP: its own share.
//! 2. A fresh simulator and a client on a `MemoryStore` with N logins started: the whole
//!    growth, less step 1, is the client's share.
//! 3. The client dropped (its engine and poller go; the store stays): their share.
//! 4. The store dropped: its share (sealed records, keys, maps, the poller index).
//! 5. What is left is this program's own list of the N login ids.
//!
//! One login's sealed record and key sizes are read from the store as well.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use tokio::sync::Semaphore;
use vipps_login_benches::sim::{BareStarts, config_builder, pending_msisdn};
use vipps_login_core::{LoginId, LoginRequest, MemoryStore, Msisdn, Store, VippsClient};
use vipps_login_sim::{SigningAlg, SimConfig, SimHandle, Simulator};

/// The system allocator, counting (`stats_alloc`).
#[global_allocator]
static ALLOC: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// What glibc's malloc adds to a block on 64-bit Linux, on average: 8 bytes of header
/// and, from rounding up to 16-byte steps, 8 more.
const BLOCK_OVERHEAD: i64 = 16;

#[derive(Clone, Copy)]
struct Heap {
    asked: i64,
    blocks: i64,
    rss: i64,
}

fn heap() -> Heap {
    let stats = ALLOC.stats();
    let asked = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
    let blocks = stats.allocations as i64 - stats.deallocations as i64;
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0i64);
    Heap {
        asked,
        blocks: asked + BLOCK_OVERHEAD * blocks,
        rss: rss * 1024,
    }
}

impl Heap {
    fn minus(self, o: Heap) -> Heap {
        Heap {
            asked: self.asked - o.asked,
            blocks: self.blocks - o.blocks,
            rss: self.rss - o.rss,
        }
    }

    fn per(self, n: usize) -> String {
        let n = n as f64;
        format!(
            "{:.0} B asked, {:.0} B in malloc blocks per login",
            self.asked as f64 / n,
            self.blocks as f64 / n
        )
    }
}

async fn simulator() -> SimHandle {
    Simulator::start(
        SimConfig::default()
            .auto_users(true)
            .builtin_users(false)
            .max_pending_per_user(16)
            // Nothing is polled while the program counts.
            .interval(Duration::from_secs(600))
            .expires_in(Duration::from_secs(900))
            .retention(Duration::from_secs(900))
            .poll_signing_alg(SigningAlg::ES256),
    )
    .await
    .unwrap()
}

/// Step 1: N requests in a simulator, started with bare HTTP (64 at a time).
async fn sim_alone(n: usize) -> Heap {
    let sim = simulator().await;
    let starts = Arc::new(BareStarts::new(&sim));
    starts.one(n).await; // warm-up
    let before = heap();
    starts.all(n).await;
    heap().minus(before)
}

/// Lets dropped tasks (the poller, the simulator's server) finish.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn run(n: usize) {
    let sim_share = sim_alone(n).await;
    settle().await;

    let sim = simulator().await;
    let config = config_builder(&sim)
        .max_concurrent_polls(128)
        .request_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let store = MemoryStore::with_capacity(2 * n as u64 + 1_000);
    let client = VippsClient::with_store(config, Arc::new(store.clone())).unwrap();
    let warm = client
        .start(LoginRequest::new(
            Msisdn::parse(&pending_msisdn(n)).unwrap(),
        ))
        .await
        .unwrap();
    client.cancel(&warm.id).await.unwrap();
    let before = heap();

    let gate = Arc::new(Semaphore::new(64));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let (client, tx) = (client.clone(), tx.clone());
        let m = Msisdn::parse(&pending_msisdn(i)).unwrap();
        tokio::spawn(async move {
            let r = client.start(LoginRequest::new(m)).await;
            drop(permit);
            tx.send(r.map(|s| s.id)).unwrap();
        });
    }
    drop(tx);
    let mut ids: Vec<LoginId> = Vec::with_capacity(n);
    while let Some(r) = rx.recv().await {
        ids.push(r.expect("start"));
    }
    settle().await;
    let all = heap().minus(before);
    assert_eq!(client.poller_stats().scheduled, n, "every login waits");

    let key = format!("vipps-login:login:{}", ids[0]);
    let record = store.get(&key).await.unwrap().expect("the record").len();

    drop(client);
    settle().await;
    let without_client = heap();
    drop(store);
    settle().await;
    let without_store = heap();
    drop(ids);
    let without_ids = heap();
    drop(sim);

    let full = heap_at(before, all);
    let client_share = all.minus(sim_share);
    let engine = full.minus(without_client);
    let kept = without_client.minus(without_store);
    let own_ids = without_store.minus(without_ids);
    println!("login_memory: {n} waiting logins on a MemoryStore, in-process simulator");
    println!(
        "  simulator alone (N requests by bare HTTP): {}",
        sim_share.per(n)
    );
    println!(
        "  whole growth with the client: {}; resident memory +{:.0} B per login",
        all.per(n),
        all.rss as f64 / n as f64
    );
    println!(
        "  client's share (less the simulator's): {}",
        client_share.per(n)
    );
    println!(
        "    engine and poller (freed with the client): {}",
        engine.per(n)
    );
    println!("    store (freed with it): {}", kept.per(n));
    println!(
        "      one sealed record {record} B, its key {} B",
        key.len()
    );
    println!("    this program's list of login ids: {}", own_ids.per(n));
}

/// The heap at `before` plus a growth.
fn heap_at(before: Heap, growth: Heap) -> Heap {
    Heap {
        asked: before.asked + growth.asked,
        blocks: before.blocks + growth.blocks,
        rss: before.rss + growth.rss,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) stay tiny.
    let test_mode = !std::env::args().any(|a| a == "--bench");
    let n = if test_mode {
        200
    } else {
        std::env::var("LOGIN_MEMORY_N")
            .ok()
            .and_then(|v| v.replace('_', "").parse().ok())
            .unwrap_or(50_000)
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(n));
}
