//! The Keycloak channel against a stand-in for Keycloak's side of the contract (realm
//! JWKS, callback endpoint, token endpoint and admin API) and the Vipps simulator.
//! The same contract is exercised against a real Keycloak by `cargo xtask keycloak`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
#[path = "../../vipps-login-redis/tests/common/mod.rs"]
mod redis_harness;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RsaPublicKeyComponents};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use vipps_login_core::{ClientAuth, Config, Issuer, Secret, Store, VippsClient};
use vipps_login_keycloak::{
    AttributeLookup, KeycloakChannel, KeycloakChannelConfig, PhoneResolver,
};
use vipps_login_sim::{Endpoint, Fault, Policy, SimConfig, SimHandle, Simulator};

struct Signer {
    kid: String,
    key: EncodingKey,
    jwk: Value,
}

fn rsa_signer(kid: &str) -> Signer {
    let kp = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).unwrap();
    let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'static>>::as_der(&kp).unwrap();
    let b64 = STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let c = RsaPublicKeyComponents::<Vec<u8>>::from(kp.public_key());
    let jwk = json!({
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e),
    });
    Signer {
        kid: kid.into(),
        key,
        jwk,
    }
}

#[derive(Default)]
struct FakeState {
    jwks: Mutex<Vec<Value>>,
    certs_fetches: AtomicUsize,
    callbacks: Mutex<Vec<(String, String)>>,
    /// Statuses answered to the next callbacks before the default 200.
    callback_script: Mutex<VecDeque<u16>>,
    users: Mutex<HashMap<String, Value>>,
    admin_reads: AtomicUsize,
}

async fn certs(State(s): State<Arc<FakeState>>) -> Response {
    s.certs_fetches.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({"keys": s.jwks.lock().unwrap().clone()})).into_response()
}

async fn callback(State(s): State<Arc<FakeState>>, headers: HeaderMap, body: String) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    let status = serde_json::from_str::<Value>(&body).unwrap()["status"]
        .as_str()
        .unwrap()
        .to_owned();
    s.callbacks.lock().unwrap().push((bearer, status));
    let code = s.callback_script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(code).unwrap().into_response()
}

async fn token(headers: HeaderMap) -> Response {
    let expected = format!("Basic {}", STANDARD.encode("channel-admin:admin-secret"));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(json!({"access_token": "admin-token", "expires_in": 300, "token_type": "Bearer"}))
        .into_response()
}

