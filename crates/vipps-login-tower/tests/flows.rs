//! The happy paths end to end against the in-process simulator: finish-in-app through the
//! pages with SSE, the JSON API, continue-in-browser with a second browser, cancel,
//! logout, and a plain hyper service.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::convert::Infallible;
use std::time::Duration;

use common::*;
use vipps_login_sim::Policy;
use vipps_login_tower::{CompletedLogin, FlowChoice, HookError, VippsLoginLayer, VippsUser};

/// Reads server-sent events until one carries `"next"` (the final one); returns all data.
async fn read_sse_until_final(mut res: reqwest::Response) -> Vec<serde_json::Value> {
    let mut buf = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .expect("SSE did not finish in time")
            .unwrap();
        let Some(chunk) = chunk else { return events };
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                let v: serde_json::Value = serde_json::from_str(data).unwrap();
                let last = v.get("next").is_some();
                events.push(v);
                if last {
                    return events;
                }
            }
        }
    }
}

#[tokio::test]
async fn finish_in_app_through_the_pages() {
    let app = start_app(|b, _| {
        b.on_login(|login: CompletedLogin| async move {
            assert_eq!(login.flow, FlowChoice::FinishInApp);
            Ok::<_, HookError>(format!("member-{}", &login.identity.sub[..6]))
        })
    })
    .await;
    let (b, jar) = browser_with_jar();

    // Before: anonymous, guard redirects.
    assert_eq!(get_text(&b, app.url("/")).await, "anonymous");
    let res = get_with(&b, app.url("/member"), ("accept", "text/html")).await;
    assert_eq!(res.status(), 303);
    let login_url = location(&res);

    // The login page the guard sent us to.
    let html = get_text(&b, app.url(&login_url)).await;
    for needle in [
        "lang=\"en\"",
        "id=\"phone\"",
        "inputmode=\"tel\"",
        "<label for=\"phone\"",
        "id=\"start\"",
        "name=\"return_to\" value=\"&#x2f;member\"",
    ] {
        assert!(html.contains(needle), "login page lacks {needle}");
    }
    let token = csrf_from(&html);
    let before = set_cookies(&http_get(&b, app.url("/auth/vipps/login")).await);
    assert!(before.is_empty(), "the session cookie is set once");

    let res = b
        .post(app.url("/auth/vipps/start"))
        .form(&[
            ("phone", "+47 123 45 678"),
            ("csrf_token", token.as_str()),
            ("return_to", "/member"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let id = login_id_from_location(&location(&res));

    // Waiting page: the code the simulator got, big; status live region; cancel.
    let req = app.pending(KARI).await;
    let code = req.binding_message.clone().expect("a binding message");
    let html = get_text(&b, app.url(&format!("/auth/vipps/wait/{id}"))).await;
    assert!(html.contains(&format!(
        "id=\"binding-message\" class=\"vl-code\">{code}</p>"
    )));
    assert!(html.contains("Ask the customer to confirm code"));
    assert!(html.contains("aria-live=\"polite\""));
    assert!(html.contains("id=\"cancel\""));
    assert!(html.contains("http-equiv=\"refresh\""), "no-JS fallback");
    assert!(html.contains("47******78"), "masked number only");
    assert!(!html.contains(KARI));

    // Live status over SSE; approve while it is open.
    let sse = http_get(&b, app.url(&format!("/auth/vipps/events/{id}"))).await;
    assert_eq!(sse.status(), 200);
    assert!(
        sse.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let sim = app.sim.clone();
    let auth_req_id = req.auth_req_id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sim.approve(&auth_req_id).await.unwrap();
    });
    let events = read_sse_until_final(sse).await;
    assert_eq!(events.first().unwrap()["status"], "pending");
    let last = events.last().unwrap();
    assert_eq!(last["status"], "approved");
    assert_eq!(last["next"], format!("/auth/vipps/wait/{id}"));

    // Following `next` completes the login: rotated session, back to return_to.
    let old_cookie = jar_cookie(&jar, &app);
    assert!(
        old_cookie.starts_with("__Host-vipps_login="),
        "{old_cookie}"
    );
    let res = http_get(&b, app.url(&format!("/auth/vipps/wait/{id}"))).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/member");
    let rotated = set_cookies(&res);
    assert_eq!(rotated.len(), 1, "a new session cookie");
    assert_ne!(jar_cookie(&jar, &app), old_cookie);

    let me: serde_json::Value = get_json(&b, app.url("/member")).await;
    assert_eq!(me["name"], "Kari Nordmann");
    assert!(me["account_id"].as_str().unwrap().starts_with("member-"));
    let home = get_text(&b, app.url("/")).await;
    assert!(home.starts_with("hello Kari Nordmann (member-"), "{home}");

    // The pre-login session id is dead: replaying the old cookie is anonymous.
    let replay = get_with(
        &reqwest::Client::new(),
        app.url("/"),
        ("cookie", &old_cookie),
    )
    .await
    .text()
    .await
    .unwrap();
    assert_eq!(replay, "anonymous");

    // Logout page and POST.
    let html = get_text(&b, app.url("/auth/vipps/logout")).await;
    assert!(html.contains("id=\"logout\""));
    assert!(html.contains("Kari Nordmann"));
    let token = csrf_from(&html);
    let res = post_form(
        &b,
        app.url("/auth/vipps/logout"),
        &[("csrf_token", token.as_str())],
    )
    .await;
    let page = Page::read(res).await;
    assert_eq!(page.result().as_deref(), Some("logged_out"));
    assert!(page.set_cookies[0].contains("Max-Age=0"));
    let res = get_with(&b, app.url("/member"), ("accept", "text/html")).await;
    assert_eq!(res.status(), 303, "guard again after logout");
}

/// A browser whose cookie jar the test can read.
fn browser_with_jar() -> (reqwest::Client, std::sync::Arc<reqwest::cookie::Jar>) {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (client, jar)
}

/// The session cookie (`__Host-vipps_login=…`) the jar sends to the app.
fn jar_cookie(jar: &reqwest::cookie::Jar, app: &TestApp) -> String {
    use reqwest::cookie::CookieStore as _;
    jar.cookies(&app.url("/"))
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
        .split("; ")
        .find(|c| c.starts_with("__Host-vipps_login="))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn json_api_flow() {
    let app = start_app(|b, _| b).await;
    let b = browser();
    let res = api_post(
        &b,
        app.url("/auth/vipps/api/start"),
        "fetch",
        Some(serde_json::json!({ "phone": "004798765432", "return_to": "/member" })),
    )
    .await;
    let page = Page::read(res).await;
    assert_eq!(page.status, 201, "{}", page.body);
    let started = page.json();
    let id = started["login_id"].as_str().unwrap().to_owned();
    assert_eq!(started["status"], "pending");
    let req = app.pending(OLA).await;
    assert_eq!(
        started["binding_message"],
        req.binding_message.clone().unwrap()
    );
    assert_eq!(
        started["status_url"],
        format!("/auth/vipps/api/status/{id}")
    );

    let status: serde_json::Value =
        get_json(&b, app.url(&format!("/auth/vipps/api/status/{id}"))).await;
    assert_eq!(status["status"], "pending");

    app.sim.approve(&req.auth_req_id).await.unwrap();
    let mut done = None;
    for _ in 0..100 {
        let res = http_get(&b, app.url(&format!("/auth/vipps/api/status/{id}"))).await;
        let v: serde_json::Value = res.json().await.unwrap();
        if v["status"] != "pending" {
            done = Some(v);
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let done = done.expect("approved in time");
    assert_eq!(done["status"], "approved");
    assert_eq!(done["redirect"], "/member");
    assert_eq!(done["user"]["userinfo"]["name"], "Ola Nordmann");

    let me: serde_json::Value = get_json(&b, app.url("/auth/vipps/api/me")).await;
    assert_eq!(me["logged_in"], true);
    let res = api_post(&b, app.url("/auth/vipps/api/logout"), "fetch", None).await;
    assert_eq!(res.status(), 200);
    let me: serde_json::Value = get_json(&b, app.url("/auth/vipps/api/me")).await;
    assert_eq!(me["logged_in"], false);
}

#[tokio::test]
async fn cancel_ends_the_login_and_frees_the_number() {
    let app = start_app(|b, _| b).await;
    let b = browser();
    let id = app.start_login(&b, KARI).await;
    let html = get_text(&b, app.url(&format!("/auth/vipps/wait/{id}"))).await;
    let token = csrf_from(&html);
    let res = post_form(
        &b,
        app.url(&format!("/auth/vipps/cancel/{id}")),
        &[("csrf_token", token.as_str())],
    )
    .await;
    let page = Page::read(res).await;
    assert_eq!(page.result().as_deref(), Some("cancelled"));
    let page = app.wait_until_done(&b, &id).await;
    assert_eq!(page.result().as_deref(), Some("cancelled"));
    let res = app.start_form(&b, KARI, &[]).await;
    assert_eq!(
        res.status(),
        303,
        "a cancelled login does not block the number"
    );
}

#[tokio::test]
async fn continue_in_browser_logs_in_the_phone() {
    let app = start_app(|b, base| {
        b.flow(FlowChoice::ContinueInBrowser)
            .public_base_url(base.clone())
            .continue_url("/welcome")
            .on_login(|login: CompletedLogin| async move {
                assert_eq!(login.flow, FlowChoice::ContinueInBrowser);
                Ok::<_, HookError>("phone-account".to_owned())
            })
    })
    .await;
    let clerk = browser();
    let id = app.start_login(&clerk, KARI).await;
    let req = app.pending(KARI).await;
    let expected_redirect = app.url("/auth/vipps/callback");
    // Until the phone's browser arrives, the clerk keeps seeing the code and a live status.
    let waiting = get_text(&clerk, app.url(&format!("/auth/vipps/wait/{id}"))).await;
    assert_eq!(result_status(&waiting), None, "{waiting}");
    let code = req.binding_message.clone().expect("a binding message");
    assert!(
        waiting.contains(&format!("id=\"binding-message\" class=\"vl-code\">{code}<")),
        "{waiting}"
    );
    assert!(
        waiting.contains("data-status=\"awaiting_browser\""),
        "{waiting}"
    );
    assert_eq!(
        req.redirect_uri.as_deref(),
        Some(expected_redirect.as_str())
    );
    let landing = app
        .sim
        .approve(&req.auth_req_id)
        .await
        .unwrap()
        .expect("a redirect for the phone's browser");
    assert!(landing.as_str().starts_with(expected_redirect.as_str()));

    let phone = browser();
    let clerk_cookie_probe = http_get(&clerk, app.url("/auth/vipps/api/me")).await;
    assert!(set_cookies(&clerk_cookie_probe).is_empty());
    let res = http_get(&phone, landing.clone()).await;
    let page = Page::read(res).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/welcome"));
    assert_eq!(page.set_cookies.len(), 1);
    let phone_home = get_text(&phone, app.url("/welcome")).await;
    assert_eq!(phone_home, "hello Kari Nordmann (phone-account)");

    // The clerk is told the customer continues on the phone and is not logged in.
    let page = app.wait_until_done(&clerk, &id).await;
    assert_eq!(
        page.result().as_deref(),
        Some("continued_in_browser"),
        "{}",
        page.body
    );
    let clerk_home = get_text(&clerk, app.url("/")).await;
    assert_eq!(clerk_home, "anonymous");

    // Two different sessions: the phone's cookie is not the clerk's.
    let clerk_me: serde_json::Value = get_json(&clerk, app.url("/auth/vipps/api/me")).await;
    let phone_me: serde_json::Value = get_json(&phone, app.url("/auth/vipps/api/me")).await;
    assert_ne!(clerk_me["csrf_token"], phone_me["csrf_token"]);
    assert_eq!(phone_me["logged_in"], true);

    // The link is single use: a third browser replaying it gets nothing.
    let replay = Page::read(http_get(&browser(), landing).await).await;
    assert_ne!(replay.status, 303);
    assert!(replay.set_cookies.is_empty());
}

#[tokio::test]
async fn plain_hyper_service() {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;

    let sim = vipps_login_sim::Simulator::start(sim_config())
        .await
        .unwrap();
    sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(50),
    });
    let layer = VippsLoginLayer::builder(vipps_client(&sim))
        .build()
        .unwrap();
    async fn app(
        req: http::Request<hyper::body::Incoming>,
    ) -> Result<http::Response<Full<Bytes>>, Infallible> {
        let text = match VippsUser::from_request_extensions(req.extensions()) {
            Ok(user) => format!("hello {}", user.userinfo().name.clone().unwrap_or_default()),
            Err(e) => e.to_string(),
        };
        Ok(http::Response::new(Full::new(Bytes::from(text))))
    }
    let service = tower::ServiceBuilder::new().layer(layer).service_fn(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });

    let b = browser();
    let text = get_text(&b, format!("{base}/")).await;
    assert_eq!(text, "You are not logged in.");
    let css = http_get(&b, format!("{base}/auth/vipps/static/style.css")).await;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let started: serde_json::Value = api_post(
        &b,
        format!("{base}/auth/vipps/api/start"),
        "fetch",
        Some(serde_json::json!({ "phone": KARI })),
    )
    .await
    .json()
    .await
    .unwrap();
    let status_url = format!("{base}{}", started["status_url"].as_str().unwrap());
    for _ in 0..100 {
        let v: serde_json::Value = get_json(&b, &status_url).await;
        if v["status"] == "approved" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let text = get_text(&b, format!("{base}/")).await;
    assert_eq!(text, "hello Kari Nordmann");
}

/// Vipps documents the phone's link as `{redirect_uri}?code=...`: without `state` the
/// phone is still logged in (the engine binds the code by its ID token's `auth_req_id`),
/// the same link twice is refused, and a made-up code logs nobody in.
#[tokio::test]
async fn continue_in_browser_without_state_logs_in_the_phone() {
    let app = start_app(|b, base| {
        b.flow(FlowChoice::ContinueInBrowser)
            .public_base_url(base.clone())
            .continue_url("/welcome")
            .on_login(|login: CompletedLogin| async move {
                assert_eq!(login.msisdn.as_str(), KARI);
                Ok::<_, HookError>("phone-account".to_owned())
            })
    })
    .await;
    let clerk = browser();
    let id = app.start_login(&clerk, KARI).await;
    let req = app.pending(KARI).await;
    let landing = app
        .sim
        .approve(&req.auth_req_id)
        .await
        .unwrap()
        .expect("a redirect for the phone's browser");
    let code = landing
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let mut without_state = landing.clone();
    without_state.set_query(None);
    without_state.query_pairs_mut().append_pair("code", &code);

    let phone = browser();
    let page =
        Page::read(http_get(&phone, app.url("/auth/vipps/callback?code=made-up")).await).await;
    assert!(page.status >= 400);
    assert!(page.set_cookies.is_empty());
    let page = Page::read(http_get(&phone, without_state.clone()).await).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/welcome"));
    let phone_home = get_text(&phone, app.url("/welcome")).await;
    assert_eq!(phone_home, "hello Kari Nordmann (phone-account)");
    let page = app.wait_until_done(&clerk, &id).await;
    assert_eq!(page.result().as_deref(), Some("continued_in_browser"));

    // The same link again, in another browser: refused, nothing sent to Vipps.
    let exchanges = app.sim.stats().code_exchanges;
    let other = browser();
    let page = Page::read(http_get(&other, without_state).await).await;
    assert!(page.status >= 400, "{}", page.body);
    assert!(page.set_cookies.is_empty());
    assert_eq!(app.sim.stats().code_exchanges, exchanges);
}

/// `api/user-exists` answers a session that brings the API's proof, and a visitor just
/// as `api/start` does, without storing a session for it; it never pushes.
#[tokio::test]
async fn user_exists_answers_without_a_push() {
    let sessions = std::sync::Arc::new(vipps_login_core::MemoryStore::new());
    let store: std::sync::Arc<dyn vipps_login_core::Store> = sessions.clone();
    let app = start_app(move |b, _| b.store(store).user_exists_route(true)).await;
    let url = app.url("/auth/vipps/api/user-exists");
    let ask = |b: &reqwest::Client, phone: &str| {
        let (b, url, body) = (
            b.clone(),
            url.clone(),
            serde_json::json!({ "phone": phone }),
        );
        async move { api_post(&b, url, "fetch", Some(body)).await }
    };

    // A visitor: answered, and nothing stored for it.
    let visitor = browser();
    let page = Page::read(ask(&visitor, "+47 123 45 678").await).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.json(), serde_json::json!({ "exists": true }));
    assert!(page.set_cookies.is_empty(), "{:?}", page.set_cookies);
    assert_eq!(sessions.len(), 0, "no session for a visitor");

    // A session (it started a login, then cancelled it).
    let clerk = browser();
    let id = app.start_login(&clerk, OLA).await;
    let res = api_post(
        &clerk,
        app.url(&format!("/auth/vipps/api/cancel/{id}")),
        "fetch",
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(sessions.len(), 1);
    let pushes = app.sim.stats().backchannel;
    assert_eq!(pushes, 1);
    let page = Page::read(ask(&clerk, NO_ACCOUNT).await).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.json()["exists"], false);
    assert_eq!(
        page.set_cookies.len(),
        0,
        "the session stays as it is: {:?}",
        page.set_cookies
    );
    let page = Page::read(ask(&clerk, "004798765432").await).await;
    assert_eq!(page.json()["exists"], true);

    let stats = app.sim.stats();
    assert_eq!(stats.user_exists, 3);
    assert_eq!(stats.backchannel, pushes, "a question never pushes");
    assert!(app.sim.requests().iter().all(|r| r.msisdn != NO_ACCOUNT));
}

/// With `check_user_exists(true)` a start for a number without Vipps asks first and
/// sends no push: the form comes back with `no_vipps` (in the request's language), and
/// `api/start` answers 422 `no_vipps`; a number with Vipps starts as always.
#[tokio::test]
async fn check_user_exists_sends_no_push_to_a_number_without_vipps() {
    let app = start_app(|b, _| b.check_user_exists(true)).await;
    let clerk = browser();
    let page = Page::read(app.start_form(&clerk, "+47 111 11 111", &[]).await).await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(
        page.body.contains("data-error=\"no_vipps\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("This number has no Vipps"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("value=\"+47 111 11 111\""),
        "the number stays for correction"
    );

    let res = clerk
        .post(app.url("/auth/vipps/api/start"))
        .header("x-requested-with", "fetch")
        .header("accept-language", "nb")
        .json(&serde_json::json!({ "phone": NO_ACCOUNT }))
        .send()
        .await
        .unwrap();
    let page = Page::read(res).await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert_eq!(page.json()["error"], "no_vipps");
    assert!(
        page.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("Dette nummeret har ikke Vipps"),
        "{}",
        page.body
    );
    assert_eq!(app.sim.stats().backchannel, 0, "no push");
    assert!(app.sim.stats().user_exists >= 1);

    let id = app.start_login(&clerk, KARI).await;
    assert!(!id.is_empty());
    assert_eq!(app.sim.stats().backchannel, 1);
}
