//! A faithful stand-in for Vipps merchant-initiated login (OpenID CIBA), for development
//! and tests without a Vipps account.
//!
//! `vipps-login-sim` serves Vipps' endpoints on Vipps' own paths (discovery, JWKS,
//! backchannel authentication, token, userinfo, user-exists), validates every parameter
//! the way Vipps does and answers Vipps' errors. A simulated **phone** at
//! `/_sim/phone/{msisdn}` plays the customer's app (push, confirmation screen, one-time
//! consent, Approve / Deny, then "Done" or a jump to the merchant's `redirect_uri`), and
//! a **control API** under `/_sim/` lets tests and demos approve, deny, set policies and
//! inject faults. It runs as a binary (`vipps-login-sim --listen 127.0.0.1:0`) or in
//! process:
//!
//! ```no_run
//! use std::time::Duration;
//! use vipps_login_sim::{Policy, SimConfig, Simulator};
//!
//! # async fn demo() -> Result<(), vipps_login_sim::SimError> {
//! let sim = Simulator::start(
//!     SimConfig::default()
//!         .interval(Duration::from_millis(100))
//!         .expires_in(Duration::from_secs(5)),
//! )
//! .await?;
//! println!("issuer: {}", sim.issuer()); // http://127.0.0.1:PORT/access-management-1.0/access/
//! println!("phone:  {}", sim.phone_url("4712345678"));
//! // ... start a login for urn:msisdn:4712345678 with demo-client / demo-secret ...
//! for request in sim.requests() {
//!     sim.approve(&request.auth_req_id).await?;
//! }
//! sim.set_policy(Policy::AutoApprove { after: Duration::from_millis(200) });
//! # Ok(())
//! # }
//! ```
//!
//! # Endpoints
//!
//! | path | what |
//! |---|---|
//! | `GET /access-management-1.0/access/.well-known/openid-configuration` | discovery, `Cache-Control: max-age=3600` |
//! | `GET /access-management-1.0/access/.well-known/jwks.json` | one RS256 and one ES256 key, `kid` `public:<uuid>` |
//! | `POST /vipps-login-ciba/api/backchannel/authentication` | start a login (form-encoded) |
//! | `POST /access-management-1.0/access/oauth2/token` | CIBA poll and `ciba-redirect` code exchange |
//! | `GET /vipps-userinfo-api/userinfo` | claims of the granted scopes |
//! | `POST /vipps-login-ciba/api/v1/user-exists` | `{"exists": bool}` |
//! | `GET /_sim/phone/{msisdn}` | the simulated phone |
//! | `/_sim/...` | control API (see below) |
//!
//! Clients: `demo-client` / `demo-secret` (any loopback `redirect_uri` is registered),
//! `client_secret_basic` or `client_secret_post`. The start call answers
//! `{"auth_req_id", "expires_in", "interval"}`; `interval` and `expires_in` are numbers
//! of seconds, fractional when configured below one second (e.g. `0.1`).
//!
//! # Demo users
//!
//! | msisdn | who |
//! |---|---|
//! | `4712345678` | Kari Nordmann, full profile (customer token `kari-customer-token`) |
//! | `4798765432` | Ola Nordmann, full profile (customer token `ola-customer-token`) |
//! | `4711111111` | no Vipps account → `invalid_user` |
//! | `4722222222` | under 15 → `invalid_user` |
//! | `4733333333` | old app → `old_app` |
//! | `4744444444` | push disabled: the request waits until the phone page is opened |
//! | `4587654321` | Danish MobilePay user |
//! | `358401234567` | Finnish MobilePay user |
//!
//! Other numbers answer `invalid_user` unless [`SimConfig::auto_users`] is on.
//!
//! # Users file
//!
//! `--users FILE` (or [`SimConfig::users_file`]) adds users and clients; TOML, or JSON
//! with the same structure when the name ends in `.json`. Every field but `msisdn` (and
//! `client_id` / `client_secret`) is optional:
//!
//! ```toml
//! [[users]]
//! msisdn = "4790000001"            # 47 + 8, 45 + 8 or 358 + 5..10 digits
//! given_name = "Per"
//! family_name = "Hansen"
//! email = "per@example.com"
//! email_verified = true
//! birthdate = "1980-01-31"
//! nin = "31018012345"
//! customer_tokens = ["per-token"]  # login_hint=urn:customer-token:per-token
//! push_disabled = false            # also: no_account, under_15, old_app
//! address = { street_address = "Storgata 1", postal_code = "0155", region = "Oslo", country = "NO", address_type = "home" }
//! other_addresses = [{ street_address = "Hytteveien 2", postal_code = "3580", region = "Geilo", country = "NO", address_type = "other" }]
//!
//! [[clients]]
//! client_id = "shop"
//! client_secret = "shop-secret"
//! name = "Shop AS"                        # merchant name on the phone
//! redirect_uris = ["https://shop.example/continue"]
//! allow_loopback_redirects = true
//! auth_method = "any"                     # or client_secret_basic / client_secret_post
//! ```
//!
//! # Control API
//!
//! | call | effect |
//! |---|---|
//! | `GET /_sim/requests[?msisdn=..&status=..]` | JSON list of [`SimRequest`] |
//! | `GET /_sim/requests/{auth_req_id}` | one request |
//! | `POST /_sim/requests/{auth_req_id}/approve` | approve (consent included); answers `{"status", "redirect_to"}`; optional body `{"delegated_consents": {"newsletter": false}}` |
//! | `POST /_sim/requests/{auth_req_id}/deny` | deny |
//! | `GET`/`POST /_sim/policy` | `{"policy": "manual" \| "auto_approve" \| "auto_deny", "after_ms": 500}` |
//! | `GET`/`POST`/`DELETE /_sim/faults` | list / add / clear faults, e.g. `{"fault": "server_error", "status": 503, "count": 2, "endpoint": "token"}`; kinds `latency {ms}`, `server_error {status, count}`, `malformed_body {count}`, `drop_connection {count}`, `wrong_signing_key`, `clock_skew {seconds}`; optional `endpoint`: `discovery`, `jwks`, `backchannel`, `token`, `userinfo`, `user_exists` |
//! | `POST /_sim/keys/rotate` | new signing keys; the previous ones stay in the JWKS until the next rotation |
//! | `GET /_sim/stats` | [`SimStats`] |
//! | `POST`/`DELETE /_sim/webhook` | `{"url", "secret", "consent_revoked_url"}` |
//! | `POST /_sim/consent-revoked` | `{"msisdn", "client_id"}`: forget the consent, send the notification |
//! | `POST /_sim/customer-tokens` | `{"msisdn"}` → `{"token", "login_hint"}` |
//!
//! # Webhooks
//!
//! On approval of a finish-in-app login the simulator POSTs `{"auth_req_id": "..."}` to
//! the configured webhook, signed as Vipps does: `x-ms-date`, `x-ms-content-sha256`
//! (base64 SHA-256 of the body) and `Authorization: HMAC-SHA256
//! SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=...`, the base64
//! HMAC-SHA256 of `POST\n{path and query}\n{x-ms-date};{host};{x-ms-content-sha256}`.

