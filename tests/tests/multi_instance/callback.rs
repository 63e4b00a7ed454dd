//! Continue in browser on two instances: the phone's link works once, on any instance.

use url::Url;
use vipps_login_tests::cluster::Cluster;
use vipps_login_tests::device::{Device, http, join};
use vipps_login_tests::procs::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_or_forged_browser_callback_is_refused() {
    let mut cluster = Cluster::empty();
    // The public URL the phone's link points at: a load balancer in front of both
    // instances (nothing listens there; the test routes each request itself).
    let balancer = Url::parse(&format!("http://127.0.0.1:{}/", free_port())).unwrap();
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
        clerk.login_started(&a, phone).await;
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
    let me = phone.me(&a).await;
    assert_eq!(me.body["logged_in"], true, "the phone's session on A too");
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
