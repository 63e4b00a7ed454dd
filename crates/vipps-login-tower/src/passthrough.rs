//! The session check on every request that is not the layer's own: which user (if any)
//! the session cookie stands for, at the cost of one store read when nothing changed.
//!
//! What is cached, and why it stays safe:
//! - The decoded session is cached by the **exact cookie value** (the encrypted,
//!   authenticated string the browser sends). An entry is made only after that value
//!   decrypted under the layer's key, so a hit stands for the same session id that
//!   decrypting again would give; a changed (tampered) value is another key and is
//!   decrypted, and refused, as before.
//! - The store stays the source of truth: every request still reads the sealed session
//!   and uses the cached decoding only when the stored bytes are the very bytes it was
//!   decoded from. Logout, rotation or a change on another instance shows at once, as
//!   without the cache; only JSON parsing, unsealing and the identity's allocation are
//!   saved.
//! - With an in-process store, the read is [`Store::get_ready`](vipps_login_core::Store):
//!   no future and no copy, and an unchanged value is recognised by pointer. A networked
//!   store may answer `get_ready` too, for the session keys the layer marks with
//!   `Store::cache_reads`, but only from a copy it keeps right as every instance writes
//!   (the Redis store: Redis' client-side caching); otherwise it is one awaited read.

use std::sync::Arc;

use cookie::{Cookie, CookieJar};
use http::{HeaderMap, header};
use vipps_login_core::StoreError;

use crate::session::{Sessions, store_key};
use crate::user::VippsUser;

/// A session as the pass-through path last decoded it.
struct Decoded {
    /// The session's store key (`vipps-login-tower:session:{id}`).
    store_key: Box<str>,
    /// The sealed bytes the decoding came from.
    bytes: Arc<[u8]>,
    expires: u64,
    user: Option<VippsUser>,
}

/// Decoded sessions by the exact value of their cookie (its bytes as sent).
type DecodedCache = crate::memo::Memo<Decoded>;

/// The pass-through path's session check over the layer's [`Sessions`], with the
/// decodings it keeps by cookie value. The store stays the source of truth: every request
/// still reads the stored bytes and the cached decoding is used only when they are the
/// same, so logout or rotation on another instance takes effect at once.
#[derive(Default)]
pub(crate) struct SessionCheck {
    decoded: DecodedCache,
}

/// The session a request's cookie names, by the cookie's value `V`.
enum Found<V> {
    /// A value decoded before.
    Cached(V, Arc<Decoded>),
    /// A value that decrypted just now, with its store key.
    Fresh(V, String),
}

impl<V: AsRef<[u8]>> Found<V> {
    fn store_key(&self) -> &str {
        match self {
            Found::Cached(_, d) => &d.store_key,
            Found::Fresh(_, key) => key,
        }
    }

    fn into_owned(self) -> Found<Box<[u8]>> {
        match self {
            Found::Cached(v, d) => Found::Cached(v.as_ref().into(), d),
            Found::Fresh(v, key) => Found::Fresh(v.as_ref().into(), key),
        }
    }
}

/// A session check that waits for the store: finish it with [`SessionCheck::user_later`].
pub(crate) struct Pending(Found<Box<[u8]>>);

/// What the store holds for a session: shared (an in-process store) or a copy.
enum Read {
    Shared(Arc<[u8]>),
    Owned(Vec<u8>),
}

impl Read {
    fn as_slice(&self) -> &[u8] {
        match self {
            Read::Shared(b) => b,
            Read::Owned(b) => b,
        }
    }

    fn into_shared(self) -> Arc<[u8]> {
        match self {
            Read::Shared(b) => b,
            Read::Owned(b) => b.into(),
        }
    }
}

/// The values of the cookies called `name` in the request, in order, as bytes (a value
/// is only looked up as it is, or decrypted after a UTF-8 check).
fn cookie_values<'h, 'n>(
    headers: &'h HeaderMap,
    name: &'n str,
) -> impl Iterator<Item = &'h [u8]> + use<'h, 'n> {
    // `from_utf8` (a word at a time for ASCII) rather than `to_str` (byte by byte), and
    // `str::split` (which finds `;` with `memchr`).
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| {
            let rest = pair.trim_ascii_start().strip_prefix(name)?;
            let value = rest.trim_ascii_start().strip_prefix('=')?;
            Some(value.trim_ascii().as_bytes())
        })
}

