//! Sessions: a private (encrypted and authenticated) cookie holding only a random session
//! id; the session data lives in the core [`Store`], serialized as JSON.

use std::sync::Arc;
use std::time::Duration;

use cookie::{Cookie, CookieJar, Key, SameSite};
use http::{HeaderMap, HeaderValue, header};
use serde::{Deserialize, Serialize};
use vipps_login_core::token::random_token;
use vipps_login_core::{Clock, Error, Sealer, Store};

use crate::user::StoredUser;

/// Where the `Secure` attribute of the layer's cookies comes from. It is decided once,
/// from configuration, never from a request: a proxy that forwards `Host: 127.0.0.1`
/// must not turn it off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecureCookies {
    /// From the [public base URL](crate::VippsLoginLayerBuilder::public_base_url): not
    /// `Secure` only when it is plain `http` (which the builder allows on loopback alone,
    /// for development); `Secure` when it is https or not configured. Secure cookies get
    /// the `__Host-` name prefix unless the app names the cookie itself.
    #[default]
    Auto,
    /// Always `Secure` (the cookie is then never sent over plain http).
    Always,
    /// Never `Secure`. Only for development setups that are not on loopback.
    Never,
}

/// The data behind a session id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SessionData {
    /// The synchronizer CSRF token of this session.
    pub csrf: String,
    /// Unix seconds when the session ends (absolute lifetime).
    pub expires: u64,
    /// The owner of the logins this session starts (their engine context names it);
    /// only this session may follow, cancel and redeem them. Never sent to the browser.
    pub owner: String,
    /// The logged-in identity, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<StoredUser>,
}

/// A loaded (or freshly created, not yet saved) session.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub id: String,
    pub data: SessionData,
    /// True when the browser does not hold this id yet (a `Set-Cookie` is due).
    pub is_new: bool,
    /// The id this session was rotated away from: [`Sessions::save`] deletes it in the
    /// same step as it writes the new one.
    pub replaces: Option<String>,
}

/// Session handling shared by the layer's routes and its pass-through path.
pub(crate) struct Sessions {
    pub store: Arc<dyn Store>,
    pub key: Key,
    pub cookie_name: String,
    pub ttl: Duration,
    /// The `Secure` attribute, decided from configuration when the layer was built.
    pub secure: bool,
    /// Seals session data at rest (it holds the customer's userinfo); derived from the
    /// cookie key, so instances sharing the cookie secret share it.
    pub sealer: Sealer,
    /// The client's clock, which session lifetimes and login times are read from (tests
    /// move it; the store's lifetimes follow the same clock).
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("cookie_name", &self.cookie_name)
            .field("ttl", &self.ttl)
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

/// What every session's store key starts with.
pub(crate) const STORE_KEY_PREFIX: &str = "vipps-login-tower:session:";

pub(crate) fn store_key(id: &str) -> String {
    format!("{STORE_KEY_PREFIX}{id}")
}

impl Sessions {
    /// Unix seconds now, on the client's clock.
    pub(crate) fn now(&self) -> u64 {
        self.clock.unix_secs()
    }

    /// The session id carried by the request's private cookie, if any authenticates.
    pub(crate) fn id_from_headers(&self, headers: &HeaderMap) -> Option<String> {
        self.private_value(headers, &self.cookie_name)
    }

    /// The 43-character value of the private cookie `name`, if one authenticates.
    fn private_value(&self, headers: &HeaderMap, name: &str) -> Option<String> {
        let jar = CookieJar::new();
        let private = jar.private(&self.key);
        for value in headers.get_all(header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for cookie in Cookie::split_parse(value).flatten() {
                if cookie.name() != name {
                    continue;
                }
                if let Some(plain) = private.decrypt(cookie.into_owned()) {
                    let id = plain.value();
                    if id.len() == 43 {
                        return Some(id.to_owned());
                    }
                }
            }
        }
        None
    }

    fn csrf_cookie_name(&self) -> String {
        format!("{}_csrf", self.cookie_name)
    }

    /// The CSRF token of a visitor without a session: kept in an encrypted cookie of its
    /// own, so that the start form is protected while nothing is stored for the visitor.
    pub(crate) fn anonymous_csrf(&self, headers: &HeaderMap) -> Option<String> {
        self.private_value(headers, &self.csrf_cookie_name())
    }

    /// Whether `submitted` is the CSRF token of `session`, or (without one) the visitor's.
    pub(crate) fn csrf_ok(
        &self,
        session: Option<&Session>,
        headers: &HeaderMap,
        submitted: Option<&str>,
    ) -> bool {
        match session {
            Some(s) => crate::csrf::tokens_match(&s.data.csrf, submitted),
            None => self
                .anonymous_csrf(headers)
                .is_some_and(|t| crate::csrf::tokens_match(&t, submitted)),
        }
    }

