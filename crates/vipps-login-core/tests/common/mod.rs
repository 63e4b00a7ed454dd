//! Shared test harness: the in-process simulator, optionally behind a scripted proxy.
//!
//! The proxy sits where the simulator announces itself (`SimConfig::public_url`), so the
//! issuer, every endpoint and the `iss` of ID tokens point at it. It forwards to the
//! simulator, and lets a test replace token-endpoint answers, rewrite issued ID tokens
//! (signed with the test keys in `tests/fixtures`, which the proxy adds to the JWKS) and
//! record the tokens that went by.
//!
//! The keys in `tests/fixtures` are throwaway test keys, used nowhere else.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use url::Url;
use vipps_login_core::{
    ClientAuth, Config, ConfigBuilder, Issuer, LoginRequest, Msisdn, Secret, VippsClient,
};
use vipps_login_sim::{SimConfig, SimHandle, SimRequest, Simulator};

pub const RSA_PEM: &str = include_str!("../fixtures/rsa.pem");
pub const RSA_PUB_PEM: &str = include_str!("../fixtures/rsa_pub.pem");
pub const EC_PEM: &str = include_str!("../fixtures/ec.pem");
pub const TEST_JWKS: &str = include_str!("../fixtures/jwks.json");
pub const TEST_RSA_KID: &str = "test:rsa";
pub const TEST_EC_KID: &str = "test:ec";

pub const KARI: &str = "4712345678";
pub const OLA: &str = "4798765432";

/// A simulator config with short timings for tests.
pub fn fast_sim() -> SimConfig {
    SimConfig::default()
        .interval(Duration::from_millis(100))
        .slow_down_step(Duration::from_millis(100))
        .expires_in(Duration::from_secs(10))
}

