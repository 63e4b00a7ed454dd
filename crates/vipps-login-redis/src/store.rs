//! [`RedisStore`]: the [`Store`] contract on Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{Cmd, FromRedisValue, RedisError};
use tokio::sync::broadcast;
use tokio::time::Instant;
use vipps_login_core::clock::{from_unix_ms, unix_ms};
use vipps_login_core::{Admission, Admitted, Clock, Store, StoreError, SystemClock};

use crate::errors;
use crate::pubsub::{Notification, Subscriber};
use crate::scripts::{self, LuaScript};
use crate::tracking::ReadCache;

/// How long an index outlives its latest deadline.
const INDEX_GRACE: Duration = Duration::from_secs(86_400);
/// The longest lifetime handed to Redis (a hundred years).
const MAX_TTL_MS: u64 = 100 * 365 * 86_400 * 1000;

/// The login store on Redis, shared by every instance that points at the same server and
/// prefix. Cheap to clone (an `Arc` inside); see the [crate docs](crate).
///
/// Each operation is one atomic step on the server (a command, or a Lua script for the
/// conditional ones) and fails within the command timeout: [`StoreError::Timeout`] when
/// Redis does not answer, [`StoreError::Unavailable`] when it cannot be reached. The
/// connection comes back by itself when Redis does.
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) conn: ConnectionManager,
    pub(crate) prefix: String,
    pub(crate) command_timeout: Duration,
    /// The URL with its password masked: the only form that is ever shown.
    pub(crate) shown_url: String,
    pub(crate) round_trips: AtomicU64,
    pub(crate) subscriber: Subscriber,
    /// Read-mostly keys kept in process ([`Store::cache_reads`]), unless turned off.
    pub(crate) read_cache: Option<ReadCache>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.shown_url)
            .field("prefix", &self.inner.prefix)
            .field("command_timeout", &self.inner.command_timeout)
            .finish_non_exhaustive()
    }
}

/// Whether a command may be sent again when the connection broke under it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// A read: sending it twice changes nothing.
    Read,
    /// Only when it certainly never reached Redis: a write sent twice could undo what
    /// another instance wrote in between.
    Never,
}

/// Why a command failed, before it becomes a [`StoreError`].
enum Failure {
    Timeout,
    Redis(RedisError),
}

// `RedisStore::connect` and `RedisStore::builder` live in builder.rs, next to the
// construction they start: this file then knows nothing of the builder, and the arrow
// between the two files goes one way (builder.rs -> store.rs).
impl RedisStore {
    /// How many commands this store (and its clones) has sent to Redis so far: one per
    /// plain operation, one more when a script had to be loaded, one per `SUBSCRIBE`.
    /// Background health checks and resubscriptions of the notification task are not
    /// counted.
    #[must_use]
    pub fn round_trips(&self) -> u64 {
        self.inner.round_trips.load(Ordering::Relaxed)
    }

    /// The prefix before every key and channel.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.inner.prefix)
    }

    fn count(&self) {
        self.inner.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.inner.command_timeout
    }

    fn fail(&self, f: Failure) -> StoreError {
        match f {
            Failure::Timeout => errors::timeout(),
            Failure::Redis(e) => errors::map(e, &self.inner.shown_url),
        }
    }

    /// Sends `cmd`, and once more on a fresh connection when the first attempt failed
    /// before reaching Redis (a refused connection), or failed on a broken connection and
    /// `repeat` says that it is a read. That hides the stale connection an outage leaves
    /// behind from the first caller after Redis is back.
    async fn send<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        deadline: Instant,
        repeat: Repeat,
    ) -> Result<T, Failure> {
        let mut conn = self.inner.conn.clone();
        let mut retried = false;
        loop {
            self.count();
            match tokio::time::timeout_at(deadline, cmd.query_async::<T>(&mut conn)).await {
                Err(_) => return Err(Failure::Timeout),
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e))
                    if !retried
                        && (errors::failed_before_sending(&e)
                            || (repeat == Repeat::Read && errors::is_connection_error(&e))) =>
                {
                    tracing::debug!(error = %e, "Redis command failed on a stale connection; sending it again");
                    retried = true;
                }
                Ok(Err(e)) => return Err(Failure::Redis(e)),
            }
        }
    }

    async fn query<T: FromRedisValue>(&self, cmd: &Cmd, repeat: Repeat) -> Result<T, StoreError> {
        self.send(cmd, self.deadline(), repeat)
            .await
            .map_err(|f| self.fail(f))
    }

    /// Runs `script` on one key by its hash (see [`eval_keys`](Self::eval_keys)).
    async fn eval<T: FromRedisValue>(
        &self,
        script: &LuaScript,
        key: &str,
        args: &[&[u8]],
        repeat: Repeat,
    ) -> Result<T, StoreError> {
        self.eval_keys(script, &[key], args, repeat).await
    }

    /// Runs `script` by its hash, loading it with `EVAL` when the server does not know it.
    async fn eval_keys<T: FromRedisValue>(
        &self,
        script: &LuaScript,
        keys: &[&str],
        args: &[&[u8]],
        repeat: Repeat,
    ) -> Result<T, StoreError> {
        let deadline = self.deadline();
        let mut by_hash = redis::cmd("EVALSHA");
        by_hash.arg(script.hash()).arg(keys.len()).arg(keys);
        for a in args {
            by_hash.arg(*a);
        }
        match self.send(&by_hash, deadline, repeat).await {
            Err(Failure::Redis(e)) if e.code() == Some("NOSCRIPT") => {
                let mut full = redis::cmd("EVAL");
                full.arg(script.code()).arg(keys.len()).arg(keys);
                for a in args {
                    full.arg(*a);
                }
                self.send(&full, deadline, repeat)
                    .await
                    .map_err(|f| self.fail(f))
            }
            other => other.map_err(|f| self.fail(f)),
        }
    }
}

