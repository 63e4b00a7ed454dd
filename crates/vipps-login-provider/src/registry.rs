//! The client registry: the relying parties this bridge serves, read from TOML.
//!
//! ```toml
//! [[clients]]
//! client_id = "till-system"
//! # Hashed at rest (see `hash_secret`); `client_secret = "..."` in plain text is for demos.
//! # `--hash-secret` / `hash_secret` writes it; at most 100 000 iterations are accepted.
//! client_secret_hash = "pbkdf2-sha256:10000:c2FsdHNhbHRzYWx0c2FsdA:..."
//! grant_types = ["urn:openid:params:grant-type:ciba", "authorization_code"]
//! scopes = ["openid", "profile", "phone"]          # nin / delegatedConsents pass through when listed
//! redirect_uris = ["https://idp.example/callback"] # exact match
//! loopback_any_port = false                        # RFC 8252 §7.3 for http://127.0.0.1 URIs
//! subject_type = "public"                          # or "pairwise"
//! start_limit = { max = 30, window_secs = 60 }      # logins this client may start per window
//! id_token_signed_response_alg = "RS256"           # or "ES256"
//! require_pkce = true                              # the default; false only for a platform
//!                                                  # that cannot send PKCE (confidential only)
//! ```
//!
//! PKCE (`S256`) is required from every client of the authorization-code grant, as OAuth
//! 2.1 and RFC 9700 §2.1.1 expect; `require_pkce = false` lets a confidential client that
//! cannot send it (some older identity platforms) go without. A public client always
//! needs it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;
use vipps_login_core::HttpsOrLoopbackUrl;

use crate::claims::{OidcScopes, PASS_THROUGH_SCOPES, STANDARD_SCOPES};
use crate::credential::{Credential, HashRefusal, MAX_ITERATIONS, parse_hash};
use crate::error::OAuthError;
use crate::keys::SigningAlg;

/// The CIBA grant type.
pub const CIBA_GRANT: &str = "urn:openid:params:grant-type:ciba";
/// The authorization-code grant type.
pub const AUTHORIZATION_CODE_GRANT: &str = "authorization_code";

/// A problem with the registry file; the text names the client and the setting.
#[derive(Debug, thiserror::Error)]
#[error("client registry: {0}")]
pub struct RegistryError(pub(crate) String);

/// Whether relying parties see Vipps' `sub` or a pairwise one (see
/// [`SubjectMapping`](crate::SubjectMapping)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SubjectType {
    /// Vipps' `sub`.
    #[default]
    Public,
    /// A keyed hash per client.
    Pairwise,
}

/// How many logins a client may start per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartLimit {
    /// Starts allowed per window.
    pub max: u32,
    /// The window, in seconds.
    pub window_secs: u64,
}

impl StartLimit {
    /// The window as a duration.
    #[must_use]
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    client_id: String,
    client_secret: Option<String>,
    client_secret_hash: Option<String>,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    loopback_any_port: bool,
    #[serde(default)]
    subject_type: SubjectType,
    start_limit: Option<StartLimit>,
    #[serde(default)]
    id_token_signed_response_alg: SigningAlg,
    #[serde(default = "yes")]
    require_pkce: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    clients: Vec<ClientFile>,
}

/// One registered relying party.
pub struct Client {
    /// The client id.
    pub client_id: String,
    credential: Credential,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// Allowed scopes (standard ones and allowed pass-through ones).
    pub scopes: Vec<String>,
    /// Registered redirect URIs (exact match).
    pub redirect_uris: Vec<Url>,
    /// Whether `http://127.0.0.1`/`[::1]` redirect URIs match on any port (RFC 8252 §7.3).
    pub loopback_any_port: bool,
    /// Public or pairwise subjects.
    pub subject_type: SubjectType,
    /// Start limit, when set.
    pub start_limit: Option<StartLimit>,
    /// The algorithm of this client's ID tokens (`RS256` by default).
    pub id_token_alg: SigningAlg,
    /// Whether its authorization requests must carry PKCE `S256` (always for a public
    /// client; a confidential one may be registered with `require_pkce = false`).
    pub require_pkce: bool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("confidential", &self.is_confidential())
            .field("grant_types", &self.grant_types)
            .field("scopes", &self.scopes)
            .field("redirect_uris", &self.redirect_uris)
            .field("require_pkce", &self.require_pkce)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Whether the client has a secret (confidential) or not (public, PKCE only).
    #[must_use]
    pub fn is_confidential(&self) -> bool {
        !matches!(self.credential, Credential::None)
    }

