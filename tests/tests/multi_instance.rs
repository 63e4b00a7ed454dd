//! Several instances of the reference apps as real processes on one real Redis and one
//! standalone simulator: logins followed and completed on any instance, instances killed
//! and restarted, cancels racing approvals, many logins redeemed exactly once, replayed
//! browser callbacks (`multi_instance/callback.rs`), and Redis going away and coming back
//! (`multi_instance/outage.rs`).
//!
//! Each test has its own Redis, simulator and instances (see
//! `vipps_login_tests::cluster`), so they run in parallel. They need `redis-server`
//! (`REDIS_SERVER` or on `PATH`) and the binaries in `target/debug` (`cargo build -p
//! vipps-login-sim -p counter -p continue-on-phone`, or `cargo test --workspace`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use url::Url;
use vipps_login_tests::cluster::{Cluster, INTERVAL_S, LEASE_MS};
use vipps_login_tests::device::{DECIDED_WITHIN as WAIT, Device, http, until};

#[path = "multi_instance/callback.rs"]
mod callback;
#[path = "multi_instance/outage.rs"]
mod outage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_on_a_follow_and_complete_on_b_logged_in_on_c() {
    let cluster = Cluster::counters(3, &[]);
    let (a, b, c) = (cluster.url(0), cluster.url(1), cluster.url(2));
    let customer = Device::new(&http());
    let id = customer.login_started(&a, "4712345678").await;

    let on_b = customer.status(&b, &id).await;
    assert_eq!(
        (on_b.status, on_b.str("status")),
        (200, "pending"),
        "{:?}",
        on_b.body
    );
    let me = customer.me(&c).await;
    assert_eq!(me.body["logged_in"], false, "not logged in before approval");

    let req = cluster.sim.pending("4712345678").await;
    assert_eq!(cluster.sim.approve(&req).await.0, 200);
    let done = customer.decided(&b, &id).await;
    assert!(
        done.logged_in(),
        "approved and logged in on B: {:?}",
        done.body
    );
    assert!(done.set_cookie, "the session is rotated on login");
    assert_eq!(done.body["user"]["userinfo"]["name"], "Kari Nordmann");

    let me = customer.me(&c).await;
    assert_eq!(me.status, 200);
    assert_eq!(
        me.body["logged_in"], true,
        "the new cookie works on C: {:?}",
        me.body
    );
    // And again on B (redeemed once; the session answers from then on).
    let again = customer.status(&b, &id).await;
    assert!(again.logged_in(), "{:?}", again.body);
}

