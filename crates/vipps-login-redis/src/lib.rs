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
//! cheap to clone). [`RedisStore::round_trips`] counts the commands sent, for benchmarks.

mod builder;
mod errors;
mod pubsub;
mod scripts;
mod store;

pub use crate::builder::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_NOTIFICATION_CAPACITY, DEFAULT_PREFIX, RedisStoreBuilder,
};
pub use crate::store::RedisStore;