async fn admin_user(
    State(s): State<Arc<FakeState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer admin-token") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    s.admin_reads.fetch_add(1, Ordering::SeqCst);
    match s.users.lock().unwrap().get(&id) {
        Some(u) => axum::Json(u.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

struct Env {
    sim: SimHandle,
    fake: Arc<FakeState>,
    signer: Signer,
    issuer: String,
    channel_url: String,
    http: reqwest::Client,
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn env() -> Env {
    env_with(Duration::from_secs(10)).await
}

async fn env_with(jwks_min_refetch: Duration) -> Env {
    env_for(jwks_min_refetch, None).await
}

fn sim_config() -> SimConfig {
    SimConfig::default()
        .interval(Duration::from_millis(50))
        .expires_in(Duration::from_secs(30))
}

async fn env_for(jwks_min_refetch: Duration, clients: Option<&[&str]>) -> Env {
    let sim = Simulator::start(sim_config()).await.unwrap();
    env_on(sim, jwks_min_refetch, clients).await
}

async fn env_on(sim: SimHandle, jwks_min_refetch: Duration, clients: Option<&[&str]>) -> Env {
    let fake = Arc::new(FakeState::default());
    let signer = rsa_signer("realm-key-1");
    fake.jwks.lock().unwrap().push(signer.jwk.clone());
    fake.jwks.lock().unwrap().push(json!({
        "kty": "RSA", "use": "enc", "alg": "RSA-OAEP", "kid": "enc-key",
        "n": signer.jwk["n"], "e": "AQAB",
    }));
    fake.users.lock().unwrap().insert(
        "id-ola-attr".into(),
        json!({"id": "id-ola-attr", "username": "ola.attr", "attributes": {"phone_number": ["4798765432"]}}),
    );
    for (id, username) in [
        ("u1", "4712345678"),
        ("id-kari", "4712345678"),
        ("id-ola", "4798765432"),
        ("id-none", "4711111111"),
    ] {
        fake.users.lock().unwrap().insert(
            id.into(),
            json!({"id": id, "username": username, "attributes": {}}),
        );
    }
    fake.users.lock().unwrap().insert(
        "id-no-phone".into(),
        json!({"id": "id-no-phone", "username": "no.phone", "attributes": {}}),
    );
    let kc_app = Router::new()
        .route("/realms/test/protocol/openid-connect/certs", get(certs))
        .route(
            "/realms/test/protocol/openid-connect/ext/ciba/auth/callback",
            post(callback),
        )
        .route("/realms/test/protocol/openid-connect/token", post(token))
        .route("/admin/realms/test/users/{id}", get(admin_user))
        .with_state(fake.clone());
    let kc = serve(kc_app).await;
    let issuer = format!("{kc}/realms/test");

    let channel_url = serve_channel(&sim, &issuer, jwks_min_refetch, clients, |c| c, None).await;
    Env {
        sim,
        fake,
        signer,
        issuer,
        channel_url,
        http: reqwest::Client::new(),
    }
}

/// A channel instance for the fake realm at `issuer`, its logins on `sim`, configured by
/// `configure`, keeping its logins, limits and seen bearers in `store` (default: a store
/// of its own); its URL.
async fn serve_channel(
    sim: &SimHandle,
    issuer: &str,
    jwks_min_refetch: Duration,
    clients: Option<&[&str]>,
    configure: impl FnOnce(KeycloakChannelConfig) -> KeycloakChannelConfig,
    store: Option<Arc<dyn Store>>,
) -> String {
    let config = Config::builder(
        Issuer::Custom(sim.issuer()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
    .client_auth(ClientAuth::Basic)
    .build()
    .unwrap();
    let vipps = match store {
        Some(store) => VippsClient::with_store(config, store),
        None => VippsClient::new(config),
    }
    .unwrap();
    let mut config = KeycloakChannelConfig::new(issuer).unwrap();
    if let Some(clients) = clients {
        config = config.allowed_clients(clients.iter().copied());
    }
    let channel = KeycloakChannel::new(
        configure(
            config
                .callback_backoff(Duration::from_millis(20))
                .jwks_min_refetch(jwks_min_refetch)
                .resolver(PhoneResolver::AttributeOrUsername(AttributeLookup::new(
                    "phone_number",
                    "channel-admin",
                    Secret::new("admin-secret"),
                ))),
        ),
        vipps,
    )
    .unwrap();
    assert_eq!(
        channel.callback_url().as_str(),
        format!("{issuer}/protocol/openid-connect/ext/ciba/auth/callback")
    );
    let base = serve(Router::new().nest("/channel", channel.router())).await;
    format!("{base}/channel")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Env {
    fn claims(&self, sub: &str) -> Value {
        json!({
            "exp": now() + 120, "iat": now(), "jti": uuid(), "iss": self.issuer,
            "aud": self.issuer, "sub": sub, "typ": "Bearer", "azp": "ciba-client",
        })
    }

    fn sign(&self, claims: &Value) -> String {
        sign_with(&self.signer, claims)
    }

    fn bearer(&self, sub: &str) -> String {
        self.sign(&self.claims(sub))
    }

    async fn post(&self, token: Option<&str>, body: Value) -> u16 {
        self.post_to(&self.channel_url, token, body).await
    }

    async fn post_to(&self, url: &str, token: Option<&str>, body: Value) -> u16 {
        let mut req = self.http.post(url).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().status().as_u16()
    }

    async fn callbacks_after(&self, n: usize) -> Vec<(String, String)> {
        for _ in 0..200 {
            let got = self.fake.callbacks.lock().unwrap().clone();
            if got.len() >= n {
                // Give a duplicate the chance to show up.
                tokio::time::sleep(Duration::from_millis(300)).await;
                return self.fake.callbacks.lock().unwrap().clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {n} callbacks reached Keycloak");
    }

    fn pushes(&self) -> u64 {
        self.sim.stats().backchannel
    }
}

fn sign_with(signer: &Signer, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(signer.kid.clone());
    jsonwebtoken::encode(&header, claims, &signer.key).unwrap()
}

fn uuid() -> String {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    URL_SAFE_NO_PAD.encode(b)
}

fn body(login_hint: &str, binding_message: Option<&str>) -> Value {
    let mut b = json!({"scope": "openid profile roles", "login_hint": login_hint, "is_consent_required": false});
    if let Some(m) = binding_message {
        b["binding_message"] = json!(m);
    }
    b
}

// ---- refused at the door: no push, no callback

#[tokio::test]
async fn a_forged_signature_is_refused_and_nothing_is_pushed() {
    let env = env().await;
    let forger = rsa_signer(&env.signer.kid); // same kid, other key
    let token = sign_with(&forger, &env.claims("u1"));
    assert_eq!(
        env.post(Some(&token), body("4712345678", Some("AB-123")))
            .await,
        401
    );
    assert_eq!(env.post(None, body("4712345678", None)).await, 401);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.pushes(), 0);
    assert!(env.fake.callbacks.lock().unwrap().is_empty());
}

#[tokio::test]
async fn expired_foreign_and_misaddressed_bearers_are_refused() {
    let env = env().await;
    let mut expired = env.claims("u1");
    expired["exp"] = json!(now() - 60);
    let mut other_issuer = env.claims("u1");
    other_issuer["iss"] = json!("http://127.0.0.1:1/realms/other");
    let mut other_audience = env.claims("u1");
    other_audience["aud"] = json!("account");
    let mut no_jti = env.claims("u1");
    no_jti.as_object_mut().unwrap().remove("jti");
    let mut no_sub = env.claims("u1");
    no_sub.as_object_mut().unwrap().remove("sub");
    // Realm-signed and addressed to the issuer, but an access token, not a channel bearer.
    let mut access_token = env.claims("u1");
    access_token["scope"] = json!("openid profile");
    access_token["client_id"] = json!("ciba-client");
    let mut id_token = env.claims("u1");
    id_token["typ"] = json!("ID");
    for claims in [
        expired,
        other_issuer,
        other_audience,
        no_jti,
        no_sub,
        access_token,
        id_token,
    ] {
        let token = env.sign(&claims);
        assert_eq!(
            env.post(Some(&token), body("4712345678", None)).await,
            401,
            "{claims}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.pushes(), 0);
}

#[tokio::test]
async fn only_allowed_clients_start_logins() {
    let env = env_for(Duration::from_secs(10), Some(&["till"])).await;
    env.sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(50),
    });
    // Another client: 201 as register.md promises every verified bearer (anything else
    // makes Keycloak answer its client 503), then UNAUTHORIZED, and no push.
    let other = env.bearer("id-kari"); // azp ciba-client
    assert_eq!(env.post(Some(&other), body("4712345678", None)).await, 201);
    assert_eq!(
        env.callbacks_after(1).await,
        vec![(other, "UNAUTHORIZED".to_owned())]
    );
    assert_eq!(env.pushes(), 0);
    let mut claims = env.claims("id-kari");
    claims["azp"] = json!("till");
    let t = env.sign(&claims);
    assert_eq!(env.post(Some(&t), body("4712345678", None)).await, 201);
    assert_eq!(env.callbacks_after(2).await.len(), 2);
    assert_eq!(
        env.pushes(),
        1,
        "only the allowed client's login was started"
    );
}

#[tokio::test]
async fn hmac_and_unsigned_tokens_are_refused() {
    let env = env().await;
    let claims = env.claims("u1");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(env.signer.kid.clone());
    // HMAC keyed with the public modulus: the classic algorithm-confusion forgery.
    let hs = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(env.signer.jwk["n"].as_str().unwrap().as_bytes()),
    )
    .unwrap();
    assert_eq!(env.post(Some(&hs), body("4712345678", None)).await, 401);
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, env.signer.kid)),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    assert_eq!(env.post(Some(&none), body("4712345678", None)).await, 401);
    assert_eq!(
        env.post(Some("not-a-jwt"), body("4712345678", None)).await,
        401
    );
    assert_eq!(env.pushes(), 0);
}

#[tokio::test]
async fn a_replayed_bearer_starts_no_second_login() {
    let env = env().await;
    env.sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(50),
    });
    let token = env.bearer("u1");
    assert_eq!(env.post(Some(&token), body("4712345678", None)).await, 201);
    assert_eq!(env.post(Some(&token), body("4712345678", None)).await, 401);
    let calls = env.callbacks_after(1).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(env.pushes(), 1);
}

#[tokio::test]
async fn a_bearer_with_critical_header_extensions_is_refused() {
    let env = env().await;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(env.signer.kid.clone());
    header.crit = Some(vec!["exp-ext".to_owned()]);
    let token = jsonwebtoken::encode(&header, &env.claims("u1"), &env.signer.key).unwrap();
    assert_eq!(env.post(Some(&token), body("4712345678", None)).await, 401);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.pushes(), 0);
    assert!(env.fake.callbacks.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_bearer_replayed_on_a_second_instance_starts_nothing() {
    // Two channel instances on one real Redis, as two bridges behind a load balancer.
    let redis = redis_harness::Redis::start();
    let prefix = redis_harness::unique_prefix();
    let store_a: Arc<dyn Store> = Arc::new(redis.store_with_prefix(&prefix).await);
    let store_b: Arc<dyn Store> = Arc::new(redis.store_with_prefix(&prefix).await);
    let mut env = env().await;
    let ten = Duration::from_secs(10);
    env.channel_url = serve_channel(&env.sim, &env.issuer, ten, None, |c| c, Some(store_a)).await;
    let second = serve_channel(&env.sim, &env.issuer, ten, None, |c| c, Some(store_b)).await;
    env.sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(50),
    });
    let token = env.bearer("u1");
    assert_eq!(env.post(Some(&token), body("4712345678", None)).await, 201);
    assert_eq!(
        env.post_to(&second, Some(&token), body("4712345678", None))
            .await,
        401,
        "the second instance knows the bearer was used"
    );
    let calls = env.callbacks_after(1).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(env.pushes(), 1);
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_jwks_but_not_for_every_forgery() {
    let env = env_with(Duration::from_millis(300)).await;
    // Keys made up front: RSA key generation takes longer than the refetch pause.
    let rotated = rsa_signer("realm-key-2");
    let forger = rsa_signer("made-up");
    env.sim.set_policy(Policy::AutoDeny {
        after: Duration::from_millis(50),
    });
    let t = env.bearer("u1");
    assert_eq!(env.post(Some(&t), body("4712345678", None)).await, 201);
    assert_eq!(env.fake.certs_fetches.load(Ordering::SeqCst), 1);
    // Keycloak rotates its key: the new kid is fetched once (after the refetch pause).
    tokio::time::sleep(Duration::from_millis(400)).await;
    env.fake.jwks.lock().unwrap().push(rotated.jwk.clone());
    let t2 = sign_with(&rotated, &env.claims("u1"));
    assert_eq!(env.post(Some(&t2), body("4712345678", None)).await, 201);
    assert_eq!(env.fake.certs_fetches.load(Ordering::SeqCst), 2);
    // Made-up kids right after: refused from the cache, no fetch each.
    let forged: Vec<String> = (0..5)
        .map(|_| sign_with(&forger, &env.claims("u1")))
        .collect();
    for t in forged {
        assert_eq!(env.post(Some(&t), body("4712345678", None)).await, 401);
    }
    assert_eq!(env.fake.certs_fetches.load(Ordering::SeqCst), 2);
}

// ---- accepted, then ended at once without a push

#[tokio::test]
async fn a_binding_message_vipps_would_refuse_is_cancelled_without_a_push() {
    let env = env().await;
    for (i, bad) in ["abc-123", "TOO-LONG-CODE", "AB.12"]
        .into_iter()
        .enumerate()
    {
        let token = env.bearer("u1");
        assert_eq!(
            env.post(Some(&token), body("4712345678", Some(bad))).await,
            201
        );
        let calls = env.callbacks_after(i + 1).await;
        assert_eq!(calls[i].1, "CANCELLED");
        assert_eq!(
            calls[i].0, token,
            "the callback carries the request's bearer"
        );
    }
    assert_eq!(env.pushes(), 0);
}

#[tokio::test]
async fn a_user_without_a_number_is_unauthorized_without_a_push() {
    let env = env().await;
    // Known to the admin API, no attribute, username not a number.
    let t = env.bearer("id-no-phone");
    assert_eq!(env.post(Some(&t), body("no.phone", None)).await, 201);
    // Unknown to the admin API and the username is not a number.
    let t = env.bearer("id-nobody");
    assert_eq!(env.post(Some(&t), body("nobody", None)).await, 201);
    // The admin API names another username than Keycloak's login_hint.
    let t = env.bearer("id-ola-attr");
    assert_eq!(env.post(Some(&t), body("someone.else", None)).await, 201);
    let calls = env.callbacks_after(3).await;
    assert!(calls.iter().all(|(_, s)| s == "UNAUTHORIZED"), "{calls:?}");
    assert_eq!(env.pushes(), 0);
}

// ---- the login runs at Vipps

#[tokio::test]
async fn approved_reports_succeed_exactly_once() {
    let env = env().await;
    env.sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(100),
    });
    let t = env.bearer("id-kari");
    assert_eq!(
        env.post(Some(&t), body("4712345678", Some("KC-1234")))
            .await,
        201
    );
    let calls = env.callbacks_after(1).await;
    assert_eq!(calls, vec![(t, "SUCCEED".to_owned())]);
    let req = &env.sim.requests()[0];
    assert_eq!(req.msisdn, "4712345678");
    assert_eq!(req.binding_message.as_deref(), Some("KC-1234"));
    assert!(req.scopes.contains(&"phoneNumber".to_owned()));
    // `profile` was asked for, but the channel passes on no scope it was not told to.
    assert!(!req.scopes.contains(&"name".to_owned()), "{:?}", req.scopes);
}

#[tokio::test]
async fn a_number_vipps_verified_for_someone_else_reports_unauthorized() {
    // Vipps' userinfo names Ola's number for the login started for Kari's.
    let sim = common::proxy::sim_verifying(sim_config(), "+4798765432").await;
    let env = env_on(sim, Duration::from_secs(10), None).await;
    env.sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(100),
    });
    let t = env.bearer("id-kari");
    assert_eq!(env.post(Some(&t), body("4712345678", None)).await, 201);
    assert_eq!(
        env.callbacks_after(1).await,
        vec![(t, "UNAUTHORIZED".to_owned())]
    );
    assert_eq!(env.pushes(), 1);
}

