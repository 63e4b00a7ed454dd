//! The `continue-on-phone` reference app (continue in browser) in process, against the
//! simulator, over HTTP with two cookie jars: the clerk's browser and the customer's
//! phone browser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use clap::Parser as _;
use url::Url;
use vipps_login_sim::SimHandle;
use vipps_login_tests::{Page, browser, login_id};

const KARI: &str = "4712345678";
/// The staff password the tests start the desk with.
const STAFF: &str = "desk-test-password";

struct Running {
    base: Url,
    sim: SimHandle,
    signups: continue_on_phone::Signups,
}

impl Running {
    fn url(&self, path: &str) -> Url {
        self.base.join(path.trim_start_matches('/')).unwrap()
    }

    async fn start(&self, b: &reqwest::Client, phone: &str) -> Page {
        let login = Page::get(b, &self.url("/auth/vipps/login")).await;
        let token = login.csrf().unwrap();
        Page::post(
            b,
            &self.url("/auth/vipps/start"),
            &[("phone", phone), ("csrf_token", &token)],
        )
        .await
    }

    /// Posts the staff sign-in form from `b` with `password`, asking to go to `return_to`.
    async fn sign_in(&self, b: &reqwest::Client, password: &str, return_to: &str) -> Page {
        Page::post(
            b,
            &self.url("/staff/sign-in"),
            &[("password", password), ("return_to", return_to)],
        )
        .await
    }

    /// A clerk's browser, signed in at the staff sign-in page.
    async fn clerk(&self) -> reqwest::Client {
        let clerk = browser();
        let signed_in = self.sign_in(&clerk, STAFF, "/").await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        assert_eq!(signed_in.location.as_deref(), Some("/"));
        clerk
    }

