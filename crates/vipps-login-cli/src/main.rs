//! `vipps-login`: Vipps phone-number login (merchant-initiated login, OpenID CIBA) from a
//! terminal, for counters, call centers and scripts.
//!
//! ```text
//! vipps-login login --phone 4712345678 [--scope "openid name phoneNumber"]
//!                   [--binding-message CODE] [--expiry SECS] [--redirect-uri URL]
//!                   [--redis-url URL] [--json]
//! vipps-login user-exists --phone 4712345678 [--json]
//! vipps-login sim [--listen 127.0.0.1:0] [--auto-approve-ms N]
//! ```
//!
//! Configured like `vipps_login_core::Config::from_env()` (`VIPPS_ISSUER`,
//! `VIPPS_CLIENT_ID`, `VIPPS_CLIENT_SECRET`, ...). Exit codes: 0 logged in; 2 bad input or
//! usage (nothing sent); 3 declined; 4 expired; 5 cannot use Vipps login; 6 rate limited;
//! 7 Vipps (or the shared store) refused or answered wrongly; 130 cancelled with Ctrl-C.
//! With `--redirect-uri`, 0 means the server behind it finished the login, which the
//! command sees through a store shared with that server (`--redis-url`). `vipps-login --help`
//! has the details.

mod cli;
mod client;
mod exit;
mod login;
mod output;
mod sim;
mod user_exists;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use crate::cli::{Cli, Command};
use crate::output::{Failure, Ui};

fn main() -> ExitCode {
    // Decided before parsing so that even a usage error is answered in JSON.
    let json = std::env::args_os().any(|arg| arg == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return clap_error(&error, json),
    };
    init_tracing();

    let ui = Ui::new(match &cli.command {
        Command::Login(args) => args.json,
        Command::UserExists(args) => args.json,
        Command::Sim(_) => false,
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return exit::code(exit::VIPPS_FAILED);
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Login(args) => login::run(args, ui).await.map(|()| exit::OK),
            Command::UserExists(args) => user_exists::run(args, ui).await,
            Command::Sim(args) => sim::run(args).await.map(|()| exit::OK),
        }
    });
    // Do not wait for background tasks (the poller, a half-sent request after Ctrl-C).
    runtime.shutdown_background();
    match outcome {
        Ok(code) => exit::code(code),
        Err(failure) => {
            ui.failure(&failure);
            exit::code(failure.exit)
        }
    }
}

/// Help and version go out as clap prints them (exit 0); usage errors exit 2, as a JSON
/// `{"event":"error","error":"usage",...}` line on stdout when `--json` was on the
/// command line.
fn clap_error(error: &clap::Error, json: bool) -> ExitCode {
    let informational = matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    );
    if informational || !json {
        let _ = error.print();
        return exit::code(if informational { exit::OK } else { exit::USAGE });
    }
    // The error paragraph of clap's text (before "Usage:"), on one line.
    let rendered = error.render().to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .skip_while(|line| line.is_empty())
        .take_while(|line| !line.is_empty())
        .collect();
    let joined = paragraph.join(" ");
    let message = joined.strip_prefix("error: ").unwrap_or(&joined).trim();
    let failure = Failure::usage(format!("{message} (see vipps-login --help)"));
    Ui::new(true).failure(&failure);
    exit::code(exit::USAGE)
}

/// Diagnostics on stderr, filtered by `RUST_LOG` (default `warn`). Core never logs
/// tokens, secrets or full phone numbers.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
