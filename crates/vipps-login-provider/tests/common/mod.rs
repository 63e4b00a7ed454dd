//! Shared harness of the provider's tests: the simulator and a core client on it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod proxy;
pub mod way2;

use std::time::Duration;

use vipps_login_core::{ClientAuth, Config, Issuer, MemoryStore, Secret, VippsClient};
use vipps_login_sim::{SimConfig, SimHandle, Simulator};

pub const KARI: &str = "4712345678";
pub const OLA: &str = "4798765432";
pub const NO_ACCOUNT: &str = "4711111111";
pub const OLD_APP: &str = "4733333333";
/// Kari's number as a client sends it (E.164).
pub const KARI_HINT: &str = "+4712345678";

/// A backchannel form for `hint` with scope `openid phone`, plus `extra`.
pub fn start_form<'a>(hint: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![("scope", "openid phone"), ("login_hint", hint)];
    f.extend_from_slice(extra);
    f
}

pub fn sim_config() -> SimConfig {
    SimConfig::default()
        .interval(Duration::from_millis(50))
        .slow_down_step(Duration::from_millis(50))
        .expires_in(Duration::from_secs(30))
}

pub async fn sim() -> SimHandle {
    Simulator::start(sim_config()).await.unwrap()
}

pub fn vipps_client(sim: &SimHandle) -> VippsClient {
    vipps_client_on(sim, Arc::new(MemoryStore::new()))
}

