//! The binary as a newcomer runs it: no Vipps credentials, the simulator in process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn prints_issuer_and_simulator_and_serves_a_ciba_login_for_the_demo_client() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_identity-bridge"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--sim-interval-ms",
            "100",
            "--sim-auto-approve-ms",
            "200",
        ])
        .env_remove("VIPPS_CLIENT_ID")
        .env_remove("STAFF_PASSWORD")
        .env_remove("STAFF_OIDC_ISSUER")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let child = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut next = || lines.next().expect("a line").expect("utf-8");
    let issuer = next()
        .strip_prefix("issuer: ")
        .expect("issuer: first")
        .to_owned();
    let sim = next()
        .strip_prefix("sim: ")
        .expect("sim: second")
        .to_owned();
    let phone = next()
        .strip_prefix("phone: ")
        .expect("phone: third")
        .to_owned();
    // No staff sign-in configured: the operator pages' password for this run, said loudly.
    let staff_password = next()
        .strip_prefix("staff-password: ")
        .expect("staff-password: fourth")
        .to_owned();
    assert!(staff_password.len() >= 12, "{staff_password}");
    assert!(
        issuer.starts_with("http://127.0.0.1:") && !issuer.ends_with('/'),
        "{issuer}"
    );
    assert!(
        sim.starts_with("http://127.0.0.1:") && sim != issuer,
        "{sim}"
    );
    assert!(phone.ends_with("/_sim/phone/4712345678"), "{phone}");

    let http = reqwest::Client::new();
    let disco: Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disco["issuer"], issuer.as_str());
    let bc = disco["backchannel_authentication_endpoint"]
        .as_str()
        .unwrap();
    let token = disco["token_endpoint"].as_str().unwrap();
    for (id, secret) in [
        ("demo-rp", "demo-rp-secret"),
        ("demo-rp-2", "demo-rp-2-secret"),
    ] {
        let started: Value = http
            .post(bc)
            .basic_auth(id, Some(secret))
            .form(&[
                ("scope", "openid profile phone"),
                ("login_hint", "+4712345678"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let auth_req_id = started["auth_req_id"].as_str().expect("auth_req_id");
        let mut tokens = Value::Null;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let r = http
                .post(token)
                .basic_auth(id, Some(secret))
                .form(&[
                    ("grant_type", "urn:openid:params:grant-type:ciba"),
                    ("auth_req_id", auth_req_id),
                ])
                .send()
                .await
                .unwrap();
            tokens = r.json().await.unwrap();
            if tokens["error"] != "authorization_pending" {
                break;
            }
        }
        let at = tokens["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{tokens}"));
        let info: Value = http
            .get(disco["userinfo_endpoint"].as_str().unwrap())
            .bearer_auth(at)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["given_name"], "Kari", "{info}");
        assert_eq!(info["phone_number"], "+4712345678");
    }

    drop(child);
    let mut stderr = String::new();
    stderr_pipe.read_to_string(&mut stderr).unwrap();
    assert!(stderr.contains("SIMULATOR MODE"), "{stderr}");
    assert!(
        stderr.contains("demo-rp-secret"),
        "the demo clients are named"
    );
}

#[test]
fn hash_secret_prints_a_hash_the_config_accepts() {
    let out = Command::new(env!("CARGO_BIN_EXE_identity-bridge"))
        .args(["--hash-secret", "a-long-random-client-secret"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let config = identity_bridge::BridgeConfig::parse(&format!(
        "[[clients]]\nclient_id = \"x\"\nclient_secret_hash = \"{hash}\"\ngrant_types = [\"urn:openid:params:grant-type:ciba\"]\n"
    ))
    .unwrap();
    assert!(
        config
            .registry
            .authenticate("x", "a-long-random-client-secret")
            .is_some()
    );
    assert!(config.registry.authenticate("x", "another").is_none());
}

#[test]
fn a_bad_config_file_stops_the_start_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("bridge-bad-{}", std::process::id()));
    std::fs::write(
        &dir,
        "[[clients]]\nclient_id = \"x\"\ngrant_types = [\"password\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_identity-bridge"))
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&dir)
        .env_remove("VIPPS_CLIENT_ID")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&dir);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown grant type"), "{err}");
}

#[tokio::test]
async fn a_public_url_with_a_path_is_the_issuer_and_the_endpoints_live_under_it() {
    use clap::Parser as _;
    let options = identity_bridge::Options::parse_from([
        "identity-bridge",
        "--listen",
        "127.0.0.1:0",
        "--simulator",
        "--public-url",
        "http://127.0.0.1:9/vipps/",
    ]);
    let bridge = identity_bridge::app(options).await.unwrap();
    assert_eq!(bridge.issuer, "http://127.0.0.1:9/vipps");
    let addr = bridge.local_addr().unwrap();
    tokio::spawn(bridge.serve());
    let http = reqwest::Client::new();
    let disco: Value = http
        .get(format!(
            "http://{addr}/vipps/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disco["issuer"], "http://127.0.0.1:9/vipps");
    assert_eq!(disco["token_endpoint"], "http://127.0.0.1:9/vipps/token");
    let jwks = http
        .get(format!("http://{addr}/vipps/jwks"))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    let root = http
        .get(format!("http://{addr}/jwks"))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 404);
}
