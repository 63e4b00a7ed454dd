//! Merchant clients registered in the simulator: credentials, redirect URIs, accepted
//! authentication methods and delegated-consent questions.

use serde::{Deserialize, Serialize};
use url::Url;

/// The built-in client id.
pub const DEMO_CLIENT_ID: &str = "demo-client";
/// The built-in client secret.
pub const DEMO_CLIENT_SECRET: &str = "demo-secret";

/// Which client authentication methods a simulated client may use at the endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// `client_secret_basic` or `client_secret_post` (default).
    #[default]
    Any,
    /// Only HTTP Basic (`client_secret_basic`).
    ClientSecretBasic,
    /// Only form parameters (`client_secret_post`).
    ClientSecretPost,
}

/// One question of the `delegatedConsents` scope, configured per client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DelegatedConsentQuestion {
    /// Stable id, returned in userinfo.
    pub id: String,
    /// The text shown to the customer (`textDisplayedToUser`).
    pub text: String,
    /// Whether the customer must accept it to log in.
    #[serde(default)]
    pub required: bool,
}

/// A merchant client registered in the simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SimClient {
    /// The `client_id`.
    pub client_id: String,
    /// The `client_secret`.
    pub client_secret: String,
    /// The merchant name the phone shows.
    #[serde(default = "default_merchant_name")]
    pub name: String,
    /// Registered redirect URIs for `requested_flow=login_to_webpage` (exact match).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Whether any loopback `http(s)` URI (127.0.0.1, ::1, localhost) counts as registered.
    #[serde(default)]
    pub allow_loopback_redirects: bool,
    /// Which client authentication methods are accepted.
    #[serde(default)]
    pub auth_method: AuthMethod,
    /// Questions shown with the `delegatedConsents` scope.
    #[serde(default = "default_delegated_consents")]
    pub delegated_consents: Vec<DelegatedConsentQuestion>,
}

fn default_merchant_name() -> String {
    "Demo Merchant".to_owned()
}

fn default_delegated_consents() -> Vec<DelegatedConsentQuestion> {
    vec![
        DelegatedConsentQuestion {
            id: "terms".to_owned(),
            text: "I accept the membership terms".to_owned(),
            required: true,
        },
        DelegatedConsentQuestion {
            id: "newsletter".to_owned(),
            text: "Send me offers by email".to_owned(),
            required: false,
        },
    ]
}

impl SimClient {
    /// A client with these credentials, named "Demo Merchant", with no redirect URIs.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        SimClient {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            name: default_merchant_name(),
            redirect_uris: Vec::new(),
            allow_loopback_redirects: false,
            auth_method: AuthMethod::Any,
            delegated_consents: default_delegated_consents(),
        }
    }

    /// The built-in `demo-client` / `demo-secret`, any loopback redirect URI registered.
    pub fn demo() -> Self {
        let mut c = SimClient::new(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET);
        c.allow_loopback_redirects = true;
        c
    }

    /// Sets the merchant name shown on the phone.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Registers a redirect URI (exact match).
    #[must_use]
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }

    /// Lets any loopback `http(s)` redirect URI count as registered.
    #[must_use]
    pub fn allow_loopback_redirects(mut self, allow: bool) -> Self {
        self.allow_loopback_redirects = allow;
        self
    }

    /// Restricts the accepted client authentication method.
    #[must_use]
    pub fn auth_method(mut self, method: AuthMethod) -> Self {
        self.auth_method = method;
        self
    }

    pub(crate) fn redirect_registered(&self, uri: &Url) -> bool {
        if self.redirect_uris.iter().any(|r| r == uri.as_str()) {
            return true;
        }
        self.allow_loopback_redirects
            && matches!(uri.scheme(), "http" | "https")
            && uri.fragment().is_none()
            && match uri.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            }
    }
}
