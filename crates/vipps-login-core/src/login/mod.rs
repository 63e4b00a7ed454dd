//! The login engine: every state, transition and decision of a login. One record per
//! login in the [`Store`](crate::Store), moved from state to state by conditional writes
//! only (see [`state`] for the states); front ends only call the engine (through
//! [`VippsClient`](crate::VippsClient)) and map its answers ([`LoginView`], [`LoginEnd`]).
//!
//! A map of the files, in the order a login meets them:
//!
//! | file | what it decides |
//! |---|---|
//! | `admit` | whether a start may go ahead (cool-down, one waiting login per number, start windows) |
//! | `start` | the push (or a decoy), the record and its side keys |
//! | `decoy` | what a decoy claims: Vipps' usual expiry and interval |
//! | `poller` | when each waiting login is polled (time only; knows logins by id) |
//! | `poll` | what a poll's answer means: approve, deny, expire, fail, or poll again |
//! | `identity` | what tokens must satisfy: ID token, nonce, `auth_req_id`, userinfo, the started number |
//! | `browser` | continue in browser: `state` first, one code exchange |
//! | `webhook` | a verified ping wakes the login's poller, on any instance |
//! | `finish` | redeem once, cancel |
//! | `end` | [`LoginEnd`]: how a login ended, classified once for every front end |
//! | `state` | the states and the legal moves between them |
//! | `record`, `record_format`, `records` | the sealed record, its bytes (compact; the previous release's JSON still read) and the conditional writes that move it |
//! | `background` | heartbeat, following other instances, taking over a dead or stopping one's logins |
//! | `trail` | the metrics and audit events of a login's start, end and redemption |
//! | `policy`, `keys`, `sealed` | limits, store key names, sealing |
//!
//! What a record holds: the upstream `auth_req_id` and nonce (never shown), the flow and
//! kind, the deadline and poll interval, which instance polls it, the number it was
//! started for (sealed with the rest) and its keyed hash (for limits), and the front
//! end's [`LoginContext`]. Front ends keep no login record of their own.

mod admit;
pub(crate) mod background;
mod browser;
mod decoy;
pub mod end;
pub(crate) mod engine;
mod finish;
mod identity;
pub(crate) mod keys;
pub(crate) mod policy;
mod poll;
pub(crate) mod poller;
pub(crate) mod record;
mod record_format;
pub(crate) mod records;
pub(crate) mod sealed;
mod start;
pub mod state;
mod trail;
mod webhook;

mod failure;
mod view;

pub use end::{CannotUseVipps, LoginEnd};
pub use failure::FailureReason;
pub use finish::Redeemed;
pub use view::{FlowKind, LoginContext, LoginKind, LoginView, Transition};