#![warn(missing_docs)]

// Layers, each importing only from those above it: leaf types (store, request, client,
// faults, oauth_error), then error, users, config, keys, tokens, login, claims, stats,
// outbox; then the model (state); then the HTTP layer (client_auth, oauth, control,
// phone, server); this file on top.
mod claims;
mod client;
mod client_auth;
mod config;
mod control;
mod error;
mod faults;
mod keys;
mod login;
mod oauth;
mod oauth_error;
mod outbox;
mod phone;
mod request;
mod server;
mod state;
mod stats;
mod store;
mod tokens;
mod users;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use url::Url;

pub use client::{
    AuthMethod, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DelegatedConsentQuestion, SimClient,
};
pub use config::{ErrorStyle, Policy, SigningAlg, SimConfig};
pub use error::SimError;
pub use faults::{Endpoint, Fault};
pub use request::{RequestFlow, RequestStatus, SimRequest};
pub use stats::SimStats;
pub use users::{Address, UserRecord, builtin_users, valid_msisdn};

use state::Sim;
use store::{lock, read, write};

/// Starts simulators.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Binds `config`'s address (default `127.0.0.1:0`), generates fresh signing keys
    /// and serves in a tokio task until the last [`SimHandle`] is dropped.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let base = match &config.public_url {
            Some(u) => {
                let mut u = u.clone();
                u.set_path("/");
                u.set_query(None);
                u
            }
            None => {
                let host = if addr.ip().is_unspecified() {
                    SocketAddr::from(([127, 0, 0, 1], addr.port()))
                } else {
                    addr
                };
                Url::parse(&format!("http://{host}/"))
                    .map_err(|e| SimError::Config(e.to_string()))?
            }
        };
        let sim = tokio::task::spawn_blocking(move || Sim::new(config, base))
            .await
            .map_err(|e| SimError::Keys(e.to_string()))??;
        let (tx, rx) = watch::channel(false);
        let router = server::router(sim.clone());
        tokio::spawn(server::serve(listener, router, rx.clone()));
        let weak = Arc::downgrade(&sim);
        let every = sim.cfg.purge_every;
        let mut stop = rx;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => break,
                }
                match weak.upgrade() {
                    Some(sim) => sim.purge(),
                    None => break,
                }
            }
        });
        tracing::info!(issuer = %sim.issuer, "vipps-login-sim listening");
        Ok(SimHandle {
            inner: Arc::new(Inner {
                sim,
                addr,
                shutdown: tx,
            }),
        })
    }
}