/// Instances keep logged-in sessions in memory (Redis' client-side caching), so this is
/// the test of that cache: after a logout on A answers, the very next request on B and C
/// (which have just served the session from memory, no waiting in between) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_ends_the_session_on_the_others_at_once() {
    let cluster = Cluster::counters(3, &[]);
    let (a, b, c) = (cluster.url(0), cluster.url(1), cluster.url(2));
    cluster.sim.policy("auto_approve", 10).await;
    for round in 0..5 {
        let phone = format!("4790000{round:03}");
        let customer = Device::new(&http());
        let id = customer.login_started(&a, &phone).await;
        assert!(customer.decided(&a, &id).await.logged_in(), "round {round}");
        // The cookies as they are now, sent as they are even after the logout, as a copy
        // of them (another tab, a stolen copy) would be.
        let cookies = customer.cookie_header();
        let member = |app: &Url| {
            let url = vipps_login_tests::device::join(app, "member");
            let req = http()
                .get(url)
                .header("accept", "text/html")
                .header("cookie", cookies.clone());
            async move { req.send().await.unwrap().status().as_u16() }
        };
        for _ in 0..3 {
            for app in [&a, &b, &c] {
                assert_eq!(member(app).await, 200, "round {round}: logged in on {app}");
            }
        }
        let out = customer
            .send(
                http()
                    .post(vipps_login_tests::device::join(&a, "auth/vipps/api/logout"))
                    .header("x-requested-with", "test"),
            )
            .await;
        assert_eq!(out.status, 200, "logout: {:?}", out.body);
        for app in [&b, &c, &a] {
            assert_eq!(
                member(app).await,
                303,
                "round {round}: the session must be over on {app} right after the logout on A"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_login_survives_the_death_of_its_poller() {
    let mut cluster = Cluster::counters(3, &[]);
    let (a, b) = (cluster.url(0), cluster.url(1));
    let customer = Device::new(&http());
    let id = customer.login_started(&a, "4798765432").await;
    let req = cluster.sim.pending("4798765432").await;
    // Let A poll it at least once, so the lease is A's.
    until(WAIT, "the first poll", || async {
        let stats = cluster.sim.stats().await;
        (stats["token"].as_u64() >= Some(1)).then_some(())
    })
    .await;

    cluster.apps[0].proc.kill();
    let killed = Instant::now();
    assert_eq!(cluster.sim.approve(&req).await.0, 200);
    let done = customer.decided(&b, &id).await;
    let failover = killed.elapsed();
    assert!(done.logged_in(), "completed on B: {:?}", done.body);
    eprintln!(
        "failover: a pending login approved right after its poller was killed completed on \
         another instance {failover:.2?} after the kill (lease {LEASE_MS} ms, interval {INTERVAL_S} s)"
    );
    let bound = Duration::from_secs_f64(INTERVAL_S) + Duration::from_millis(LEASE_MS);
    let slack = Duration::from_millis(2_500);
    assert!(
        failover <= bound + slack,
        "took over in {failover:?}, more than interval + lease ({bound:?}) + {slack:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_the_pending_logins_over_at_once() {
    let mut cluster = Cluster::counters(3, &[]);
    let (a, b) = (cluster.url(0), cluster.url(1));
    let customer = Device::new(&http());
    let id = customer.login_started(&a, "4798765432").await;
    let req = cluster.sim.pending("4798765432").await;
    // Let A poll it at least once, so that A is its poller.
    until(WAIT, "the first poll", || async {
        let stats = cluster.sim.stats().await;
        (stats["token"].as_u64() >= Some(1)).then_some(())
    })
    .await;

    let terminated = Instant::now();
    assert!(
        cluster.apps[0].proc.terminate(Duration::from_secs(5)),
        "A did not stop by itself within 5 s of SIGTERM"
    );
    let stopped = terminated.elapsed();
    assert_eq!(cluster.sim.approve(&req).await.0, 200);
    let done = customer.decided(&b, &id).await;
    let hand_over = terminated.elapsed();
    assert!(done.logged_in(), "completed on B: {:?}", done.body);
    eprintln!(
        "hand-over: A stopped {stopped:.2?} after SIGTERM; the login approved right after \
         completed on another instance {hand_over:.2?} after the SIGTERM (lease {LEASE_MS} ms, \
         interval {INTERVAL_S} s)"
    );
    // Without the release, another instance takes over only after the lease; with it,
    // at once: one interval to the next poll, and the device's own polling of B.
    let lease = Duration::from_millis(LEASE_MS);
    assert!(
        hand_over < lease,
        "handed over in {hand_over:?}, not well under the lease ({lease:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_login_survives_a_restart_of_every_instance() {
    let mut cluster = Cluster::counters(3, &[]);
    let customer = Device::new(&http());
    let id = customer.login_started(&cluster.url(2), "4712345678").await;
    let req = cluster.sim.pending("4712345678").await;
    for app in &mut cluster.apps {
        app.proc.kill();
    }
    cluster.apps.clear();
    for _ in 0..3 {
        let app = cluster.counter(&[]);
        cluster.apps.push(app);
    }
    let pending = customer.status(&cluster.url(0), &id).await;
    assert_eq!(pending.str("status"), "pending", "{:?}", pending.body);
    assert_eq!(cluster.sim.approve(&req).await.0, 200);
    let done = customer.decided(&cluster.url(1), &id).await;
    assert!(
        done.logged_in(),
        "completed after the restart: {:?}",
        done.body
    );
    let me = customer.me(&cluster.url(2)).await;
    assert_eq!(me.body["logged_in"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_racing_an_approval_has_one_outcome_everywhere() {
    let cluster = Cluster::counters(3, &["--rate-limit-per-ip", "1000"]);
    let apps = [cluster.url(0), cluster.url(1), cluster.url(2)];
    let client = http();
    // The cancel comes this much after the approval (negative: before it). The engine
    // learns of an approval at its next poll (every 0.3 s), so the middle ones race.
    let cancel_after_ms: [i64; 7] = [-100, 0, 100, 200, 300, 450, 900];
    let (mut cancelled, mut approved) = (0, 0);
    for (round, offset) in cancel_after_ms.into_iter().enumerate() {
        let phone = format!("479000000{round}");
        let customer = Device::new(&client);
        let id = customer.login_started(&apps[0], &phone).await;
        let req = cluster.sim.pending(&phone).await;
        let pause = |ms: i64| tokio::time::sleep(Duration::from_millis(ms.unsigned_abs()));
        let approve = async {
            pause(offset.min(0)).await;
            cluster.sim.approve(&req).await
        };
        let cancel = async {
            pause(offset.max(0)).await;
            customer.cancel(&apps[1], &id).await
        };
        let ((sim_status, _), cancel) = tokio::join!(approve, cancel);
        assert_eq!(
            sim_status, 200,
            "round {round}: the simulator took the approval"
        );
        // Each instance in turn: the first decided answer redeems when approved, the
        // others then see the session logged in with this login.
        let mut seen = Vec::new();
        for app in &apps {
            let reply = customer.decided(app, &id).await;
            seen.push(if reply.logged_in() {
                "approved".to_owned()
            } else {
                format!("{} {}", reply.status, reply.str("status"))
            });
        }
        match cancel.status {
            200 => {
                assert_eq!(cancel.str("status"), "cancelled");
                assert_eq!(
                    seen, ["200 cancelled"; 3],
                    "round {round} (offset {offset} ms)"
                );
                cancelled += 1;
            }
            409 => {
                assert_eq!(cancel.str("error"), "already_completed");
                assert_eq!(
                    seen, ["approved"; 3],
                    "round {round} (cancel {offset} ms after)"
                );
                approved += 1;
            }
            other => panic!("round {round}: cancel answered {other}: {:?}", cancel.body),
        }
    }
    eprintln!("cancel races: {cancelled} cancelled, {approved} approved (cancel too late: 409)");
    assert!(
        approved >= 1,
        "the last round's cancel comes long after the approval"
    );

    // A cancel that surely comes too late: approved (and redeemed) first.
    let customer = Device::new(&client);
    let id = customer.login_started(&apps[2], "4790000099").await;
    let req = cluster.sim.pending("4790000099").await;
    cluster.sim.approve(&req).await;
    until(WAIT, "the approval to reach the engine", || async {
        let r = customer.status(&apps[0], &id).await;
        r.logged_in().then_some(())
    })
    .await;
    let late = customer.cancel(&apps[1], &id).await;
    assert_eq!(
        late.status, 409,
        "a cancel after the approval: {:?}",
        late.body
    );
    for app in &apps {
        assert!(
            customer.status(app, &id).await.logged_in(),
            "stays approved"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_logins_are_each_redeemed_exactly_once() {
    const N: usize = 200;
    let limits = [
        "--rate-limit-per-ip",
        "100000",
        "--rate-limit-per-number",
        "100",
    ];
    let cluster = Cluster::counters(3, &limits);
    cluster.sim.policy("auto_approve", 500).await;
    let apps: Vec<Url> = (0..3).map(|i| cluster.url(i)).collect();
    let client = http();

    let started_at = Instant::now();
    let mut starts = JoinSet::new();
    for i in 0..N {
        let (device, app) = (Device::new(&client), apps[i % 3].clone());
        starts.spawn(async move {
            let id = device.login_started(&app, &format!("479{i:07}")).await;
            (i, device, id)
        });
    }
    let logins = starts.join_all().await;
    eprintln!("{N} logins started in {:.2?}", started_at.elapsed());

    // Per login: (status answers that logged the session in, pairs whose loser saw the
    // login decided rather than pending: both raced for the redemption).
    let mut checks = JoinSet::new();
    for (i, device, id) in logins {
        let (x, y) = (apps[i % 3].clone(), apps[(i + 1) % 3].clone());
        checks.spawn(async move {
            let what = format!("login {i} to be redeemed");
            let (contested, _) = until(Duration::from_secs(60), &what, || async {
                let (rx, ry) = tokio::join!(device.status(&x, &id), device.status(&y, &id));
                let pending = [&rx, &ry].map(|r| r.str("status") == "pending");
                let wins = usize::from(rx.logged_in()) + usize::from(ry.logged_in());
                if wins == 0 && pending.contains(&true) {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    return None;
                }
                assert_eq!(wins, 1, "login {i}: {:?} / {:?}", rx.body, ry.body);
                Some(!pending.contains(&true))
            })
            .await;
            (1, usize::from(contested))
        });
    }
    let (redeemed, contested) = checks
        .join_all()
        .await
        .into_iter()
        .fold((0, 0), |(r, c), (dr, dc)| (r + dr, c + dc));
    assert_eq!(redeemed, N, "redemptions counted");
    eprintln!("{contested} of {N} redemptions were contested by the other instance");
    let stats = cluster.sim.stats().await;
    assert_eq!(stats["tokens_issued"], N, "tokens issued: {stats}");
    eprintln!(
        "{N} logins redeemed exactly once each in {:.2?}",
        started_at.elapsed()
    );
}
