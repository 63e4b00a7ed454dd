//! [`HttpsOrLoopbackUrl`]: a URL that is `https`, or plain `http` on this machine only,
//! and [`is_loopback`], the one definition of "this machine" (`localhost`,
//! 127.0.0.0/8, `::1`).
//!
//! Issuers, redirect URIs and public base URLs all follow this rule: anything a browser
//! or a server reaches over the network must be TLS; plain http is for development on
//! loopback, where nothing travels.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use url::Url;

/// Whether `url`'s host is loopback: `localhost` (any case), an address in
/// 127.0.0.0/8, or `::1`.
///
/// ```
/// use url::Url;
/// use vipps_login_core::is_loopback;
///
/// let yes = |s: &str| is_loopback(&Url::parse(s).unwrap());
/// assert!(yes("http://localhost:8080/") && yes("http://127.0.0.2/") && yes("http://[::1]/"));
/// assert!(!yes("http://example.com/") && !yes("http://10.0.0.1/") && !yes("http://[::2]/"));
/// ```
#[must_use]
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Why a URL is not an [`HttpsOrLoopbackUrl`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsecureUrl {
    /// Not a URL at all.
    #[error("not a URL ({0})")]
    Unparsable(String),
    /// Plain `http` to a host that is not loopback.
    #[error("plain http is allowed only on loopback (localhost, 127.0.0.1, ::1); use https")]
    PlainHttp,
    /// A scheme other than `https` and `http`, or `https` without a host.
    #[error("the scheme {0:?} is not supported; use https")]
    Scheme(String),
}

/// A URL that is `https` (with a host), or plain `http` on loopback ([`is_loopback`]).
///
/// It says nothing else about the URL (query, fragment, path, credentials): each use has
/// rules of its own and checks them itself.
///
/// ```
/// use vipps_login_core::{HttpsOrLoopbackUrl, InsecureUrl};
///
/// let remote: HttpsOrLoopbackUrl = "https://id.example.com/realms/staff".parse()?;
/// assert!(!remote.is_plain_http());
/// let local: HttpsOrLoopbackUrl = "http://127.0.0.1:8080/".parse()?;
/// assert!(local.is_plain_http());
/// assert_eq!(
///     "http://example.com/".parse::<HttpsOrLoopbackUrl>(),
///     Err(InsecureUrl::PlainHttp)
/// );
/// assert!(matches!("ftp://localhost/".parse::<HttpsOrLoopbackUrl>(), Err(InsecureUrl::Scheme(_))));
/// # Ok::<(), InsecureUrl>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpsOrLoopbackUrl(Url);

impl HttpsOrLoopbackUrl {
    /// Checks `url`.
    ///
    /// # Errors
    /// [`InsecureUrl::PlainHttp`] or [`InsecureUrl::Scheme`].
    pub fn new(url: Url) -> Result<HttpsOrLoopbackUrl, InsecureUrl> {
        match url.scheme() {
            "https" if url.host().is_some() => Ok(HttpsOrLoopbackUrl(url)),
            "http" if is_loopback(&url) => Ok(HttpsOrLoopbackUrl(url)),
            "http" => Err(InsecureUrl::PlainHttp),
            other => Err(InsecureUrl::Scheme(other.to_owned())),
        }
    }

    /// Whether this is the plain-`http` (loopback, development) case.
    #[must_use]
    pub fn is_plain_http(&self) -> bool {
        self.0.scheme() == "http"
    }

    /// The URL.
    #[must_use]
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// The URL, owned.
    #[must_use]
    pub fn into_url(self) -> Url {
        self.0
    }
}

impl TryFrom<Url> for HttpsOrLoopbackUrl {
    type Error = InsecureUrl;
    fn try_from(url: Url) -> Result<Self, Self::Error> {
        HttpsOrLoopbackUrl::new(url)
    }
}

impl FromStr for HttpsOrLoopbackUrl {
    type Err = InsecureUrl;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = Url::parse(s).map_err(|e| InsecureUrl::Unparsable(e.to_string()))?;
        HttpsOrLoopbackUrl::new(url)
    }
}

impl AsRef<Url> for HttpsOrLoopbackUrl {
    fn as_ref(&self) -> &Url {
        &self.0
    }
}

impl From<HttpsOrLoopbackUrl> for Url {
    fn from(u: HttpsOrLoopbackUrl) -> Url {
        u.0
    }
}

impl fmt::Display for HttpsOrLoopbackUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(s: &str) -> Result<HttpsOrLoopbackUrl, InsecureUrl> {
        s.parse()
    }

    #[test]
    fn loopback_is_localhost_127_slash_8_and_ipv6_one() {
        for s in [
            "http://localhost/",
            "http://LOCALHOST:1/",
            "http://127.0.0.1:8080/x",
            "http://127.255.255.254/",
            "http://[::1]:9/",
        ] {
            assert!(is_loopback(&Url::parse(s).unwrap()), "{s}");
            assert!(check(s).unwrap().is_plain_http(), "{s}");
        }
    }

    #[test]
    fn everything_else_over_plain_http_is_refused() {
        for s in [
            "http://example.com/",
            "http://localhost.example.com/",
            "http://128.0.0.1/",
            "http://0.0.0.0/",
            "http://10.0.0.1/",
            "http://[::]/",
            "http://[::2]/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert_eq!(check(s), Err(InsecureUrl::PlainHttp), "{s}");
        }
    }

    #[test]
    fn https_anywhere_and_no_other_scheme() {
        assert!(!check("https://example.com/").unwrap().is_plain_http());
        assert!(check("https://127.0.0.1/").is_ok());
        assert_eq!(
            check("ftp://127.0.0.1/"),
            Err(InsecureUrl::Scheme("ftp".into()))
        );
        assert!(matches!(
            check("file:///etc/passwd"),
            Err(InsecureUrl::Scheme(_))
        ));
        assert!(matches!(
            check("not a url"),
            Err(InsecureUrl::Unparsable(_))
        ));
        let u = check("https://example.com/a?b").unwrap();
        assert_eq!(u.to_string(), "https://example.com/a?b");
        assert_eq!(Url::from(u.clone()), *u.as_url());
    }
}
