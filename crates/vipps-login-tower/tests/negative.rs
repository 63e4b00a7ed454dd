//! Abuse and misuse: every refusal the layer must give, tested against the simulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use vipps_login_tower::{FlowChoice, HookError, RateLimits, SecureCookies, Window};

#[tokio::test]
async fn csrf_missing_or_wrong_is_403_and_nothing_is_sent() {
    let app = start_app(|b, _| b).await;
    let b = browser();
    let _ = app.csrf(&b).await; // the browser has a (cookie-bound) CSRF token

    // Missing token.
    let res = post_form(&b, app.url("/auth/vipps/start"), &[("phone", KARI)]).await;
    let page = Page::read(res).await;
    assert_eq!(page.status, 403);
    assert_eq!(page.result().as_deref(), Some("csrf"));

    // Wrong token.
    let res = post_form(
        &b,
        app.url("/auth/vipps/start"),
        &[("phone", KARI), ("csrf_token", "not-the-token")],
    )
    .await;
    assert_eq!(res.status(), 403);

    // Another browser's token is no good either.
    let other = browser();
    let foreign = app.csrf(&other).await;
    let res = post_form(
        &b,
        app.url("/auth/vipps/start"),
        &[("phone", KARI), ("csrf_token", foreign.as_str())],
    )
    .await;
    assert_eq!(res.status(), 403);

    // No session at all.
    let res = post_form(
        &browser(),
        app.url("/auth/vipps/start"),
        &[("phone", KARI), ("csrf_token", foreign.as_str())],
    )
    .await;
    assert_eq!(res.status(), 403);

    // JSON API without the custom header.
    let res = b
        .post(app.url("/auth/vipps/api/start"))
        .json(&serde_json::json!({ "phone": KARI }))
        .send()
        .await
        .unwrap();
    let page = Page::read(res).await;
    assert_eq!(page.status, 403);
    assert_eq!(page.json()["error"], "csrf");

    assert_eq!(app.sim.stats().backchannel, 0, "nothing may reach Vipps");

    // Cancel without a token, for a login this browser did start.
    let id = app.start_login(&b, KARI).await;

    // Logout without a token, with a session to end.
    let res = post_form(&b, app.url("/auth/vipps/logout"), &[("x", "y")]).await;
    assert_eq!(res.status(), 403);
    let res = post_form(
        &b,
        app.url(&format!("/auth/vipps/cancel/{id}")),
        &[("csrf_token", "wrong")],
    )
    .await;
    assert_eq!(res.status(), 403);
    let res = b
        .post(app.url(&format!("/auth/vipps/api/cancel/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn invalid_number_shows_a_clear_error_and_sends_nothing() {
    let app = start_app(|b, _| b).await;
    let b = browser();
    for bad in ["12ab", "+46 70 123 45 67", "", "4712"] {
        let res = app.start_form(&b, bad, &[]).await;
        let page = Page::read(res).await;
        assert_eq!(page.status, 422, "{bad:?}");
        assert!(page.body.contains("id=\"error\""), "{bad:?}: {}", page.body);
        assert!(page.body.contains("data-error=\"invalid_phone_number\""));
        assert!(
            page.body.contains("id=\"phone\""),
            "the form is shown again"
        );
    }
    let res = api_post(
        &b,
        app.url("/auth/vipps/api/start"),
        "test",
        Some(serde_json::json!({ "phone": "not a number" })),
    )
    .await;
    let page = Page::read(res).await;
    assert_eq!(page.status, 400);
    assert_eq!(page.json()["error"], "invalid_phone_number");
    assert!(
        page.json()["message"]
            .as_str()
            .unwrap()
            .contains("phone number")
    );
    assert_eq!(app.sim.stats().backchannel, 0);
}

#[tokio::test]
async fn cannot_use_vipps_pages() {
    let app = start_app(|b, _| b).await;
    let b = browser();
    for (number, status) in [(NO_ACCOUNT, "invalid_user"), (OLD_APP, "old_app")] {
        let page = Page::read(app.start_form(&b, number, &[]).await).await;
        assert_eq!(page.result().as_deref(), Some(status), "{}", page.body);
        assert!(page.status >= 400);
    }
    let res = api_post(
        &b,
        app.url("/auth/vipps/api/start"),
        "test",
        Some(serde_json::json!({ "phone": NO_ACCOUNT })),
    )
    .await;
    let page = Page::read(res).await;
    assert_eq!(page.json()["error"], "invalid_user");
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let app = start_app(|b, _| {
        b.rate_limits(
            RateLimits::default()
                .per_number(Window::new(2, Duration::from_secs(60)))
                .per_client(Window::new(4, Duration::from_secs(60))),
        )
    })
    .await;
    let b = browser();

    // One pending login per number.
    let first = app.start_login(&b, KARI).await;
    let page = Page::read(app.start_form(&b, KARI, &[]).await).await;
    assert_eq!(page.status, 429);
    assert_eq!(page.result().as_deref(), Some("rate_limited"));
    let retry: u64 = page.retry_after.as_deref().unwrap().parse().unwrap();
    assert!(retry >= 1);

    // Cancel, start again (second of two per window), cancel, third is refused.
    let token = app.csrf(&b).await;
    let res = post_form(
        &b,
        app.url(&format!("/auth/vipps/cancel/{first}")),
        &[("csrf_token", token.as_str())],
    )
    .await;
    assert_eq!(Page::read(res).await.result().as_deref(), Some("cancelled"));
    let second = app.start_login(&b, KARI).await;
    let res = api_post(
        &b,
        app.url(&format!("/auth/vipps/api/cancel/{second}")),
        "test",
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let page = Page::read(app.start_form(&b, KARI, &[]).await).await;
    assert_eq!(page.status, 429);
    let retry: u64 = page.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((50..=60).contains(&retry), "retry after {retry}");

    // Per client IP: 2 accepted starts so far; two more numbers fit, the fifth is refused.
    let _ = app.start_login(&b, OLA).await;
    let _ = app.start_login(&b, "4587654321").await;
    let res = api_post(
        &b,
        app.url("/auth/vipps/api/start"),
        "test",
        Some(serde_json::json!({ "phone": "358401234567" })),
    )
    .await;
    let page = Page::read(res).await;
    assert_eq!(page.status, 429);
    assert_eq!(page.json()["error"], "rate_limited");
    assert!(page.retry_after.is_some());
    assert!(
        app.sim
            .requests()
            .iter()
            .all(|r| r.msisdn != "358401234567"),
        "a refused start must not push"
    );
}

#[tokio::test]
async fn declined_push_starts_a_cool_down() {
    let app = start_app(|b, _| b).await;
    let b = browser();
    let id = app.start_login(&b, KARI).await;
    let req = app.pending(KARI).await;
    app.sim.deny(&req.auth_req_id).await.unwrap();
    let page = app.wait_until_done(&b, &id).await;
    assert_eq!(page.result().as_deref(), Some("declined"), "{}", page.body);
    let page = Page::read(app.start_form(&b, KARI, &[]).await).await;
    assert_eq!(page.status, 429, "cool-down after a decline");
    assert!(page.retry_after.is_some());
}

#[tokio::test]
async fn ignored_push_expires_and_starts_a_cool_down() {
    let app = start_app_with(
        sim_config().expires_in(Duration::from_millis(600)),
        |b, _| b,
    )
    .await;
    let b = browser();
    let id = app.start_login(&b, KARI).await;
    let page = app.wait_until_done(&b, &id).await;
    assert_eq!(page.result().as_deref(), Some("expired"), "{}", page.body);
    let page = Page::read(app.start_form(&b, KARI, &[]).await).await;
    assert_eq!(page.status, 429, "cool-down after an ignored push");
}

#[tokio::test]
async fn foreign_login_id_is_404() {
    let app = start_app(|b, _| b).await;
    let owner = browser();
    let id = app.start_login(&owner, KARI).await;
    let thief = browser();
    let token = app.csrf(&thief).await;
    for path in [
        format!("/auth/vipps/wait/{id}"),
        format!("/auth/vipps/events/{id}"),
        format!("/auth/vipps/api/status/{id}"),
    ] {
        let res = http_get(&thief, app.url(&path)).await;
        assert_eq!(res.status(), 404, "{path}");
    }
    let res = post_form(
        &thief,
        app.url(&format!("/auth/vipps/cancel/{id}")),
        &[("csrf_token", token.as_str())],
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = api_post(
        &thief,
        app.url(&format!("/auth/vipps/api/cancel/{id}")),
        "test",
        None,
    )
    .await;
    assert_eq!(res.status(), 404);
    // Unknown and malformed ids look the same.
    for path in [
        "/auth/vipps/wait/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/auth/vipps/wait/..%2F..%2Fetc",
    ] {
        let res = http_get(&owner, app.url(path)).await;
        assert_eq!(res.status(), 404, "{path}");
    }
    // The owner still sees it pending.
    let res = http_get(&owner, app.url(&format!("/auth/vipps/api/status/{id}"))).await;
    let page = Page::read(res).await;
    assert_eq!(page.json()["status"], "pending");
}

#[tokio::test]
async fn open_redirects_are_rejected() {
    let app = start_app(|b, _| b.continue_url("/welcome")).await;
    let b = browser();
    for evil in [
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\t/evil.example",
    ] {
        let html = b
            .get(app.url("/auth/vipps/login"))
            .query(&[("return_to", evil)])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!html.contains("name=\"return_to\""), "{evil:?} kept");
    }
    // A start that smuggles one in lands on the continue URL.
    let res = app
        .start_form(&b, KARI, &[("return_to", "//evil.example/")])
        .await;
    let id = login_id_from_location(&location(&res));
    let req = app.pending(KARI).await;
    app.sim.approve(&req.auth_req_id).await.unwrap();
    let page = app.wait_until_done(&b, &id).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some("/welcome"));
}

#[tokio::test]
async fn guard_sends_browsers_to_login_and_api_clients_401() {
    let app = start_app(|b, _| b).await;
    let b = browser();
    let res = get_with(
        &b,
        app.url("/member?tab=2"),
        ("accept", "text/html,application/xhtml+xml"),
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        location(&res),
        "/auth/vipps/login?return_to=%2Fmember%3Ftab%3D2"
    );
    let res = get_with(&b, app.url("/member"), ("accept", "application/json")).await;
    let page = Page::read(res).await;
    assert_eq!(page.status, 401);
    assert_eq!(page.json()["error"], "not_logged_in");
}

#[tokio::test]
async fn session_cookie_flags() {
    // No public base URL: the layer cannot know the app is on plain http, so its cookies
    // are Secure and carry the `__Host-` prefix.
    let app = start_app(|b, _| b).await;
    let res = http_get(&browser(), app.url("/auth/vipps/login")).await;
    let cookies = set_cookies(&res);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let c = &cookies[0];
    // A visitor gets only a sealed CSRF cookie; no session exists for them yet.
    assert!(c.starts_with("__Host-vipps_login_csrf="), "{c}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=", "Secure"] {
        assert!(c.contains(flag), "{flag} missing in {c}");
    }
    assert!(!c.contains("Domain"), "a __Host- cookie has no Domain: {c}");
    let value = c
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("__Host-vipps_login_csrf=");
    assert!(value.len() > 60, "the token is sealed, not plain: {value}");
    // The session cookie comes with the first login, with the same flags.
    let b = browser();
    let _ = app.start_login(&b, KARI).await;
    let res = http_get(&b, app.url("/auth/vipps/login")).await;
    assert!(
        set_cookies(&res).is_empty(),
        "nothing new for a known session"
    );

    // A plain-http public URL (allowed on loopback only) is development: not Secure.
    let app = start_app(|b, base| b.public_base_url(base.clone())).await;
    let res = http_get(&browser(), app.url("/auth/vipps/login")).await;
    let c = &set_cookies(&res)[0];
    assert!(c.starts_with("vipps_login_csrf="), "{c}");
    assert!(!c.contains("Secure"), "plain http development: {c}");

    let app = start_app(|b, _| b.secure_cookies(SecureCookies::Always)).await;
    let res = http_get(&browser(), app.url("/auth/vipps/login")).await;
    assert!(set_cookies(&res)[0].contains("Secure"));

    // A tampered cookie is ignored (a new session is issued).
    let res = get_with(
        &reqwest::Client::new(),
        app.url("/auth/vipps/login"),
        ("cookie", "__Host-vipps_login=AAAAtampered"),
    )
    .await;
    assert_eq!(set_cookies(&res).len(), 1);
}

/// Behind a proxy that forwards `Host: 127.0.0.1`, an app whose public URL is https must
/// still set Secure cookies: the flag comes from configuration, not from the request.
#[tokio::test]
async fn secure_cookies_follow_the_public_url_not_the_host_header() {
    let public: url::Url = "https://club.example.com/".parse().unwrap();
    let app = start_app(|b, _| b.public_base_url(public)).await;
    for host in ["127.0.0.1", "localhost:3000", "[::1]:8080"] {
        let res = get_with(&browser(), app.url("/auth/vipps/login"), ("host", host)).await;
        let c = &set_cookies(&res)[0];
        assert!(c.contains("Secure"), "Host {host}: {c}");
        assert!(
            c.starts_with("__Host-vipps_login_csrf="),
            "Host {host}: {c}"
        );
    }
    // A `__Host-` name cannot be combined with cookies that are not Secure.
    let built = vipps_login_tower::VippsLoginLayer::builder(vipps_client(&app.sim))
        .secure_cookies(SecureCookies::Never)
        .cookie_name("__Host-desk")
        .build();
    assert!(built.unwrap_err().to_string().contains("needs Secure"));
}

#[tokio::test]
async fn hook_refusal_is_shown_and_does_not_log_in() {
    let app = start_app(|b, _| {
        b.on_login(|_login: vipps_login_tower::CompletedLogin| async {
            Err::<String, _>(HookError::new(
                "Members only: this customer is not in the club.",
            ))
        })
    })
    .await;
    let b = browser();
    let id = app.start_login(&b, KARI).await;
    let req = app.pending(KARI).await;
    app.sim.approve(&req.auth_req_id).await.unwrap();
    let page = app.wait_until_done(&b, &id).await;
    assert_eq!(page.status, 403);
    assert_eq!(page.result().as_deref(), Some("rejected"));
    assert!(page.body.contains("Members only"));
    let home = get_text(&b, app.url("/")).await;
    assert_eq!(home, "anonymous");
}

#[tokio::test]
async fn bad_configuration_fails_at_build() {
    let sim = vipps_login_sim::Simulator::start(sim_config())
        .await
        .unwrap();
    let client = vipps_client(&sim);
    let b = || vipps_login_tower::VippsLoginLayer::builder(client.clone());
    assert!(b().prefix("auth").build().is_err());
    assert!(b().prefix("/auth/").build().is_err());
    assert!(b().prefix("/").build().is_err());
    assert!(b().cookie_secret(b"short").build().is_err());
    assert!(b().continue_url("https://evil.example/").build().is_err());
    assert!(b().continue_url("//evil.example").build().is_err());
    assert!(b().flow(FlowChoice::ContinueInBrowser).build().is_err());
    assert!(
        b().public_base_url("http://shop.example/".parse().unwrap())
            .build()
            .is_err(),
        "http outside loopback"
    );
    assert!(b().template("login.html", "{% if %}").build().is_err());
    assert!(
        b().templates(minijinja::Environment::new())
            .build()
            .is_err()
    );
    assert!(b().session_ttl(Duration::from_secs(1)).build().is_err());
    assert!(
        b().rate_limits(RateLimits::default().per_client(Window::new(0, Duration::from_secs(1))))
            .build()
            .is_err()
    );
    assert!(
        b().requested_expiry(Duration::from_secs(30))
            .build()
            .is_err()
    );
    assert!(b().cookie_secret(&[7u8; 64]).build().is_ok());
}

#[tokio::test]
async fn callback_refuses_tampered_state_missing_code_and_foreign_logins() {
    let app = start_app(|b, base| {
        b.flow(FlowChoice::ContinueInBrowser)
            .public_base_url(base.clone())
    })
    .await;
    let phone = browser();
    let res = http_get(&phone, app.url("/auth/vipps/callback")).await;
    let page = Page::read(res).await;
    assert_eq!(page.status, 400);
    assert!(page.set_cookies.is_empty());
    let res = http_get(&phone, app.url("/auth/vipps/callback?error=access_denied")).await;
    assert_eq!(Page::read(res).await.result().as_deref(), Some("declined"));
    let res = http_get(&phone, app.url("/auth/vipps/callback?code=made-up")).await;
    let page = Page::read(res).await;
    assert!(page.status >= 400);
    assert!(page.set_cookies.is_empty());

    let clerk = browser();
    let _ = app.start_login(&clerk, KARI).await;
    let req = app.pending(KARI).await;
    let mut landing = app.sim.approve(&req.auth_req_id).await.unwrap().unwrap();
    let mut pairs: Vec<(String, String)> = landing
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    // The default simulator echoes `state`; one "as documented" does not: the tampered
    // state below is then one the link never had, refused the same way.
    if !pairs.iter().any(|(k, _)| k == "state") {
        pairs.push(("state".to_owned(), String::new()));
    }
    landing.query_pairs_mut().clear();
    for (k, v) in pairs {
        let v = if k == "state" {
            "tampered".to_owned()
        } else {
            v
        };
        landing.query_pairs_mut().append_pair(&k, &v);
    }
    let page = Page::read(http_get(&phone, landing).await).await;
    assert_eq!(page.status, 403);
    assert_eq!(page.result().as_deref(), Some("rejected"));
    assert!(page.set_cookies.is_empty());
    let home = get_text(&phone, app.url("/")).await;
    assert_eq!(home, "anonymous");
}

/// The callback is counted per client address: a client trying `state`s gets 429 with
/// `Retry-After` after the window's allowance, and the genuine customer elsewhere is not
/// affected.
#[tokio::test]
async fn callback_is_rate_limited_per_client() {
    let app = start_app(|b, base| {
        b.flow(FlowChoice::ContinueInBrowser)
            .public_base_url(base.clone())
            .rate_limits(
                RateLimits::default().callbacks_per_client(Window::new(3, Duration::from_secs(60))),
            )
    })
    .await;
    let prober = browser();
    for i in 0..3 {
        let url = app.url(&format!("/auth/vipps/callback?state=guess{i}&code=x"));
        let page = Page::read(http_get(&prober, url).await).await;
        assert_eq!(page.status, 403, "try {i}: an unknown state, refused");
    }
    let url = app.url("/auth/vipps/callback?state=guess9&code=x");
    let page = Page::read(http_get(&prober, url).await).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(
        page.retry_after
            .as_deref()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| (1..=60).contains(&s)),
        "{:?}",
        page.retry_after
    );
    assert_eq!(app.sim.stats().token, 0, "no token call for any of them");
}

#[tokio::test]
async fn webhook_route_is_off_by_default_and_refuses_unsigned_pings() {
    let app = start_app(|b, _| b).await;
    let res = browser()
        .post(app.url("/auth/vipps/webhook"))
        .body(r#"{"auth_req_id":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    let app = start_app(|b, _| b.webhook(true)).await;
    let res = browser()
        .post(app.url("/auth/vipps/webhook"))
        .header("content-type", "application/json")
        .body(r#"{"auth_req_id":"x"}"#)
        .send()
        .await
        .unwrap();
    let page = Page::read(res).await;
    assert!(
        (400..500).contains(&page.status) || page.status == 500,
        "{}",
        page.status
    );
    assert!(page.json()["error"].is_string());
}

/// Vipps retries a webhook delivery that is not answered 2xx for up to 7 days, and may
/// deliver one late and twice: a verified ping for a login that already ended is answered
/// 204 (nothing to do), every time; only a ping that fails verification is refused.
#[tokio::test]
async fn a_late_or_repeated_ping_is_answered_2xx() {
    let app = start_app(|b, _| b.webhook(true)).await;
    let clerk = browser();
    let id = app.start_login(&clerk, KARI).await;
    let req = app.pending(KARI).await;
    app.sim.approve(&req.auth_req_id).await.unwrap();
    let _ = app.wait_until_done(&clerk, &id).await;
    let url = app.url("/auth/vipps/webhook");
    let host = format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    );
    let body = serde_json::to_vec(&serde_json::json!({ "auth_req_id": req.auth_req_id })).unwrap();
    for _ in 0..2 {
        let (date, sha, auth) = vipps_login_core::sign_webhook(
            &vipps_login_core::Secret::new(WEBHOOK_SECRET),
            url.path(),
            &host,
            std::time::SystemTime::now(),
            &body,
        );
        let res = browser()
            .post(url.clone())
            .header("content-type", "application/json")
            .header("x-ms-date", date)
            .header("x-ms-content-sha256", sha)
            .header("authorization", auth)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let app = start_app(|b, _| b).await;
    let res = http_get(&browser(), app.url("/auth/vipps/login")).await;
    let h = res.headers();
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let js = http_get(&browser(), app.url("/auth/vipps/static/vipps-login.js")).await;
    assert_eq!(js.status(), 200);
    let res = http_get(&browser(), app.url("/auth/vipps/nope")).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn anonymous_visitors_store_nothing() {
    let sessions = std::sync::Arc::new(vipps_login_core::MemoryStore::new());
    let store: std::sync::Arc<dyn vipps_login_core::Store> = sessions.clone();
    let app = start_app(move |b, _| b.store(store)).await;
    for _ in 0..300 {
        let anonymous = reqwest::Client::new();
        for path in [
            "/auth/vipps/login",
            "/auth/vipps/api/me",
            "/auth/vipps/logout",
        ] {
            let res = http_get(&anonymous, app.url(path)).await;
            assert_eq!(res.status(), 200, "{path}");
        }
    }
    assert_eq!(sessions.len(), 0, "no session stored for a visitor");
    // The start form still works with the visitor's cookie-bound token, and stores one.
    let b = browser();
    let _ = app.start_login(&b, KARI).await;
    assert_eq!(sessions.len(), 1);
}

#[tokio::test]
async fn live_status_streams_are_capped_per_login() {
    let app = start_app(|b, _| b).await;
    let b = browser();
    let id = app.start_login(&b, KARI).await;
    let events = app.url(&format!("/auth/vipps/events/{id}"));
    let mut open = Vec::new();
    for _ in 0..4 {
        let res = http_get(&b, events.clone()).await;
        assert_eq!(res.status(), 200);
        open.push(res); // kept open: the stream holds its slot
    }
    let res = http_get(&b, events.clone()).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let page = Page::read(res).await;
    assert_eq!(page.json()["error"], "too_many_streams");
    // Closing one frees a slot.
    drop(open.pop());
    let mut again = None;
    for _ in 0..50 {
        let res = http_get(&b, events.clone()).await;
        if res.status() == 200 {
            again = Some(res);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a closed stream gives its slot back");
}

/// `api/user-exists` is refused exactly as `api/start` is: without the header (with a
/// session's browser or a bare anonymous client), with another body type, with a body
/// that is no JSON, and for a bad number; nothing reaches Vipps.
#[tokio::test]
async fn user_exists_is_refused_as_api_start_is() {
    let app = start_app(|b, _| b.user_exists_route(true)).await;
    let b = browser();
    let _ = app.csrf(&b).await;
    let anonymous = reqwest::Client::new();
    let send = |client: &reqwest::Client, path: &str, header: bool, ty: &str, body: &str| {
        let mut req = client
            .post(app.url(path))
            .header("content-type", ty)
            .body(body.to_owned());
        if header {
            req = req.header("x-requested-with", "fetch");
        }
        req.send()
    };
    let phone = serde_json::json!({ "phone": KARI }).to_string();
    let bad_number = serde_json::json!({ "phone": "12 34" }).to_string();
    let cases: [(&reqwest::Client, bool, &str, &str, u16, &str); 6] = [
        (&b, false, "application/json", &phone, 403, "csrf"),
        (&anonymous, false, "application/json", &phone, 403, "csrf"),
        (
            &b,
            true,
            "text/plain",
            &phone,
            415,
            "unsupported_media_type",
        ),
        (
            &b,
            true,
            "application/json",
            "{not json",
            400,
            "invalid_json",
        ),
        (
            &b,
            true,
            "application/json",
            &bad_number,
            400,
            "invalid_phone_number",
        ),
        (
            &anonymous,
            true,
            "application/json",
            &bad_number,
            400,
            "invalid_phone_number",
        ),
    ];
    for (client, header, ty, body, status, error) in cases {
        let start = Page::read(
            send(client, "/auth/vipps/api/start", header, ty, body)
                .await
                .unwrap(),
        )
        .await;
        let asked = Page::read(
            send(client, "/auth/vipps/api/user-exists", header, ty, body)
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((start.status, asked.status), (status, status), "{body}");
        assert_eq!(start.json()["error"], error, "{}", start.body);
        assert_eq!(
            asked.json(),
            start.json(),
            "the same refusal, word for word"
        );
    }
    assert_eq!(app.sim.stats().user_exists, 0, "nothing may reach Vipps");
    assert_eq!(app.sim.stats().backchannel, 0);
}

#[tokio::test]
async fn user_exists_route_is_off_by_default() {
    let app = start_app(|b, _| b).await;
    let res = api_post(
        &browser(),
        app.url("/auth/vipps/api/user-exists"),
        "fetch",
        Some(serde_json::json!({ "phone": KARI })),
    )
    .await;
    let page = Page::read(res).await;
    assert_eq!(page.status, 404);
    assert_eq!(page.json()["error"], "not_found");
    assert_eq!(app.sim.stats().user_exists, 0);
}

/// Counted per client (here the address a proxy names in `X-Real-IP`): a till over its
/// limit gets 429 with `Retry-After` and nothing is sent, another till goes on, and the
/// start limits are the starts' own (the pre-check of a start over the question limit is
/// skipped, not refused).
#[tokio::test]
async fn user_exists_is_rate_limited_per_client() {
    let app = start_app(|b, _| {
        b.user_exists_route(true)
            .check_user_exists(true)
            .client_ip(vipps_login_tower::ClientIp::Header(
                http::HeaderName::from_static("x-real-ip"),
            ))
            .rate_limits(
                RateLimits::default()
                    .user_exists_per_client(Window::new(3, Duration::from_secs(60))),
            )
    })
    .await;
    let ask = |till: &'static str, phone: &'static str| {
        let app = &app;
        async move {
            let res = browser()
                .post(app.url("/auth/vipps/api/user-exists"))
                .header("x-requested-with", "fetch")
                .header("x-real-ip", till)
                .json(&serde_json::json!({ "phone": phone }))
                .send()
                .await
                .unwrap();
            Page::read(res).await
        }
    };
    let till_1 = "192.0.2.1";
    for phone in [KARI, KARI, NO_ACCOUNT] {
        assert_eq!(ask(till_1, phone).await.status, 200);
    }
    let refused = ask(till_1, OLA).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.json()["error"], "rate_limited");
    let message = refused.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("numbers were checked"), "{message}");
    let retry: u64 = refused.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry after {retry}");
    assert_eq!(
        app.sim.stats().user_exists,
        2,
        "nothing sent over the limit"
    );

    let other = ask("192.0.2.2", OLA).await;
    assert_eq!(
        (other.status, other.json()["exists"].as_bool()),
        (200, Some(true))
    );

    // Till 1 still starts a login: its pre-check is skipped, the push goes out.
    let b = browser();
    let token = app.csrf(&b).await;
    let res = b
        .post(app.url("/auth/vipps/start"))
        .header("x-real-ip", till_1)
        .form(&[("phone", KARI), ("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(app.sim.stats().backchannel, 1);
}