#[tokio::test]
async fn declined_reports_unauthorized() {
    let env = env().await;
    env.sim.set_policy(Policy::AutoDeny {
        after: Duration::from_millis(100),
    });
    let t = env.bearer("id-ola");
    assert_eq!(env.post(Some(&t), body("4798765432", None)).await, 201);
    assert_eq!(env.callbacks_after(1).await[0].1, "UNAUTHORIZED");
    assert_eq!(env.pushes(), 1);
}

#[tokio::test]
async fn a_restart_right_after_a_decline_pushes_nothing() {
    let env = env().await;
    env.sim.set_policy(Policy::AutoDeny {
        after: Duration::from_millis(100),
    });
    let t = env.bearer("id-ola");
    assert_eq!(env.post(Some(&t), body("4798765432", None)).await, 201);
    assert_eq!(env.callbacks_after(1).await[0].1, "UNAUTHORIZED");
    // Keycloak's client asks again at once, twice: the number cools down after the
    // decline, as at the desk; Keycloak hears CANCELLED and no push reaches the phone.
    for n in 2..=3 {
        let again = env.bearer("id-ola");
        assert_eq!(env.post(Some(&again), body("4798765432", None)).await, 201);
        assert_eq!(env.callbacks_after(n).await[n - 1].1, "CANCELLED");
    }
    assert_eq!(env.pushes(), 1);
}

