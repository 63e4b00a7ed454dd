//! One cache for a remote key set (a JWKS), for every verifier of the workspace: Vipps'
//! ID tokens here, Keycloak's channel bearer in the provider; and under it the one cache
//! of a fetched document that Vipps' discovery document uses too. Concurrent
//! readers share one fetch, the lifetime comes from the answer (`Cache-Control`, clamped),
//! and a token with an unknown `kid` may force a refetch at most once per interval, so
//! forged `kid`s cannot make us hammer the key server.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A fetched key set and how long it may be used.
#[derive(Debug)]
pub struct Fetched<K> {
    /// The parsed keys.
    pub keys: K,
    /// How long they may be used (the answer's `max-age`), when it said.
    pub max_age: Option<Duration>,
}

struct Cached<T> {
    value: Arc<T>,
    ttl: Duration,
}

impl<T> Clone for Cached<T> {
    fn clone(&self) -> Self {
        Cached {
            value: self.value.clone(),
            ttl: self.ttl,
        }
    }
}

struct CachedExpiry;

impl<T> moka::Expiry<(), Cached<T>> for CachedExpiry {
    fn expire_after_create(&self, _: &(), value: &Cached<T>, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The shortest and longest a fetched document is kept, whatever its `max-age` says.
const MIN_TTL: Duration = Duration::from_secs(10);
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// One fetched document (a discovery document, a key set) kept for as long as its answer
/// allows: concurrent readers share one fetch, a failed fetch is not kept, and the
/// lifetime is the answer's `max-age` (or the default) clamped to 10 s – 24 h.
pub(crate) struct CachedDocument<T> {
    cache: moka::future::Cache<(), Cached<T>>,
    default_ttl: Duration,
}

impl<T: Send + Sync + 'static> CachedDocument<T> {
    pub(crate) fn new(default_ttl: Duration) -> Self {
        CachedDocument {
            cache: moka::future::Cache::builder()
                .max_capacity(1)
                .expire_after(CachedExpiry)
                .build(),
            default_ttl,
        }
    }

    /// The document, from the cache or fetched with `fetch` (the value and its answer's
    /// `max-age`).
    pub(crate) async fn get<F, Fut, E>(&self, fetch: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, Option<Duration>), E>>,
        E: Clone + Send + Sync + 'static,
    {
        let default = self.default_ttl;
        self.cache
            .try_get_with((), async move {
                let (value, max_age) = fetch().await?;
                Ok(Cached {
                    value: Arc::new(value),
                    ttl: max_age.unwrap_or(default).clamp(MIN_TTL, MAX_TTL),
                })
            })
            .await
            .map(|c| c.value)
            .map_err(|e: Arc<E>| (*e).clone())
    }

    /// The document kept now, without fetching.
    async fn current(&self) -> Option<Arc<T>> {
        self.cache.get(&()).await.map(|c| c.value)
    }

    /// Forgets the document kept now.
    async fn invalidate(&self) {
        self.cache.invalidate(&()).await;
    }
}

/// A cached key set of type `K`, fetched by the caller's function.
///
/// ```
/// use std::time::Duration;
/// use vipps_login_core::{Fetched, KeySetCache};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let cache: KeySetCache<Vec<String>> = KeySetCache::new(Duration::from_secs(10));
/// let fetch = || async {
///     Ok::<_, String>(Fetched { keys: vec!["kid-1".to_owned()], max_age: None })
/// };
/// let keys = cache.get(fetch).await.unwrap();
/// assert_eq!(keys[0], "kid-1");
/// // An unknown kid: refetched once, then not again within the interval.
/// assert!(cache.after_unknown_kid(&keys, fetch).await.unwrap().is_some());
/// let again = cache.get(fetch).await.unwrap();
/// assert!(cache.after_unknown_kid(&again, fetch).await.unwrap().is_none());
/// # }
/// ```
pub struct KeySetCache<K> {
    document: CachedDocument<K>,
    refetch_interval: Duration,
    last_forced_refetch: Mutex<Option<Instant>>,
}

impl<K> std::fmt::Debug for KeySetCache<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySetCache")
            .field("refetch_interval", &self.refetch_interval)
            .finish_non_exhaustive()
    }
}

impl<K: Send + Sync + 'static> KeySetCache<K> {
    /// A cache that refetches after an unknown `kid` at most once per `refetch_interval`;
    /// a key set lives as its answer's `max-age` says (10 s to 24 h), one hour when it
    /// says nothing.
    #[must_use]
    pub fn new(refetch_interval: Duration) -> Self {
        KeySetCache {
            document: CachedDocument::new(Duration::from_secs(3600)),
            refetch_interval,
            last_forced_refetch: Mutex::new(None),
        }
    }

    /// The lifetime of a key set whose answer named no `max-age`.
    #[must_use]
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.document.default_ttl = ttl;
        self
    }

    /// The key set, from the cache or fetched with `fetch` (concurrent callers share one
    /// fetch; a failed fetch is not cached).
    pub async fn get<F, Fut, E>(&self, fetch: F) -> Result<Arc<K>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched<K>, E>>,
        E: Clone + Send + Sync + 'static,
    {
        self.document
            .get(|| async move {
                let fetched = fetch().await?;
                Ok((fetched.keys, fetched.max_age))
            })
            .await
    }

    /// After a token named a `kid` that `seen` lacks: the key set refetched, at most once
    /// per refetch interval; `None` when a refetch happened too recently. When someone
    /// refreshed since `seen` was read, theirs is returned without a fetch.
    pub async fn after_unknown_kid<F, Fut, E>(
        &self,
        seen: &Arc<K>,
        fetch: F,
    ) -> Result<Option<Arc<K>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched<K>, E>>,
        E: Clone + Send + Sync + 'static,
    {
        if let Some(current) = self.document.current().await
            && !Arc::ptr_eq(&current, seen)
        {
            return Ok(Some(current));
        }
        let allowed = {
            let mut last = self
                .last_forced_refetch
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match *last {
                Some(t) if t.elapsed() < self.refetch_interval => false,
                _ => {
                    *last = Some(Instant::now());
                    true
                }
            }
        };
        if !allowed {
            tracing::debug!("unknown key id; key set refetch suppressed (rate limit)");
            return Ok(None);
        }
        tracing::debug!("unknown key id; refetching the key set");
        self.document.invalidate().await;
        self.get(fetch).await.map(Some)
    }
}
