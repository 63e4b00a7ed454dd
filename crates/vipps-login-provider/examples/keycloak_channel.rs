//! Keycloak's CIBA HTTP authentication channel in front of the Vipps simulator: what
//! `cargo xtask keycloak` runs against a real Keycloak until the identity bridge mounts
//! the channel itself.
//!
//! ```text
//! cargo run -p vipps-login-provider --example keycloak_channel -- \
//!     --listen 127.0.0.1:8081 --keycloak-issuer http://127.0.0.1:8080/realms/vipps \
//!     [--keycloak-attribute phone_number --keycloak-admin-client channel-admin \
//!      --keycloak-admin-secret channel-admin-secret]
//! ```
//!
//! Prints `channel: URL` (give it to Keycloak's
//! `--spi-ciba-auth-channel--ciba-http-auth-channel--http-authentication-channel-uri`)
//! and `sim: URL` (the simulator's base, whose `/_sim/` control API plays the phone).

use std::io::Write as _;
use std::time::Duration;

use vipps_login_core::{ClientAuth, Config, Issuer, Secret, VippsClient};
use vipps_login_provider::keycloak::{
    AttributeLookup, KeycloakChannel, KeycloakChannelConfig, PhoneResolver,
};
use vipps_login_sim::{SimConfig, Simulator};

#[derive(Default)]
struct Args {
    listen: Option<String>,
    issuer: Option<String>,
    attribute: Option<String>,
    admin_client: Option<String>,
    admin_secret: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => args.listen = Some(value()?),
            "--keycloak-issuer" => args.issuer = Some(value()?),
            "--keycloak-attribute" => args.attribute = Some(value()?),
            "--keycloak-admin-client" => args.admin_client = Some(value()?),
            "--keycloak-admin-secret" => args.admin_secret = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,vipps_login_provider=debug".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = parse_args()?;
    let issuer = args
        .issuer
        .ok_or("--keycloak-issuer is required (e.g. http://127.0.0.1:8080/realms/vipps)")?;

    let sim = Simulator::start(SimConfig::default().interval(Duration::from_millis(200))).await?;
    let vipps = VippsClient::new(
        Config::builder(
            Issuer::Custom(sim.issuer()),
            sim.client_id(),
            Secret::new(sim.client_secret()),
        )
        .client_auth(ClientAuth::Basic)
        .build()?,
    )?;

    let resolver = match (args.attribute, args.admin_client, args.admin_secret) {
        (None, None, None) => PhoneResolver::Username,
        (Some(attribute), Some(client), Some(secret)) => PhoneResolver::AttributeOrUsername(
            AttributeLookup::new(attribute, client, Secret::new(secret)),
        ),
        _ => {
            return Err(
                "--keycloak-attribute, --keycloak-admin-client and --keycloak-admin-secret go together"
                    .into(),
            );
        }
    };
    let channel = KeycloakChannel::new(
        KeycloakChannelConfig::new(&issuer)?.resolver(resolver),
        vipps,
    )?;
    let app = axum::Router::new().nest("/keycloak/channel", channel.router());
    let listener =
        tokio::net::TcpListener::bind(args.listen.as_deref().unwrap_or("127.0.0.1:0")).await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "channel: http://{addr}/keycloak/channel")?;
        writeln!(out, "sim: {}", sim.base_url())?;
        out.flush()?;
    }
    tracing::warn!("no Vipps credentials: running against the in-process Vipps simulator");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
