//! Builds the core client from flags and `VIPPS_*` environment variables.

use vipps_login_core::{Config, VippsClient};

use crate::cli::ClientArgs;
use crate::output::Failure;

/// The sentence for a terminal with nothing configured.
pub(crate) const NOT_CONFIGURED: &str = "No Vipps client is configured. Set VIPPS_CLIENT_ID and \
     VIPPS_CLIENT_SECRET (and VIPPS_ISSUER=test, production or an issuer URL; test is the \
     default). To try it without a Vipps account, run `vipps-login sim` in another terminal \
     and paste the line it prints.";

/// Reads the configuration exactly like core's `Config::from_env()`, with the command-line
/// flags taking precedence over their environment variables (clap has already merged
/// flag and environment for those).
pub(crate) fn config(args: &ClientArgs) -> Result<Config, Failure> {
    if args
        .client_id
        .as_deref()
        .is_none_or(|id| id.trim().is_empty())
    {
        let message = if args.issuer.is_none() {
            NOT_CONFIGURED.to_owned()
        } else {
            "VIPPS_CLIENT_ID (or --client-id) and VIPPS_CLIENT_SECRET must be set for this issuer."
                .to_owned()
        };
        return Err(Failure::config(message));
    }
    let overridden = |name: &str| -> Option<Option<String>> {
        match name {
            "VIPPS_ISSUER" => Some(args.issuer.clone()),
            "VIPPS_CLIENT_ID" => Some(args.client_id.clone()),
            "VIPPS_CLIENT_AUTH" => Some(args.client_auth.clone()),
            "VIPPS_MERCHANT_SERIAL_NUMBER" => Some(args.merchant_serial_number.clone()),
            _ => None,
        }
    };
    Config::from_lookup(|name| overridden(name).unwrap_or_else(|| std::env::var(name).ok()))
        .map_err(Failure::from)
}

/// A ready client, or the failure to report (exit 2 for configuration problems).
pub(crate) fn client(args: &ClientArgs) -> Result<VippsClient, Failure> {
    let config = config(args)?;
    VippsClient::new(config).map_err(Failure::from)
}
