//! The operator pages are for signed-in staff only: nobody without a staff sign-in
//! reaches "type a number", starts a push through the JSON API or reaches the
//! authorization-code way's operator step from `/authorize`; with Vipps credentials and no
//! staff sign-in configured the bridge does not start; wrong staff passwords are
//! throttled per source without locking out the real staff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Parser as _;
use serde_json::Value;
use url::Url;

const PASSWORD: &str = "bridge-staff-password";

struct Bridge {
    issuer: String,
    sim: Url,
}

async fn bridge(extra: &[&str]) -> Bridge {
    let mut args = vec![
        "identity-bridge",
        "--listen",
        "127.0.0.1:0",
        "--simulator",
        "--sim-interval-ms",
        "100",
    ];
    args.extend_from_slice(extra);
    let bridge = identity_bridge::app(identity_bridge::Options::parse_from(args))
        .await
        .unwrap();
    let out = Bridge {
        issuer: bridge.issuer.clone(),
        sim: bridge.sim_base.clone().unwrap(),
    };
    tokio::spawn(bridge.serve());
    out
}

/// A browser whose connections come from `source` (any 127.0.0.0/8 address is loopback).
fn browser_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn pushes(b: &Bridge) -> usize {
    let requests: Value = reqwest::get(b.sim.join("/_sim/requests").unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    requests.as_array().unwrap().len()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn without_a_staff_sign_in_nobody_reaches_the_operator_pages_or_starts_a_push() {
    let b = bridge(&["--staff-password", PASSWORD]).await;
    let anyone = browser_from("127.0.0.1");

    // The operator's page sends the browser to the staff sign-in.
    let res = anyone
        .get(format!("{}/operator/login", b.issuer))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(
        location(&res).starts_with("/staff/sign-in?return_to=%2Foperator%2Flogin"),
        "{}",
        location(&res)
    );

    // The JSON API answers 401, and no push is sent.
    for body in [
        serde_json::json!({ "phone": "4712345678" }),
        serde_json::json!({ "phone": "+47 123 45 678" }),
    ] {
        let res = anyone
            .post(format!("{}/operator/api/start", b.issuer))
            .header("x-requested-with", "fetch")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "staff_only");
    }
    // The form way too.
    let res = anyone
        .post(format!("{}/operator/start", b.issuer))
        .form(&[("phone", "4712345678")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(pushes(&b).await, 0, "the simulator got no login request");

    // A registered client's /authorize leads to the operator step, which needs a sign-in.
    let mut authorize = Url::parse(&format!("{}/authorize", b.issuer)).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", "demo-rp")
        .append_pair("redirect_uri", "http://127.0.0.1:9/callback")
        .append_pair("response_type", "code")
        .append_pair("scope", "openid phone")
        .append_pair("state", "s")
        .append_pair("nonce", "n")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    let res = anyone.get(authorize).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let operator = Url::parse(&location(&res)).unwrap();
    assert_eq!(operator.path(), "/operator/login");
    let res = anyone
        .get(operator)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(
        location(&res).starts_with("/staff/sign-in?"),
        "{}",
        location(&res)
    );
    assert_eq!(pushes(&b).await, 0);

    // Signed in, the operator's page opens.
    let res = anyone
        .post(format!("{}/staff/sign-in", b.issuer))
        .form(&[("password", PASSWORD), ("return_to", "/operator/login")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/operator/login");
    let res = anyone
        .get(format!("{}/operator/login", b.issuer))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("csrf_token"));

    // The OpenID endpoints stay public.
    let res = anyone
        .get(format!("{}/.well-known/openid-configuration", b.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn staff_password_guesses_are_throttled_per_source_and_never_lock_out_the_staff() {
    let b = bridge(&["--staff-password", PASSWORD]).await;
    let attacker = browser_from("127.0.0.2");
    let mut statuses = Vec::new();
    for i in 0..10 {
        let res = attacker
            .post(format!("{}/operator/api/start", b.issuer))
            .header("x-requested-with", "fetch")
            .bearer_auth(format!("guess-{i}-of-the-password"))
            .json(&serde_json::json!({ "phone": "4712345678" }))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(&statuses[..6], &[401; 6], "{statuses:?}");
    assert!(statuses[6..].iter().all(|s| *s == 429), "{statuses:?}");
    for i in 0..3 {
        let res = attacker
            .post(format!("{}/staff/sign-in", b.issuer))
            .form(&[
                ("password", format!("form-guess-{i}")),
                ("return_to", "/operator/login".into()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
    }
    assert_eq!(pushes(&b).await, 0);

    // The real staff, at their own desk, sign in and operate.
    let staff = browser_from("127.0.0.3");
    let res = staff
        .post(format!("{}/staff/sign-in", b.issuer))
        .form(&[("password", PASSWORD), ("return_to", "/operator/login")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = staff
        .post(format!("{}/operator/api/start", b.issuer))
        .header("x-requested-with", "fetch")
        .json(&serde_json::json!({ "phone": "4712345678" }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    assert_eq!(pushes(&b).await, 1);
}

#[test]
fn with_vipps_credentials_and_no_staff_sign_in_the_bridge_does_not_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_identity-bridge"))
        .args(["--listen", "127.0.0.1:0"])
        .env("VIPPS_CLIENT_ID", "a-merchant-client")
        .env("VIPPS_CLIENT_SECRET", "a-merchant-secret")
        .env("VIPPS_SUBSCRIPTION_KEY", "a-subscription-key")
        .env("VIPPS_MERCHANT_SERIAL_NUMBER", "123456")
        .env_remove("STAFF_PASSWORD")
        .env_remove("STAFF_OIDC_ISSUER")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no issuer line: it did not start");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--staff-oidc-issuer") && stderr.contains("STAFF_PASSWORD"),
        "{stderr}"
    );
}

#[test]
fn staff_oidc_options_come_together() {
    let partial = identity_bridge::Options::try_parse_from([
        "identity-bridge",
        "--staff-oidc-issuer",
        "https://id.example.com/realms/staff",
    ]);
    assert!(partial.is_err());
    let whole = identity_bridge::Options::try_parse_from([
        "identity-bridge",
        "--staff-oidc-issuer",
        "https://id.example.com/realms/staff",
        "--staff-oidc-client-id",
        "bridge",
        "--staff-oidc-client-secret",
        "s",
        "--staff-oidc-group",
        "operators",
    ]);
    assert!(whole.is_ok());
}

#[test]
fn help_reads_as_the_other_binaries_do() {
    let out = Command::new(env!("CARGO_BIN_EXE_identity-bridge"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.starts_with("Vipps phone login as an OpenID provider"),
        "{help}"
    );
    assert!(
        !help.contains("```") && !help.contains("use clap"),
        "{help}"
    );
}

#[tokio::test]
async fn staff_sign_in_is_one_way_not_both() {
    let options = identity_bridge::Options::parse_from([
        "identity-bridge",
        "--listen",
        "127.0.0.1:0",
        "--simulator",
        "--staff-password",
        PASSWORD,
        "--staff-oidc-issuer",
        "http://127.0.0.1:9/realms/staff",
        "--staff-oidc-client-id",
        "identity-bridge",
        "--staff-oidc-client-secret",
        "a-secret",
        "--staff-oidc-group",
        "bridge-operators",
    ]);
    let err = identity_bridge::app(options).await.unwrap_err().to_string();
    assert!(
        err.contains("--staff-oidc-issuer") && err.contains("STAFF_PASSWORD"),
        "{err}"
    );
}
