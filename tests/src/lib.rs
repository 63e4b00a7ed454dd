//! Cross-crate end-to-end tests of vipps-login-rs: the reference apps (`counter`,
//! `continue-on-phone`) started in process against the simulator and driven over HTTP
//! with cookie-keeping clients, one per "device". The tests live in `tests/tests/`; this
//! library holds their shared harness. The browser tests are in `tests/e2e/` (Node).
//!
//! The multi-instance tests (`tests/tests/multi_instance.rs`) run real processes instead:
//! [`procs`] starts and stops `redis-server`, the simulator and the app binaries;
//! [`cluster`] puts several app instances on one Redis and one simulator; [`device`]
//! drives them over HTTP with browsers whose cookies go to every instance.

pub mod cluster;
pub mod device;
pub mod procs;
pub mod prometheus;

use std::time::Duration;

use url::Url;

/// A "browser": keeps cookies, does not follow redirects (tests look at each hop).
///
/// # Panics
/// When the TLS backend cannot be initialised (never on supported platforms).
#[must_use]
#[allow(clippy::expect_used)]
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// A response read whole.
#[derive(Debug)]
pub struct Page {
    /// The status code.
    pub status: u16,
    /// The `Location` header.
    pub location: Option<String>,
    /// All `Set-Cookie` headers.
    pub set_cookies: Vec<String>,
    /// The `Retry-After` header.
    pub retry_after: Option<String>,
    /// The body.
    pub body: String,
}

impl Page {
    /// Reads `res` whole.
    pub async fn read(res: reqwest::Response) -> Page {
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header("location");
        let retry_after = header("retry-after");
        let set_cookies = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        Page {
            status,
            location,
            set_cookies,
            retry_after,
            body,
        }
    }

    /// GETs `url` with `client` as a browser would (`Accept: text/html`).
    ///
    /// # Panics
    /// When the request fails.
    #[allow(clippy::expect_used)]
    pub async fn get(client: &reqwest::Client, url: &Url) -> Page {
        let res = client
            .get(url.clone())
            .header("accept", "text/html")
            .send()
            .await
            .expect("GET");
        Page::read(res).await
    }

    /// POSTs a form to `url` with `client`.
    ///
    /// # Panics
    /// When the request fails.
    #[allow(clippy::expect_used)]
    pub async fn post(client: &reqwest::Client, url: &Url, form: &[(&str, &str)]) -> Page {
        let res = client
            .post(url.clone())
            .header("accept", "text/html")
            .form(form)
            .send()
            .await
            .expect("POST");
        Page::read(res).await
    }

    /// The `data-status` of the layer's `#result` section.
    #[must_use]
    pub fn result(&self) -> Option<String> {
        attr_after(&self.body, "id=\"result\"", "data-status")
    }

    /// The value of the first `csrf_token` field.
    #[must_use]
    pub fn csrf(&self) -> Option<String> {
        attr_after(&self.body, "name=\"csrf_token\"", "value")
    }

    /// The value of attribute `attr` of the element whose tag contains `marker`.
    #[must_use]
    pub fn attr(&self, marker: &str, attr: &str) -> Option<String> {
        attr_after(&self.body, marker, attr)
    }
}

/// The value of `attr="…"` in the tag that contains `marker`.
#[must_use]
pub fn attr_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let needle = format!("{attr}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')?;
    Some(tag[start..start + end].to_owned())
}

/// The login id in a layer wait-page location like `/auth/vipps/wait/{id}`.
#[must_use]
pub fn login_id(location: &str) -> Option<&str> {
    location.strip_prefix("/auth/vipps/wait/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_of_the_tag_holding_the_marker() {
        let html = r#"<form><input type="hidden" name="csrf_token" value="abc"></form>
<section id="result" data-status="declined">"#;
        assert_eq!(
            attr_after(html, "name=\"csrf_token\"", "value").as_deref(),
            Some("abc")
        );
        assert_eq!(
            attr_after(html, "id=\"result\"", "data-status").as_deref(),
            Some("declined")
        );
        assert_eq!(attr_after(html, "id=\"nothing\"", "value"), None);
        assert_eq!(login_id("/auth/vipps/wait/xyz"), Some("xyz"));
    }
}
