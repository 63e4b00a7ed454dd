//! The untimed set-up of each round: CIBA logins started (and approved), authorization
//! codes minted, by the same means a real client, phone and operator use where the
//! server has them, through a bench-only control endpoint on oidc-provider where it has
//! no approval path of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::servers::{Kind, STAFF_PASSWORD, Server};

pub const CLIENT_ID: &str = "demo-rp";
pub const CLIENT_SECRET: &str = "demo-rp-secret";
pub const CIBA_GRANT: &str = "urn:openid:params:grant-type:ciba";
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// The PKCE verifier of every code (each side checks it against the S256 challenge).
pub const CODE_VERIFIER: &str = "bench-code-verifier-of-forty-three-characters-or-more";
/// The nonce of every authorization request (each side puts it in the ID token).
const NONCE: &str = "bench-nonce";

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub fn s256(verifier: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// A plain HTTP/1.1 client for the set-up.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// The form body of a token request that redeems `auth_req_id`.
pub fn ciba_poll(auth_req_id: &str) -> String {
    form(&[("grant_type", CIBA_GRANT), ("auth_req_id", auth_req_id)])
}

/// The form body of a token request that exchanges `code`.
pub fn code_exchange(code: &str) -> String {
    form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", CODE_VERIFIER),
    ])
}

/// Runs `work(i)` for `i` in `0..n`, `concurrency` at a time; the results in order.
async fn concurrently<T, F, Fut>(n: usize, concurrency: usize, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency.min(n.max(1)))
        .map(|_| {
            let work = work.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break done;
                    }
                    done.push((i, work(i).await));
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, t)| t).collect()
}