#[tokio::test]
async fn one_waiting_login_per_number_even_while_the_first_push_is_on_its_way() {
    let env = env().await;
    // Two requests for Kari at once (each started in the background after its 201, so
    // the second is admitted while the first is still asking Vipps): one push.
    let first = env.bearer("id-kari");
    assert_eq!(env.post(Some(&first), body("4712345678", None)).await, 201);
    let second = env.bearer("id-kari");
    assert_eq!(env.post(Some(&second), body("4712345678", None)).await, 201);
    assert_eq!(
        env.callbacks_after(1).await,
        vec![(second, "CANCELLED".to_owned())]
    );
    assert_eq!(env.pushes(), 1);
    assert_eq!(env.sim.pending_for("4712345678").len(), 1);
}

#[tokio::test]
async fn a_number_without_vipps_reports_unauthorized() {
    let env = env().await;
    let t = env.bearer("id-none");
    assert_eq!(env.post(Some(&t), body("4711111111", None)).await, 201);
    assert_eq!(env.callbacks_after(1).await[0].1, "UNAUTHORIZED");
    assert_eq!(env.pushes(), 1, "Vipps was asked, and refused");
    assert!(env.sim.requests().is_empty());
}

#[tokio::test]
async fn the_attribute_resolver_pushes_to_the_attribute_number() {
    let env = env().await;
    env.sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(100),
    });
    let t = env.bearer("id-ola-attr");
    assert_eq!(env.post(Some(&t), body("ola.attr", None)).await, 201);
    assert_eq!(env.callbacks_after(1).await[0].1, "SUCCEED");
    assert_eq!(env.sim.requests()[0].msisdn, "4798765432");
    assert!(env.fake.admin_reads.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn a_keycloak_expiry_shorter_than_vipps_allows_is_cancelled_without_a_push() {
    let env = env().await;
    // Vipps keeps a push at least 60 s and it cannot be taken back; Keycloak would stop
    // waiting after 30 (the channel stops 3 s before exp).
    let mut claims = env.claims("id-kari");
    claims["exp"] = json!(now() + 30);
    let t = env.sign(&claims);
    assert_eq!(env.post(Some(&t), body("4712345678", None)).await, 201);
    let calls = env.callbacks_after(1).await;
    assert_eq!(calls[0].1, "CANCELLED");
    assert!(
        now() < claims["exp"].as_u64().unwrap(),
        "sent while Keycloak still listens"
    );
    assert_eq!(
        env.pushes(),
        0,
        "no push that would outlive Keycloak's wait"
    );
}

// ---- the callback

#[tokio::test]
async fn transient_callback_failures_are_retried_then_never_again() {
    let env = env().await;
    env.sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(50),
    });
    env.fake
        .callback_script
        .lock()
        .unwrap()
        .extend([503, 502, 429]);
    let t = env.bearer("id-kari");
    assert_eq!(env.post(Some(&t), body("4712345678", None)).await, 201);
    let calls = env.callbacks_after(4).await;
    assert_eq!(calls.len(), 4, "three failures, one success, nothing after");
    assert!(calls.iter().all(|(b, s)| b == &t && s == "SUCCEED"));
}