/// A lifetime in whole milliseconds, rounded up, at least 1 ms.
fn ttl_ms(ttl: Duration) -> u64 {
    let ms = ttl.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).clamp(1, MAX_TTL_MS)
}

fn num(n: u64) -> Vec<u8> {
    n.to_string().into_bytes()
}

impl RedisStore {
    /// Drops the in-process copy of `key`, if kept: called before a write of it is sent
    /// and again once it is answered (Redis' own invalidation of it may come later).
    fn forget(&self, key: &str) {
        if let Some(cache) = &self.inner.read_cache {
            cache.forget(key);
        }
    }

    /// `write`, with `key`'s copy dropped before and after it.
    async fn writing<T>(
        &self,
        key: &str,
        write: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.forget(key);
        let result = write.await;
        self.forget(key);
        result
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let fill = self.inner.read_cache.as_ref().and_then(|c| c.begin(key));
        let read: Result<Option<Vec<u8>>, StoreError> = self
            .query(redis::cmd("GET").arg(self.key(key)), Repeat::Read)
            .await;
        if let (Some(fill), Some(cache)) = (fill, &self.inner.read_cache) {
            cache.finish(fill, read.as_ref().ok().and_then(Option::as_deref));
        }
        read
    }

    fn get_ready(&self, key: &str) -> Option<Result<Option<Arc<[u8]>>, StoreError>> {
        let hit = self.inner.read_cache.as_ref()?.lookup(key)?;
        Some(Ok(Some(hit)))
    }

