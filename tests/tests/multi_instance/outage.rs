//! Redis goes away and comes back: 503 with Retry-After meanwhile, no login lost.

use std::time::{Duration, Instant};

use vipps_login_tests::cluster::Cluster;
use vipps_login_tests::device::{DECIDED_WITHIN as WAIT, Device, http, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_is_a_503_and_no_login_is_lost() {
    let mut cluster = Cluster::counters(2, &[]);
    let (a, b) = (cluster.url(0), cluster.url(1));
    let customer = Device::new(&http());
    let id = customer.login_started(&a, "4712345678").await;
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
    let done = customer.decided(&a, &id).await;
    assert!(
        done.logged_in(),
        "completed after the outage: {:?}",
        done.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_during_a_redis_outage_is_not_lost() {
    let mut cluster = Cluster::counters(2, &[]);
    let customer = Device::new(&http());
    let id = customer.login_started(&cluster.url(0), "4798765432").await;
    let req = cluster.sim.pending("4798765432").await;

    cluster.redis.stop();
    assert_eq!(cluster.sim.approve(&req).await.0, 200);
    // Several poll intervals pass while the instances cannot reach Redis.
    let outage = Instant::now();
    until(WAIT, "a 503 from the instance", || async {
        let r = customer.status(&cluster.url(1), &id).await;
        (r.status == 503 && outage.elapsed() > Duration::from_secs(1)).then_some(())
    })
    .await;
    cluster.redis.start();
    let done = customer.decided(&cluster.url(1), &id).await;
    assert!(
        done.logged_in(),
        "approved during the outage, completed after: {:?}",
        done.body
    );
    let stats = cluster.sim.stats().await;
    assert_eq!(stats["tokens_issued"], 1, "{stats}");
}
