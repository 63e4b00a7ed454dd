//! What both staff gates ([`StaffGate`](crate::staff::StaffGate) and
//! [`StaffOidc`](crate::staff_oidc::StaffOidc)) share: their private (encrypted and
//! authenticated) cookies under the app's cookie key, the guarded paths, and the answer
//! to a request without a staff sign-in.

use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, CookieJar, Key, SameSite};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use vipps_login_core::Language;

use crate::words::Catalog;

/// The value of the sealed cookie `name` in `headers`, if it opens under `key`.
pub(crate) fn read_sealed(headers: &HeaderMap, key: &Key, name: &str) -> Option<String> {
    let mut jar = CookieJar::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for c in Cookie::split_parse_encoded(value).flatten() {
            if c.name() == name {
                jar.add_original(c.into_owned());
            }
        }
    }
    jar.private(key).get(name).map(|c| c.value().to_owned())
}

/// How a gate seals its cookies.
pub(crate) struct Sealed<'a> {
    pub key: &'a Key,
    /// `Secure` (not for plain-http development on loopback).
    pub secure: bool,
    pub same_site: SameSite,
}

impl Sealed<'_> {
    /// `Set-Cookie` for `value` sealed under `name`, living `max_age` (zero removes it).
    pub(crate) fn set_cookie(
        &self,
        name: &'static str,
        value: String,
        max_age: Duration,
    ) -> Option<HeaderValue> {
        let cookie = Cookie::build((name, value))
            .http_only(true)
            .same_site(self.same_site)
            .path("/")
            .secure(self.secure)
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
            ));
        let mut jar = CookieJar::new();
        jar.private_mut(self.key).add(cookie);
        HeaderValue::from_str(&jar.get(name)?.to_string()).ok()
    }
}

/// Whether `path` is `prefix` itself or below it.
pub(crate) fn is_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The answer to a request without a staff sign-in: a page request is sent to
/// `sign_in_path` (coming back afterwards), anything else gets 401 with a JSON body
/// whose message is the gate's `staff_only` in `words`.
pub(crate) fn refuse_anonymous(
    request: &Request,
    sign_in_path: &str,
    (words, lang): (&Catalog, Language),
) -> Response {
    let wants_page = request.method() == Method::GET
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if wants_page {
        let back = request
            .uri()
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let query = serde_urlencoded::to_string([("return_to", back)]).unwrap_or_default();
        return Redirect::to(&format!("{sign_in_path}?{query}")).into_response();
    }
    let body = serde_json::json!({
        "error": "staff_only",
        "message": words.text(lang, "staff_only"),
    });
    let mut res = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"staff\""),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_means_the_prefix_or_below_it() {
        assert!(is_under("/operator", "/operator"));
        assert!(is_under("/operator/login", "/operator/"));
        assert!(!is_under("/operatorx", "/operator"));
        assert!(!is_under("/authorize", "/operator"));
    }
}