    fn cache_reads(&self, prefix: &str) {
        if let Some(cache) = &self.inner.read_cache {
            cache.register(prefix);
        }
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(self.key(key));
        }
        self.query(&cmd, Repeat::Read).await
    }

    async fn set_and_remove(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        old: &str,
    ) -> Result<(), StoreError> {
        let ms = num(ttl_ms(ttl));
        let keys = [self.key(key), self.key(old)];
        let keys = [keys[0].as_str(), keys[1].as_str()];
        self.forget(old);
        let written = self
            .writing(
                key,
                self.eval_keys::<i64>(
                    &scripts::SET_AND_REMOVE,
                    &keys,
                    &[value.as_slice(), &ms],
                    Repeat::Never,
                ),
            )
            .await
            .map(drop);
        self.forget(old);
        written
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key))
            .arg(value.as_slice())
            .arg("PX")
            .arg(ttl_ms(ttl));
        self.writing(key, self.query(&cmd, Repeat::Never)).await
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let mut del = redis::cmd("DEL");
        del.arg(self.key(key));
        self.writing(key, self.query::<i64>(&del, Repeat::Never))
            .await
            .map(drop)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut getdel = redis::cmd("GETDEL");
        getdel.arg(self.key(key));
        self.writing(key, self.query(&getdel, Repeat::Never)).await
    }

    async fn insert_if_absent(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key))
            .arg(value.as_slice())
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms(ttl));
        let reply: Option<String> = self.writing(key, self.query(&cmd, Repeat::Never)).await?;
        Ok(reply.is_some())
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: Option<Vec<u8>>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (replace, value): (&[u8], &[u8]) = match &new {
            Some(v) => (b"1", v.as_slice()),
            None => (b"0", b""),
        };
        let ms = num(ttl_ms(ttl));
        let swapped: i64 = self
            .writing(
                key,
                self.eval(
                    &scripts::COMPARE_AND_SWAP,
                    &self.key(key),
                    &[expected, replace, value, &ms],
                    Repeat::Never,
                ),
            )
            .await?;
        Ok(swapped == 1)
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<(u64, Duration), StoreError> {
        let ms = num(ttl_ms(ttl));
        let (count, left): (i64, i64) = self
            .eval(&scripts::INCREMENT, &self.key(key), &[&ms], Repeat::Never)
            .await?;
        let count = u64::try_from(count).map_err(|_| {
            StoreError::Corrupt(format!("counter {key} holds a negative count ({count})"))
        })?;
        let left = Duration::from_millis(u64::try_from(left).unwrap_or(0));
        Ok((count, left))
    }

    async fn index_add(
        &self,
        key: &str,
        member: &str,
        until: SystemTime,
    ) -> Result<(), StoreError> {
        let until = num(unix_ms(until));
        // No client is in reach here: Redis keeps lifetimes on its own clock, and index
        // deadlines are wall-clock times, so the system clock is the one that fits.
        let now = num(SystemClock.unix_ms());
        let grace = num(ttl_ms(INDEX_GRACE));
        self.eval::<i64>(
            &scripts::INDEX_ADD,
            &self.key(key),
            &[&until, member.as_bytes(), &now, &grace],
            Repeat::Never,
        )
        .await
        .map(drop)
    }

    async fn index_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        self.query::<i64>(
            redis::cmd("ZREM").arg(self.key(key)).arg(member),
            Repeat::Never,
        )
        .await
        .map(drop)
    }

    async fn index_members(&self, key: &str) -> Result<Vec<(String, SystemTime)>, StoreError> {
        // Members a day past their deadline are forgotten, as the index's lifetime says.
        let oldest = SystemClock.unix_ms().saturating_sub(ttl_ms(INDEX_GRACE));
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(self.key(key))
            .arg(format!("({oldest}"))
            .arg("+inf")
            .arg("WITHSCORES");
        let members: Vec<(String, f64)> = self.query(&cmd, Repeat::Read).await?;
        members
            .into_iter()
            .map(|(member, score)| {
                if score.is_finite() && score >= 0.0 {
                    // Scores are whole milliseconds far below 2^53: exact in an f64.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let ms = score as u64;
                    Ok((member, from_unix_ms(ms)))
                } else {
                    Err(StoreError::Corrupt(format!(
                        "index {key} has member {member} with deadline {score}"
                    )))
                }
            })
            .collect()
    }

    async fn publish(&self, channel: &str, message: Vec<u8>) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(self.key(channel)).arg(message.as_slice());
        self.query::<i64>(&cmd, Repeat::Never).await.map(drop)
    }

    async fn subscribe(
        &self,
        channel: &str,
    ) -> Result<broadcast::Receiver<Notification>, StoreError> {
        self.inner
            .subscriber
            .subscribe(channel, || self.count())
            .await
    }

    /// One script, one round trip (all keys of one start; a Redis Cluster would need
    /// them in one hash slot, which this store does not target).
    async fn admit(&self, admission: &Admission<'_>) -> Result<Admitted, StoreError> {
        let refuse = self.key(admission.refuse_if_present);
        let (reserve, mark, value, ttl): (&[u8], String, &[u8], Vec<u8>) = match admission.reserve {
            Some((key, value, ttl)) => (b"1", self.key(key), value, num(ttl_ms(ttl))),
            None => (b"0", refuse.clone(), b"", num(1)),
        };
        let counter_keys: Vec<String> = admission
            .counters
            .iter()
            .map(|(key, _, _)| self.key(key))
            .collect();
        let counter_args: Vec<Vec<u8>> = admission
            .counters
            .iter()
            .flat_map(|(_, window, allowance)| [num(ttl_ms(*window)), num(*allowance)])
            .collect();
        let mut keys: Vec<&str> = vec![&refuse, &mark];
        keys.extend(counter_keys.iter().map(String::as_str));
        let mut args: Vec<&[u8]> = vec![reserve, value, &ttl];
        args.extend(counter_args.iter().map(Vec::as_slice));
        let reply: Vec<redis::Value> = self
            .eval_keys(&scripts::ADMIT, &keys, &args, Repeat::Never)
            .await?;
        admitted(&reply)
    }
}

/// The [`scripts::ADMIT`] reply as an [`Admitted`].
fn admitted(reply: &[redis::Value]) -> Result<Admitted, StoreError> {
    use redis::Value;
    let int = |v: Option<&Value>| match v {
        Some(Value::Int(n)) => Some(*n),
        _ => None,
    };
    let bytes = |v: Option<&Value>| match v {
        Some(Value::BulkString(b)) => Some(b.clone()),
        _ => None,
    };
    let corrupt = || StoreError::Corrupt(format!("unexpected admission reply {reply:?}"));
    match int(reply.first()) {
        Some(0) => Ok(Admitted::Yes),
        Some(1) => Ok(Admitted::Refused(bytes(reply.get(1)).ok_or_else(corrupt)?)),
        Some(2) => Ok(Admitted::Reserved(bytes(reply.get(1)))),
        Some(3) => {
            let counter = int(reply.get(1))
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(corrupt)?;
            let left = int(reply.get(2)).ok_or_else(corrupt)?;
            Ok(Admitted::OverLimit {
                counter,
                retry_after: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
            })
        }
        _ => Err(corrupt()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_round_up_to_whole_milliseconds() {
        assert_eq!(ttl_ms(Duration::ZERO), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1)), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1_001)), 2);
        assert_eq!(ttl_ms(Duration::from_secs(60)), 60_000);
        assert_eq!(ttl_ms(Duration::MAX), MAX_TTL_MS);
    }
}
