//! The `counter` reference app (finish in app) in process, against the simulator, over
//! HTTP: login through the layer's pages, the member page, the account-link hook,
//! "Next customer", decline, a bad number, a number without Vipps (user-exists first),
//! a customer who changed number (the same member, by `sub`), the guard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use clap::Parser as _;
use url::Url;
use vipps_login_sim::SimHandle;
use vipps_login_tests::{Page, browser, login_id};

const KARI: &str = "4712345678";
const OLA: &str = "4798765432";
/// The simulator's built-in user without a Vipps account.
const NO_ACCOUNT: &str = "4711111111";

struct Running {
    base: Url,
    sim: SimHandle,
    members: counter::Members,
}

impl Running {
    fn url(&self, path: &str) -> Url {
        self.base.join(path.trim_start_matches('/')).unwrap()
    }

    /// Types `phone` on the login page and sends it; returns the start answer.
    async fn start(&self, b: &reqwest::Client, phone: &str) -> Page {
        let login = Page::get(b, &self.url("/auth/vipps/login?return_to=/member")).await;
        assert_eq!(login.status, 200);
        let token = login.csrf().expect("a CSRF token on the login page");
        Page::post(
            b,
            &self.url("/auth/vipps/start"),
            &[
                ("phone", phone),
                ("csrf_token", &token),
                ("return_to", "/member"),
            ],
        )
        .await
    }

    /// "Next customer": the member page's logout form.
    async fn next_customer(&self, b: &reqwest::Client, member: &Page) {
        let token = member.csrf().expect("the logout form's token");
        let out = Page::post(
            b,
            &self.url("/auth/vipps/logout"),
            &[("csrf_token", &token)],
        )
        .await;
        assert_eq!(out.result().as_deref(), Some("logged_out"));
    }

