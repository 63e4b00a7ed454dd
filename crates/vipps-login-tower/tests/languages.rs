//! The pages' languages and the clerk's words: `Accept-Language` picks nb/da/fi/en, the
//! configured default covers the rest, an app overrides any text; the words after a
//! declined or ignored push, a typed number's problem, a missing login.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use reqwest::header::{ACCEPT_LANGUAGE, HeaderMap, HeaderValue};
use reqwest::redirect::Policy as RedirectPolicy;
use vipps_login_tower::Language;

/// A browser that asks for `accept_language`.
fn browser_in(accept_language: &'static str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT_LANGUAGE, HeaderValue::from_static(accept_language));
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(RedirectPolicy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// English phrases of the login page that must not be left in a translated one.
const ENGLISH: [&str; 4] = [
    "Log in with Vipps",
    "Mobile number",
    "Send login request",
    "With country code",
];

#[tokio::test]
async fn login_page_speaks_the_browsers_language() {
    let app = start_app(|b, _| b).await;
    for (accept, lang, heading) in [
        ("nb-NO,nb;q=0.9,en;q=0.5", "nb", "Logg inn med Vipps"),
        ("no", "nb", "Logg inn med Vipps"),
        ("da-DK", "da", "Log ind med MobilePay"),
        ("fi", "fi", "Kirjaudu MobilePaylla"),
        ("en-GB", "en", "Log in with Vipps"),
        ("sv-SE", "en", "Log in with Vipps"),
    ] {
        let res = http_get(&browser_in(accept), app.url("/auth/vipps/login")).await;
        assert_eq!(header(&res, "content-language"), lang, "{accept}");
        assert!(
            header(&res, "vary")
                .to_ascii_lowercase()
                .contains("accept-language"),
            "{accept}"
        );
        let html = res.text().await.unwrap();
        assert!(
            html.contains(&format!("<html lang=\"{lang}\">")),
            "{accept}"
        );
        assert!(html.contains(heading), "{accept}: {html}");
        if lang != "en" {
            for english in ENGLISH {
                assert!(
                    !html.contains(english),
                    "{accept}: English {english:?} left"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_configured_default_covers_browsers_that_name_no_offered_language() {
    let app = start_app(|b, _| b.default_language(Language::Nb)).await;
    let html = get_text(&browser(), app.url("/auth/vipps/login")).await;
    assert!(html.contains("<html lang=\"nb\">"));
    assert!(html.contains("Send innloggingsforespørsel"));
    let html = get_text(&browser_in("de, sv;q=0.8"), app.url("/auth/vipps/login")).await;
    assert!(html.contains("<html lang=\"nb\">"));
    let html = get_text(&browser_in("en"), app.url("/auth/vipps/login")).await;
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("Send login request"));
}

#[tokio::test]
async fn every_text_can_be_overridden_by_the_app() {
    let app = start_app(|b, _| {
        b.text(Language::Nb, "login_heading", "Registrer kunden")
            .text(
                Language::Nb,
                "error_invalid_phone_number",
                "Sjekk nummeret: {why}.",
            )
    })
    .await;
    let b = browser_in("nb");
    let html = get_text(&b, app.url("/auth/vipps/login")).await;
    assert!(html.contains("<h1>Registrer kunden</h1>"), "{html}");
    assert!(
        html.contains("Send innloggingsforespørsel"),
        "the rest stays"
    );
    let page = Page::read(app.start_form(&b, "+47 12", &[]).await).await;
    assert!(
        page.body
            .contains("Sjekk nummeret: et norsk nummer har 8 sifre etter +47, dette har 2."),
        "{}",
        page.body
    );
    let html = get_text(&browser_in("en"), app.url("/auth/vipps/login")).await;
    assert!(html.contains("<h1>Log in with Vipps</h1>"));
}

#[tokio::test]
async fn letters_and_trailing_characters_are_named_in_the_clerks_language() {
    let app = start_app(|b, _| b).await;
    let nb = browser_in("nb");
    let page = Page::read(app.start_form(&nb, "abc", &[]).await).await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains(
            "Telefonnummeret er ikke gyldig: det inneholder bokstaven «a»; et telefonnummer har bare sifre."
        ),
        "{}",
        page.body
    );
    assert!(!page.body.contains("tomt"), "letters are not 'empty'");
    let page = Page::read(app.start_form(&nb, "+47 123 45 678x", &[]).await).await;
    assert_eq!(page.status, 422, "trailing garbage is refused");
    assert!(
        page.body
            .contains("«x» etter nummeret hører ikke til et telefonnummer"),
        "{}",
        page.body
    );
    let en = browser_in("en");
    let page = Page::read(app.start_form(&en, "+47 123 45 678x", &[]).await).await;
    assert!(
        page.body.contains(
            "The phone number is not valid: &quot;x&quot; after the number is not part of a phone number; remove it."
        ),
        "{}",
        page.body
    );
    // The JSON API: the stable code, the localized message.
    let res = api_post(
        &browser_in("fi"),
        app.url("/auth/vipps/api/start"),
        "test",
        Some(serde_json::json!({ "phone": "kari" })),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(header(&res, "content-language"), "fi");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_phone_number");
    assert_eq!(
        body["message"],
        "Puhelinnumero ei kelpaa: siinä on kirjain ”k”; puhelinnumerossa on vain numeroita."
    );
    assert!(app.sim.requests().is_empty(), "nothing reached Vipps");
}

#[tokio::test]
async fn a_declined_push_reads_as_such_and_the_wait_counts_down() {
    let app = start_app(|b, _| b).await;
    let b = browser_in("nb");
    let id = app.start_login(&b, KARI).await;
    let req = app.pending(KARI).await;
    app.sim.deny(&req.auth_req_id).await.unwrap();
    let page = app.wait_until_done(&b, &id).await;
    assert_eq!(page.result().as_deref(), Some("declined"));
    assert!(
        page.body
            .contains("Kunden avviste innloggingen i Vipps-appen.")
    );

    let page = Page::read(app.start_form(&b, KARI, &[]).await).await;
    assert_eq!(page.status, 429);
    assert!(
        page.body
            .contains("Kunden avviste forrige forespørsel; vent "),
        "{}",
        page.body
    );
    assert!(!page.body.contains("For mange"), "not 'too many logins'");
    assert!(!page.body.contains("Too many"), "{}", page.body);
    // The wait is a live countdown in the sentence, and without JavaScript the page
    // goes back to the form by itself when it is over.
    let retry: u64 = page.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(page.body.contains("<span id=\"countdown\" role=\"timer\""));
    assert!(page.body.contains("data-format=\"clock\""));
    let shown = format!("0:{:02}</span> før du spør igjen.", retry.min(60) % 60);
    let shown_floor = format!("0:{:02}</span> før du spør igjen.", (retry - 1) % 60);
    assert!(
        page.body.contains(&shown)
            || page.body.contains(&shown_floor)
            || page.body.contains("1:00</span>"),
        "{}",
        page.body
    );
    // Without JavaScript the page says when the count began; the same request can be
    // sent again (held by the script until zero), and the next customer can be served.
    assert!(page.body.contains("Tiden regnes fra da siden ble vist."));
    assert!(
        page.body
            .contains("<button id=\"retry\" type=\"submit\">Send en ny forespørsel</button>")
    );
    assert!(page.body.contains("name=\"phone\" value=\"4712345678\""));
    assert!(page.body.contains("id=\"again\""));
    let retried = Page::read(
        post_form(
            &b,
            app.url("/auth/vipps/start"),
            &[
                ("phone", KARI),
                ("csrf_token", csrf_from(&page.body).as_str()),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(retried.status, 429, "too early: the wait again");
    assert!(retried.body.contains("Kunden avviste forrige forespørsel"));
}

#[tokio::test]
async fn an_ignored_push_reads_as_unanswered() {
    let app = start_app_with(
        sim_config().expires_in(Duration::from_millis(600)),
        |b, _| b,
    )
    .await;
    let b = browser_in("en");
    let id = app.start_login(&b, KARI).await;
    let page = app.wait_until_done(&b, &id).await;
    assert_eq!(page.result().as_deref(), Some("expired"));
    let page = Page::read(app.start_form(&b, KARI, &[]).await).await;
    assert_eq!(page.status, 429);
    assert!(
        page.body
            .contains("The customer did not answer the last request; you can send a new one in "),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Too many"));
    assert!(
        !page.body.contains("seconds."),
        "m:ss, not a count of seconds"
    );
}

#[tokio::test]
async fn a_missing_login_is_login_not_found_everywhere() {
    let app = start_app(|b, _| b).await;
    let b = browser_in("da");
    app.start_login(&b, OLA).await;
    let unknown = "A".repeat(43);
    let res = http_get(&b, app.url(&format!("/auth/vipps/api/status/{unknown}"))).await;
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "login_not_found");
    assert_eq!(
        body["message"],
        "Dette login er ukendt eller for gammelt; start et nyt."
    );
    let res = http_get(&b, app.url(&format!("/auth/vipps/events/{unknown}"))).await;
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "login_not_found");
    let page =
        Page::read(http_get(&b, app.url(&format!("/auth/vipps/wait/{unknown}"))).await).await;
    assert_eq!(page.result().as_deref(), Some("login_not_found"));
}

#[tokio::test]
async fn logout_with_return_to_goes_straight_on() {
    let app = start_app(|b, _| b).await;
    let b = browser();
    let id = app.start_login(&b, KARI).await;
    let req = app.pending(KARI).await;
    app.sim.approve(&req.auth_req_id).await.unwrap();
    let page = app.wait_until_done(&b, &id).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let member = get_json(&b, app.url("/member")).await;
    let token = member["csrf_token"].as_str().unwrap().to_owned();
    let res = post_form(
        &b,
        app.url("/auth/vipps/logout"),
        &[("csrf_token", token.as_str()), ("return_to", "/member")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/member");
    let res = http_get(&b, app.url("/member")).await;
    assert_ne!(res.status(), 200, "logged out");
}