/// Starts `n` CIBA logins at `server` for distinct Norwegian numbers (each a Vipps user
/// of the bridge's simulator, `--sim-auto-users`); their `auth_req_id`s.
pub async fn start_ciba(server: &Server, n: usize, serial: &AtomicUsize) -> Vec<String> {
    let url = server.url(&server.backchannel);
    let name = server.kind.name();
    let first = serial.fetch_add(n, Ordering::Relaxed);
    let client = http();
    concurrently(n, 32, move |i| {
        let (http, url) = (client.clone(), url.clone());
        async move {
            let hint = format!("+479{:07}", first + i);
            let res = http
                .post(url)
                .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                .form(&[
                    ("scope", "openid phone"),
                    ("login_hint", hint.as_str()),
                    ("binding_message", "BENCH-1"),
                    ("requested_expiry", "600"),
                ])
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: CIBA start: {e}"));
            let status = res.status();
            let body: Value = res.json().await.unwrap_or_default();
            body["auth_req_id"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: CIBA start answered {status} {body}"))
                .to_owned()
        }
    })
    .await
}

/// Approves the logins just started at `server`: on the bridge, every pending request at
/// its simulator through the control API (`/_sim/requests/{id}/approve`, as the phone
/// would), then waits until the bridge's engine has fetched the tokens and userinfo of
/// each (the simulator's counters); on oidc-provider through its bench control endpoint.
pub async fn approve_ciba(server: &Server, ids: &[String]) {
    let client = http();
    match server.kind {
        Kind::OidcProvider => {
            let res = client
                .post(server.url("/_bench/ciba-approve"))
                .json(&json!({ "ids": ids }))
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            assert!(
                status.is_success(),
                "oidc-provider: approve: {status} {body}"
            );
        }
        Kind::Bridge => {
            let sim = server.sim.clone().expect("the bridge's simulator");
            let before = sim_stats(&client, &sim).await;
            let pending: Value = client
                .get(format!("{sim}/_sim/requests?status=pending"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let pending: Vec<String> = pending
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["auth_req_id"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(
                pending.len(),
                ids.len(),
                "bridge: the simulator's pending logins are not the ones just started"
            );
            let n = pending.len();
            let pending = Arc::new(pending);
            let approver = client.clone();
            concurrently(n, 32, move |i| {
                let (http, sim, pending) = (approver.clone(), sim.clone(), pending.clone());
                async move {
                    let res = http
                        .post(format!("{sim}/_sim/requests/{}/approve", pending[i]))
                        .send()
                        .await
                        .unwrap();
                    assert!(
                        res.status().is_success(),
                        "simulator approve: {}",
                        res.status()
                    );
                }
            })
            .await;
            // The engine polls each login at the simulator's interval, then fetches the
            // tokens and userinfo; a login is finished when its userinfo is fetched.
            let sim = server.sim.clone().unwrap();
            let waited = Instant::now();
            loop {
                let now = sim_stats(&client, &sim).await;
                let fetched = |s: &Value| s["userinfo"].as_u64().unwrap_or(0);
                if fetched(&now) >= fetched(&before) + n as u64 {
                    break;
                }
                assert!(
                    waited.elapsed() < Duration::from_secs(120),
                    "bridge: the engine did not finish the approved logins: {now}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // The finished record is written right after the userinfo answer.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The bridge's simulator's request counters.
pub async fn sim_stats(http: &reqwest::Client, sim: &str) -> Value {
    http.get(format!("{sim}/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `n` authorization codes for `demo-rp` (PKCE S256 of [`CODE_VERIFIER`], scope
/// `openid phone`): on the bridge by its real way, `/authorize`, the operator's login
/// page behind the staff password, the number typed, the push approved by the
/// simulator (`--sim-auto-approve-ms`), the waiting page's redirect with the code; on
/// oidc-provider minted by its bench control endpoint.
pub async fn mint_codes(server: &Server, n: usize, serial: &AtomicUsize) -> Vec<String> {
    if server.kind == Kind::OidcProvider {
        let res: Value = http()
            .post(server.url("/_bench/codes"))
            .json(&json!({ "n": n, "code_challenge": s256(CODE_VERIFIER), "nonce": NONCE }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let codes: Vec<String> = res["codes"]
            .as_array()
            .unwrap_or_else(|| panic!("oidc-provider: codes: {res}"))
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(codes.len(), n);
        return codes;
    }
    let first = serial.fetch_add(n, Ordering::Relaxed);
    let base = server.base.clone();
    let authorize = server.url(&server.authorization);
    concurrently(n, 256, move |i| {
        let (base, authorize) = (base.clone(), authorize.clone());
        async move { operator_flow(&base, &authorize, &format!("+4793{:06}", first + i)).await }
    })
    .await
}

fn location(res: &reqwest::Response) -> String {
    res.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The value of `<input ... name="NAME" value="...">` in `html`, entities decoded.
fn input_value(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no {name} on the operator's page: {html}"));
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

/// One authorization-code login through the bridge's operator step, as a staff console
/// runs it: the code the browser brings back to the client.
async fn operator_flow(base: &str, authorize: &str, phone: &str) -> String {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .unwrap();
    let staff = format!("Bearer {STAFF_PASSWORD}");
    let mut url = url::Url::parse(authorize).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid phone")
        .append_pair("state", "bench-state")
        .append_pair("nonce", NONCE)
        .append_pair("code_challenge", &s256(CODE_VERIFIER))
        .append_pair("code_challenge_method", "S256");
    let res = browser.get(url).send().await.unwrap();
    assert_eq!(res.status(), 303, "bridge: /authorize");
    let login = url::Url::parse(base)
        .unwrap()
        .join(&location(&res))
        .unwrap();
    let res = browser
        .get(login.clone())
        .header("authorization", &staff)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let status = res.status();
    let html = res.text().await.unwrap();
    assert_eq!(status, 200, "bridge: the operator's login page: {html}");
    let form = [
        ("phone", phone.to_owned()),
        ("csrf_token", input_value(&html, "csrf_token")),
        ("return_to", input_value(&html, "return_to")),
    ];
    let res = browser
        .post(login.join("/operator/start").unwrap())
        .header("authorization", &staff)
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_eq!(
        status,
        303,
        "bridge: the number typed: {}",
        res.text().await.unwrap()
    );
    let wait = login.join(&location(&res)).unwrap();
    let waited = Instant::now();
    let back = loop {
        let res = browser
            .get(wait.clone())
            .header("authorization", &staff)
            .send()
            .await
            .unwrap();
        if res.status() == 303 {
            break url::Url::parse(&location(&res)).unwrap();
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "bridge: the operator's waiting page never moved on"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    back.query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap_or_else(|| panic!("bridge: no code in {back}"))
        .1
        .into_owned()
}