    /// Whether the client may use `grant_type`.
    #[must_use]
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }

    /// The Vipps-specific scopes this client may ask for.
    #[must_use]
    pub fn pass_through_scopes(&self) -> Vec<String> {
        self.scopes
            .iter()
            .filter(|s| PASS_THROUGH_SCOPES.contains(&s.as_str()))
            .cloned()
            .collect()
    }

    /// The scopes of a request's `scope`, when this client may ask for all of them
    /// (`invalid_scope` otherwise).
    pub(crate) fn granted_scopes(&self, scope: &str) -> Result<OidcScopes, OAuthError> {
        let scopes = OidcScopes::parse_allowed(scope, &self.pass_through_scopes())
            .map_err(|e| OAuthError::from_start(&e))?;
        if let Some(s) = scopes.iter().find(|s| !self.scopes.iter().any(|a| a == s)) {
            return Err(OAuthError::bad(
                "invalid_scope",
                format!("this client may not ask for the scope {s}"),
            ));
        }
        Ok(scopes)
    }

    /// Whether `uri` is one of the registered redirect URIs (exact match, or any port on
    /// a loopback address when `loopback_any_port` is set).
    #[must_use]
    pub fn redirect_uri_matches(&self, uri: &str) -> bool {
        let Ok(given) = Url::parse(uri) else {
            return false;
        };
        self.redirect_uris.iter().any(|r| {
            if r.as_str() == given.as_str() {
                return true;
            }
            if !self.loopback_any_port || r.scheme() != "http" || given.scheme() != "http" {
                return false;
            }
            let loopback = matches!(r.host_str(), Some("127.0.0.1" | "[::1]"));
            let mut with_port = r.clone();
            loopback
                && with_port.set_port(given.port()).is_ok()
                && with_port.as_str() == given.as_str()
        })
    }

    /// Checks `secret` in constant time. A public client never authenticates with a secret.
    #[must_use]
    pub fn verify_secret(&self, secret: &str) -> bool {
        self.credential.verify(secret)
    }
}

/// All registered clients, by id.
pub struct ClientRegistry {
    clients: HashMap<String, Arc<Client>>,
    /// What an unknown id's check costs: never more than a client hashed at the default
    /// cost (see [`Credential::decoy`]).
    decoy: Credential,
}

impl fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRegistry")
            .field("clients", &self.clients)
            .finish_non_exhaustive()
    }
}

impl Default for ClientRegistry {
    fn default() -> Self {
        ClientRegistry {
            clients: HashMap::new(),
            decoy: Credential::decoy(false),
        }
    }
}

impl ClientRegistry {
    /// Reads a registry from TOML (see the module documentation); every client is
    /// validated, so a bad file fails here and not at the first request.
    pub fn from_toml(text: &str) -> Result<ClientRegistry, RegistryError> {
        let file: RegistryFile =
            toml::from_str(text).map_err(|e| RegistryError(e.message().to_owned()))?;
        let mut reg = ClientRegistry::default();
        for c in file.clients {
            reg.insert(validate(c)?)?;
        }
        let hashed = reg.clients.values().any(|c| c.credential.is_hashed());
        reg.decoy = Credential::decoy(hashed);
        Ok(reg)
    }

    fn insert(&mut self, client: Client) -> Result<(), RegistryError> {
        if self.clients.contains_key(&client.client_id) {
            return Err(RegistryError(format!(
                "client {} is registered twice",
                client.client_id
            )));
        }
        self.clients
            .insert(client.client_id.clone(), Arc::new(client));
        Ok(())
    }

    /// The client with this id.
    #[must_use]
    pub fn get(&self, client_id: &str) -> Option<&Client> {
        self.clients.get(client_id).map(|c| &**c)
    }

    /// The client with this id, shared.
    pub(crate) fn client(&self, client_id: &str) -> Option<Arc<Client>> {
        self.clients.get(client_id).cloned()
    }

    /// The confidential client `client_id` if `secret` is its secret. An unknown client
    /// and a wrong secret are indistinguishable to the caller. This is a PBKDF2 check:
    /// call it off the async workers (the provider's endpoints do).
    #[must_use]
    pub fn authenticate(&self, client_id: &str, secret: &str) -> Option<&Client> {
        self.check(client_id, secret)
            .and_then(|_| self.get(client_id))
    }

