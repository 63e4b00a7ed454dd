//! Grants and the tokens issued for them: single-use authorization codes of the redirect
//! variant and access tokens, each kept until it expires.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use url::Url;

use crate::client::SimClient;
use crate::oauth_error::OAuthError;
use crate::store::Sharded;
use crate::users::UserRecord;

/// `bytes` random bytes, base64url without padding: request ids, codes, access tokens
/// and customer tokens.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The outcome of a poll or code exchange that yields tokens.
pub(crate) struct Grant {
    pub(crate) client: Arc<SimClient>,
    pub(crate) user: Arc<UserRecord>,
    pub(crate) scopes: Vec<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) sid: String,
    pub(crate) auth_req_id: String,
    pub(crate) answers: BTreeMap<String, bool>,
    /// Whether it came from the code exchange of the webpage variant.
    pub(crate) redirect: bool,
}

/// An authorization code of the redirect variant, bound to its client and redirect URI.
struct CodeGrant {
    auth_req_id: String,
    client_id: String,
    redirect_uri: Url,
    expires_at: Instant,
}

/// What an access token grants: the userinfo of these scopes.
pub(crate) struct AccessGrant {
    pub(crate) client: Arc<SimClient>,
    pub(crate) user: Arc<UserRecord>,
    pub(crate) scopes: Vec<String>,
    pub(crate) sub: String,
    pub(crate) sid: String,
    pub(crate) answers: BTreeMap<String, bool>,
    pub(crate) expires_at: Instant,
}

/// The outstanding authorization codes and access tokens.
pub(crate) struct TokenStore {
    codes: Sharded<CodeGrant>,
    access: Sharded<AccessGrant>,
}

impl TokenStore {
    pub(crate) fn new() -> Self {
        TokenStore {
            codes: Sharded::new(),
            access: Sharded::new(),
        }
    }

    /// A new code for the approved request `auth_req_id` of the redirect variant.
    pub(crate) fn add_code(
        &self,
        auth_req_id: String,
        client_id: String,
        redirect_uri: Url,
        expires_at: Instant,
    ) -> String {
        let code = random_token(32);
        self.codes.shard(&code).insert(
            code.clone(),
            CodeGrant {
                auth_req_id,
                client_id,
                redirect_uri,
                expires_at,
            },
        );
        code
    }

    /// Redeems `code` for `client_id`; the `auth_req_id` it was issued for. A code is
    /// single use: it is gone afterwards, also when the exchange is refused.
    pub(crate) fn redeem_code(
        &self,
        client_id: &str,
        code: &str,
        redirect_uri: Option<&str>,
        now: Instant,
    ) -> Result<String, OAuthError> {
        let grant = self.codes.shard(code).remove(code);
        let grant = match grant {
            Some(g) if g.client_id == client_id && g.expires_at > now => g,
            _ => {
                return Err(OAuthError::bad(
                    "invalid_grant",
                    "The code is unknown, expired or already used",
                ));
            }
        };
        if let Some(r) = redirect_uri
            && r != grant.redirect_uri.as_str()
        {
            return Err(OAuthError::bad(
                "invalid_grant",
                "redirect_uri does not match the one of the login request",
            ));
        }
        Ok(grant.auth_req_id)
    }

    /// Stores `grant` under a new access token; the token.
    pub(crate) fn add_access_token(&self, grant: AccessGrant) -> String {
        let token = random_token(32);
        self.access.shard(&token).insert(token.clone(), grant);
        token
    }

    /// `f` of the grant of `token`, unless the token is unknown or expired.
    pub(crate) fn with_access_grant<R>(
        &self,
        token: &str,
        now: Instant,
        f: impl FnOnce(&AccessGrant) -> R,
    ) -> Option<R> {
        let shard = self.access.shard(token);
        shard.get(token).filter(|g| g.expires_at > now).map(f)
    }

    /// Removes expired codes and access tokens.
    pub(crate) fn purge(&self, now: Instant) {
        for mut shard in self.codes.each_shard() {
            shard.retain(|_, c| c.expires_at > now);
        }
        for mut shard in self.access.each_shard() {
            shard.retain(|_, t| t.expires_at > now);
        }
    }
}
