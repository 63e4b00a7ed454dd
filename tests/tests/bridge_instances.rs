//! Two `identity-bridge` instances (real processes) behind one issuer, on one real Redis
//! and one standalone simulator: a token issued by one verifies with the JWKS the other
//! serves; both restarted, tokens issued before still verify and `/userinfo` still
//! answers; a key rotation reaches the other instance within a second; an instance
//! killed mid-login (CIBA), the login completes through the other; and Redis holds none
//! of the customer's data readable.
//!
//! Needs `redis-server` and `redis-cli` (or `REDIS_SERVER` / `REDIS_CLI`) and the
//! binaries in `target/debug` (`cargo build -p vipps-login-sim -p identity-bridge`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use url::Url;
use vipps_login_tests::cluster::{App, Cluster};
use vipps_login_tests::device::until;
use vipps_login_tests::procs::free_port;

const CIBA: &str = "urn:openid:params:grant-type:ciba";
const RP: (&str, &str) = ("demo-rp", "demo-rp-secret");
const KARI: &str = "4712345678";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

fn at(app: &App, path: &str) -> Url {
    app.url.join(path).unwrap()
}

/// One issuer, two instances.
fn two_bridges(extra: &[&str]) -> (Cluster, Url) {
    let mut cluster = Cluster::empty();
    let port = free_port();
    let issuer = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let a = cluster.identity_bridge(&issuer, port, extra);
    let b = cluster.identity_bridge(&issuer, free_port(), extra);
    cluster.apps.extend([a, b]);
    (cluster, issuer)
}