struct Inner {
    sim: Arc<Sim>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Control handle of a running simulator. Cheap to clone; the server stops when the
/// last clone is dropped (or on [`SimHandle::shutdown`]).
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("issuer", &self.inner.sim.issuer.as_str())
            .finish()
    }
}

impl SimHandle {
    fn sim(&self) -> &Sim {
        &self.inner.sim
    }

    /// The issuer, `http://127.0.0.1:PORT/access-management-1.0/access/` (trailing slash).
    pub fn issuer(&self) -> Url {
        self.sim().issuer.clone()
    }

    /// The base URL, `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> Url {
        self.sim().base.clone()
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The simulated phone of `msisdn`, `/_sim/phone/{msisdn}`.
    pub fn phone_url(&self, msisdn: &str) -> Url {
        let mut u = self.sim().base.clone();
        u.set_path(&format!("/_sim/phone/{msisdn}"));
        u
    }

    /// The built-in client id, `demo-client`.
    pub fn client_id(&self) -> &'static str {
        DEMO_CLIENT_ID
    }

    /// The built-in client secret, `demo-secret`.
    pub fn client_secret(&self) -> &'static str {
        DEMO_CLIENT_SECRET
    }

    /// All login requests still held (pending, finished, or expired within retention),
    /// oldest first.
    pub fn requests(&self) -> Vec<SimRequest> {
        self.sim().all_requests()
    }

    /// One login request.
    pub fn request(&self, auth_req_id: &str) -> Option<SimRequest> {
        self.sim().request(auth_req_id)
    }

    /// Pending requests of `msisdn`, oldest first (those held back by disabled push
    /// included; listing them does not deliver them).
    pub fn pending_for(&self, msisdn: &str) -> Vec<SimRequest> {
        self.sim().pending_for(msisdn, false, true)
    }

    /// Waits until `msisdn` has a pending request, up to `timeout`; the newest one.
    pub async fn wait_for_pending(&self, msisdn: &str, timeout: Duration) -> Option<SimRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(r) = self.sim().pending_for(msisdn, false, true).pop() {
                return Some(r);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Approves a pending request as the customer would (consent and all delegated
    /// consents included). Returns `Some(redirect_uri?code=...&state=...)` in the
    /// continue-in-browser variant.
    pub async fn approve(&self, auth_req_id: &str) -> Result<Option<Url>, SimError> {
        self.sim().approve(auth_req_id, None)
    }

    /// Approves with explicit answers to the client's delegated-consent questions.
    pub async fn approve_with(
        &self,
        auth_req_id: &str,
        delegated_consents: BTreeMap<String, bool>,
    ) -> Result<Option<Url>, SimError> {
        self.sim().approve(auth_req_id, Some(delegated_consents))
    }

    /// Denies a pending request as the customer would.
    pub async fn deny(&self, auth_req_id: &str) -> Result<(), SimError> {
        self.sim().deny(auth_req_id)
    }

    /// Sets how new requests are answered.
    pub fn set_policy(&self, policy: Policy) {
        *write(&self.sim().policy) = policy;
    }

    /// The current policy.
    pub fn policy(&self) -> Policy {
        *read(&self.sim().policy)
    }

    /// Injects a fault on all protocol endpoints (ID-token faults act at the token
    /// endpoint).
    pub fn inject(&self, fault: Fault) {
        self.inject_at(None, fault);
    }

    /// Injects a fault on one protocol endpoint only (`None`: all).
    pub fn inject_at(&self, endpoint: impl Into<Option<Endpoint>>, fault: Fault) {
        if fault == Fault::WrongSigningKey
            && let Err(e) = write(&self.sim().keys).ensure_rogue()
        {
            tracing::error!(error = %e, "cannot make the wrong signing key");
        }
        lock(&self.sim().faults).add(fault, endpoint.into());
    }

    /// Removes all faults.
    pub fn clear_faults(&self) {
        lock(&self.sim().faults).clear();
    }

    /// Generates new signing keys with new `kid`s. The previous keys stay in the JWKS
    /// until the next rotation.
    pub fn rotate_keys(&self) {
        if let Err(e) = write(&self.sim().keys).rotate() {
            tracing::error!(error = %e, "key rotation failed");
        }
    }

    /// The current `kid`s: (RS256, ES256).
    pub fn kids(&self) -> (String, String) {
        read(&self.sim().keys).kids()
    }

    /// Request counters.
    pub fn stats(&self) -> SimStats {
        self.sim().stats_snapshot()
    }

    /// Sends a signed `login.merchant-initiated.ping.v1` to `url` on every approval of a
    /// finish-in-app login, keyed with `secret`.
    pub fn set_webhook(&self, url: Url, secret: String) {
        *write(&self.sim().outbox.webhook) = Some((url, secret));
    }

    /// Stops sending webhook pings.
    pub fn clear_webhook(&self) {
        *write(&self.sim().outbox.webhook) = None;
    }

    /// Where consent-revoked notifications go.
    pub fn set_consent_revoked_url(&self, url: Url) {
        *write(&self.sim().outbox.consent_revoked_url) = Some(url);
    }

    /// The customer withdraws consent for `client_id`: the consent is forgotten (the
    /// next login asks again) and, if configured, an unsigned `CONSENT_REVOKED` JWT is
    /// POSTed to the consent-revoked URL. Returns the `sub` named in it.
    pub async fn revoke_consent(&self, msisdn: &str, client_id: &str) -> Result<String, SimError> {
        self.sim().revoke_consent(msisdn, client_id).await
    }

    /// Issues a customer token (as from a QR check-in) for `urn:customer-token:{token}`.
    pub fn customer_token(&self, msisdn: &str) -> Result<String, SimError> {
        if self.sim().users.get(msisdn).is_none() {
            return Err(SimError::NotFound);
        }
        let token = tokens::random_token(16);
        self.sim()
            .users
            .add_customer_token(token.clone(), msisdn.to_owned());
        Ok(token)
    }

    /// The `sub` the simulator gives this user at this client.
    pub fn sub_for(&self, client_id: &str, msisdn: &str) -> String {
        self.sim().sub_for(client_id, msisdn)
    }

    /// Stops the server now (also happens when the last handle is dropped).
    pub fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
    }
}