#[tokio::test]
async fn a_final_refusal_of_the_callback_is_not_retried() {
    let env = env().await;
    env.sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(50),
    });
    env.fake.callback_script.lock().unwrap().push_back(400);
    let t = env.bearer("id-kari");
    assert_eq!(env.post(Some(&t), body("4712345678", None)).await, 201);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.callbacks_after(1).await.len(), 1);
}

#[tokio::test]
async fn an_early_403_is_retried_while_keycloak_may_still_be_storing_the_request() {
    let env = env().await;
    env.fake.callback_script.lock().unwrap().push_back(403);
    let t = env.bearer("u1");
    assert_eq!(
        env.post(Some(&t), body("4712345678", Some("bad code")))
            .await,
        201
    );
    let calls = env.callbacks_after(2).await;
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].1, "CANCELLED");
}

// ---- Vipps misbehaving: never a success Keycloak cannot trust

#[tokio::test]
async fn an_id_token_that_fails_verification_never_succeeds() {
    let env = env().await;
    env.sim.inject(Fault::WrongSigningKey);
    env.sim.set_policy(Policy::AutoApprove {
        after: Duration::from_millis(50),
    });
    let t = env.bearer("id-kari");
    assert_eq!(env.post(Some(&t), body("4712345678", None)).await, 201);
    assert_eq!(env.callbacks_after(1).await[0].1, "CANCELLED");
    assert_eq!(env.pushes(), 1);
}