/// `POST /bc-authorize` on `app` for `msisdn`: the `auth_req_id`.
async fn bc_authorize(app: &App, msisdn: &str) -> String {
    let hint = format!("+{msisdn}");
    let r = http()
        .post(at(app, "bc-authorize"))
        .basic_auth(RP.0, Some(RP.1))
        .form(&[
            ("scope", "openid phone profile"),
            ("login_hint", hint.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["auth_req_id"].as_str().unwrap().to_owned()
}

/// Polls `app`'s token endpoint until the tokens come.
async fn tokens(app: &App, auth_req_id: &str) -> Value {
    until(Duration::from_secs(20), "the CIBA tokens", || async {
        let r = http()
            .post(at(app, "token"))
            .basic_auth(RP.0, Some(RP.1))
            .form(&[("grant_type", CIBA), ("auth_req_id", auth_req_id)])
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        let body: Value = r.json().await.ok()?;
        match (status, body["error"].as_str()) {
            (200, _) => Some(body),
            (400, Some("authorization_pending" | "slow_down")) => {
                tokio::time::sleep(Duration::from_millis(1100)).await;
                None
            }
            other => panic!("token endpoint: {other:?} {body}"),
        }
    })
    .await
    .0
}

/// A CIBA login of Kari started on `start`, approved, tokens fetched from `poll`.
async fn login(cluster: &Cluster, start: &App, poll: &App) -> Value {
    let id = bc_authorize(start, KARI).await;
    let req = cluster.sim.pending(KARI).await;
    assert_eq!(cluster.sim.approve(&req).await.0, 200);
    tokens(poll, &id).await
}

async fn jwks(app: &App) -> (JwkSet, Option<String>) {
    let r = http().get(at(app, "jwks")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cache = r
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.json().await.unwrap(), cache)
}

async fn kids(app: &App) -> Vec<String> {
    jwks(app)
        .await
        .0
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect()
}

/// Verifies `id_token` (signature, issuer, audience, expiry) with the JWKS `app` serves.
async fn verify_with(app: &App, issuer: &Url, id_token: &str) -> Result<Value, String> {
    let header = decode_header(id_token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let (set, _) = jwks(app).await;
    let jwk = set
        .find(&kid)
        .ok_or_else(|| format!("kid {kid} not in {}'s JWKS", app.url))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[issuer.as_str().trim_end_matches('/')]);
    v.set_audience(&[RP.0]);
    decode::<Value>(id_token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

async fn userinfo(app: &App, access_token: &str) -> (u16, Value) {
    let r = http()
        .get(at(app, "userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_one_instance_verify_on_the_other_and_after_restarts() {
    let (mut cluster, issuer) = two_bridges(&[]);
    let (a, b) = (&cluster.apps[0], &cluster.apps[1]);
    assert_eq!(kids(a).await, kids(b).await, "one JWKS for both instances");
    let (_, cache) = jwks(b).await;
    let cache = cache.expect("the JWKS says how long to cache it");
    assert!(cache.contains("max-age="), "{cache}");

    let auth_req_id = bc_authorize(a, KARI).await;
    let req = cluster.sim.pending(KARI).await;
    assert_eq!(cluster.sim.approve(&req).await.0, 200);
    let t = tokens(a, &auth_req_id).await;
    let id_token = t["id_token"].as_str().unwrap().to_owned();
    let access = t["access_token"].as_str().unwrap().to_owned();
    let claims = verify_with(b, &issuer, &id_token).await.unwrap();
    assert_eq!(claims["phone_number"], format!("+{KARI}"));
    let (status, info) = userinfo(b, &access).await;
    assert_eq!(
        (status, info["phone_number"].as_str()),
        (200, Some("+4712345678"))
    );

    // Redis holds nothing readable of Kari, and no key names a token or auth_req_id.
    let contents = cluster.redis.raw_contents();
    assert!(
        contents.iter().filter(|(k, _)| k.contains(":vlp:")).count() >= 2,
        "the provider's records are in Redis: {:?}",
        contents.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    for (key, value) in contents {
        for plain in ["4712345678", "Nordmann", "Kari", &access, &auth_req_id] {
            assert!(
                !key.contains(plain) && !value.windows(plain.len()).any(|w| w == plain.as_bytes()),
                "`{plain}` readable in Redis under {key}"
            );
        }
    }

    // Both restarted: the tokens issued before still verify, and userinfo still answers.
    let ports: Vec<u16> = cluster.apps.iter().map(|a| a.url.port().unwrap()).collect();
    cluster.apps.clear();
    for port in ports {
        let app = cluster.identity_bridge(&issuer, port, &[]);
        cluster.apps.push(app);
    }
    for app in &cluster.apps {
        let claims = verify_with(app, &issuer, &id_token).await.unwrap();
        assert_eq!(claims["phone_number"], format!("+{KARI}"));
        let (status, info) = userinfo(app, &access).await;
        assert_eq!(status, 200, "{info}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_started_on_an_instance_that_dies_completes_on_the_other() {
    let (mut cluster, issuer) = two_bridges(&[]);
    let id = bc_authorize(&cluster.apps[0], KARI).await;
    let req = cluster.sim.pending(KARI).await;
    cluster.apps[0].proc.kill();
    assert_eq!(cluster.sim.approve(&req).await.0, 200);
    let b = &cluster.apps[1];
    let t = tokens(b, &id).await;
    let claims = verify_with(b, &issuer, t["id_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims["phone_number"], format!("+{KARI}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_reaches_the_other_instance_within_a_second() {
    // The shortest period the bridge takes; one of the two rotates when it is due.
    let (cluster, issuer) = two_bridges(&["--key-rotation-secs", "60"]);
    let (a, b) = (&cluster.apps[0], &cluster.apps[1]);
    let before = kids(a).await;
    assert_eq!(before, kids(b).await);
    let t = login(&cluster, a, b).await;
    let old_token = t["id_token"].as_str().unwrap().to_owned();

    let ((first, other), _) = until(Duration::from_secs(120), "a rotation", || async {
        let (ka, kb) = (kids(a).await, kids(b).await);
        if ka != before {
            Some((ka, b))
        } else if kb != before {
            Some((kb, a))
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            None
        }
    })
    .await;
    let seen = Instant::now();
    let new_kid = first.first().unwrap().clone();
    assert!(!before.contains(&new_kid));
    until(
        Duration::from_secs(5),
        "the other instance's new key",
        || async { kids(other).await.contains(&new_kid).then_some(()) },
    )
    .await;
    let took = seen.elapsed();
    eprintln!("the other instance served the rotated key {took:?} after the first");
    assert!(
        took < Duration::from_secs(1),
        "the other instance served the new key after {took:?}"
    );
    assert_eq!(kids(a).await, kids(b).await, "the same JWKS again");
    assert!(kids(b).await.len() >= 4, "the old keys are still published");
    verify_with(b, &issuer, &old_token).await.unwrap();
    verify_with(a, &issuer, &old_token).await.unwrap();
}

/// Python's `authlib` logs in by authorization code with PKCE through the issuer's
/// instance (metadata, token, JWKS, userinfo), while the operator's browser does all of its
/// part on the other instance, as a load balancer may send it: the sealed authorization
/// request made by one opens on the other, the staff sign-in holds there, and the code
/// issued there is redeemed at the first. Run by `cargo xtask interop`, which provides
/// authlib (`INTEROP_PYTHON`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs authlib: run through `cargo xtask interop` (INTEROP_PYTHON)"]
async fn authlib_through_one_instance_with_the_operator_on_the_other() {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::process::{Command, Stdio};

    let python =
        std::env::var("INTEROP_PYTHON").expect("INTEROP_PYTHON: run through `cargo xtask interop`");
    let (cluster, issuer) = two_bridges(&[]);
    let other = &cluster.apps[1];
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/authlib_rp.py");
    let mut rp = Command::new(python)
        .arg(script)
        .args([
            issuer.as_str().trim_end_matches('/'),
            RP.0,
            RP.1,
            "http://127.0.0.1:9/callback",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = rp.stdin.take().unwrap();
    let mut lines = BufReader::new(rp.stdout.take().unwrap()).lines();
    let first = tokio::task::block_in_place(|| lines.next())
        .unwrap()
        .unwrap();
    let authorize = Url::parse(first.strip_prefix("AUTHORIZE ").expect(&first)).unwrap();
    assert_eq!(
        authorize.port(),
        issuer.port(),
        "authlib talks to the issuer's instance"
    );

    // Every request of the operator's browser goes to the other instance.
    let port = other.url.port().unwrap();
    let there = |url: &Url| {
        let mut url = url.clone();
        url.set_port(Some(port)).unwrap();
        url
    };
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let next = |from: &Url, res: &reqwest::Response| {
        there(
            &from
                .join(res.headers()["location"].to_str().unwrap())
                .unwrap(),
        )
    };
    let to = there(&authorize);
    let res = browser.get(to.clone()).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let login = next(&to, &res);
    let res = browser
        .get(login.clone())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "no operator page without a staff sign-in"
    );
    let sign_in = next(&login, &res);
    let back = sign_in
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .unwrap()
        .1
        .into_owned();
    let res = browser
        .post(sign_in.join("/staff/sign-in").unwrap())
        .form(&[
            ("password", vipps_login_tests::device::STAFF_PASSWORD),
            ("return_to", back.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let html = browser
        .get(login.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("phone", KARI.to_owned()),
        ("csrf_token", input_value(&html, "csrf_token")),
        ("return_to", input_value(&html, "return_to")),
    ];
    let start = login.join("/operator/start").unwrap();
    let res = browser
        .post(start.clone())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let wait = next(&start, &res);
    let req = cluster.sim.pending(KARI).await;
    assert_eq!(cluster.sim.approve(&req).await.0, 200);
    let (callback, _) = until(
        Duration::from_secs(20),
        "the operator's waiting page moves on",
        || {
            let (browser, wait) = (browser.clone(), wait.clone());
            async move {
                let res = browser.get(wait.clone()).send().await.ok()?;
                if res.status() != 303 {
                    return None;
                }
                Some(
                    wait.join(res.headers()["location"].to_str().unwrap())
                        .unwrap(),
                )
            }
        },
    )
    .await;
    assert_eq!(callback.path(), "/callback", "{callback}");
    writeln!(stdin, "{callback}").unwrap();
    let last = tokio::task::block_in_place(|| lines.by_ref().map_while(Result::ok).last()).unwrap();
    let _ = rp.wait();
    let ok: Value = serde_json::from_str(last.strip_prefix("OK ").expect(&last)).unwrap();
    assert_eq!(ok["userinfo"]["phone_number"], "+4712345678", "{ok}");
}

/// The `value` of the form field `name` in `html`, with the entities the layer writes
/// decoded.
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
