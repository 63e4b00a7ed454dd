//! What both apps are started with and what they hand back: the [`CommonOptions`] they
//! take, the [`DEMO_CUSTOMER`] the instructions point at, and the [`Urls`] a person needs.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;
use vipps_login_tower::{RateLimits, Window};

/// The demo customer the instructions point at (Kari Nordmann in the simulator).
pub const DEMO_CUSTOMER: &str = "4712345678";

/// The options both reference apps take; each app flattens them into its own `Options`
/// next to its listen address, public URL and scopes.
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct CommonOptions {
    /// Use the in-process simulator even when VIPPS_CLIENT_ID is set.
    #[arg(long)]
    pub simulator: bool,
    /// Simulator: polling interval it hands out, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub sim_interval_ms: u64,
    /// Simulator: how long a login request waits for the customer, in seconds.
    #[arg(long, default_value_t = 300.0)]
    pub sim_expires_in_secs: f64,
    /// Simulator: approve every login by itself after this many milliseconds.
    #[arg(long)]
    pub sim_auto_approve_ms: Option<u64>,
    /// Simulator: every well-formed phone number is a Vipps user (made up on its first
    /// login), not only the simulator's few demo users. For load tests and benchmarks
    /// that need many distinct customers with real pending logins (each demo user may
    /// have only three pending logins at a time).
    #[arg(long)]
    pub sim_auto_users: bool,
    /// Simulator: the address it listens on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub sim_listen: SocketAddr,
    /// Starts allowed per phone number in the rate-limit window (layer default 3).
    #[arg(long)]
    pub rate_limit_per_number: Option<u32>,
    /// Starts allowed per client IP in the rate-limit window (layer default 30); also the
    /// user-exists questions allowed per client IP (the desk asks one before each start).
    #[arg(long)]
    pub rate_limit_per_ip: Option<u32>,
    /// Length of the rate-limit window for the two limits above, in seconds.
    #[arg(long, default_value_t = 600)]
    pub rate_limit_window_secs: u64,
    /// Cool-down after a customer declined, in seconds (layer default 60).
    #[arg(long)]
    pub declined_cool_down_secs: Option<u64>,
    /// Cool-down after a login expired unanswered, in seconds (layer default 30: a
    /// push the customer missed is no reason to keep the desk waiting long).
    #[arg(long)]
    pub ignored_cool_down_secs: Option<u64>,
    /// Keep logins, sessions, limits and polling in this Redis (e.g.
    /// `redis://127.0.0.1:6379`), shared by every instance started with the same Redis and
    /// COOKIE_SECRET. Without it they live in this process only.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Without Redis: how many entries this process keeps (a waiting login holds up to
    /// five, a staff session one). At capacity new logins are refused before anything is
    /// sent to Vipps (503 with `Retry-After`); a login already accepted is never dropped.
    #[arg(long, env = "MEMORY_STORE_CAPACITY", default_value_t = vipps_login_core::DEFAULT_MEMORY_STORE_CAPACITY)]
    pub memory_store_capacity: u64,
    /// The language of the pages for browsers that ask for none of nb, da, fi, en
    /// (each browser otherwise gets its own).
    #[arg(long, env = "DESK_LANGUAGE", default_value = "en")]
    pub language: vipps_login_core::Language,
    /// Behind your own reverse proxy that always sets `X-Forwarded-For`: take the client's
    /// address from its rightmost entry (the one the proxy added) for the per-IP limits
    /// and the staff password's per-source throttle, instead of the peer (the proxy).
    #[arg(long, env = "TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// At least 64 random bytes that encrypt the session cookie (default: a random key
    /// per start, so sessions end when the app restarts).
    #[arg(long, env = "COOKIE_SECRET", hide_env_values = true)]
    pub cookie_secret: Option<String>,
    /// The staff password that opens the desk (at least 12 characters); scripts send it
    /// as `Authorization: Bearer …`. Required with Vipps; with the simulator the sign-up
    /// desk makes up one and prints it.
    #[arg(long, env = "STAFF_PASSWORD", hide_env_values = true)]
    pub staff_password: Option<String>,
    /// The management listener (`/metrics`, `/health/live`, `/health/ready`): an address
    /// such as 127.0.0.1:9464 (port 0 picks a free one), or `off`. Keep it off the public
    /// network: metrics and health are for Prometheus and the load balancer.
    #[arg(long, env = "MANAGEMENT_LISTEN", default_value = "127.0.0.1:0")]
    pub management_listen: crate::ops::ManagementListen,
    /// Append the audit trail (logins started, ended, redeemed, cancelled; staff
    /// sign-ins) to this file, one JSON object per line.
    #[arg(long, env = "AUDIT_LOG")]
    pub audit_log: Option<std::path::PathBuf>,
    /// On SIGTERM, how long in-flight requests may take to finish, in seconds.
    #[arg(long, default_value_t = 10)]
    pub shutdown_grace_secs: u64,
}

impl CommonOptions {
    /// The layer's rate limits: its defaults, with what the options set.
    pub fn rate_limits(&self) -> RateLimits {
        let window = Duration::from_secs(self.rate_limit_window_secs.max(1));
        let mut limits = RateLimits::default();
        if let Some(max) = self.rate_limit_per_number {
            limits = limits.per_number(Window::new(max, window));
        }
        if let Some(max) = self.rate_limit_per_ip {
            limits = limits
                .per_client(Window::new(max, window))
                .user_exists_per_client(Window::new(max, window));
        }
        if let Some(s) = self.declined_cool_down_secs {
            limits = limits.declined_cool_down(Duration::from_secs(s));
        }
        if let Some(s) = self.ignored_cool_down_secs {
            limits = limits.ignored_cool_down(Duration::from_secs(s));
        }
        limits
    }
}

/// The URLs a person (or a test) needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Urls {
    /// The app's base URL, e.g. `http://127.0.0.1:3000/`.
    pub base: Url,
    /// The clerk's page.
    pub app: Url,
    /// With the simulator: the simulated phone of [`DEMO_CUSTOMER`].
    pub phone: Option<Url>,
    /// With the simulator: its issuer URL.
    pub sim_issuer: Option<Url>,
    /// With the simulator: its base URL (phones are listed there, control API under `/_sim/`).
    pub sim_base: Option<Url>,
    /// The staff password the app made up for this run (simulator only, when none was
    /// configured), for the instructions.
    pub staff_password: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn common_option_defaults() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            common: CommonOptions,
        }
        let o = Cli::try_parse_from(["app"]).unwrap().common;
        assert!(!o.simulator);
        assert_eq!(o.sim_interval_ms, 1000);
        assert!(o.sim_auto_approve_ms.is_none());
        assert!(!o.sim_auto_users);
        assert_eq!(o.rate_limit_window_secs, 600);
        assert_eq!(
            o.management_listen,
            crate::ops::ManagementListen::At("127.0.0.1:0".parse().unwrap())
        );
        assert!(o.audit_log.is_none());
        let o = Cli::try_parse_from(["app", "--rate-limit-per-number", "1", "--sim-auto-users"])
            .unwrap()
            .common;
        assert_eq!(o.rate_limit_per_number, Some(1));
        assert!(o.sim_auto_users);
        let _ = o.rate_limits();
    }
}
