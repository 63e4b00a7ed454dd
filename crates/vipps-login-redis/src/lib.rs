//! The [`Store`](vipps_login_core::Store) of `vipps-login-core` on Redis, so that several
//! instances of an application share logins, sessions, limits and polling.
//!
//! Every conditional operation is one atomic step on the server (`SET NX`, `GETDEL`, Lua
//! scripts for compare-and-swap, counters and indexes), every key is namespaced by a prefix
//! (default [`DEFAULT_PREFIX`]) and has a lifetime, and notifications travel over Redis
//! pub/sub on a dedicated connection. Each operation fails within its timeout (default
//! [`DEFAULT_COMMAND_TIMEOUT`]) when Redis is down, with a sentence an operator can act on,
//! and the store recovers by itself when Redis comes back; a subscriber then receives an
//! empty notification, meaning "messages may have been lost: re-read".
//!
//! Needs Redis 6.2 or later (or a compatible server such as Valkey). No TLS (`rediss://`).
//!
//! ```no_run
//! use std::time::Duration;
//! use vipps_login_core::Store;
//! use vipps_login_redis::RedisStore;
//!
//! # async fn demo() -> Result<(), vipps_login_core::StoreError> {
//! let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
//! let store = RedisStore::connect(url).await?;
//! let ttl = Duration::from_secs(60);
//! assert!(store.insert_if_absent("lease:42", b"instance-a".to_vec(), ttl).await?);
//! assert!(!store.insert_if_absent("lease:42", b"instance-b".to_vec(), ttl).await?);
//! # Ok(()) }
//! ```
//!
//! Give the store to the engine as any other [`Store`](vipps_login_core::Store) (it is
//! cheap to clone).
//!
//! # On the server
//! | operation | Redis | round trips |
//! |---|---|---|
//! | `get`, `set`, `remove`, `take` | `GET`, `SET PX`, `DEL`, `GETDEL` | 1 |
//! | `insert_if_absent` | `SET NX PX` | 1 |
//! | `compare_and_swap`, `increment`, `index_add` | a Lua script (`EVALSHA`) | 1 (2 when Redis has to load the script first) |
//! | `index_remove`, `index_members` | `ZREM`, `ZRANGEBYSCORE` on a sorted set scored by deadline | 1 |
//! | `publish` | `PUBLISH` | 1 |
//! | `admit` (a start's cool-down, pending mark and rate-limit windows) | one Lua script over all their keys | 1 (2 when Redis has to load the script first) |
//! | `subscribe` | `SUBSCRIBE` on the notification connection | 1 for a new channel, else 0 |
//!
//! | `get_ready` of a key the caller marked read-mostly ([`Store::cache_reads`](vipps_login_core::Store::cache_reads): the tower layer's sessions) | answered in process while unchanged (client-side caching, below) | 0 |
//!
//! [`RedisStore::round_trips`] counts them, for benchmarks. Keys and channels are
//! `prefix + name`; lifetimes are kept to the millisecond (rounded up), as are index
//! deadlines. An index lives until its latest deadline plus a day. Values, counters and
//! indexes share one key space: a name used for one cannot be used for another
//! ([`StoreError::Backend`](vipps_login_core::StoreError::Backend)).
//!
//! # Read-mostly keys in process
//! The tower layer reads its session on every request. So that this costs no round trip
//! while the session is unchanged, and a logout on any instance still ends it at once,
//! the store keeps keys under the prefixes marked with
//! [`Store::cache_reads`](vipps_login_core::Store::cache_reads) in process, kept right by
//! Redis' server-assisted client-side caching: a connection of its own has `CLIENT
//! TRACKING ON BCAST PREFIX …`, and Redis pushes an invalidation for every change of such
//! a key (a write by any instance, an expiry, `FLUSHALL`) **before it answers the client
//! that made the change**; the copy is dropped when the push arrives. A value is kept only
//! from a read begun while tracking was on (a placeholder goes in before the `GET`; an
//! invalidation removes it; the answer is kept only if its placeholder is still there),
//! and this instance's own writes drop the copy before they are sent and again when they
//! are answered. The tracking connection is checked with a `PING` every second: when it
//! fails, answers late or closes, everything kept is dropped and every read goes to
//! Redis until tracking is on again — so when the network fails silently, a change made
//! elsewhere is missed for at most about two seconds. Measured: 1.01× the memory store's
//! logged-in requests per second over HTTP with 16 connections, against 0.49× with a
//! `GET` per request (`benches/benches/layer_http.rs`).
//! [`RedisStoreBuilder::cache_reads`]`(false)` turns it off.
//!
//! # When Redis is away
//! Commands fail within the command timeout with
//! [`StoreError::Unavailable`](vipps_login_core::StoreError::Unavailable) (a sentence
//! naming the URL, never its password) or
//! [`StoreError::Timeout`](vipps_login_core::StoreError::Timeout). After a timeout or a
//! broken connection a write may or may not have happened: re-read before deciding. Reads
//! that meet a broken connection are sent once more on a fresh one; writes only when they
//! certainly never reached Redis. Commands use RESP3, whose connection notices a server
//! that went away and reconnects before it is needed; notifications use a RESP2
//! connection of their own, re-established with backoff (at most 2 s apart), and checked
//! with a `PING` every 10 s when idle.

mod builder;
mod errors;
mod pubsub;
mod scripts;
mod store;
mod tracking;

pub use crate::builder::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_NOTIFICATION_CAPACITY, DEFAULT_PREFIX, RedisStoreBuilder,
};
pub use crate::store::RedisStore;
