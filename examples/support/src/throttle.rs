//! Sign-in failures throttled per source: what keeps a staff password from being guessed
//! without locking the real staff out.
//!
//! Each source (the peer address; an IPv6 peer by its /64, which one attacker usually
//! holds whole) gets a few failures free; after that every failure pauses that source
//! for twice as long as the one before (1 s, 2 s, 4 s, … up to 15 minutes). Failures are
//! counted for a day in the app's store, so with Redis the limit holds across every
//! instance; while that store cannot be reached they are counted in this process (the
//! limit then holds per instance, and the staff are not locked out by the outage).
//! Nothing is ever paused for everyone: another source still signs in, and the real
//! staff's own source is only paused by its own failures.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use vipps_login_core::{Clock, MemoryStore, Store, StoreError};

/// Failures a source makes before its first pause.
const FREE_FAILURES: u64 = 5;
/// How long failures are remembered.
const FAILURE_MEMORY: Duration = Duration::from_secs(24 * 3600);
/// The longest single pause.
const LONGEST_PAUSE: Duration = Duration::from_secs(15 * 60);

/// The per-source throttle of failed sign-ins (passwords, bearer guesses).
#[derive(Clone)]
pub struct SignInThrottle {
    store: Arc<dyn Store>,
    /// Where failures are counted while `store` cannot be reached.
    fallback: Arc<MemoryStore>,
    clock: Arc<dyn Clock>,
    /// Keeps the keys of two gates on one store apart.
    namespace: String,
}

impl std::fmt::Debug for SignInThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInThrottle")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// Where a request comes from, as the throttle counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source(String);

impl Source {
    /// Where `request` comes from: its peer address (axum's `ConnectInfo`, which
    /// [`serve`](crate::serve::serve) sets), or with `forwarded_for` (behind the app's own
    /// reverse proxy) the rightmost `X-Forwarded-For` address, the one that proxy added.
    /// Requests with neither share one source.
    #[must_use]
    pub fn of(request: &http::request::Parts, forwarded_for: bool) -> Source {
        let forwarded = forwarded_for
            .then(|| {
                request
                    .headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .next_back()
                    .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
            })
            .flatten();
        let peer = request
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip());
        match forwarded.or(peer) {
            Some(ip) => Source::from_ip(ip),
            None => Source("unknown".to_owned()),
        }
    }

    /// The source as text (an address, an IPv6 /64, or `unknown`), for the audit trail.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An address as a source: IPv4 whole, IPv6 by its /64.
    #[must_use]
    pub fn from_ip(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source(v4.to_string()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(v4.to_string()),
                None => {
                    let s = v6.segments();
                    Source(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
                }
            },
        }
    }
}

