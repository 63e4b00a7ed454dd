//! The workspace's simulator-driven benchmarks, as `cargo bench -p vipps-login-benches`
//! (or `cargo xtask bench`, which runs every benchmark against its baseline):
//!
//! - `pending_logins`: many concurrent pending logins on one instance's poller against
//!   the in-process simulator (poll lateness, memory per login, upstream requests).
//! - `layer_overhead`: a logged-in request through `VippsLoginLayer` beside axum-login +
//!   tower-sessions and bare axum.
//! - `redis`: round trips per login, and a logged-in request on Redis against memory.
//! - `provider_vs_oidc_provider`: the identity bridge's OpenID provider (discovery, JWKS,
//!   the token endpoint on its real paths) beside Node's `oidc-provider`, in requests per
//!   second and CPU per request, with `wrk` as the external load generator ([`wrk`]).
//!
//! The library is empty; it exists so that these benches live in a crate of their own
//! and neither `vipps-login-core` nor `vipps-login-tower` depends on the simulator.

pub mod measure;
pub mod monitor;
pub mod sim;
pub mod wrk;

use axum::Router;
use axum::body::Body;
use http::{Request, header};
use tower::ServiceExt as _;

/// The `name=value` of the response's first `Set-Cookie`.
///
/// # Panics
/// When there is none (a bench set-up that went wrong).
#[must_use]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub fn cookie_of(res: &http::Response<Body>) -> String {
    let set = res.headers()[header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// Logs `phone` in through the layer's JSON API of `app` (its simulator approves by
/// itself) and returns the logged-in session cookie.
///
/// # Panics
/// When the login does not complete (a bench set-up that went wrong).
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub async fn log_in(app: &Router, phone: &str) -> String {
    let res = app
        .clone()
        .oneshot(
            Request::post("/auth/vipps/api/start")
                .header("x-requested-with", "bench")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(format!(r#"{{"phone":"{phone}"}}"#)))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let first = cookie_of(&res);
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let started: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let status_url = started["status_url"].as_str().unwrap().to_owned();
    for _ in 0..500 {
        let res = app
            .clone()
            .oneshot(
                Request::get(&status_url)
                    .header(header::COOKIE, &first)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        if res.headers().contains_key(header::SET_COOKIE) {
            return cookie_of(&res);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the bench login never completed");
}
