//! Configuring and connecting a [`RedisStore`].

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use redis::ProtocolVersion;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use vipps_login_core::StoreError;

use crate::errors;
use crate::pubsub::Subscriber;
use crate::store::{Inner, RedisStore};
use crate::tracking::ReadCache;

/// The key prefix of [`RedisStore::builder`] unless [`RedisStoreBuilder::prefix`] says otherwise.
pub const DEFAULT_PREFIX: &str = "vipps-login:";

/// How long one store operation may take by default before it fails with
/// [`StoreError::Timeout`].
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// How many notifications a slow subscriber may fall behind by default before it lags.
pub const DEFAULT_NOTIFICATION_CAPACITY: usize = 4096;

impl RedisStore {
    /// Connects with the defaults (prefix [`DEFAULT_PREFIX`], timeout
    /// [`DEFAULT_COMMAND_TIMEOUT`]).
    ///
    /// # Errors
    /// As [`RedisStoreBuilder::build`].
    pub async fn connect(url: impl Into<String>) -> Result<Self, StoreError> {
        RedisStore::builder(url).build().await
    }

    /// A builder for a store on the Redis at `url` (`redis://[user:password@]host:port[/db]`
    /// or `redis+unix:///path`).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(url)
    }
}

/// Configures a [`RedisStore`]; made by [`RedisStore::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use vipps_login_redis::RedisStore;
/// # async fn demo() -> Result<(), vipps_login_core::StoreError> {
/// let store = RedisStore::builder("redis://127.0.0.1:6379")
///     .prefix("counter-app:")
///     .command_timeout(Duration::from_millis(500))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    command_timeout: Duration,
    lazy: bool,
    notification_capacity: usize,
    cache_reads: bool,
}

impl std::fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &errors::redact(&self.url))
            .field("prefix", &self.prefix)
            .field("command_timeout", &self.command_timeout)
            .field("lazy", &self.lazy)
            .field("notification_capacity", &self.notification_capacity)
            .field("cache_reads", &self.cache_reads)
            .finish()
    }
}

impl RedisStoreBuilder {
    pub(crate) fn new(url: impl Into<String>) -> Self {
        RedisStoreBuilder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            lazy: false,
            notification_capacity: DEFAULT_NOTIFICATION_CAPACITY,
            cache_reads: true,
        }
    }

    /// The prefix put before every key and channel name (default [`DEFAULT_PREFIX`]), so
    /// that several applications can share one Redis database.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one operation may take, connecting included (default
    /// [`DEFAULT_COMMAND_TIMEOUT`]); past it, it fails with [`StoreError::Timeout`].
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Build without waiting for Redis (default: `false`, so that [`build`](Self::build)
    /// fails when Redis cannot be reached). A lazy store connects on its first operation,
    /// so an application can start while Redis is still coming up.
    pub fn lazy(mut self, lazy: bool) -> Self {
        self.lazy = lazy;
        self
    }

    /// How many notifications a subscriber may fall behind before its receiver reports
    /// lagging (default [`DEFAULT_NOTIFICATION_CAPACITY`]).
    pub fn notification_capacity(mut self, capacity: usize) -> Self {
        self.notification_capacity = capacity;
        self
    }

    /// Whether keys the caller marks as read-mostly ([`Store::cache_reads`]: the tower
    /// layer's sessions) are kept in process (default `true`). They are kept coherent by
    /// Redis' server-assisted client-side caching (`CLIENT TRACKING … BCAST` on a
    /// connection of its own): every change by any instance drops the copy when Redis
    /// pushes the invalidation, which it sends before it answers the writer; this
    /// instance's own writes drop it before they are sent. While that connection is not
    /// known to be up (checked every second), every read goes to Redis. Turn it off to
    /// read Redis on every session check, as before, at one round trip per request.
    ///
    /// [`Store::cache_reads`]: vipps_login_core::Store::cache_reads
    pub fn cache_reads(mut self, on: bool) -> Self {
        self.cache_reads = on;
        self
    }

    /// Connects (unless [`lazy`](Self::lazy)) and starts the notification task; needs a
    /// tokio runtime.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] with a sentence for the operator when the URL is not
    /// usable, the configuration is, or Redis cannot be reached in time.
    pub async fn build(self) -> Result<RedisStore, StoreError> {
        let shown_url = errors::redact(&self.url);
        let bad = |message: String| StoreError::Unavailable {
            message,
            source: None,
        };
        if self.command_timeout.is_zero() {
            return Err(bad(
                "the Redis command timeout must be more than zero".to_owned()
            ));
        }
        if self.notification_capacity == 0 {
            return Err(bad(
                "the Redis notification capacity must be at least one".to_owned()
            ));
        }
        let unusable = |e: redis::RedisError| {
            StoreError::unavailable(
                format!("the Redis URL {shown_url} is not usable: {e}; fix REDIS_URL"),
                e,
            )
        };
        // Pub/sub on a connection of its own speaks RESP2; commands go over RESP3, whose
        // connection notices a server that went away and reconnects before the next
        // command needs it.
        let client = redis::Client::open(self.url.as_str()).map_err(unusable)?;
        let info = client.get_connection_info().clone();
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let command_client =
            redis::Client::open(info.set_redis_settings(resp3)).map_err(unusable)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.command_timeout))
            .set_connection_timeout(Some(self.command_timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500));
        let read_cache = self.cache_reads.then(|| {
            ReadCache::start(
                command_client.clone(),
                self.prefix.clone(),
                self.command_timeout,
            )
        });
        let conn = if self.lazy {
            ConnectionManager::new_lazy_with_config(command_client, config)
                .map_err(|e| errors::map(e, &shown_url))?
        } else {
            let connecting = ConnectionManager::new_with_config(command_client, config);
            match tokio::time::timeout(self.command_timeout, connecting).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return Err(errors::map(e, &shown_url)),
                Err(_) => {
                    return Err(bad(format!(
                        "cannot reach Redis at {shown_url}: no answer within {:?}; check \
                         that Redis runs and REDIS_URL is right",
                        self.command_timeout
                    )));
                }
            }
        };
        let subscriber = Subscriber::start(
            client,
            self.prefix.clone(),
            self.notification_capacity,
            self.command_timeout,
            shown_url.clone(),
        );
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conn,
                prefix: self.prefix,
                command_timeout: self.command_timeout,
                shown_url,
                round_trips: AtomicU64::new(0),
                subscriber,
                read_cache,
            }),
        })
    }
}
