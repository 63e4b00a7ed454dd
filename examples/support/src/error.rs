//! [`AppError`]: why an app could not start.

use std::net::SocketAddr;

/// Why an app could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A bad option.
    #[error("configuration: {0}")]
    Config(String),
    /// The listen address is taken or not allowed.
    #[error(
        "could not listen on {addr}: {source} (is another copy running? `--listen 127.0.0.1:0` picks a free port)"
    )]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The in-process simulator did not start.
    #[error("the Vipps simulator did not start: {0}")]
    Simulator(#[from] vipps_login_sim::SimError),
    /// The Vipps configuration or client is wrong.
    #[error("Vipps: {0}")]
    Vipps(#[from] vipps_login_core::Error),
    /// The login layer rejected its configuration.
    #[error(transparent)]
    Layer(#[from] vipps_login_tower::BuildError),
    /// Writing the URLs or serving failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
