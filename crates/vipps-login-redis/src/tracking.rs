//! Read-mostly keys kept in process, coherent through Redis' server-assisted client-side
//! caching (`CLIENT TRACKING … BCAST`): what [`Store::cache_reads`] asks for, so that the
//! tower layer's session check on every request costs no round trip while the session is
//! unchanged.
//!
//! How it stays right:
//! - A connection of its own (RESP3) has tracking on in broadcast mode for the registered
//!   prefixes: Redis pushes an `invalidate` with the key on every change of such a key by
//!   anyone (another instance's logout, a rotation, an expiry, `FLUSHALL`), before it
//!   answers the client that made the change. The push handler drops the entry at once.
//! - A value is cached only by a read that began while tracking was on, through a
//!   placeholder: the placeholder goes in before the `GET` is sent, an invalidation
//!   removes it, and the answer becomes the entry only if its own placeholder is still
//!   there. So a change that lands after the `GET` (whose push may be handled before the
//!   answer is) never leaves the older value behind.
//! - This instance's own writes to such a key drop the entry before they are sent and
//!   again when they are answered (its push may come a moment later).
//! - Nothing is answered from the cache unless tracking is known to be on: the
//!   connection is checked with a `PING` every [`PING_EVERY`], a failure, a late answer
//!   or a closed connection empties the cache and stops answering until tracking is on
//!   again on a new connection. Hence the bound on a stale answer when the network fails
//!   silently: one check interval and its timeout.
//!
//! [`Store::cache_reads`]: vipps_login_core::Store::cache_reads

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard};
use std::time::Duration;

use redis::{AsyncConnectionConfig, Client, PushInfo, PushKind, Value};
use tokio::sync::Notify;

/// How often the tracking connection is checked, and how long its answer may take.
pub(crate) const PING_EVERY: Duration = Duration::from_secs(1);
/// At most this many keys are kept; when full, the cache starts afresh (each entry is one
/// `GET` away).
const CAPACITY: usize = 100_000;
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// One cached key: a read on its way, or the value it brought.
enum Slot {
    Filling(u64),
    Ready(Arc<[u8]>),
}

#[derive(Default)]
struct State {
    /// Whether tracking is on for every registered prefix on a live connection.
    live: bool,
    /// Tokens of placeholders; never reused.
    next_token: u64,
    /// By key without the store's prefix.
    slots: HashMap<Box<str>, Slot>,
}

struct Shared {
    /// The store's key prefix (Redis names the keys with it).
    store_prefix: String,
    /// Registered prefixes, without the store's prefix.
    prefixes: RwLock<Vec<Box<str>>>,
    state: RwLock<State>,
    /// Wakes the connection task when a prefix was registered.
    changed: Notify,
}

/// A read begun on a cached key: finish it with [`ReadCache::finish`].
pub(crate) struct Fill {
    key: Box<str>,
    token: u64,
}

/// The cache of read-mostly keys of one [`RedisStore`](crate::RedisStore); its
/// connection task stops when this is dropped.
pub(crate) struct ReadCache {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ReadCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    fn state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn covers(&self, key: &str) -> bool {
        let prefixes = self.prefixes.read().unwrap_or_else(PoisonError::into_inner);
        prefixes.iter().any(|p| key.starts_with(&**p))
    }

    /// Stops answering and forgets everything (placeholders too, so no read on its way
    /// can fill in a value).
    fn go_dark(&self) {
        let mut state = self.state();
        state.live = false;
        state.slots.clear();
    }

    /// What Redis pushed on the tracking connection.
    fn on_push(&self, info: PushInfo) {
        match info.kind {
            PushKind::Invalidate => match info.data.first() {
                Some(Value::Array(keys)) => {
                    let mut state = self.state();
                    for key in keys {
                        if let Value::BulkString(key) = key
                            && let Some(key) = std::str::from_utf8(key)
                                .ok()
                                .and_then(|k| k.strip_prefix(self.store_prefix.as_str()))
                        {
                            state.slots.remove(key);
                        }
                    }
                }
                // `FLUSHALL`/`FLUSHDB`, or a shape we do not know: forget everything.
                _ => self.state().slots.clear(),
            },
            PushKind::Disconnection => self.go_dark(),
            _ => {}
        }
    }
}

impl ReadCache {
    /// Starts the connection task on `client` (it connects once a prefix is registered).
    pub(crate) fn start(client: Client, store_prefix: String, timeout: Duration) -> Self {
        let shared = Arc::new(Shared {
            store_prefix,
            prefixes: RwLock::default(),
            state: RwLock::default(),
            changed: Notify::new(),
        });
        let task = tokio::spawn(run(Arc::clone(&shared), client, timeout));
        ReadCache { shared, task }
    }

