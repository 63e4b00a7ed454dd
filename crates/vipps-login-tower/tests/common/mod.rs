//! Shared harness: the simulator, a tiny axum app behind the layer, cookie-jar clients.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use reqwest::redirect::Policy as RedirectPolicy;
use url::Url;
use vipps_login_core::{ClientAuth, Config, Issuer, Secret, VippsClient};
use vipps_login_sim::{SimConfig, SimHandle, Simulator};
use vipps_login_tower::{RequireVippsLogin, VippsLoginLayer, VippsLoginLayerBuilder, VippsUser};

pub const KARI: &str = "4712345678";
pub const OLA: &str = "4798765432";
pub const NO_ACCOUNT: &str = "4711111111";
pub const OLD_APP: &str = "4733333333";

pub struct TestApp {
    pub base: Url,
    pub sim: SimHandle,
}

pub fn sim_config() -> SimConfig {
    SimConfig::default()
        .interval(Duration::from_millis(50))
        .slow_down_step(Duration::from_millis(50))
        .expires_in(Duration::from_secs(30))
}

pub fn vipps_client(sim: &SimHandle) -> VippsClient {
    let config = Config::builder(
        Issuer::Custom(sim.issuer()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
    .client_auth(ClientAuth::Basic)
    .webhook_secret(Secret::new(WEBHOOK_SECRET))
    .build()
    .unwrap();
    VippsClient::new(config).unwrap()
}

/// The webhook secret of the tests' client (pings are signed with it).
pub const WEBHOOK_SECRET: &str = "tower-tests-webhook-secret";

async fn home(user: Option<VippsUser>) -> String {
    match user {
        Some(u) => format!(
            "hello {} ({})",
            u.userinfo().name.clone().unwrap_or_default(),
            u.account_id()
        ),
        None => "anonymous".to_owned(),
    }
}

async fn member(user: VippsUser) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "sub": user.sub(),
        "account_id": user.account_id(),
        "name": user.userinfo().name,
        "csrf_token": user.csrf_token(),
    }))
}

/// Starts the simulator and an axum app (`/`, guarded `/member`, `/welcome`) behind a
/// layer configured by `configure` (the prefix is the default `/auth/vipps`).
pub async fn start_app_with(
    sim_config: SimConfig,
    configure: impl FnOnce(VippsLoginLayerBuilder, &Url) -> VippsLoginLayerBuilder,
) -> TestApp {
    let sim = Simulator::start(sim_config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = Url::parse(&format!("http://{addr}/")).unwrap();
    let layer = configure(
        VippsLoginLayer::builder(vipps_client(&sim)).cookie_key(cookie::Key::generate()),
        &base,
    )
    .build()
    .unwrap();
    let app = Router::new()
        .route("/", get(home))
        .route("/welcome", get(home))
        .merge(
            Router::new()
                .route("/member", get(member))
                .route_layer(RequireVippsLogin::layer()),
        )
        .layer(layer);
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    TestApp { base, sim }
}

pub async fn start_app(
    configure: impl FnOnce(VippsLoginLayerBuilder, &Url) -> VippsLoginLayerBuilder,
) -> TestApp {
    start_app_with(sim_config(), configure).await
}

/// A browser: cookie store on, redirects not followed (tests look at each hop).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(RedirectPolicy::none())
        .build()
        .unwrap()
}

/// GETs `url` with browser `b`.
pub async fn http_get(b: &reqwest::Client, url: impl reqwest::IntoUrl) -> reqwest::Response {
    b.get(url).send().await.unwrap()
}

/// GETs `url` with one extra request header (`accept`, `cookie`, ...).
pub async fn get_with(
    b: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    (name, value): (&str, &str),
) -> reqwest::Response {
    b.get(url).header(name, value).send().await.unwrap()
}

/// GETs `url`; the body as text, whatever the status.
pub async fn get_text(b: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    http_get(b, url).await.text().await.unwrap()
}

/// GETs `url`; the body as JSON, whatever the status.
pub async fn get_json(b: &reqwest::Client, url: impl reqwest::IntoUrl) -> serde_json::Value {
    http_get(b, url).await.json().await.unwrap()
}

/// POSTs a form to `url`.
pub async fn post_form<T: serde::Serialize + ?Sized>(
    b: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    form: &T,
) -> reqwest::Response {
    b.post(url).form(form).send().await.unwrap()
}

/// POSTs to a JSON API route with `x-requested-with: {requested_with}` and, when given,
/// a JSON body.
pub async fn api_post(
    b: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    requested_with: &str,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let mut req = b.post(url).header("x-requested-with", requested_with);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> Url {
        self.base.join(path.trim_start_matches('/')).unwrap()
    }

    /// GETs the login page and returns its CSRF token.
    pub async fn csrf(&self, b: &reqwest::Client) -> String {
        csrf_from(&get_text(b, self.url("/auth/vipps/login")).await)
    }

    /// Posts the start form; returns the response (303 to the wait page on success).
    pub async fn start_form(
        &self,
        b: &reqwest::Client,
        phone: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let token = self.csrf(b).await;
        let mut form = vec![("phone", phone), ("csrf_token", token.as_str())];
        form.extend_from_slice(extra);
        post_form(b, self.url("/auth/vipps/start"), &form).await
    }

    /// Starts a login through the form and returns the login id (from the redirect).
    pub async fn start_login(&self, b: &reqwest::Client, phone: &str) -> String {
        let res = self.start_form(b, phone, &[]).await;
        assert_eq!(res.status(), 303, "start should redirect to the wait page");
        login_id_from_location(&location(&res))
    }

    /// The simulator's pending request for `msisdn` (waits briefly for it).
    pub async fn pending(&self, msisdn: &str) -> vipps_login_sim::SimRequest {
        self.sim
            .wait_for_pending(msisdn, Duration::from_secs(5))
            .await
            .expect("a pending request at the simulator")
    }

    /// Polls `GET wait/{id}` until it is no longer the waiting page; returns that answer.
    pub async fn wait_until_done(&self, b: &reqwest::Client, id: &str) -> Page {
        for _ in 0..300 {
            let res = http_get(b, self.url(&format!("/auth/vipps/wait/{id}"))).await;
            let page = Page::read(res).await;
            if page.status != 200 || !page.body.contains("id=\"binding-message\"") {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("login {id} did not finish");
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Page {
    pub async fn read(res: reqwest::Response) -> Page {
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let location = header("location");
        let retry_after = header("retry-after");
        let set_cookies = set_cookies(&res);
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        Page {
            status,
            location,
            set_cookies,
            retry_after,
            body,
        }
    }

    pub fn result(&self) -> Option<String> {
        result_status(&self.body)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

pub fn csrf_from(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("csrf field") + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_owned()
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

pub fn login_id_from_location(location: &str) -> String {
    location
        .strip_prefix("/auth/vipps/wait/")
        .expect("a wait-page location")
        .to_owned()
}

/// The `data-status` of the `#result` section of a result page.
pub fn result_status(html: &str) -> Option<String> {
    let start = html.find("id=\"result\" data-status=\"")? + "id=\"result\" data-status=\"".len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

pub fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}
