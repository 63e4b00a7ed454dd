//! Helpers shared by the simulator's HTTP tests: a plain reqwest client, no simulator
//! internals.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use url::Url;
use vipps_login_sim::{SimConfig, SimHandle, Simulator};

pub const KARI: &str = "4712345678";
pub const OLA: &str = "4798765432";
pub const NO_ACCOUNT: &str = "4711111111";
pub const UNDER_15: &str = "4722222222";
pub const OLD_APP: &str = "4733333333";
pub const PUSH_OFF: &str = "4744444444";
pub const DANE: &str = "4587654321";
pub const FINN: &str = "358401234567";

pub const CIBA: &str = "urn:openid:params:grant-type:ciba";
pub const REDIRECT: &str = "urn:vipps:params:grant-type:ciba-redirect";

/// Short interval and slow-down step so tests never wait for real seconds.
pub fn fast() -> SimConfig {
    SimConfig::default()
        .interval(Duration::from_millis(100))
        .slow_down_step(Duration::from_millis(100))
        .expires_in(Duration::from_secs(30))
}

pub struct Env {
    pub sim: SimHandle,
    pub http: Client,
}

pub async fn start(config: SimConfig) -> Env {
    let sim = Simulator::start(config).await.unwrap();
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env { sim, http }
}

impl Env {
    pub fn url(&self, path: &str) -> Url {
        self.sim
            .base_url()
            .join(path.trim_start_matches('/'))
            .unwrap()
    }

    pub fn backchannel_url(&self) -> Url {
        self.url("vipps-login-ciba/api/backchannel/authentication")
    }

    pub fn token_url(&self) -> Url {
        self.sim.issuer().join("oauth2/token").unwrap()
    }

    pub fn userinfo_url(&self) -> Url {
        self.url("vipps-userinfo-api/userinfo")
    }

    /// POSTs a form, with client_secret_basic `(id, secret)` when given.
    pub async fn post_form_as<T: serde::Serialize + ?Sized>(
        &self,
        url: Url,
        basic: Option<(&str, &str)>,
        form: &T,
    ) -> Response {
        let mut req = self.http.post(url);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        req.form(form).send().await.unwrap()
    }

    /// GETs a URL, nothing added.
    pub async fn get(&self, url: impl reqwest::IntoUrl) -> Response {
        self.http.get(url).send().await.unwrap()
    }

    /// POSTs a form to a path without client credentials (phone page buttons).
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.post_form_as(self.url(path), None, form).await
    }

    /// POSTs a form with client_secret_basic.
    pub async fn post_basic(&self, url: Url, form: &[(&str, &str)]) -> Response {
        self.post_form_as(url, Some(("demo-client", "demo-secret")), form)
            .await
    }

    /// POSTs an empty body to a path (control API and phone buttons).
    pub async fn post_empty(&self, path: &str) -> Response {
        self.http.post(self.url(path)).send().await.unwrap()
    }

    /// GETs userinfo, with this bearer token when given.
    pub async fn userinfo(&self, bearer: Option<&str>) -> Response {
        let mut req = self.http.get(self.userinfo_url());
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }

    /// GETs userinfo with this access token; the body as JSON, whatever the status.
    pub async fn userinfo_json(&self, access_token: &str) -> Value {
        self.userinfo(Some(access_token))
            .await
            .json()
            .await
            .unwrap()
    }

    /// Exchanges a code of the continue-in-browser variant (client_secret_basic).
    pub async fn exchange_code(&self, code: &str) -> Response {
        self.post_basic(
            self.token_url(),
            &[("grant_type", REDIRECT), ("code", code)],
        )
        .await
    }

    /// Starts a login with client_secret_basic and these parameters.
    pub async fn start_raw(&self, form: &[(&str, &str)]) -> Response {
        self.post_basic(self.backchannel_url(), form).await
    }

    /// Starts a login for `msisdn` with `scope`; returns the auth_req_id.
    pub async fn start_login(&self, msisdn: &str, scope: &str) -> String {
        let hint = format!("urn:msisdn:{msisdn}");
        let r = self
            .start_raw(&[("scope", scope), ("login_hint", &hint), ("nonce", "n-1")])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        auth_req_id(r).await
    }

    /// A continue-in-browser login started with `form`, approved through the library
    /// API, its code exchanged: (auth_req_id, token response body).
    pub async fn redirect_login(&self, form: &[(&str, &str)]) -> (String, Value) {
        let id = auth_req_id(self.start_raw(form).await).await;
        let to = self.sim.approve(&id).await.unwrap().unwrap();
        let tokens = self
            .exchange_code(&code_of(&to))
            .await
            .json()
            .await
            .unwrap();
        (id, tokens)
    }

    /// One CIBA poll: (status, body).
    pub async fn poll(&self, auth_req_id: &str) -> (StatusCode, Value) {
        let r = self
            .post_basic(
                self.token_url(),
                &[("grant_type", CIBA), ("auth_req_id", auth_req_id)],
            )
            .await;
        let s = r.status();
        (s, r.json().await.unwrap())
    }

    /// Polls politely (every 150 ms) until the answer is not authorization_pending.
    pub async fn poll_until_done(&self, auth_req_id: &str) -> (StatusCode, Value) {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let (s, v) = self.poll(auth_req_id).await;
            if v["error"] != "authorization_pending" {
                return (s, v);
            }
        }
        panic!("still pending");
    }

    pub async fn approve(&self, auth_req_id: &str) -> Value {
        let r = self
            .post_empty(&format!("_sim/requests/{auth_req_id}/approve"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap())
    }

    /// A full approved finish-in-app login; the token response.
    pub async fn login(&self, msisdn: &str, scope: &str) -> Value {
        let id = self.start_login(msisdn, scope).await;
        self.approve(&id).await;
        let (s, v) = self.poll_until_done(&id).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    pub async fn jwks(&self) -> Value {
        self.get_json("access-management-1.0/access/.well-known/jwks.json")
            .await
    }
}

/// The `auth_req_id` of a start answer (the status is not checked).
pub async fn auth_req_id(r: Response) -> String {
    r.json::<Value>().await.unwrap()["auth_req_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The `code` query parameter of a redirect URL.
pub fn code_of(to: &Url) -> String {
    to.query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

/// Asserts an OAuth error answer.
pub async fn assert_error(r: Response, status: u16, error: &str) -> Value {
    let s = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert_eq!(s, status, "{v}");
    assert_eq!(v["error"], error, "{v}");
    assert!(v["error_description"].is_string(), "{v}");
    v
}