    /// Caches keys starting with `prefix` (without the store's prefix) from now on.
    pub(crate) fn register(&self, prefix: &str) {
        let mut prefixes = self
            .shared
            .prefixes
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if prefixes.iter().any(|p| **p == *prefix) {
            return;
        }
        prefixes.push(prefix.into());
        drop(prefixes);
        // Tracking must cover the new prefix before anything of it is answered.
        self.shared.go_dark();
        self.shared.changed.notify_one();
    }

    /// The cached value of `key`, while tracking is on.
    pub(crate) fn lookup(&self, key: &str) -> Option<Arc<[u8]>> {
        let state = self
            .shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if !state.live {
            return None;
        }
        match state.slots.get(key)? {
            Slot::Ready(value) => Some(Arc::clone(value)),
            Slot::Filling(_) => None,
        }
    }

    /// A placeholder for a read of `key`, when `key` is cached and tracking is on; put
    /// in before the read is sent.
    pub(crate) fn begin(&self, key: &str) -> Option<Fill> {
        if !self.shared.covers(key) {
            return None;
        }
        let mut state = self.shared.state();
        if !state.live {
            return None;
        }
        if state.slots.len() >= CAPACITY {
            state.slots.clear();
        }
        state.next_token += 1;
        let token = state.next_token;
        let key: Box<str> = key.into();
        state.slots.insert(key.clone(), Slot::Filling(token));
        Some(Fill { key, token })
    }

    /// Keeps what the read of `fill` answered, unless the key changed (or tracking
    /// stopped) since its placeholder went in. An absent key is not kept.
    pub(crate) fn finish(&self, fill: Fill, value: Option<&[u8]>) {
        let mut state = self.shared.state();
        let ours = matches!(state.slots.get(&fill.key), Some(Slot::Filling(t)) if *t == fill.token);
        if !ours {
            return;
        }
        match value {
            Some(value) if state.live => {
                state.slots.insert(fill.key, Slot::Ready(value.into()));
            }
            _ => {
                state.slots.remove(&fill.key);
            }
        }
    }

    /// Drops `key` (a write of this instance is on its way or done).
    pub(crate) fn forget(&self, key: &str) {
        if self.shared.covers(key) {
            self.shared.state().slots.remove(key);
        }
    }
}

/// Why a tracking connection ended.
enum End {
    /// A prefix was registered: connect again with all of them at once.
    Changed,
    /// It failed, or Redis stopped answering.
    Lost,
}

async fn run(shared: Arc<Shared>, client: Client, timeout: Duration) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let prefixes: Vec<String> = loop {
            let registered = shared
                .prefixes
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .map(|p| format!("{}{p}", shared.store_prefix))
                .collect::<Vec<_>>();
            if !registered.is_empty() {
                break registered;
            }
            shared.changed.notified().await;
        };
        let end = track(&shared, &client, &prefixes, timeout, &mut backoff).await;
        shared.go_dark();
        if let End::Lost = end {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// One tracking connection, until it fails or the prefixes change.
async fn track(
    shared: &Arc<Shared>,
    client: &Client,
    prefixes: &[String],
    timeout: Duration,
    backoff: &mut Duration,
) -> End {
    let pushes = Arc::clone(shared);
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout.min(PING_EVERY)))
        .set_push_sender(move |info: PushInfo| {
            pushes.on_push(info);
            Ok::<(), std::convert::Infallible>(())
        });
    let mut conn = match client
        .get_multiplexed_async_connection_with_config(&config)
        .await
    {
        Ok(conn) => conn,
        Err(e) => {
            tracing::debug!(error = %e, "the Redis read cache cannot connect; reads go to Redis");
            return End::Lost;
        }
    };
    let mut on = redis::cmd("CLIENT");
    on.arg("TRACKING").arg("ON").arg("BCAST");
    for p in prefixes {
        on.arg("PREFIX").arg(p);
    }
    if let Err(e) = on.query_async::<()>(&mut conn).await {
        tracing::warn!(
            error = %e,
            "Redis refused client-side caching (CLIENT TRACKING, Redis 6 or later); every \
             session check reads Redis"
        );
        return End::Lost;
    }
    {
        let mut state = shared.state();
        let registered = shared
            .prefixes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        if registered != prefixes.len() {
            // A prefix came in while connecting: start again with all of them.
            return End::Changed;
        }
        state.live = true;
    }
    *backoff = MIN_BACKOFF;
    loop {
        tokio::select! {
            () = shared.changed.notified() => return End::Changed,
            () = tokio::time::sleep(PING_EVERY) => {}
        }
        let ping = redis::cmd("PING").query_async::<String>(&mut conn).await;
        if ping.is_err()
            || !shared
                .state
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .live
        {
            tracing::debug!("the Redis read cache lost its connection; reads go to Redis");
            return End::Lost;
        }
    }
}