impl SignInThrottle {
    /// A throttle counting in `store` (the app's client's store: Redis when configured),
    /// reading time on `clock`, its keys under `namespace`.
    #[must_use]
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, namespace: &str) -> Self {
        Self {
            store,
            fallback: Arc::new(MemoryStore::new()),
            clock,
            namespace: namespace.to_owned(),
        }
    }

    /// The shared store's answer to `op`, or this process' while it cannot be reached.
    async fn either<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn(Arc<dyn Store>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        match op(self.store.clone()).await {
            Ok(v) => Ok(v),
            Err(e) => {
                tracing::warn!(error = %e, "staff sign-in throttle: the store cannot be reached; counting in this process meanwhile");
                let fallback: Arc<dyn Store> = self.fallback.clone();
                op(fallback).await
            }
        }
    }

    fn failures_key(&self, source: &Source) -> String {
        format!("{}:fail:{}", self.namespace, source.0)
    }

    fn pause_key(&self, source: &Source) -> String {
        format!("{}:pause:{}", self.namespace, source.0)
    }

    /// How long `source` must still wait before its next try, if it must (the pause's end
    /// is kept in milliseconds: a 1 s pause is a whole second).
    ///
    /// # Errors
    /// The store's.
    pub async fn paused(&self, source: &Source) -> Result<Option<Duration>, StoreError> {
        let key = self.pause_key(source);
        let until = self
            .either(|store| {
                let key = key.clone();
                async move { store.get(&key).await }
            })
            .await?;
        let Some(until) = until else {
            return Ok(None);
        };
        let until = std::str::from_utf8(&until)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        let now = self.clock.unix_ms();
        Ok((until > now).then(|| Duration::from_millis(until - now)))
    }

    /// Counts a failure of `source`; returns the pause it now serves, if any.
    ///
    /// # Errors
    /// The store's.
    pub async fn failed(&self, source: &Source) -> Result<Option<Duration>, StoreError> {
        let key = self.failures_key(source);
        let (count, _) = self
            .either(|store| {
                let key = key.clone();
                async move { store.increment(&key, FAILURE_MEMORY).await }
            })
            .await?;
        let Some(over) = count.checked_sub(FREE_FAILURES + 1) else {
            return Ok(None);
        };
        let pause = Duration::from_secs(1u64 << over.min(20)).min(LONGEST_PAUSE);
        let until = self.clock.unix_ms() + pause.as_secs() * 1000;
        let key = self.pause_key(source);
        self.either(|store| {
            let key = key.clone();
            async move { store.set(&key, until.to_string().into_bytes(), pause).await }
        })
        .await?;
        tracing::warn!(source = %source.0, failures = count, pause_secs = pause.as_secs(), "staff sign-in failures: source paused");
        Ok(Some(pause))
    }

    /// Forgets the failures of `source` (after it signed in).
    ///
    /// # Errors
    /// The store's.
    pub async fn succeeded(&self, source: &Source) -> Result<(), StoreError> {
        let key = self.failures_key(source);
        self.either(|store| {
            let key = key.clone();
            async move { store.remove(&key).await }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use vipps_login_core::{MemoryStore, SystemClock};

    #[tokio::test]
    async fn pauses_grow_per_source_and_never_touch_another() {
        let t = SignInThrottle::new(Arc::new(MemoryStore::new()), Arc::new(SystemClock), "t");
        let a = Source::from_ip("192.0.2.1".parse().unwrap());
        let b = Source::from_ip("192.0.2.2".parse().unwrap());
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.failed(&a).await.unwrap(), None);
        }
        assert_eq!(t.failed(&a).await.unwrap(), Some(Duration::from_secs(1)));
        assert_eq!(t.failed(&a).await.unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(t.failed(&a).await.unwrap(), Some(Duration::from_secs(4)));
        assert!(t.paused(&a).await.unwrap().is_some());
        assert_eq!(t.paused(&b).await.unwrap(), None);
        for _ in 0..30 {
            t.failed(&a).await.unwrap();
        }
        let left = t.paused(&a).await.unwrap().unwrap();
        assert!(left <= LONGEST_PAUSE && left >= LONGEST_PAUSE - Duration::from_secs(2));
    }

    #[test]
    fn behind_a_proxy_the_source_is_the_address_it_added() {
        let (mut parts, ()) = http::Request::builder()
            .header("x-forwarded-for", "203.0.113.9, 198.51.100.7")
            .body(())
            .unwrap()
            .into_parts();
        parts
            .extensions
            .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 443))));
        assert_eq!(Source::of(&parts, true).0, "198.51.100.7");
        assert_eq!(
            Source::of(&parts, false).0,
            "10.0.0.1",
            "a client's header is not trusted"
        );
    }

    #[test]
    fn ipv6_sources_are_their_64() {
        let one = Source::from_ip("2001:db8:1:2:3:4:5:6".parse().unwrap());
        let two = Source::from_ip("2001:db8:1:2:ffff::1".parse().unwrap());
        assert_eq!(one, two);
        assert_eq!(one.0, "2001:db8:1:2::/64");
        let mapped = Source::from_ip("::ffff:192.0.2.1".parse().unwrap());
        assert_eq!(mapped.0, "192.0.2.1");
    }
}
