//! Way 2 as a staff console meets it: a relying party sends the browser to `/authorize`,
//! the bridge's operator pages (the tower layer's own login and waiting pages) take the
//! customer's number, the simulated phone approves, and the browser comes back to the
//! relying party with a code that the token endpoint exchanges once (PKCE S256).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser as _;
use serde_json::Value;
use url::Url;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const STAFF_PASSWORD: &str = "way2-staff-password";

struct Bridge {
    issuer: String,
    sim: Url,
}

async fn bridge() -> Bridge {
    let options = identity_bridge::Options::parse_from([
        "identity-bridge",
        "--listen",
        "127.0.0.1:0",
        "--simulator",
        "--sim-interval-ms",
        "100",
        "--staff-password",
        STAFF_PASSWORD,
    ]);
    let bridge = identity_bridge::app(options).await.unwrap();
    let out = Bridge {
        issuer: bridge.issuer.clone(),
        sim: bridge.sim_base.clone().unwrap(),
    };
    tokio::spawn(bridge.serve());
    out
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The value of `<input ... name="NAME" value="...">` in `html`, entities decoded as a
/// browser decodes them.
fn input_value(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\"")).expect(name);
    let rest = &html[at..];
    let v = rest.find("value=\"").unwrap() + 7;
    rest[v..v + rest[v..].find('"').unwrap()]
        .replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn s256(verifier: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// `/authorize` → the operator's login page → the number typed; the waiting page's path
/// and the simulator's request for it.
async fn operator_starts(b: &Bridge, browser: &reqwest::Client, challenge: &str) -> (Url, String) {
    let (login, res) = operator_types_number(b, browser, challenge).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let wait = login.join(&location(&res)).unwrap();
    let requests: Value = reqwest::get(b.sim.join("/_sim/requests").unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let req = requests.as_array().unwrap().last().unwrap();
    assert_eq!(req["msisdn"], "4712345678");
    let scopes = req["scopes"].to_string();
    assert!(
        scopes.contains("phoneNumber") && scopes.contains("name"),
        "{scopes}"
    );
    (wait, req["auth_req_id"].as_str().unwrap().to_owned())
}

/// `/authorize` → the operator's login page → Kari's number typed: the login page's URL
/// and the answer to the typed number.
async fn operator_types_number(
    b: &Bridge,
    browser: &reqwest::Client,
    challenge: &str,
) -> (Url, reqwest::Response) {
    let mut authorize = Url::parse(&format!("{}/authorize", b.issuer)).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", "demo-rp")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid phone profile")
        .append_pair("state", "rp-state")
        .append_pair("nonce", "rp-nonce")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    let res = browser.get(authorize).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let login = Url::parse(&location(&res)).unwrap();
    // The operator signs in first (unless this browser has already), and comes back to
    // the login page.
    let res = browser
        .get(login.clone())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    if res.status() != 200 {
        assert_eq!(
            res.status(),
            303,
            "no operator page without a staff sign-in"
        );
        let sign_in = login.join(&location(&res)).unwrap();
        assert_eq!(sign_in.path(), "/staff/sign-in");
        let back = sign_in
            .query_pairs()
            .find(|(k, _)| k == "return_to")
            .unwrap()
            .1
            .into_owned();
        let res = browser
            .post(sign_in.join("/staff/sign-in").unwrap())
            .form(&[("password", STAFF_PASSWORD), ("return_to", back.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(login.join(&location(&res)).unwrap(), login);
    }
    assert_eq!(
        login.path(),
        "/operator/login",
        "the layer's own login page"
    );
    let html = browser
        .get(login.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("phone", "+47 123 45 678".to_owned()),
        ("csrf_token", input_value(&html, "csrf_token")),
        ("return_to", input_value(&html, "return_to")),
    ];
    let start = login.join("/operator/start").unwrap();
    let res = browser.post(start).form(&form).send().await.unwrap();
    (login, res)
}

/// Reloads the waiting page until it sends the browser on.
async fn follow_wait(browser: &reqwest::Client, wait: &Url) -> Url {
    let mut last = String::new();
    for _ in 0..100 {
        let res = browser.get(wait.clone()).send().await.unwrap();
        if res.status() == 303 {
            return Url::parse(&location(&res)).unwrap();
        }
        last = res.text().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the waiting page never moved on: {last}");
}

/// The simulated phone answers (`approve` or `deny`); the operator's waiting page sends
/// the browser back to the client with its `state`: the query it brings.
async fn phone_answers(
    b: &Bridge,
    browser: &reqwest::Client,
    wait: &Url,
    auth_req_id: &str,
    answer: &str,
) -> std::collections::HashMap<String, String> {
    let url = b
        .sim
        .join(&format!("/_sim/requests/{auth_req_id}/{answer}"))
        .unwrap();
    let res = reqwest::Client::new().post(url).send().await.unwrap();
    assert!(res.status().is_success());
    let back = follow_wait(browser, wait).await;
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "rp-state");
    q
}

#[tokio::test]
async fn operator_pages_hand_the_login_to_the_client_as_a_single_use_code() {
    let b = bridge().await;
    let browser = browser();
    let verifier = "a-verifier-of-forty-three-characters-or-more-0123";
    let (wait, auth_req_id) = operator_starts(&b, &browser, &s256(verifier)).await;
    let q = phone_answers(&b, &browser, &wait, &auth_req_id, "approve").await;
    let code = q["code"].clone();

    let token_url = format!("{}/token", b.issuer);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    let rp = reqwest::Client::new();
    let res = rp
        .post(&token_url)
        .basic_auth("demo-rp", Some("demo-rp-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(id_token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["phone_number"], "+4712345678");
    assert_eq!(claims["phone_number_verified"], true);
    assert_eq!(claims["nonce"], "rp-nonce");
    assert_eq!(claims["aud"], "demo-rp");

    // Single use.
    let again = rp
        .post(&token_url)
        .basic_auth("demo-rp", Some("demo-rp-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    let err: Value = again.json().await.unwrap();
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test]
async fn a_declined_login_returns_access_denied_to_the_client() {
    let b = bridge().await;
    let browser = browser();
    let (wait, auth_req_id) = operator_starts(
        &b,
        &browser,
        &s256("another-verifier-of-enough-length-0123456789"),
    )
    .await;
    let q = phone_answers(&b, &browser, &wait, &auth_req_id, "deny").await;
    assert_eq!(q["error"], "access_denied");
    assert!(!q.contains_key("code"));
}

/// The simulator's login requests so far.
async fn sim_requests(b: &Bridge) -> usize {
    let requests: Value = reqwest::get(b.sim.join("/_sim/requests").unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    requests.as_array().unwrap().len()
}

#[tokio::test]
async fn after_a_decline_no_way_in_pushes_to_the_number_again_at_once() {
    let b = bridge().await;
    let browser = browser();
    let challenge = s256("a-third-verifier-of-enough-length-0123456789");
    let (wait, auth_req_id) = operator_starts(&b, &browser, &challenge).await;
    let q = phone_answers(&b, &browser, &wait, &auth_req_id, "deny").await;
    assert_eq!(q["error"], "access_denied");
    let pushes = sim_requests(&b).await;

    // The operator types the number again at once: the layer refuses (cool-down), and
    // the browser is not sent to a waiting page.
    let (_, res) = operator_types_number(&b, &browser, &challenge).await;
    let waits = res.status() == 303 && location(&res).contains("/operator/wait");
    assert!(!waits, "{}", res.status());

    // A relying party asks by CIBA for the same number: the same limits, in the same
    // store, refuse it too.
    let res = reqwest::Client::new()
        .post(format!("{}/bc-authorize", b.issuer))
        .basic_auth("demo-rp", Some("demo-rp-secret"))
        .form(&[("scope", "openid phone"), ("login_hint", "+4712345678")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "access_denied", "{err}");
    assert_eq!(sim_requests(&b).await, pushes, "no push after the decline");
}