/// The session id sealed in a cookie value, if it authenticates under the sessions' key.
fn decrypt_id(sessions: &Sessions, value: &[u8]) -> Option<String> {
    let value = std::str::from_utf8(value).ok()?;
    let jar = CookieJar::new();
    let cookie = Cookie::new(sessions.cookie_name.clone(), value.to_owned());
    let plain = jar.private(&sessions.key).decrypt(cookie)?;
    (plain.value().len() == 43).then(|| plain.value().to_owned())
}

impl SessionCheck {
    /// The first cookie of ours that authenticates: one decoded before, or one that
    /// decrypts to a session id now.
    fn find<'h>(
        &self,
        sessions: &Sessions,
        headers: &'h HeaderMap,
        now: u64,
    ) -> Option<Found<&'h [u8]>> {
        for value in cookie_values(headers, &sessions.cookie_name) {
            if let Some(hit) = self.decoded.get(value, now) {
                return Some(Found::Cached(value, hit));
            }
            if let Some(id) = decrypt_id(sessions, value) {
                return Some(Found::Fresh(value, store_key(&id)));
            }
        }
        None
    }

    /// The logged-in user of the request's session, for the pass-through path; `Err`
    /// when the store must be waited for (a networked store): then
    /// [`SessionCheck::user_later`] finishes the check without decrypting again.
    pub(crate) fn user_now(
        &self,
        sessions: &Sessions,
        headers: &HeaderMap,
    ) -> Result<Option<VippsUser>, Pending> {
        let now = sessions.now();
        let Some(found) = self.find(sessions, headers, now) else {
            return Ok(None);
        };
        match sessions.store.get_ready(found.store_key()) {
            Some(read) => Ok(self.settle(sessions, found, read.map(|b| b.map(Read::Shared)), now)),
            None => Err(Pending(found.into_owned())),
        }
    }

    /// Finishes a check [`SessionCheck::user_now`] could not.
    pub(crate) async fn user_later(
        &self,
        sessions: &Sessions,
        pending: Pending,
    ) -> Option<VippsUser> {
        let found = pending.0;
        let read = sessions.store.get(found.store_key()).await;
        self.settle(
            sessions,
            found,
            read.map(|b| b.map(Read::Owned)),
            sessions.now(),
        )
    }

    /// The user of `found` given what the store holds for it.
    fn settle<V: AsRef<[u8]>>(
        &self,
        sessions: &Sessions,
        found: Found<V>,
        read: Result<Option<Read>, StoreError>,
        now: u64,
    ) -> Option<VippsUser> {
        let bytes = match read {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                // Logged out or ended (here or on another instance): forget the decoding.
                if let Found::Cached(value, _) = found {
                    self.decoded.remove(value.as_ref());
                }
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "session store read failed");
                return None;
            }
        };
        let (value, store_key) = match found {
            Found::Cached(value, hit) => {
                let same = match &bytes {
                    Read::Shared(b) => Arc::ptr_eq(b, &hit.bytes) || **b == *hit.bytes,
                    Read::Owned(b) => **b == *hit.bytes,
                };
                if same {
                    return hit.user.clone().filter(|_| hit.expires > now);
                }
                (value, hit.store_key.clone())
            }
            Found::Fresh(value, key) => (value, key.into_boxed_str()),
        };
        let data = sessions.decode_at(&store_key, bytes.as_slice())?;
        let user = data.user.as_ref().map(|u| u.to_user(&data.csrf));
        let expires = data.expires;
        self.decoded.insert(
            value.as_ref().into(),
            Arc::new(Decoded {
                store_key,
                bytes: bytes.into_shared(),
                expires,
                user: user.clone(),
            }),
            now,
        );
        user.filter(|_| expires > now)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn cookie_values_in_order_across_headers() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; s=x ; b=2"));
        h.append(
            header::COOKIE,
            HeaderValue::from_static(" s = y;s_csrf=z;s"),
        );
        let got: Vec<&[u8]> = cookie_values(&h, "s").collect();
        assert_eq!(got, [b"x", b"y"]);
        assert_eq!(cookie_values(&h, "c").count(), 0);
    }
}
