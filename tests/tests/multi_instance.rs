//! Several instances of the reference apps as real processes on one real Redis and one
//! standalone simulator: logins followed and completed on any instance, instances killed
//! and restarted, cancels racing approvals, many logins redeemed exactly once, replayed
//! browser callbacks, and Redis going away and coming back.
//!
//! Each test has its own Redis, simulator and instances (see
//! `vipps_login_tests::cluster`), so they run in parallel. They need `redis-server`
//! (`REDIS_SERVER` or on `PATH`) and the binaries in `target/debug` (`cargo build -p
//! vipps-login-sim -p counter -p continue-on-phone`, or `cargo test --workspace`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use url::Url;
use vipps_login_tests::cluster::{
    Cluster, Device, INTERVAL_S, LEASE_MS, Reply, http, join, masked, until,
};

const WAIT: Duration = Duration::from_secs(20);

/// Starts a login for `phone` on `app` from `device`: its id.
async fn start(device: &Device, app: &Url, phone: &str) -> String {
    let started = device.start(app, phone).await;
    assert_eq!(
        started.status,
        201,
        "start for {}: {:?}",
        masked(phone),
        started.body
    );
    started.str("login_id").to_owned()
}

/// Polls `api/status` on `app` until the login is no longer pending; that answer.
async fn settled(device: &Device, app: &Url, id: &str) -> Reply {
    until(WAIT, "the login to be decided", || async {
        let reply = device.status(app, id).await;
        (reply.str("status") != "pending").then_some(reply)
    })
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_on_a_follow_and_complete_on_b_logged_in_on_c() {
    let cluster = Cluster::counters(3, &[]);
    let (a, b, c) = (cluster.url(0), cluster.url(1), cluster.url(2));
    let customer = Device::new(&http());
    let id = start(&customer, &a, "4712345678").await;

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
    let done = settled(&customer, &b, &id).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_login_survives_the_death_of_its_poller() {
    let mut cluster = Cluster::counters(3, &[]);
    let (a, b) = (cluster.url(0), cluster.url(1));
    let customer = Device::new(&http());
    let id = start(&customer, &a, "4798765432").await;
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
    let done = settled(&customer, &b, &id).await;
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
async fn a_pending_login_survives_a_restart_of_every_instance() {
    let mut cluster = Cluster::counters(3, &[]);
    let customer = Device::new(&http());
    let id = start(&customer, &cluster.url(2), "4712345678").await;
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
    let done = settled(&customer, &cluster.url(1), &id).await;
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
        let id = start(&customer, &apps[0], &phone).await;
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
            let reply = settled(&customer, app, &id).await;
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
    let id = start(&customer, &apps[2], "4790000099").await;
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
            let id = start(&device, &app, &format!("479{i:07}")).await;
            (i, device, id)
        });
    }
    let logins = starts.join_all().await;
    eprintln!("{N} logins started in {:.2?}", started_at.elapsed());

    let mut checks = JoinSet::new();
    for (i, device, id) in logins {
        let (x, y) = (apps[i % 3].clone(), apps[(i + 1) % 3].clone());
        checks.spawn(async move {
            let what = format!("login {i} to be redeemed");
            until(Duration::from_secs(60), &what, || async {
                let (rx, ry) = tokio::join!(device.status(&x, &id), device.status(&y, &id));
                let wins = usize::from(rx.logged_in()) + usize::from(ry.logged_in());
                let pending = [&rx, &ry].iter().all(|r| r.str("status") == "pending");
                if pending {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    return None;
                }
                if wins == 0 && [&rx, &ry].iter().any(|r| r.str("status") == "pending") {
                    return None; // one still saw it pending, the other not yet logged in
                }
                assert_eq!(wins, 1, "login {i}: {:?} / {:?}", rx.body, ry.body);
                Some(())
            })
            .await;
        });
    }
    let redeemed = checks.join_all().await.len();
    assert_eq!(redeemed, N);
    let stats = cluster.sim.stats().await;
    assert_eq!(stats["tokens_issued"], N, "tokens issued: {stats}");
    eprintln!(
        "{N} logins redeemed exactly once each in {:.2?}",
        started_at.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_or_forged_browser_callback_is_refused() {
    let mut cluster = Cluster::empty();
    let balancer = Url::parse(&format!(
        "http://127.0.0.1:{}/",
        vipps_login_tests::procs::free_port()
    ))
    .unwrap();
    for _ in 0..2 {
        let app = cluster.continue_on_phone(&balancer, &[]);
        cluster.apps.push(app);
    }
    let (a, b) = (cluster.url(0), cluster.url(1));
    let client = http();
    let on = |app: &Url, link: &Url| {
        let mut to = join(app, link.path());
        to.set_query(link.query());
        to
    };
    let approve_link = async |phone: &str| {
        let clerk = Device::new(&client);
        start(&clerk, &a, phone).await;
        let req = cluster.sim.pending(phone).await;
        let (status, answer) = cluster.sim.approve(&req).await;
        assert_eq!(status, 200, "{answer}");
        Url::parse(answer["redirect_to"].as_str().unwrap()).unwrap()
    };

    // The phone's browser comes back on B: logged in, sent on.
    let link = approve_link("4712345678").await;
    assert!(
        link.as_str()
            .starts_with(join(&balancer, "auth/vipps/callback").as_str())
    );
    let phone = Device::new(&client);
    let landed = phone.get(&on(&b, &link)).await;
    assert_eq!(landed.status, 303, "{:?}", landed.body);
    assert!(landed.set_cookie);
    let exchanges = cluster.sim.stats().await["code_exchanges"]
        .as_u64()
        .unwrap();
    // The same link again, on A: refused, no session, no second code exchange.
    let replay = Device::new(&client).get(&on(&a, &link)).await;
    assert!(
        (400..500).contains(&replay.status),
        "replay: {}",
        replay.status
    );
    assert!(!replay.set_cookie);
    assert_eq!(cluster.sim.stats().await["code_exchanges"], exchanges);

    // A forged state with a genuine code: refused without spending the login.
    let link = approve_link("4798765432").await;
    let mut forged = on(&a, &link);
    let code = link
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    forged
        .query_pairs_mut()
        .clear()
        .append_pair("code", &code)
        .append_pair("state", "forged-state");
    let refused = Device::new(&client).get(&forged).await;
    assert!(
        (400..500).contains(&refused.status),
        "forged: {}",
        refused.status
    );
    assert!(!refused.set_cookie);
    let stats = cluster.sim.stats().await;
    assert_eq!(
        stats["code_exchanges"], exchanges,
        "no token call for a forged state"
    );
    // The genuine link still works.
    let genuine = Device::new(&client).get(&on(&b, &link)).await;
    assert_eq!(genuine.status, 303, "{:?}", genuine.body);
    assert_eq!(cluster.sim.stats().await["code_exchanges"], exchanges + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_is_a_503_and_no_login_is_lost() {
    let mut cluster = Cluster::counters(2, &[]);
    let (a, b) = (cluster.url(0), cluster.url(1));
    let customer = Device::new(&http());
    let id = start(&customer, &a, "4712345678").await;
    let req = cluster.sim.pending("4712345678").await;

    cluster.redis.stop();
    for app in [&a, &b] {
        let down = customer.status(app, &id).await;
        assert_eq!(down.status, 503, "{:?}", down.body);
        assert!(
            down.retry_after.is_some(),
            "Retry-After on a 503: {:?}",
            down.body
        );
        assert!(down.str("message").contains("Redis"), "{:?}", down.body);
    }
    for app in &mut cluster.apps {
        assert!(
            app.proc.try_wait().is_none(),
            "no instance died of the outage"
        );
    }

    cluster.redis.start();
    let (_, back) = until(WAIT, "the instances to reach Redis again", || async {
        let r = customer.status(&b, &id).await;
        (r.str("status") == "pending").then_some(())
    })
    .await;
    eprintln!("Redis back: the status answers again after {back:.2?}");
    assert_eq!(cluster.sim.approve(&req).await.0, 200);
    let done = settled(&customer, &a, &id).await;
    assert!(
        done.logged_in(),
        "completed after the outage: {:?}",
        done.body
    );
}