#[tokio::test]
async fn vipps_unavailable_at_start_is_cancelled_and_not_pushed_twice() {
    let env = env().await;
    env.sim.inject_at(
        Endpoint::Backchannel,
        Fault::ServerError {
            status: 503,
            count: 1,
        },
    );
    let t = env.bearer("id-kari");
    assert_eq!(env.post(Some(&t), body("4712345678", None)).await, 201);
    assert_eq!(env.callbacks_after(1).await[0].1, "CANCELLED");
    assert_eq!(env.pushes(), 1, "a start is never repeated");
}

// ---- an instance dies mid-login

fn channel_on(env: &Env, store: Arc<vipps_login_core::MemoryStore>) -> KeycloakChannel {
    let vipps = VippsClient::with_store(
        Config::builder(
            Issuer::Custom(env.sim.issuer()),
            env.sim.client_id(),
            Secret::new(env.sim.client_secret()),
        )
        .client_auth(ClientAuth::Basic)
        .poll_lease(Duration::from_millis(600))
        .build()
        .unwrap(),
        store,
    )
    .unwrap();
    KeycloakChannel::new(
        KeycloakChannelConfig::new(&env.issuer)
            .unwrap()
            .callback_backoff(Duration::from_millis(20))
            .resolver(PhoneResolver::Username),
        vipps,
    )
    .unwrap()
}