    /// The `Set-Cookie` value carrying a visitor's CSRF token, encrypted.
    pub(crate) fn set_csrf_cookie(&self, token: &str) -> Option<HeaderValue> {
        self.sealed_cookie(&self.csrf_cookie_name(), token)
    }

    /// Loads the session the request's cookie names, if it exists and has not ended.
    /// A store failure is an error (the caller answers 503), not "no session".
    pub(crate) async fn load(&self, headers: &HeaderMap) -> Result<Option<Session>, Error> {
        let Some(id) = self.id_from_headers(headers) else {
            return Ok(None);
        };
        let bytes = self.store.get(&store_key(&id)).await?;
        Ok(self.session_from(id, bytes.as_deref()))
    }

    /// The session `id` from its stored bytes (read by the caller, perhaps together with
    /// something else), if they open and it has not ended.
    pub(crate) fn session_from(&self, id: String, bytes: Option<&[u8]>) -> Option<Session> {
        let data = self.decode(&id, bytes?)?;
        (data.expires > self.now()).then_some(Session {
            id,
            data,
            is_new: false,
            replaces: None,
        })
    }

    /// The session data sealed under `id`'s key; `None` when it does not open or parse
    /// (written under another cookie secret, or damaged): treated as no session.
    fn decode(&self, id: &str, sealed: &[u8]) -> Option<SessionData> {
        self.decode_at(&store_key(id), sealed)
    }

    /// [`Sessions::decode`] for the session stored under `store_key`.
    pub(crate) fn decode_at(&self, store_key: &str, sealed: &[u8]) -> Option<SessionData> {
        let plain = self.sealer.open(store_key, sealed).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    pub(crate) fn new_session(&self) -> Session {
        Session {
            id: random_token(),
            data: SessionData {
                csrf: random_token(),
                expires: self.now() + self.ttl.as_secs(),
                owner: random_token(),
                user: None,
            },
            is_new: true,
            replaces: None,
        }
    }

    /// Saves the session for the rest of its lifetime (deleting the id it was rotated
    /// away from in the same step).
    pub(crate) async fn save(&self, session: &Session) -> Result<(), Error> {
        let left = session.data.expires.saturating_sub(self.now()).max(1);
        let plain = serde_json::to_vec(&session.data)
            .map_err(|_| Error::Store("a session could not be serialized".into()))?;
        let key = store_key(&session.id);
        let sealed = self.sealer.seal(&key, &plain)?;
        let ttl = Duration::from_secs(left);
        match &session.replaces {
            Some(old) => {
                self.store
                    .set_and_remove(&key, sealed, ttl, &store_key(old))
                    .await?;
            }
            None => self.store.set(&key, sealed, ttl).await?,
        }
        Ok(())
    }

    /// Deletes a session's data.
    pub(crate) async fn remove(&self, id: &str) {
        // A decoding cached for this session's cookie stays, harmlessly: the next read
        // finds no session and drops it.
        if let Err(e) = self.store.remove(&store_key(id)).await {
            tracing::warn!(error = %e, "session store delete failed");
        }
    }

    /// Rotates `session` to a fresh id and CSRF token: the old id is deleted when the new
    /// one is saved ([`Sessions::save`], which must follow), and the new one must be sent
    /// with [`Sessions::set_cookie`].
    pub(crate) fn rotate(&self, session: &mut Session) {
        if !session.is_new {
            session.replaces = Some(std::mem::take(&mut session.id));
        }
        session.id = random_token();
        session.data.csrf = random_token();
        session.data.expires = self.now() + self.ttl.as_secs();
        session.is_new = true;
    }

    /// The `Set-Cookie` value carrying `id`, encrypted.
    pub(crate) fn set_cookie(&self, id: &str) -> Option<HeaderValue> {
        self.sealed_cookie(&self.cookie_name, id)
    }

    fn sealed_cookie(&self, name: &str, value: &str) -> Option<HeaderValue> {
        let cookie = Cookie::build((name.to_owned(), value.to_owned()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(self.secure)
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX),
            ));
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key).add(cookie);
        let sealed = jar.get(name)?;
        HeaderValue::from_str(&sealed.to_string()).ok()
    }

    /// The `Set-Cookie` value that deletes the session cookie.
    pub(crate) fn clear_cookie(&self) -> Option<HeaderValue> {
        let cookie = Cookie::build((self.cookie_name.clone(), ""))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(self.secure)
            .max_age(cookie::time::Duration::ZERO)
            .expires(cookie::time::OffsetDateTime::UNIX_EPOCH);
        HeaderValue::from_str(&cookie.to_string()).ok()
    }
}
