//! Our small HTTP adapter over reqwest: no redirects, timeouts, capped bodies, Vipps headers.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use url::Url;

use crate::config::{ClientAuth, Config};
use crate::error::TransportError;
use crate::{Error, Secret};

/// A read response: status, headers and the whole (size-capped) body.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// `Ok` for a 2xx answer. Otherwise a 5xx is [`Error::Upstream`] and anything else
    /// [`Error::Protocol`] saying "`{what}` answered HTTP `{status}`" (for GETs of public
    /// documents, where no OAuth error body is expected).
    pub(crate) fn require_success(&self, what: &str) -> Result<(), Error> {
        if self.status.is_success() {
            return Ok(());
        }
        Err(if self.status.is_server_error() {
            Error::Upstream {
                status: self.status.as_u16(),
            }
        } else {
            Error::Protocol(format!("{what} answered HTTP {}", self.status.as_u16()))
        })
    }
}

/// Why a request produced no response.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Could not connect, connection dropped, timed out.
    Connection(TransportError),
    /// The answer was larger than allowed.
    TooLarge,
    /// A value from Vipps cannot be sent back (e.g. an access token that is not a valid
    /// header value).
    Invalid(&'static str),
}

impl SendError {
    pub(crate) fn into_error(self) -> Error {
        match self {
            SendError::Connection(m) => Error::Transport(m),
            SendError::TooLarge => Error::Protocol("the answer was larger than allowed".into()),
            SendError::Invalid(what) => Error::Protocol(what.into()),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    max_bytes: usize,
    default_headers: HeaderMap,
    client_id: String,
    client_secret: Secret,
    client_auth: ClientAuth,
}

impl Http {
    pub(crate) fn new(config: &Config) -> Result<Http, Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Retries are ours alone (polls only): nothing is repeated behind our back.
            .retry(reqwest::retry::never())
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("vipps-login-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("the HTTP client could not be built ({e})")))?;
        let mut default_headers = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| -> Result<(), Error> {
            let v = HeaderValue::from_str(value)
                .map_err(|_| Error::Config(format!("{name} is not a valid header value")))?;
            default_headers.insert(name, v);
            Ok(())
        };
        put("vipps-system-name", &config.system_name)?;
        put("vipps-system-version", &config.system_version)?;
        if let Some(v) = &config.plugin_name {
            put("vipps-system-plugin-name", v)?;
        }
        if let Some(v) = &config.plugin_version {
            put("vipps-system-plugin-version", v)?;
        }
        if let Some(v) = &config.merchant_serial_number {
            put("merchant-serial-number", v)?;
        }
        Ok(Http {
            client,
            max_bytes: config.max_response_bytes,
            default_headers,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            client_auth: config.client_auth,
        })
    }

    /// `GET url`, optionally with a bearer token.
    pub(crate) async fn get(&self, url: &Url, bearer: Option<&str>) -> Result<Response, SendError> {
        let mut req = self
            .client
            .get(url.clone())
            .headers(self.default_headers.clone())
            .header(header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| SendError::Invalid("the access token is not usable"))?;
            v.set_sensitive(true);
            req = req.header(header::AUTHORIZATION, v);
        }
        self.execute(req).await
    }

    /// `POST url` with a form body and client authentication.
    pub(crate) async fn post_form_authenticated(
        &self,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<Response, SendError> {
        let mut pairs: Vec<(&str, &str)> = form.to_vec();
        let mut req = self
            .client
            .post(url.clone())
            .headers(self.default_headers.clone())
            .header(header::ACCEPT, "application/json");
        match self.client_auth {
            ClientAuth::Basic => {
                // RFC 6749 §2.3.1: form-urlencode id and secret before base64.
                let id = form_urlencode(&self.client_id);
                let secret = form_urlencode(self.client_secret.expose());
                let mut v = HeaderValue::from_str(&format!(
                    "Basic {}",
                    STANDARD.encode(format!("{id}:{secret}"))
                ))
                .map_err(|_| SendError::Connection("invalid client credentials".into()))?;
                v.set_sensitive(true);
                req = req.header(header::AUTHORIZATION, v);
            }
            ClientAuth::Post => {
                pairs.push(("client_id", &self.client_id));
                pairs.push(("client_secret", self.client_secret.expose()));
            }
        }
        let body = serde_urlencoded::to_string(&pairs)
            .map_err(|_| SendError::Invalid("the form could not be encoded"))?;
        req = req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        self.execute(req).await
    }

    async fn execute(&self, req: reqwest::RequestBuilder) -> Result<Response, SendError> {
        let mut resp = req.send().await.map_err(describe)?;
        if let Some(len) = resp.content_length()
            && len > self.max_bytes as u64
        {
            return Err(SendError::TooLarge);
        }
        let status = resp.status();
        let headers = std::mem::take(resp.headers_mut());
        let mut body = BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(describe)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(SendError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body: body.freeze(),
        })
    }
}

fn form_urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Describes a reqwest error without URLs or bodies (which could hold personal data).
fn describe(e: reqwest::Error) -> SendError {
    let what = what_failed(&e);
    // The source is kept for operators' logs, without the URL.
    SendError::Connection(TransportError::new(what, e.without_url()))
}

/// The kind of network failure, in words (the reqwest error stays the source).
fn what_failed(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the connection broke while reading the answer"
    } else if e.is_request() {
        "the request could not be sent"
    } else {
        "network error"
    }
}

/// `Retry-After` as seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(24 * 3600)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `Cache-Control: max-age=N` (none when `no-store`/`no-cache`/absent).
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(header::CACHE_CONTROL)?.to_str().ok()?;
    let mut age = None;
    for part in v.split(',') {
        let part = part.trim().to_ascii_lowercase();
        if part == "no-store" || part == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = part.strip_prefix("max-age=") {
            age = n
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn cache_control() {
        let mut h = HeaderMap::new();
        assert_eq!(max_age(&h), None);
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        assert_eq!(max_age(&h), Some(Duration::from_secs(3600)));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        assert_eq!(max_age(&h), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        h.insert(header::RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(90)));
    }
}
