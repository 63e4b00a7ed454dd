//! Outgoing notifications: the signed webhook ping and the consent-revoked notice.
//!
//! The model owns the [`Outbox`] and hands it what to send; the outbox knows only its
//! targets, its HTTP client and the delivery counters, not the simulator around it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use url::Url;

use crate::error::SimError;
use crate::stats::Counters;
use crate::store::read;

/// Where notifications go, and the means to send them.
pub(crate) struct Outbox {
    http: reqwest::Client,
    /// The webhook URL and its signing secret; `None`: no pings.
    pub(crate) webhook: RwLock<Option<(Url, String)>>,
    /// Where consent-revoked notices go; `None`: none are sent.
    pub(crate) consent_revoked_url: RwLock<Option<Url>>,
    /// The delivery counters, shared with the model that reports them.
    stats: Arc<Counters>,
}

impl Outbox {
    pub(crate) fn new(
        webhook: Option<(Url, String)>,
        consent_revoked_url: Option<Url>,
        stats: Arc<Counters>,
    ) -> Result<Self, SimError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SimError::Config(e.to_string()))?;
        Ok(Outbox {
            http,
            webhook: RwLock::new(webhook),
            consent_revoked_url: RwLock::new(consent_revoked_url),
            stats,
        })
    }

    /// Sends `login.merchant-initiated.ping.v1` for `auth_req_id` in the background, if
    /// a webhook is configured.
    pub(crate) fn ping(&self, auth_req_id: &str) {
        let Some((url, secret)) = read(&self.webhook).clone() else {
            return;
        };
        let http = self.http.clone();
        let stats = self.stats.clone();
        let body = serde_json::json!({ "auth_req_id": auth_req_id }).to_string();
        tokio::spawn(async move {
            let date = httpdate::fmt_http_date(std::time::SystemTime::now());
            let (date, sha, auth) = sign(
                &secret,
                &path_and_query(&url),
                &host_header(&url),
                &date,
                body.as_bytes(),
            );
            let res = http
                .post(url.clone())
                .header("content-type", "application/json")
                .header("x-ms-date", date)
                .header("x-ms-content-sha256", sha)
                .header("authorization", auth)
                .header("x-vipps-event", "login.merchant-initiated.ping.v1")
                .body(body)
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => {
                    stats.webhooks_sent.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(status = %r.status(), "webhook ping delivered");
                }
                Ok(r) => {
                    stats.webhooks_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(status = %r.status(), "webhook ping refused");
                }
                Err(e) => {
                    stats.webhooks_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "webhook ping failed");
                }
            }
        });
    }

    /// POSTs the consent-revoked notice for `sub` at `client_id`, issued by `issuer`,
    /// when a consent-revoked URL is configured.
    pub(crate) async fn consent_revoked(
        &self,
        issuer: &Url,
        client_id: &str,
        sub: &str,
    ) -> Result<(), SimError> {
        let url = read(&self.consent_revoked_url).clone();
        if let Some(url) = url {
            let jwt = consent_revoked_jwt(issuer, client_id, sub);
            let res = self
                .http
                .post(url)
                .header("content-type", "application/jwt")
                .body(jwt)
                .send()
                .await
                .map_err(|e| SimError::Delivery(e.to_string()))?;
            if !res.status().is_success() {
                return Err(SimError::Delivery(format!(
                    "consent-revoked receiver answered {}",
                    res.status()
                )));
            }
            self.stats
                .consent_revoked_sent
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The `Host` value a client sends for `url`: host, plus `:port` unless it is the default.
pub(crate) fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

/// The headers of a signed Vipps webhook: `(x-ms-date, x-ms-content-sha256, Authorization)`.
///
/// The signature is base64 HMAC-SHA256, keyed with `secret`, of
/// `POST\n{path and query}\n{x-ms-date};{host};{x-ms-content-sha256}`.
pub(crate) fn sign(
    secret: &str,
    path_and_query: &str,
    host: &str,
    date: &str,
    body: &[u8],
) -> (String, String, String) {
    let sha = STANDARD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body));
    let to_sign = format!("POST\n{path_and_query}\n{date};{host};{sha}");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let sig = STANDARD.encode(aws_lc_rs::hmac::sign(&key, to_sign.as_bytes()));
    let auth =
        format!("HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={sig}");
    (date.to_owned(), sha, auth)
}

fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// The unsigned (`alg: none`) consent-revoked JWT for `sub`.
fn consent_revoked_jwt(issuer: &Url, client_id: &str, sub: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = serde_json::json!({
        "event": "CONSENT_REVOKED",
        "sub": sub,
        "aud": client_id,
        "iss": issuer.as_str(),
        "iat": now,
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}