    /// Polls the waiting page until it is no longer waiting.
    async fn wait_done(&self, b: &reqwest::Client, id: &str) -> Page {
        for _ in 0..200 {
            let page = Page::get(b, &self.url(&format!("/auth/vipps/wait/{id}"))).await;
            if page.status != 200 || !page.body.contains("id=\"binding-message\"") {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("login {id} did not finish");
    }

    /// Approves the pending request of `msisdn` through the simulator's control API.
    async fn approve_over_http(&self, msisdn: &str) -> serde_json::Value {
        let req = self
            .sim
            .wait_for_pending(msisdn, Duration::from_secs(5))
            .await
            .expect("a pending request at the simulator");
        let url = self
            .sim
            .base_url()
            .join(&format!("_sim/requests/{}/approve", req.auth_req_id))
            .unwrap();
        let res = reqwest::Client::new().post(url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// A whole login of `msisdn` in browser `b`, ending on the member page.
    async fn login(&self, b: &reqwest::Client, msisdn: &str) -> Page {
        let start = self.start(b, msisdn).await;
        assert_eq!(start.status, 303, "{}", start.body);
        let id = login_id(start.location.as_deref().unwrap())
            .unwrap()
            .to_owned();
        let approved = self.approve_over_http(msisdn).await;
        assert_eq!(approved["status"], "approved");
        assert!(
            approved["redirect_to"].is_null(),
            "finish in app has no redirect"
        );
        let done = self.wait_done(b, &id).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location.as_deref(), Some("/member"));
        Page::get(b, &self.url("/member")).await
    }
}

async fn start_counter(extra: &[&str]) -> Running {
    let mut args = vec![
        "counter",
        "--listen",
        "127.0.0.1:0",
        "--simulator",
        "--sim-interval-ms",
        "50",
        "--sim-expires-in-secs",
        "30",
    ];
    args.extend_from_slice(extra);
    let app = counter::app(counter::Options::parse_from(args))
        .await
        .unwrap();
    let running = Running {
        base: app.server.urls.base.clone(),
        sim: app.server.sim.clone().expect("the simulator"),
        members: app.members.clone(),
    };
    assert_eq!(app.server.urls.app, running.base);
    assert_eq!(
        app.server.urls.phone.as_ref(),
        Some(&running.sim.phone_url(KARI))
    );
    tokio::spawn(app.server.serve());
    running
}

#[tokio::test]
async fn clerk_logs_a_customer_in_and_sees_the_member() {
    let app = start_counter(&[]).await;
    let clerk = browser();

    // The clerk's page leads through the guard to the login page.
    let home = Page::get(&clerk, &app.url("/")).await;
    assert_eq!(
        (home.status, home.location.as_deref()),
        (303, Some("/member"))
    );
    let guarded = Page::get(&clerk, &app.url("/member")).await;
    assert_eq!(guarded.status, 303);
    assert_eq!(
        guarded.location.as_deref(),
        Some("/auth/vipps/login?return_to=%2Fmember")
    );
    let login = Page::get(&clerk, &app.url(guarded.location.as_deref().unwrap())).await;
    assert!(login.body.contains("id=\"phone\""));
    assert!(
        login.body.contains("id=\"sim-hint\""),
        "simulator hint on the login page"
    );
    assert!(login.body.contains("Customer club desk"));

    // The waiting page shows the code the simulator (the phone) shows.
    let start = app.start(&clerk, "+47 123 45 678").await;
    assert_eq!(start.status, 303);
    let id = login_id(start.location.as_deref().unwrap())
        .unwrap()
        .to_owned();
    let pending = app
        .sim
        .wait_for_pending(KARI, Duration::from_secs(5))
        .await
        .unwrap();
    let code = pending.binding_message.clone().unwrap();
    for scope in ["openid", "name", "phoneNumber", "address"] {
        assert!(
            pending.scopes.iter().any(|s| s == scope),
            "{scope} in {:?}",
            pending.scopes
        );
    }
    let wait = Page::get(&clerk, &app.url(&format!("/auth/vipps/wait/{id}"))).await;
    assert!(wait.body.contains(&code), "the code on the clerk's screen");
    assert!(
        wait.body.contains("id=\"sim-phone\""),
        "link to the simulated phone"
    );

    // The customer approves; the clerk's screen moves on to the member.
    let approved = app.approve_over_http(KARI).await;
    assert_eq!(approved["status"], "approved");
    let done = app.wait_done(&clerk, &id).await;
    assert_eq!(done.location.as_deref(), Some("/member"));
    let member = Page::get(&clerk, &app.url("/member")).await;
    assert_eq!(member.status, 200, "{}", member.body);
    assert!(
        member
            .body
            .contains("<h1 id=\"member-name\">Kari Nordmann</h1>")
    );
    assert_eq!(
        member
            .attr("id=\"member-status\"", "data-status")
            .as_deref(),
        Some("new")
    );
    assert!(member.body.contains("+47 123 45 678"), "phone shown");
    assert!(member.body.contains("0154 Oslo"), "address shown");
    assert!(member.body.contains("M-0001"));
    assert_eq!(app.members.len(), 1);

    // "Next customer" logs the desk out.
    let token = member.csrf().unwrap();
    let out = Page::post(
        &clerk,
        &app.url("/auth/vipps/logout"),
        &[("csrf_token", &token)],
    )
    .await;
    assert_eq!(out.result().as_deref(), Some("logged_out"));
    let after = Page::get(&clerk, &app.url("/member")).await;
    assert_eq!(after.status, 303, "guarded again after logout");

    // The same customer again: the hook finds the member.
    let member = app.login(&clerk, KARI).await;
    assert_eq!(
        member
            .attr("id=\"member-status\"", "data-status")
            .as_deref(),
        Some("returning")
    );
    assert!(member.body.contains("Welcome back, Kari!"));
    assert!(member.body.contains("M-0001"));
    assert!(member.body.contains("<dd id=\"member-visits\">2</dd>"));
    assert_eq!(app.members.len(), 1);
    assert_eq!(app.members.get("M-0001").unwrap().visits, 2);

    // A second customer becomes member 2.
    let out = Page::post(
        &clerk,
        &app.url("/auth/vipps/logout"),
        &[("csrf_token", &member.csrf().unwrap())],
    )
    .await;
    assert_eq!(out.result().as_deref(), Some("logged_out"));
    let ola = app.login(&clerk, OLA).await;
    assert!(ola.body.contains("Ola Nordmann"));
    assert!(ola.body.contains("M-0002"));
    assert_eq!(app.members.len(), 2);
}

#[tokio::test]
async fn declined_and_invalid_numbers_make_no_member() {
    let app = start_counter(&[]).await;
    let clerk = browser();

    // A malformed number never reaches the simulator.
    let bad = app.start(&clerk, "12 34").await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        bad.attr("id=\"error\"", "data-error").as_deref(),
        Some("invalid_phone_number")
    );
    assert!(app.sim.requests().is_empty());

    // The customer declines.
    let start = app.start(&clerk, OLA).await;
    let id = login_id(start.location.as_deref().unwrap())
        .unwrap()
        .to_owned();
    let req = app
        .sim
        .wait_for_pending(OLA, Duration::from_secs(5))
        .await
        .unwrap();
    app.sim.deny(&req.auth_req_id).await.unwrap();
    let done = app.wait_done(&clerk, &id).await;
    assert_eq!(done.result().as_deref(), Some("declined"));
    assert!(app.members.is_empty());
    let member = Page::get(&clerk, &app.url("/member")).await;
    assert_eq!(member.status, 303, "still not logged in");

    // Right after a decline the number is in its cool-down: 429 with Retry-After.
    let again = app.start(&clerk, OLA).await;
    assert_eq!(again.status, 429);
    assert_eq!(again.result().as_deref(), Some("rate_limited"));
    assert!(again.retry_after.is_some());
}

#[tokio::test]
async fn api_clients_get_401_and_rate_limits_are_configurable() {
    let app = start_counter(&["--rate-limit-per-number", "1"]).await;
    let client = browser();
    let res = client.get(app.url("/member")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "not_logged_in");

    let clerk = browser();
    let start = app.start(&clerk, KARI).await;
    assert_eq!(start.status, 303);
    let id = login_id(start.location.as_deref().unwrap())
        .unwrap()
        .to_owned();
    let wait = Page::get(&clerk, &app.url(&format!("/auth/vipps/wait/{id}"))).await;
    let cancel = Page::post(
        &clerk,
        &app.url(&format!("/auth/vipps/cancel/{id}")),
        &[("csrf_token", &wait.csrf().unwrap())],
    )
    .await;
    assert_eq!(cancel.result().as_deref(), Some("cancelled"));
    let again = app.start(&clerk, KARI).await;
    assert_eq!(
        again.status, 429,
        "one start per number with --rate-limit-per-number 1"
    );
    let secs: u64 = again.retry_after.unwrap().parse().unwrap();
    assert!(secs > 0 && secs <= 600, "{secs}");
}

/// A browser asking for `lang` first.
fn browser_in(lang: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "accept-language",
        reqwest::header::HeaderValue::from_str(lang).unwrap(),
    );
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

/// The desk asks Vipps' user-exists before a push: a number without Vipps gets none, and
/// the login form says so in the desk's words, in the clerk's language, without
/// JavaScript; the number stays in the form for correction. A number with Vipps goes on
/// as always.
#[tokio::test]
async fn a_number_without_vipps_gets_no_push() {
    let app = start_counter(&[]).await;
    for (lang, words) in [
        ("en", "This number has no Vipps, so no request was sent."),
        (
            "nb",
            "Dette nummeret har ikke Vipps, så ingen forespørsel ble sendt.",
        ),
        (
            "da",
            "Dette nummer har ikke MobilePay, så der blev ikke sendt nogen anmodning.",
        ),
        (
            "fi",
            "Tällä numerolla ei ole MobilePayta, joten pyyntöä ei lähetetty.",
        ),
    ] {
        let clerk = browser_in(lang);
        let page = app.start(&clerk, "+47 111 11 111").await;
        assert_eq!(page.status, 422, "{lang}: {}", page.body);
        assert_eq!(
            page.attr("id=\"error\"", "data-error").as_deref(),
            Some("no_vipps"),
            "{lang}"
        );
        assert!(page.body.contains(words), "{lang}: {}", page.body);
        assert!(
            page.body.contains(&format!("<html lang=\"{lang}\"")),
            "{lang}"
        );
        assert_eq!(
            page.attr("id=\"phone\"", "value").as_deref(),
            Some("+47 111 11 111"),
            "{lang}: the number stays for correction"
        );
        assert!(page.csrf().is_some(), "{lang}: the form can be sent again");
    }
    let stats = app.sim.stats();
    assert_eq!(stats.backchannel, 0, "no push to a number without Vipps");
    assert!(stats.user_exists >= 1, "user-exists asked");
    assert!(app.sim.requests().iter().all(|r| r.msisdn != NO_ACCOUNT));
    assert!(app.members.is_empty());

    // A number with Vipps: asked, pushed, logged in.
    let clerk = browser();
    let member = app.login(&clerk, KARI).await;
    assert!(member.body.contains("M-0001"));
    assert_eq!(app.sim.stats().backchannel, 1);
    assert_eq!(app.sim.stats().user_exists, stats.user_exists + 1);
}

/// Since January 2025 a Vipps customer can change phone number and keep their `sub`: the
/// desk keys members on `sub`, so Kari with her new number is the same member M-0001
/// ("Welcome back"), and the member page shows the number of this login (the verified
/// `phone_number`), the new one.
#[tokio::test]
async fn a_member_who_changed_number_is_the_same_member() {
    const NEW_NUMBER: &str = "4791234567";
    let app = start_counter(&[]).await;
    let clerk = browser();
    let first = app.login(&clerk, KARI).await;
    assert_eq!(
        first.attr("id=\"member-status\"", "data-status").as_deref(),
        Some("new")
    );
    assert!(first.body.contains("M-0001"));
    assert!(
        first
            .body
            .contains("<dd id=\"member-phone\">+47 123 45 678</dd>")
    );
    app.next_customer(&clerk, &first).await;

    // Kari's number changes at Vipps (the simulator's control route, as an operator
    // would script it); her `sub` stays.
    let sub = app.sim.sub_for(app.sim.client_id(), KARI);
    let res = reqwest::Client::new()
        .post(
            app.sim
                .base_url()
                .join(&format!("_sim/users/{KARI}/number"))
                .unwrap(),
        )
        .json(&serde_json::json!({ "new_number": NEW_NUMBER }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let changed: serde_json::Value = res.json().await.unwrap();
    assert_eq!(changed["sub"], sub.as_str());
    assert_eq!(app.sim.sub_for(app.sim.client_id(), NEW_NUMBER), sub);

    let again = app.login(&clerk, NEW_NUMBER).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        again.attr("id=\"member-status\"", "data-status").as_deref(),
        Some("returning")
    );
    assert!(again.body.contains("Welcome back, Kari!"), "{}", again.body);
    assert!(again.body.contains("M-0001"));
    assert!(again.body.contains("<dd id=\"member-visits\">2</dd>"));
    assert!(
        again
            .body
            .contains("<dd id=\"member-phone\">+47 912 34 567</dd>"),
        "the number of this login: {}",
        again.body
    );
    assert!(!again.body.contains("+47 123 45 678"), "not the old number");
    assert_eq!(app.members.len(), 1);
    assert_eq!(app.members.get("M-0001").unwrap().visits, 2);
}

/// With a staff password the whole desk, the layer's login page included, is for staff;
/// the sign-in page leads back to where the clerk was going.
#[tokio::test]
async fn a_staff_password_closes_the_desk() {
    let app = counter::app(counter::Options::parse_from([
        "counter",
        "--listen",
        "127.0.0.1:0",
        "--simulator",
        "--staff-password",
        "counter-staff-password",
    ]))
    .await
    .unwrap();
    let base = app.server.urls.base.clone();
    let sim = app.server.sim.clone().unwrap();
    tokio::spawn(app.server.serve());
    let url = |path: &str| base.join(path.trim_start_matches('/')).unwrap();

    let visitor = browser();
    let page = Page::get(&visitor, &url("/auth/vipps/login?return_to=/member")).await;
    assert_eq!(page.status, 303);
    // Nobody outside gets a push or a user-exists answer: the gate is in front of the
    // layer, its pre-check included.
    let start = Page::post(
        &visitor,
        &url("/auth/vipps/start"),
        &[("phone", NO_ACCOUNT)],
    )
    .await;
    assert_eq!(start.status, 401, "{}", start.body);
    let api = visitor
        .post(url("/auth/vipps/api/start"))
        .header("x-requested-with", "fetch")
        .json(&serde_json::json!({ "phone": NO_ACCOUNT }))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    assert_eq!(sim.stats().user_exists, 0);
    let to = page.location.unwrap();
    assert!(to.starts_with("/staff/sign-in?return_to="), "{to}");
    let sign_in = Page::get(&visitor, &base.join(&to).unwrap()).await;
    assert_eq!(sign_in.status, 200);
    assert!(sign_in.body.contains("id=\"password\""));

    let signed_in = Page::post(
        &visitor,
        &url("/staff/sign-in"),
        &[
            ("password", "counter-staff-password"),
            ("return_to", "/auth/vipps/login?return_to=/member"),
        ],
    )
    .await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(
        signed_in.location.as_deref(),
        Some("/auth/vipps/login?return_to=/member")
    );
    let login = Page::get(&visitor, &url("/auth/vipps/login")).await;
    assert_eq!(login.status, 200);
    assert!(login.csrf().is_some());
    // Signed in, the clerk's start asks first.
    let start = Page::post(
        &visitor,
        &url("/auth/vipps/start"),
        &[
            ("phone", NO_ACCOUNT),
            ("csrf_token", &login.csrf().unwrap()),
        ],
    )
    .await;
    assert_eq!(start.status, 422, "{}", start.body);
    assert_eq!(
        start.attr("id=\"error\"", "data-error").as_deref(),
        Some("no_vipps")
    );
    assert_eq!(sim.stats().user_exists, 1);
    assert_eq!(sim.stats().backchannel, 0);
}

/// An https public URL with no Vipps credentials would put the simulator, which approves
/// any number, on a public address: refused unless `--simulator` says so.
#[tokio::test]
async fn an_https_public_url_refuses_the_implicit_simulator() {
    assert!(
        std::env::var_os("VIPPS_CLIENT_ID").is_none(),
        "this test needs VIPPS_CLIENT_ID unset"
    );
    let refused = counter::app(counter::Options::parse_from([
        "counter",
        "--listen",
        "127.0.0.1:0",
        "--public-url",
        "https://desk.example.com/",
    ]))
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("--simulator"), "{refused}");
    let allowed = counter::app(counter::Options::parse_from([
        "counter",
        "--listen",
        "127.0.0.1:0",
        "--public-url",
        "https://desk.example.com/",
        "--simulator",
    ]))
    .await;
    assert!(allowed.is_ok());
}

/// The simulator hint on the waiting page leads to the phone of the number in the login
/// (not always Kari's); every page has the icon.
#[tokio::test]
async fn the_hint_leads_to_the_phone_of_the_number_in_the_login() {
    let app = start_counter(&[]).await;
    let clerk = browser();
    let start = app.start(&clerk, "+47 987 65 432").await;
    let id = login_id(start.location.as_deref().unwrap())
        .unwrap()
        .to_owned();
    let wait = Page::get(&clerk, &app.url(&format!("/auth/vipps/wait/{id}"))).await;
    let href = wait
        .attr("id=\"sim-phone\"", "href")
        .expect("the hint's link");
    let href = href.replace("&#x2f;", "/");
    assert_eq!(href, app.sim.phone_url(OLA).as_str(), "{}", wait.body);
    assert!(wait.body.contains("rel=\"icon\""));
    let icon = clerk
        .get(app.url("/auth/vipps/static/favicon.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
}

/// Two instances of the desk on one real Redis: wrong staff passwords guessed as a bearer
/// on one instance pause that source on the other too (the failures are counted in the
/// shared store), while the real staff, at another desk, are let in on both.
#[tokio::test]
async fn staff_password_guesses_are_counted_across_instances() {
    let redis = vipps_login_tests::procs::Redis::start_new();
    let mut bases = Vec::new();
    for _ in 0..2 {
        let app = counter::app(counter::Options::parse_from([
            "counter",
            "--listen",
            "127.0.0.1:0",
            "--simulator",
            "--redis-url",
            &redis.url(),
            "--staff-password",
            "counter-staff-password",
        ]))
        .await
        .unwrap();
        bases.push(app.server.urls.base.clone());
        tokio::spawn(app.server.serve());
    }
    let from = |source: &str| {
        reqwest::Client::builder()
            .local_address(source.parse::<std::net::IpAddr>().unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    };
    let api = |base: &Url| base.join("auth/vipps/api/start").unwrap();
    let guesser = from("127.0.0.6");
    for (i, base) in bases.iter().cycle().take(6).enumerate() {
        let res = guesser
            .post(api(base))
            .header("x-requested-with", "fetch")
            .bearer_auth(format!("guess-{i}"))
            .json(&serde_json::json!({ "phone": KARI }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "guess {i} is one of the free ones");
    }
    // The sixth failure, three on each instance, paused the source on both.
    for base in &bases {
        let res = guesser
            .post(api(base))
            .header("x-requested-with", "fetch")
            .bearer_auth("counter-staff-password")
            .json(&serde_json::json!({ "phone": KARI }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429, "paused on {base}");
    }
    let staff = from("127.0.0.7");
    for base in &bases {
        let res = staff
            .get(base.join("auth/vipps/login").unwrap())
            .bearer_auth("counter-staff-password")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "the staff are let in on {base}");
    }
}