/// A core client on `sim` keeping its (and the provider's) records in `store`.
pub fn vipps_client_on(sim: &SimHandle, store: Arc<MemoryStore>) -> VippsClient {
    let config = Config::builder(
        Issuer::Custom(sim.issuer()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
    .client_auth(ClientAuth::Basic)
    .build()
    .unwrap();
    VippsClient::with_store(config, store).unwrap()
}

/// Approves the newest pending request of `msisdn` on the simulated phone.
pub async fn approve(sim: &SimHandle, msisdn: &str) {
    let r = sim
        .wait_for_pending(msisdn, Duration::from_secs(5))
        .await
        .expect("a pending request");
    sim.approve(&r.auth_req_id).await.unwrap();
}

/// Denies the newest pending request of `msisdn`.
pub async fn deny(sim: &SimHandle, msisdn: &str) {
    let r = sim
        .wait_for_pending(msisdn, Duration::from_secs(5))
        .await
        .expect("a pending request");
    sim.deny(&r.auth_req_id).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// The provider served on 127.0.0.1 with the simulator behind it.

use std::sync::Arc;

use vipps_login_provider::{
    ClientRegistry, LoginCheck, PhoneLogin, Provider, ProviderBuilder, StartRequest,
    VippsPhoneLogin, parse_login_hint,
};

pub const CLIENTS: &str = r#"
[[clients]]
client_id = "rp-1"
client_secret = "rp-1-secret"
grant_types = ["urn:openid:params:grant-type:ciba", "authorization_code"]
redirect_uris = ["http://127.0.0.1/callback"]
loopback_any_port = true

[[clients]]
client_id = "rp-2"
client_secret = "rp-2-secret"
grant_types = ["urn:openid:params:grant-type:ciba"]
scopes = ["openid", "phone"]
id_token_signed_response_alg = "ES256"

[[clients]]
client_id = "spa"
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1/cb"]
loopback_any_port = true

[[clients]]
client_id = "no-pkce"
client_secret = "no-pkce-secret"
grant_types = ["authorization_code"]
redirect_uris = ["https://rp.example/legacy"]
# A platform that cannot send PKCE: the registry's opt-out.
require_pkce = false

[[clients]]
client_id = "code-only"
client_secret = "code-only-secret"
grant_types = ["authorization_code"]
redirect_uris = ["https://rp.example/cb"]
id_token_signed_response_alg = "ES256"
"#;

pub struct Bridge {
    pub base: String,
    pub sim: SimHandle,
    pub provider: Provider,
    pub login: VippsPhoneLogin,
    pub http: reqwest::Client,
    /// The store the login and the provider keep their records in.
    pub store: Arc<MemoryStore>,
}

/// The simulator, the SPI over it and a provider built by `configure`, served.
pub async fn bridge_with(
    sim_config: SimConfig,
    login: impl FnOnce(VippsPhoneLogin) -> VippsPhoneLogin,
    configure: impl FnOnce(ProviderBuilder) -> ProviderBuilder,
) -> Bridge {
    let sim = Simulator::start(sim_config).await.unwrap();
    bridge_on(sim, login, configure).await
}

/// The SPI over `sim` and a provider built by `configure`, served.
pub async fn bridge_on(
    sim: SimHandle,
    login: impl FnOnce(VippsPhoneLogin) -> VippsPhoneLogin,
    configure: impl FnOnce(ProviderBuilder) -> ProviderBuilder,
) -> Bridge {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(MemoryStore::new());
    let login = login(VippsPhoneLogin::new(vipps_client_on(&sim, store.clone())));
    let records = login.records();
    let provider = configure(
        Provider::builder(
            base.parse().unwrap(),
            ClientRegistry::from_toml(CLIENTS).unwrap(),
            Arc::new(login.clone()),
            records,
        )
        .poll_interval(Duration::from_secs(1)),
    )
    .build()
    .unwrap();
    let app = provider.router();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Bridge {
        base,
        sim,
        provider,
        login,
        http,
        store,
    }
}

pub async fn bridge() -> Bridge {
    bridge_with(sim_config(), |l| l, |b| b).await
}

impl Bridge {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs `path` (with a bearer token when given); the body as JSON.
    pub async fn get_json(&self, path: &str, bearer: Option<&str>) -> serde_json::Value {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    /// POSTs a form with `client_secret_basic`.
    pub async fn post_basic(
        &self,
        path: &str,
        (id, secret): (&str, &str),
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .basic_auth(id, Some(secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Starts a CIBA login as `client`; the JSON answer and status.
    pub async fn bc_authorize(
        &self,
        client: (&str, &str),
        form: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let r = self.post_basic("/bc-authorize", client, form).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// Polls the token endpoint once as `client`.
    pub async fn poll(&self, client: (&str, &str), auth_req_id: &str) -> reqwest::Response {
        self.post_basic(
            "/token",
            client,
            &[
                ("grant_type", "urn:openid:params:grant-type:ciba"),
                ("auth_req_id", auth_req_id),
            ],
        )
        .await
    }
}

pub const RP1: (&str, &str) = ("rp-1", "rp-1-secret");
pub const RP2: (&str, &str) = ("rp-2", "rp-2-secret");

/// Asserts an OAuth error answer; returns its description.
pub async fn oauth_error(r: reqwest::Response, status: u16, error: &str) -> String {
    assert_eq!(r.status().as_u16(), status, "status for {error}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    body["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Way 2's operator page, played by the test: given the browser's redirect from
/// /authorize, logs `msisdn` in for that authorization request (its scopes, nonce and
/// subject type), approves on the simulated phone and completes; the redirect back to
/// the client (`redirect_uri?code&state&iss`).
pub async fn operator_logs_in(b: &Bridge, to_operator: &url::Url, msisdn: &str) -> url::Url {
    let authz = to_operator
        .query_pairs()
        .find(|(k, _)| k == "authorization")
        .expect("?authorization=")
        .1
        .into_owned();
    let pending = b.provider.authorization(&authz).await.expect("pending");
    let started = b
        .login
        .start(
            StartRequest::new(
                &pending.client_id,
                parse_login_hint(&format!("+{msisdn}")).unwrap(),
                pending.scopes.clone(),
            )
            .nonce(pending.nonce.clone())
            .subject_type(pending.subject_type),
        )
        .await
        .unwrap();
    approve(&b.sim, msisdn).await;
    while let LoginCheck::Pending = b
        .login
        .check(&started.handle, &pending.client_id)
        .await
        .unwrap()
    {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let approved = b
        .login
        .redeem(&started.handle, &pending.client_id)
        .await
        .unwrap();
    b.provider
        .complete_authorization(&authz, approved)
        .await
        .unwrap()
}