    /// [`authenticate`](Self::authenticate), shared.
    pub(crate) fn check(&self, client_id: &str, secret: &str) -> Option<Arc<Client>> {
        let Some(client) = self.clients.get(client_id) else {
            // As slow as a client hashed at the default cost, so timing does not tell
            // which ids exist (and never slower: an unknown id is what an attacker sends).
            let _ = self.decoy.verify(secret);
            return None;
        };
        client.verify_secret(secret).then(|| client.clone())
    }

    /// The number of clients.
    #[must_use]
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no client is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

fn validate(c: ClientFile) -> Result<Client, RegistryError> {
    let id = c.client_id;
    let err = |what: String| RegistryError(format!("client {id}: {what}"));
    if id.is_empty()
        || id.len() > 128
        || !id.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b':')
    {
        return Err(err(
            "client_id must be 1 to 128 printable characters without ':'".into(),
        ));
    }
    let credential = match (c.client_secret, c.client_secret_hash) {
        (Some(_), Some(_)) => {
            return Err(err(
                "give client_secret or client_secret_hash, not both".into()
            ));
        }
        (Some(s), None) if s.len() < 8 => {
            return Err(err("client_secret must be at least 8 characters".into()));
        }
        (Some(s), None) => Credential::plain(&s),
        (None, Some(h)) => parse_hash(&h).map_err(|refusal| match refusal {
            HashRefusal::Malformed => err(
                "client_secret_hash must be pbkdf2-sha256:ITERATIONS:SALT:HASH (base64url)".into(),
            ),
            HashRefusal::TooCostly(asked) => err(format!(
                "client_secret_hash asks for {asked} PBKDF2 iterations, more than the \
                 {MAX_ITERATIONS} accepted (every token request pays them); hash the secret \
                 again with --hash-secret"
            )),
        })?,
        (None, None) => Credential::None,
    };
    if c.grant_types.is_empty() {
        return Err(err("grant_types is empty".into()));
    }
    for g in &c.grant_types {
        if g != CIBA_GRANT && g != AUTHORIZATION_CODE_GRANT {
            return Err(err(format!(
                "unknown grant type {g:?} (use {CIBA_GRANT} or {AUTHORIZATION_CODE_GRANT})"
            )));
        }
    }
    if c.grant_types.iter().any(|g| g == CIBA_GRANT) && matches!(credential, Credential::None) {
        return Err(err(
            "the CIBA grant needs a confidential client (a secret)".into()
        ));
    }
    let scopes = if c.scopes.is_empty() {
        STANDARD_SCOPES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        c.scopes
    };
    for s in &scopes {
        if !STANDARD_SCOPES.contains(&s.as_str()) && !PASS_THROUGH_SCOPES.contains(&s.as_str()) {
            return Err(err(format!("unknown scope {s:?}")));
        }
    }
    let mut redirect_uris = Vec::new();
    for r in &c.redirect_uris {
        let u = Url::parse(r).map_err(|e| err(format!("redirect URI {r:?}: {e}")))?;
        if u.fragment().is_some() || HttpsOrLoopbackUrl::new(u.clone()).is_err() {
            return Err(err(format!(
                "redirect URI {r:?} must be https (or http on loopback) without a fragment"
            )));
        }
        redirect_uris.push(u);
    }
    if c.grant_types.iter().any(|g| g == AUTHORIZATION_CODE_GRANT) && redirect_uris.is_empty() {
        return Err(err(
            "the authorization_code grant needs redirect_uris".into()
        ));
    }
    if !c.require_pkce && matches!(credential, Credential::None) {
        return Err(err(
            "require_pkce = false is only for confidential clients (a public client always needs PKCE)".into(),
        ));
    }
    if let Some(l) = c.start_limit
        && (l.max == 0 || l.window_secs == 0)
    {
        return Err(err("start_limit needs max and window_secs above 0".into()));
    }
    Ok(Client {
        client_id: id,
        credential,
        grant_types: c.grant_types,
        scopes,
        redirect_uris,
        loopback_any_port: c.loopback_any_port,
        subject_type: c.subject_type,
        start_limit: c.start_limit,
        id_token_alg: c.id_token_signed_response_alg,
        require_pkce: c.require_pkce,
    })
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
