//! `vipps-login-sim`: runs the Vipps simulator. Prints the issuer URL as the first line
//! of stdout, then logs to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use vipps_login_sim::{Policy, SimConfig, Simulator};

/// A faithful simulator of Vipps merchant-initiated login (CIBA), with a simulated phone.
#[derive(Parser, Debug)]
#[command(name = "vipps-login-sim", version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0", env = "VIPPS_SIM_LISTEN")]
    listen: SocketAddr,
    /// TOML or JSON file with more users (and clients).
    #[arg(long, env = "VIPPS_SIM_USERS")]
    users: Option<PathBuf>,
    /// Polling interval returned by the start call, seconds (fractions allowed).
    #[arg(long, default_value_t = 5.0)]
    interval: f64,
    /// Default request expiry, seconds (fractions allowed).
    #[arg(long, default_value_t = 600.0)]
    expires_in: f64,
    /// How much `slow_down` adds to the interval, seconds (default 5).
    #[arg(long, default_value_t = 5.0)]
    slow_down_step: f64,
    /// Approve every new request after this many milliseconds.
    #[arg(long, conflicts_with = "auto_deny_ms")]
    auto_approve_ms: Option<u64>,
    /// Deny every new request after this many milliseconds.
    #[arg(long)]
    auto_deny_ms: Option<u64>,
    /// Any well-formed phone number is a user (for load tests).
    #[arg(long)]
    auto_users: bool,
    /// Pending logins per phone number before the start call answers 429.
    #[arg(long, default_value_t = 3)]
    max_pending_per_user: usize,
    /// Base URL to announce instead of http://{listen}/ (e.g. behind a proxy).
    #[arg(long)]
    public_url: Option<url::Url>,
    /// Play Vipps strictly as documented: no nonce in ID tokens, no state on the phone's
    /// redirect, one token response per continue-in-browser login, plain-text 429s,
    /// e-mail in 1-hour ID tokens, webhook pings late and twice.
    /// Also from VIPPS_SIM_AS_DOCUMENTED (`1`, `true`, `yes`, `on`), as the library reads it.
    #[arg(
        long,
        env = "VIPPS_SIM_AS_DOCUMENTED",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    as_documented: bool,
    /// With --as-documented: delay of the first webhook ping after the approval, ms.
    #[arg(long, default_value_t = 300)]
    webhook_delay_ms: u64,
    /// With --as-documented: delay of the second delivery of a webhook ping after the
    /// first, ms (default: twice --webhook-delay-ms).
    #[arg(long)]
    webhook_redelivery_delay_ms: Option<u64>,
}

fn secs(v: f64, name: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v).map_err(|e| format!("--{name}: {e}"))
}

async fn run(args: Args) -> Result<(), String> {
    let mut config = SimConfig::default()
        .listen(args.listen)
        .interval(secs(args.interval, "interval")?)
        .expires_in(secs(args.expires_in, "expires-in")?)
        .slow_down_step(secs(args.slow_down_step, "slow-down-step")?)
        .auto_users(args.auto_users)
        .max_pending_per_user(args.max_pending_per_user)
        .as_documented(args.as_documented)
        .webhook_delay(Duration::from_millis(args.webhook_delay_ms));
    if let Some(ms) = args.webhook_redelivery_delay_ms {
        config = config.webhook_redelivery_delay(Duration::from_millis(ms));
    }
    if let Some(path) = &args.users {
        config = config.users_file(path).map_err(|e| e.to_string())?;
    }
    if let Some(u) = args.public_url {
        config = config.public_url(u);
    }
    if let Some(ms) = args.auto_approve_ms {
        config = config.policy(Policy::AutoApprove {
            after: Duration::from_millis(ms),
        });
    }
    if let Some(ms) = args.auto_deny_ms {
        config = config.policy(Policy::AutoDeny {
            after: Duration::from_millis(ms),
        });
    }
    let sim = Simulator::start(config).await.map_err(|e| e.to_string())?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", sim.issuer()).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    tracing::info!("issuer    {}", sim.issuer());
    tracing::info!("client    {} (the built-in demo client)", sim.client_id());
    tracing::info!(
        "phones    {} lists the demo users' phone pages",
        sim.base_url()
    );
    tracing::info!("requests  {}_sim/requests", sim.base_url());
    if args.as_documented {
        tracing::info!("mode      as documented (see SimConfig::as_documented)");
    }
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    tracing::info!("shutting down");
    sim.shutdown();
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vipps-login-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