/// Client config for `sim`, with short retry/slow-down timings.
pub fn config_for(sim: &SimHandle) -> ConfigBuilder {
    Config::builder(
        Issuer::Custom(sim.issuer()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
    .client_auth(ClientAuth::Basic)
    .slow_down_step(Duration::from_millis(100))
    .jwks_refetch_interval(Duration::from_secs(30))
}

pub fn client_for(sim: &SimHandle) -> VippsClient {
    VippsClient::new(config_for(sim).build().unwrap()).unwrap()
}

pub async fn sim(config: SimConfig) -> SimHandle {
    Simulator::start(config).await.unwrap()
}

/// A login request for Kari (finish in app, default scopes).
pub fn kari() -> LoginRequest {
    LoginRequest::new(Msisdn::parse(KARI).unwrap())
}

/// The simulator's pending request for `msisdn` (waits up to 2 s for it).
pub async fn pending(sim: &SimHandle, msisdn: &str) -> SimRequest {
    sim.wait_for_pending(msisdn, Duration::from_secs(2))
        .await
        .unwrap()
}

/// The `code` query parameter of a redirect URL.
pub fn code_of(url: &Url) -> Callback {
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    Callback {
        state: get("state"),
        code: get("code"),
    }
}

/// What the phone's browser brings back to the merchant in variant 2.
#[derive(Clone, Debug)]
pub struct Callback {
    pub state: String,
    pub code: String,
}

/// Completes the browser variant with `cb`: the login's id and identity.
pub async fn exchange(
    client: &VippsClient,
    cb: &Callback,
) -> Result<
    (
        vipps_login_core::LoginId,
        std::sync::Arc<vipps_login_core::Identity>,
    ),
    vipps_login_core::Error,
> {
    client
        .complete_browser(&cb.state, &cb.code)
        .await
        .map(|(view, identity)| (view.id, identity))
}

/// Approves the pending continue-in-browser request for `msisdn` at the simulator;
/// the state and code of the redirect it answers.
pub async fn approve_for_code(sim: &SimHandle, msisdn: &str) -> Callback {
    let req = pending(sim, msisdn).await;
    code_of(&sim.approve(&req.auth_req_id).await.unwrap().unwrap())
}

/// A simulator whose 20 s interval no test waits out (login expiry 60 s): a timely poll
/// only happens when a webhook ping asks for it.
pub async fn slow_polling_sim() -> SimHandle {
    sim(fast_sim()
        .interval(Duration::from_secs(20))
        .expires_in(Duration::from_secs(60)))
    .await
}

/// A client for `sim` that accepts webhooks signed with `secret`.
pub fn webhook_client(sim: &SimHandle, secret: &str) -> VippsClient {
    VippsClient::new(
        config_for(sim)
            .webhook_secret(Secret::new(secret))
            .build()
            .unwrap(),
    )
    .unwrap()
}

/// An ID-token rewrite that sets claim `key` to `value` and re-signs with the test key
/// of `alg` (ES256: the EC key, otherwise the RSA key).
pub fn resign_with(
    alg: Algorithm,
    key: &'static str,
    value: Value,
) -> impl Fn(&Map<String, Value>) -> String + Send + Sync + 'static {
    let kid = if alg == Algorithm::ES256 {
        TEST_EC_KID
    } else {
        TEST_RSA_KID
    };
    move |claims| {
        let mut c = claims.clone();
        c.insert(key.into(), value.clone());
        sign(alg, kid, &c)
    }
}

/// What the proxy does with the next token-endpoint call.
pub enum TokenAction {
    /// Answer this instead of forwarding.
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
}

type Rewrite = Box<dyn Fn(&Map<String, Value>) -> String + Send + Sync>;
type RewriteInPlace = Box<dyn Fn(&mut Value) + Send + Sync>;

#[derive(Default)]
pub struct Script {
    pub token_actions: VecDeque<TokenAction>,
    /// Rewrites the ID token of successful token answers: gets the simulator's claims,
    /// returns the token to hand out instead.
    pub rewrite_id_token: Option<Rewrite>,
    /// Rewrites successful userinfo answers in place.
    pub rewrite_userinfo: Option<RewriteInPlace>,
    /// (access_token, id_token) of every successful token answer.
    pub seen_tokens: Vec<(String, String)>,
    /// Path of every request, in order.
    pub paths: Vec<String>,
    /// When each token request arrived.
    pub token_times: Vec<std::time::Instant>,
}

#[derive(Clone)]
pub struct Proxy {
    pub script: Arc<Mutex<Script>>,
    upstream: Arc<Mutex<Option<SocketAddr>>>,
    http: reqwest::Client,
}

impl Proxy {
    pub fn push(&self, action: TokenAction) {
        self.script.lock().unwrap().token_actions.push_back(action);
    }

    pub fn respond(&self, status: u16, body: Value) {
        self.push(TokenAction::Respond {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        });
    }

    pub fn rewrite_id_token(
        &self,
        f: impl Fn(&Map<String, Value>) -> String + Send + Sync + 'static,
    ) {
        self.script.lock().unwrap().rewrite_id_token = Some(Box::new(f));
    }

    pub fn rewrite_userinfo(&self, f: impl Fn(&mut Value) + Send + Sync + 'static) {
        self.script.lock().unwrap().rewrite_userinfo = Some(Box::new(f));
    }

    pub fn seen_tokens(&self) -> Vec<(String, String)> {
        self.script.lock().unwrap().seen_tokens.clone()
    }
}

/// Starts a proxy and a simulator announcing the proxy's address.
pub async fn sim_behind_proxy(config: SimConfig) -> (SimHandle, Proxy) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let proxy = Proxy {
        script: Arc::default(),
        upstream: Arc::default(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let public = Url::parse(&format!("http://{addr}/")).unwrap();
    let sim = sim(config.public_url(public)).await;
    *proxy.upstream.lock().unwrap() = Some(sim.local_addr());
    (sim, proxy)
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let is_token = parts.uri.path().ends_with("/oauth2/token");
    let is_jwks = parts.uri.path().ends_with("/jwks.json");
    let is_userinfo = parts.uri.path().ends_with("/userinfo");
    {
        let mut s = p.script.lock().unwrap();
        s.paths.push(parts.uri.path().to_owned());
        if is_token {
            s.token_times.push(std::time::Instant::now());
        }
        if is_token
            && let Some(TokenAction::Respond {
                status,
                headers,
                body,
            }) = s.token_actions.pop_front()
        {
            let mut r = Response::builder().status(status);
            for (k, v) in headers {
                r = r.header(k, v);
            }
            return r.body(Body::from(body)).unwrap();
        }
    }
    let upstream = p.upstream.lock().unwrap().unwrap();
    let url = format!("http://{upstream}{path}");
    let mut rb = p.http.request(parts.method.clone(), &url);
    for (k, v) in &parts.headers {
        if k != http::header::HOST && k != http::header::CONTENT_LENGTH {
            rb = rb.header(k, v);
        }
    }
    let resp = match rb.body(body).send().await {
        Ok(r) => r,
        Err(_) => {
            // Mirror a dropped connection as a 502 would hide it: drop ours too.
            return Response::builder().status(599).body(Body::empty()).unwrap();
        }
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut bytes: Bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(_) => Bytes::new(),
    };
    if is_jwks && status.is_success() {
        let mut doc: Value = serde_json::from_slice(&bytes).unwrap();
        let extra: Value = serde_json::from_str(TEST_JWKS).unwrap();
        doc["keys"]
            .as_array_mut()
            .unwrap()
            .extend(extra["keys"].as_array().unwrap().iter().cloned());
        bytes = Bytes::from(doc.to_string());
    }
    if is_userinfo
        && status.is_success()
        && let Ok(mut doc) = serde_json::from_slice::<Value>(&bytes)
        && let Some(f) = &p.script.lock().unwrap().rewrite_userinfo
    {
        f(&mut doc);
        bytes = Bytes::from(doc.to_string());
    }
    if is_token
        && status.is_success()
        && let Ok(mut doc) = serde_json::from_slice::<Value>(&bytes)
    {
        let mut s = p.script.lock().unwrap();
        if let (Some(at), Some(it)) = (doc["access_token"].as_str(), doc["id_token"].as_str()) {
            s.seen_tokens.push((at.to_owned(), it.to_owned()));
            if let Some(f) = &s.rewrite_id_token {
                let claims = decode_claims(it);
                doc["id_token"] = Value::String(f(&claims));
                bytes = Bytes::from(doc.to_string());
            }
        }
    }
    let mut r = Response::builder().status(status.as_u16());
    for (k, v) in &headers {
        if k != http::header::CONTENT_LENGTH && k != http::header::TRANSFER_ENCODING {
            r = r.header(k, v);
        }
    }
    r.body(Body::from(bytes)).unwrap()
}

/// The claims of a JWT, unverified.
pub fn decode_claims(token: &str) -> Map<String, Value> {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs `claims` with a test key.
pub fn sign(alg: Algorithm, kid: &str, claims: &Map<String, Value>) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PEM.as_bytes()).unwrap(),
        _ => panic!("unsupported"),
    };
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// A raw JWS with any header, payload and signature bytes (for hostile tokens).
pub fn raw_jws(header: &Value, claims: &Map<String, Value>, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// HS256 over `header.payload`, keyed with the RSA public key PEM (the classic confusion).
pub fn hs256_with_public_key(kid: &str, claims: &Map<String, Value>) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, RSA_PUB_PEM.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Claims like the simulator's for `issuer` and `aud`.
pub fn claims(issuer: &str, aud: &str, nonce: Option<&str>) -> Map<String, Value> {
    let now = now_secs();
    let mut m = Map::new();
    m.insert("iss".into(), json!(issuer));
    m.insert("aud".into(), json!(aud));
    m.insert("sub".into(), json!("test-sub"));
    m.insert("iat".into(), json!(now));
    m.insert("exp".into(), json!(now + 600));
    if let Some(n) = nonce {
        m.insert("nonce".into(), json!(n));
    }
    m
}

/// Waits until `f` is true (polling every 10 ms), up to `timeout`.
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}