/// Keycloak's request reached instance A, which started the login and died; instance B,
/// sharing the store, takes the login over and reports the approval to Keycloak, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_result_reaches_keycloak_when_the_instance_that_took_the_request_dies() {
    let env = env().await;
    let store = Arc::new(vipps_login_core::MemoryStore::new());

    // Instance A on a runtime of its own, so that dropping it kills every task of A.
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
    let a_channel = channel_on(&env, Arc::clone(&store));
    let a = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            url_tx
                .send(format!("http://{}/", listener.local_addr().unwrap()))
                .unwrap();
            let app = a_channel.router();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        });
        kill_rx.recv().unwrap();
        runtime.shutdown_background();
    });
    let a_url = url_rx.recv().unwrap();
    // Instance B follows the logins' ends from the start.
    let b = channel_on(&env, Arc::clone(&store));
    let _b_router = b.router();

    let t = env.bearer("id-kari");
    let res = env
        .http
        .post(&a_url)
        .bearer_auth(&t)
        .json(&body("4712345678", Some("KC-4242")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let pending = env
        .sim
        .wait_for_pending("4712345678", Duration::from_secs(5))
        .await
        .expect("A started the login");
    kill_tx.send(()).unwrap();
    a.join().unwrap();
    env.sim.approve(&pending.auth_req_id).await.unwrap();

    let calls = env.callbacks_after(1).await;
    assert_eq!(calls, vec![(t, "SUCCEED".to_owned())], "exactly once, by B");
    assert_eq!(env.pushes(), 1);
}
