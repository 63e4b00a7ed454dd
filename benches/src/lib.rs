//! The workspace's simulator-driven benchmarks, as `cargo bench -p vipps-login-benches`
//! (or `cargo xtask bench`, which runs every benchmark against its baseline):
//!
//! - `pending_logins`: many concurrent pending logins on one instance's poller against
//!   the in-process simulator (poll lateness, memory per login, upstream requests).
//! - `layer_overhead`: a logged-in request through `VippsLoginLayer` beside axum-login +
//!   tower-sessions and bare axum.
//!
//! The library is empty; it exists so that these benches live in a crate of their own
//! and neither `vipps-login-core` nor `vipps-login-tower` depends on the simulator.