    /// The desk's view of one login (`/desk/logins/{id}`).
    async fn desk_status(&self, b: &reqwest::Client, id: &str) -> serde_json::Value {
        b.get(self.url(&format!("/desk/logins/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

async fn start_app() -> Running {
    let app = continue_on_phone::app(continue_on_phone::Options::parse_from([
        "continue-on-phone",
        "--listen",
        "127.0.0.1:0",
        "--simulator",
        "--sim-interval-ms",
        "50",
        "--staff-password",
        STAFF,
    ]))
    .await
    .unwrap();
    let running = Running {
        base: app.server.urls.base.clone(),
        sim: app.server.sim.clone().unwrap(),
        signups: app.signups.clone(),
    };
    tokio::spawn(app.server.serve());
    running
}

#[tokio::test]
async fn the_customer_continues_on_the_phone_and_accepts_the_terms() {
    let app = start_app().await;
    let clerk = app.clerk().await;
    let phone = browser();

    // The desk: nobody yet, a button to the login page.
    let desk = Page::get(&clerk, &app.url("/")).await;
    assert_eq!(desk.status, 200);
    assert!(desk.body.contains("id=\"no-handovers\""));
    assert!(desk.body.contains("id=\"start-login\""));

    // The clerk starts at the desk (its script uses the layer's JSON API); the flow
    // chooser makes it a continue-in-browser login whose redirect URI is the layer's
    // callback on this app.
    let res = clerk
        .post(app.url("/auth/vipps/api/start"))
        .header("x-requested-with", "desk")
        .json(&serde_json::json!({ "phone": "+47 123 45 678" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let started: serde_json::Value = res.json().await.unwrap();
    let id = started["login_id"].as_str().unwrap().to_owned();
    let req = app
        .sim
        .wait_for_pending(KARI, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        started["binding_message"].as_str(),
        req.binding_message.as_deref(),
        "the desk shows the code the phone shows"
    );
    assert_eq!(
        req.redirect_uri.as_deref(),
        Some(app.url("/auth/vipps/callback").as_str())
    );
    assert_eq!(app.desk_status(&clerk, &id).await["status"], "waiting");

    // Without JavaScript the clerk uses the layer's own pages: the start works the same.
    let other = app.clerk().await;
    let form_start = app.start(&other, "4798765432").await;
    assert_eq!(form_start.status, 303, "{}", form_start.body);
    assert!(login_id(form_start.location.as_deref().unwrap()).is_some());

    // The customer approves (simulator control API): the answer is where the phone's
    // browser goes next.
    let approve_url = app
        .sim
        .base_url()
        .join(&format!("_sim/requests/{}/approve", req.auth_req_id))
        .unwrap();
    let approved: serde_json::Value = reqwest::Client::new()
        .post(approve_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(approved["status"], "approved");
    let redirect_to = Url::parse(approved["redirect_to"].as_str().unwrap()).unwrap();
    assert!(
        redirect_to
            .as_str()
            .starts_with(app.url("/auth/vipps/callback").as_str())
    );

    // The phone follows it: logged in, sent to the welcome page.
    let landing = Page::get(&phone, &redirect_to).await;
    assert_eq!(landing.status, 303, "{}", landing.body);
    assert_eq!(landing.location.as_deref(), Some("/welcome"));
    assert_eq!(landing.set_cookies.len(), 1);
    let welcome = Page::get(&phone, &app.url("/welcome")).await;
    assert_eq!(welcome.status, 200, "{}", welcome.body);
    assert!(welcome.body.contains("id=\"welcome-name\">Kari Nordmann<"));
    assert!(welcome.body.contains("id=\"terms-form\""));
    let token = welcome.csrf().unwrap();

    // The link works once.
    let replay = Page::get(&browser(), &redirect_to).await;
    assert_ne!(replay.status, 303);
    assert!(replay.set_cookies.is_empty());

    // The desk learns that the customer continued on the phone; the clerk's browser is
    // not logged in.
    let status = app.desk_status(&clerk, &id).await;
    assert_eq!(status["status"], "continued");
    assert_eq!(status["name"], "Kari N.");
    // The clerk's browser cannot see the phone's page: it is told the sign-up ended
    // there, with nothing of the customer's.
    let clerk_welcome = Page::get(&clerk, &app.url("/welcome")).await;
    assert_eq!(clerk_welcome.status, 200);
    assert!(clerk_welcome.body.contains("id=\"ended\""));
    assert!(!clerk_welcome.body.contains("Kari"));
    let me: serde_json::Value = clerk
        .get(app.url("/auth/vipps/api/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["logged_in"], false);

    // The desk shows the handover.
    let desk = Page::get(&clerk, &app.url("/")).await;
    assert_eq!(
        desk.attr("class=\"handover\"", "data-status").as_deref(),
        Some("continued")
    );
    assert!(desk.body.contains("Kari N."));
    assert!(desk.body.contains("47******78"));
    let list = Page::get(&clerk, &app.url("/desk/handovers")).await;
    assert!(list.body.contains("47******78"));
    assert!(
        !list.body.contains(KARI),
        "the desk lists masked numbers only"
    );

    // The terms form is CSRF-protected and needs the terms box.
    let url = app.url("/welcome");
    let no_token = Page::post(&phone, &url, &[("terms", "yes")]).await;
    assert_eq!(no_token.status, 403);
    assert_eq!(
        no_token.attr("id=\"error\"", "data-error").as_deref(),
        Some("csrf")
    );
    let wrong = Page::post(&phone, &url, &[("terms", "yes"), ("csrf_token", "wrong")]).await;
    assert_eq!(wrong.status, 403);
    let clerk_try = Page::post(&clerk, &url, &[("terms", "yes"), ("csrf_token", &token)]).await;
    assert_eq!(
        clerk_try.status, 303,
        "the clerk's browser is sent to log in"
    );
    assert!(clerk_try.location.unwrap().starts_with("/auth/vipps/login"));
    let no_terms = Page::post(&phone, &url, &[("csrf_token", token.as_str())]).await;
    assert_eq!(no_terms.status, 422);
    assert_eq!(
        no_terms.attr("id=\"error\"", "data-error").as_deref(),
        Some("terms_required")
    );
    assert!(app.signups.handovers()[0].acceptance.is_none());

    // Accepted, with marketing.
    let ok = Page::post(
        &phone,
        &url,
        &[
            ("csrf_token", token.as_str()),
            ("terms", "yes"),
            ("marketing", "yes"),
        ],
    )
    .await;
    assert_eq!((ok.status, ok.location.as_deref()), (303, Some("/welcome")));
    let thanks = Page::get(&phone, &url).await;
    assert!(thanks.body.contains("id=\"accepted\""));
    assert_eq!(
        thanks.attr("id=\"accepted\"", "data-marketing").as_deref(),
        Some("yes")
    );

    // Stored, and the desk says so.
    let handover = &app.signups.handovers()[0];
    assert_eq!(handover.login_id, id);
    let stored = handover.acceptance.clone().expect("stored");
    assert!(stored.marketing);
    assert_eq!(app.signups.answer(&handover.sub), Some(stored));
    let desk = Page::get(&clerk, &app.url("/")).await;
    assert_eq!(
        desk.attr("class=\"handover\"", "data-status").as_deref(),
        Some("accepted")
    );
    assert!(desk.body.contains("marketing: yes"));
    let status = app.desk_status(&clerk, &id).await;
    assert_eq!(status["status"], "accepted");
    assert_eq!(status["marketing"], true);
    let fragment = Page::get(&clerk, &app.url("/desk/handovers")).await;
    assert!(fragment.body.contains("class=\"handovers\""));
    assert!(!fragment.body.contains("<html"), "a fragment");
}

#[tokio::test]
async fn the_desk_streams_changes() {
    let app = start_app().await;
    // Scripts send the staff password as a bearer token.
    let mut res = reqwest::Client::new()
        .get(app.url("/desk/events"))
        .bearer_auth(STAFF)
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut seen = String::new();
    let mut read_until = async |needle: &str| {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !seen.contains(needle) {
                let chunk = res.chunk().await.unwrap().expect("more events");
                seen.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .expect("the event in time");
    };
    read_until("event: changed\ndata: 0\n").await;
    app.signups.accept("some-sub", "some-login", false);
    read_until("data: 1\n").await;
}

/// The desk is for staff: without signing in, nobody sees recent customers or sends a
/// push; the customer's callback and welcome page stay reachable.
#[tokio::test]
async fn the_desk_is_for_staff_only() {
    let app = start_app().await;
    let anonymous = browser();
    for path in ["/", "/desk/handovers", "/auth/vipps/login"] {
        let res = anonymous
            .get(app.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{path}");
        let to = res.headers()["location"].to_str().unwrap();
        assert!(to.starts_with("/staff/sign-in?return_to="), "{path}: {to}");
    }
    for path in ["/desk/events", "/desk/handovers", "/desk/logins/x"] {
        let res = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path}");
        assert!(res.headers().contains_key("www-authenticate"));
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "staff_only");
    }
    // No push can be sent: the layer's JSON start answers 401 and Vipps hears nothing.
    let res = anonymous
        .post(app.url("/auth/vipps/api/start"))
        .header("x-requested-with", "desk")
        .json(&serde_json::json!({ "phone": KARI }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let wrong = reqwest::Client::new()
        .get(app.url("/desk/handovers"))
        .bearer_auth("not-the-staff-password")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    // A wrong password at the sign-in page is refused with a sentence.
    let page = app.sign_in(&anonymous, "guess-guess-guess", "/").await;
    assert_eq!(page.status, 401);
    assert!(
        page.body.contains("not the staff password"),
        "{}",
        page.body
    );

    // The customer's side stays public: the callback answers (a bad one is refused by
    // the layer, not by the gate) and the welcome page asks the layer to log in.
    let callback = anonymous
        .get(app.url("/auth/vipps/callback?state=nope&code=nope"))
        .send()
        .await
        .unwrap();
    assert_ne!(callback.status(), 401);
    assert!(
        !callback
            .headers()
            .get("location")
            .is_some_and(|l| l.to_str().unwrap().starts_with("/staff/")),
        "the callback is not behind the staff gate"
    );
    let css = anonymous
        .get(app.url("/auth/vipps/static/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);

    // Signed in, with a return_to that is not this site's: it lands on the desk.
    let clerk = browser();
    let signed_in = app.sign_in(&clerk, STAFF, "https://evil.example/").await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.location.as_deref(), Some("/"));
    let cookie = signed_in
        .set_cookies
        .iter()
        .find(|c| c.starts_with("desk_staff="))
        .cloned()
        .unwrap_or_default();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(
        !cookie.contains(STAFF),
        "the cookie does not carry the password"
    );
    let desk = Page::get(&clerk, &app.url("/")).await;
    assert_eq!(desk.status, 200);
    assert!(desk.body.contains("id=\"start-login\""));

    // Brute force: after five free wrong passwords each one pauses this source, longer
    // every time, and a paused source is not even checked (the clerk's sign-in above
    // forgot this source's earlier failures).
    for _ in 0..6 {
        let _ = app.sign_in(&anonymous, "guess-guess-guess", "/").await;
    }
    let paused = app.sign_in(&anonymous, STAFF, "/").await;
    assert_eq!(paused.status, 429);
}

/// Declined on the phone, in the continue-in-browser variant: Vipps answers the token
/// endpoint once per authentication here, so the engine never polls it and Vipps reports
/// no decline; the desk (its live stream in the clerk's language) keeps waiting until
/// the clerk cancels or the login expires, and nobody continues.
#[tokio::test]
async fn a_decline_in_the_app_is_not_reported_in_this_variant_and_the_clerk_cancels() {
    let app = start_app().await;
    let desk = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(
            [(
                reqwest::header::ACCEPT_LANGUAGE,
                reqwest::header::HeaderValue::from_static("nb-NO,nb;q=0.9"),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let signed_in = Page::post(
        &desk,
        &app.url("/staff/sign-in"),
        &[("password", STAFF), ("return_to", "/")],
    )
    .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    // As the desk's script does: the layer's JSON API, then its event stream.
    let started: serde_json::Value = desk
        .post(app.url("/auth/vipps/api/start"))
        .header("x-requested-with", "desk")
        .json(&serde_json::json!({ "phone": "+47 123 45 678" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["login_id"].as_str().unwrap().to_owned();
    let events_url = app.url(started["events_url"].as_str().unwrap());
    let mut events = desk.get(events_url).send().await.unwrap();
    assert_eq!(events.headers()["content-language"], "nb");

    let pending = app
        .sim
        .wait_for_pending(KARI, Duration::from_secs(5))
        .await
        .unwrap();
    // The customer says no on the phone; the phone's page says the merchant was told.
    let phone = browser();
    let request_page = format!(
        "{}/requests/{}",
        app.sim.phone_url(KARI),
        pending.auth_req_id
    );
    let denied = Page::post(
        &phone,
        &Url::parse(&format!("{request_page}/deny")).unwrap(),
        &[("action", "deny")],
    )
    .await;
    assert_eq!(denied.status, 303);
    let shown = Page::get(&phone, &Url::parse(&request_page).unwrap()).await;
    assert!(shown.body.contains("id=\"denied\""), "{}", shown.body);
    assert!(shown.body.contains("was told that you said no"));

    // Vipps answers the token endpoint once per authentication in this variant, so the
    // engine never polls it: a decline in the app is not reported, and the desk keeps
    // waiting for the phone's browser until the clerk cancels or the login expires.
    let mut seen = String::new();
    let _ = tokio::time::timeout(Duration::from_millis(1500), async {
        while let Ok(Some(chunk)) = events.chunk().await {
            seen.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    })
    .await;
    assert!(!seen.contains("\"status\":\"denied\""), "{seen}");
    let status: serde_json::Value = desk
        .get(app.url(&format!("/auth/vipps/api/status/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "awaiting_browser", "{status}");
    assert_eq!(
        app.sim.stats().token,
        0,
        "no token call for a browser login"
    );
    // The clerk cancels; the number is free again, and nobody continued.
    let cancelled = desk
        .post(app.url(&format!("/auth/vipps/api/cancel/{id}")))
        .header("x-requested-with", "desk")
        .send()
        .await
        .unwrap();
    assert!(cancelled.status().is_success(), "{}", cancelled.status());
    let status: serde_json::Value = desk
        .get(app.url(&format!("/auth/vipps/api/status/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "cancelled", "{status}");
    assert!(app.signups.handovers().is_empty(), "nobody continued");
}

/// The staff sign-in page speaks the clerk's language too.
#[tokio::test]
async fn the_staff_sign_in_page_is_in_the_clerks_language() {
    let app = start_app().await;
    let page = browser()
        .get(app.url("/staff/sign-in"))
        .header("accept-language", "nb-NO,nb;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<html lang=\"nb\">"), "{page}");
    assert!(page.contains("<h1>Innlogging for ansatte</h1>"), "{page}");
    assert!(!page.contains("Staff password"));
    let wrong = browser()
        .post(app.url("/staff/sign-in"))
        .header("accept-language", "fi")
        .form(&[("password", "not-the-password"), ("return_to", "/")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        wrong.contains("Se ei ole henkilökunnan salasana."),
        "{wrong}"
    );
}
