//! Relying parties we did not write, against way 2 (authorization code with PKCE):
//!
//! - Python's `authlib`, its ID token validated by joserfc and authlib's `CodeIDToken`
//!   (script tests/interop/authlib_rp.py; Python with the packages of
//!   tests/interop/requirements.txt, installed by `cargo xtask interop` into
//!   target/interop-venv and named by `INTEROP_PYTHON`);
//! - Node's `openid-client` 6, state and nonce checked, the ID token's signature against
//!   the JWKS (script tests/interop/authcode_rp.mjs; tests/interop/node_modules from
//!   `npm ci`, the interpreter named by `INTEROP_NODE`).
//!
//! The tests play the operator page. `cargo xtask interop` runs them (they are ignored in
//! a plain `cargo test`, which has neither interpreter's packages).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::Value;
use url::Url;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One relying party: the interpreter's variable, its script, and how it words a
/// forged `state`.
struct Rp {
    interpreter: &'static str,
    script: &'static str,
    state_refused: &'static str,
}

const AUTHLIB: Rp = Rp {
    interpreter: "INTEROP_PYTHON",
    script: "authlib_rp.py",
    state_refused: "ERROR mismatching_state",
};

const OPENID_CLIENT: Rp = Rp {
    interpreter: "INTEROP_NODE",
    script: "authcode_rp.mjs",
    state_refused: "ERROR OAUTH_INVALID_RESPONSE",
};

/// Runs `rp` for `client` against the bridge; `tamper` may change the callback URL
/// before the relying party sees it. The script's last line.
async fn rp_login(
    rp: &Rp,
    b: &Bridge,
    (id, secret): (&str, &str),
    redirect: &str,
    tamper: fn(Url) -> Url,
) -> String {
    let interpreter = std::env::var(rp.interpreter)
        .unwrap_or_else(|_| panic!("{}: run through `cargo xtask interop`", rp.interpreter));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop")
        .join(rp.script);
    let mut child = Command::new(interpreter)
        .arg(script)
        .args([b.base.as_str(), id, secret, redirect])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _child = Killed(child);
    let first = tokio::task::block_in_place(|| lines.next())
        .unwrap()
        .unwrap();
    let authorize = first.strip_prefix("AUTHORIZE ").expect("AUTHORIZE line");
    let r = b.http.get(authorize).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let to = Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let back = operator_logs_in(b, &to, "4712345678").await;
    writeln!(stdin, "{}", tamper(back)).unwrap();
    tokio::task::block_in_place(|| lines.next())
        .expect("a result line")
        .unwrap()
}

async fn logs_in_with_pkce_and_validates_the_id_token(rp: &Rp) {
    let b = bridge_with(
        sim_config(),
        |l| l,
        |p| {
            p.ways(true, true)
                .operator_page("http://127.0.0.1:9/desk".parse().unwrap())
        },
    )
    .await;
    for (client, redirect, alg) in [
        (RP1, "http://127.0.0.1:8765/callback", "RS256"),
        (
            ("code-only", "code-only-secret"),
            "https://rp.example/cb",
            "ES256",
        ),
    ] {
        let out = rp_login(rp, &b, client, redirect, |u| u).await;
        let json: Value =
            serde_json::from_str(out.strip_prefix("OK ").unwrap_or_else(|| panic!("{out}")))
                .unwrap();
        assert_eq!(json["alg"], alg);
        assert_eq!(json["id_token"]["phone_number"], "+4712345678");
        assert_eq!(json["id_token"]["iss"], b.provider.issuer());
        assert_eq!(json["userinfo"]["given_name"], "Kari");
    }
}

fn replace_param(u: Url, key: &str, value: &str) -> Url {
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == key {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let mut out = u;
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out
}

async fn refuses_a_forged_state_and_the_provider_refuses_a_forged_code(rp: &Rp) {
    let b = bridge_with(
        sim_config(),
        |l| l,
        |p| {
            p.ways(true, true)
                .operator_page("http://127.0.0.1:9/desk".parse().unwrap())
        },
    )
    .await;
    let cb = "http://127.0.0.1:8765/callback";
    let out = rp_login(rp, &b, RP1, cb, |u| {
        replace_param(u, "state", "forged-state")
    })
    .await;
    assert_eq!(out, rp.state_refused);
    let out = rp_login(rp, &b, RP1, cb, |u| {
        replace_param(u, "code", &"A".repeat(43))
    })
    .await;
    assert_eq!(out, "ERROR invalid_grant");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Python with authlib: run by `cargo xtask interop`"]
async fn authlib_logs_in_with_pkce_and_validates_the_id_token() {
    logs_in_with_pkce_and_validates_the_id_token(&AUTHLIB).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Python with authlib: run by `cargo xtask interop`"]
async fn authlib_refuses_a_forged_state_and_the_provider_refuses_a_forged_code() {
    refuses_a_forged_state_and_the_provider_refuses_a_forged_code(&AUTHLIB).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Node with openid-client: run by `cargo xtask interop`"]
async fn openid_client_logs_in_with_pkce_and_validates_the_id_token() {
    logs_in_with_pkce_and_validates_the_id_token(&OPENID_CLIENT).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Node with openid-client: run by `cargo xtask interop`"]
async fn openid_client_refuses_a_forged_state_and_the_provider_refuses_a_forged_code() {
    refuses_a_forged_state_and_the_provider_refuses_a_forged_code(&OPENID_CLIENT).await;
}
