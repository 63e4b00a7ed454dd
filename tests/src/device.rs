//! A customer's (or clerk's) browser for the multi-instance tests, and small helpers.
//!
//! A [`Device`] keeps its cookies by name, *not* per host:port as a cookie jar would, so
//! the same session cookie goes to every instance, as it would behind a load balancer.
//! It speaks the login layer's JSON API (`auth/vipps/api/...`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use url::Url;

/// How long a login may take to be decided in these tests.
pub const DECIDED_WITHIN: Duration = Duration::from_secs(20);

/// A number shown masked (`47******78`), for assertion messages.
#[must_use]
pub fn masked(phone: &str) -> String {
    let n = phone.len();
    if n < 5 {
        return "*".repeat(n);
    }
    format!("{}{}{}", &phone[..2], "*".repeat(n - 4), &phone[n - 2..])
}

/// Calls `f` until it returns `Some`, for at most `limit` (50 ms between tries); the
/// value and how long it took.
///
/// # Panics
/// When `limit` passes first: "gave up waiting for {what}".
pub async fn until<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = f().await {
            return (v, started.elapsed());
        }
        assert!(
            started.elapsed() < limit,
            "gave up waiting for {what} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The staff password the cluster's instances run with (`STAFF_PASSWORD`).
pub const STAFF_PASSWORD: &str = "multi-instance-staff";

/// A plain HTTP client: no cookie store, no redirects, a 15 s timeout, and the staff
/// password as a bearer token (the desks are for staff; their gate is tested in
/// `continue_on_phone.rs`; the customer's pages ignore it).
///
/// # Panics
/// When the TLS backend cannot be initialised.
#[must_use]
pub fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_static("Bearer multi-instance-staff"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap_or_else(|e| panic!("an HTTP client: {e}"))
}

/// An answer: status, JSON body (or the text as a JSON string), two headers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body as JSON, or as a JSON string when it is not JSON.
    pub body: Value,
    /// The `Retry-After` header.
    pub retry_after: Option<String>,
    /// The `Location` header.
    pub location: Option<String>,
    /// Whether the answer set a cookie.
    pub set_cookie: bool,
}

impl Reply {
    /// `body[key]` as a string ("" when absent).
    #[must_use]
    pub fn str(&self, key: &str) -> &str {
        self.body[key].as_str().unwrap_or("")
    }

    /// Whether this is the answer of the status call that redeemed the login.
    #[must_use]
    pub fn logged_in(&self) -> bool {
        self.status == 200 && self.str("status") == "approved" && self.body["user"].is_object()
    }
}

/// One browser: cookies by name, sent to whichever instance it talks to.
#[derive(Debug, Clone)]
pub struct Device {
    http: reqwest::Client,
    cookies: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Device {
    /// A device with no cookies, sending through `http`.
    #[must_use]
    pub fn new(http: &reqwest::Client) -> Device {
        Device {
            http: http.clone(),
            cookies: Arc::default(),
        }
    }

    /// The `Cookie` header it sends now.
    #[must_use]
    pub fn cookie_header(&self) -> String {
        let jar = self.cookies.lock().unwrap_or_else(PoisonError::into_inner);
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&self, set_cookie: &str) {
        let Some((pair, attrs)) = set_cookie.split_once(';').or(Some((set_cookie, ""))) else {
            return;
        };
        let Some((name, value)) = pair.split_once('=') else {
            return;
        };
        let gone = value.is_empty() || attrs.to_ascii_lowercase().contains("max-age=0");
        let mut jar = self.cookies.lock().unwrap_or_else(PoisonError::into_inner);
        if gone {
            jar.remove(name.trim());
        } else {
            jar.insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }

    /// Sends `req` with this device's cookies and keeps the cookies it sets.
    ///
    /// # Panics
    /// When the request fails (connection refused, timeout).
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let cookie = self.cookie_header();
        let req = if cookie.is_empty() {
            req
        } else {
            req.header("cookie", cookie)
        };
        let res = req.send().await.unwrap_or_else(|e| panic!("request: {e}"));
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (retry_after, location) = (header("retry-after"), header("location"));
        let mut set_cookie = false;
        for v in res.headers().get_all("set-cookie") {
            if let Ok(v) = v.to_str() {
                set_cookie = true;
                self.keep(v);
            }
        }
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            body,
            retry_after,
            location,
            set_cookie,
        }
    }

    /// `POST {app}auth/vipps/api/start` with `{"phone": phone}`.
    pub async fn start(&self, app: &Url, phone: &str) -> Reply {
        let url = join(app, "auth/vipps/api/start");
        let req = self.http.post(url).header("x-requested-with", "test");
        self.send(req.json(&serde_json::json!({ "phone": phone })))
            .await
    }

    /// `GET {app}auth/vipps/api/status/{id}`.
    pub async fn status(&self, app: &Url, id: &str) -> Reply {
        let url = join(app, &format!("auth/vipps/api/status/{id}"));
        self.send(self.http.get(url)).await
    }

    /// `POST {app}auth/vipps/api/cancel/{id}`.
    pub async fn cancel(&self, app: &Url, id: &str) -> Reply {
        let url = join(app, &format!("auth/vipps/api/cancel/{id}"));
        self.send(self.http.post(url).header("x-requested-with", "test"))
            .await
    }

    /// `GET {app}auth/vipps/api/me`.
    pub async fn me(&self, app: &Url) -> Reply {
        self.send(self.http.get(join(app, "auth/vipps/api/me")))
            .await
    }

    /// `GET url` as a browser (`Accept: text/html`).
    pub async fn get(&self, url: &Url) -> Reply {
        self.send(self.http.get(url.clone()).header("accept", "text/html"))
            .await
    }
}

/// `base` joined with the relative `path`.
///
/// # Panics
/// When that is no URL.
#[must_use]
pub fn join(base: &Url, path: &str) -> Url {
    base.join(path)
        .unwrap_or_else(|e| panic!("{base} + {path}: {e}"))
}

impl Device {
    /// Starts a login for `phone` on `app`: its id.
    ///
    /// # Panics
    /// When the start is not answered 201.
    pub async fn login_started(&self, app: &Url, phone: &str) -> String {
        let started = self.start(app, phone).await;
        assert_eq!(
            started.status,
            201,
            "start for {}: {:?}",
            masked(phone),
            started.body
        );
        started.str("login_id").to_owned()
    }

    /// Polls `api/status` on `app` until the login is no longer pending: that answer.
    ///
    /// # Panics
    /// When it is still pending after [`DECIDED_WITHIN`].
    pub async fn decided(&self, app: &Url, id: &str) -> Reply {
        until(DECIDED_WITHIN, "the login to be decided", || async {
            let reply = self.status(app, id).await;
            (reply.str("status") != "pending").then_some(reply)
        })
        .await
        .0
    }
}
