//! Command-line syntax (clap derive). Values stay strings here; `login.rs` and friends
//! validate them with core's types so that bad input gets core's stable error codes.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

const MAIN_AFTER_HELP: &str = "\
Configuration (flags override the environment):
  VIPPS_ISSUER                  test (default) | production | an issuer URL (http:// only on loopback)
  VIPPS_CLIENT_ID               your Vipps Login client id (required)
  VIPPS_CLIENT_SECRET           its secret (required; environment only, never a flag)
  VIPPS_CLIENT_AUTH             basic (default) | post
  VIPPS_MERCHANT_SERIAL_NUMBER  when a partner key acts for a merchant
  VIPPS_SYSTEM_NAME, VIPPS_SYSTEM_VERSION, VIPPS_SYSTEM_PLUGIN_NAME, VIPPS_SYSTEM_PLUGIN_VERSION
                                optional Vipps-System-* headers
  REDIS_URL                     login: a Redis shared with your web servers (as --redis-url)
  RUST_LOG                      log filter for diagnostics on stderr (default: warn)

Exit codes:
  0    logged in (login --redirect-uri: the server behind it finished the login;
       user-exists: the number has Vipps login)
  2    bad input or usage; nothing was sent to Vipps
  3    the customer declined
  4    the login expired before the customer confirmed
  5    the customer cannot use Vipps login (no account, under 15, app too old;
       user-exists: the number has no Vipps login)
  6    rate limited: too many logins started for this customer (Retry-After is reported)
  7    Vipps refused or answered wrongly (credentials, protocol error, ID token that
       fails verification, network), or the shared store (--redis-url) failed
  130  cancelled with Ctrl-C

Try it without a Vipps account:
  vipps-login sim --auto-approve-ms 3000     # terminal 1: prints the line for terminal 2
";

const LOGIN_AFTER_HELP: &str = "\
The customer gets a push in the Vipps (or MobilePay) app, sees the confirmation code
and the information you ask for, and confirms. Show them the same code so both sides
know it is the same login. Progress goes to stderr; the result goes to stdout.

Examples:
  vipps-login login --phone 4712345678
  vipps-login login --phone '+47 123 45 678' --scope 'openid name phoneNumber email address'
  vipps-login login --phone 4712345678 --binding-message DESK-42 --expiry 120 --json

With --json stdout gets JSON lines, one object a line, each with an \"event\", as they
happen (nothing for humans on stderr):
  {\"event\":\"started\",\"login_id\":...,\"binding_message\":\"DESK-42\",\"phone\":\"47******78\",
   \"flow\":\"finish_in_app\",\"expires_at\":<unix secs>,\"expires_in_secs\":600}   at once: show the code
  {\"event\":\"status\",\"status\":\"approved\"}   on each change (pending, approved, awaiting_browser, exchanged,
   denied, expired, cancelled, ...)
and last either
  {\"event\":\"result\",\"status\":\"approved\",\"sub\":...,\"binding_message\":...,\"id_token_claims\":{...},\"userinfo\":{...}}
or
  {\"event\":\"error\",\"error\":\"<stable code>\",\"message\":\"...\",\"exit_code\":N} plus
  \"retry_after_secs\" when rate limited.
A script reads lines as they come (the last line is the outcome). Error codes: usage,
invalid_input, config, invalid_phone_number, invalid_binding_message, invalid_scope,
declined, expired, invalid_user, old_app, rate_limited, invalid_client,
token_verification, transport, ...
Tokens (the ID token and the access token) are never printed.

Continue in browser (--redirect-uri): after confirming, the customer's phone opens
<redirect-uri>?code=...&state=... . The server behind that URL exchanges the code and
finishes the login; this command never sees the code. It waits for the end of the
login and exits with
  0    the server finished the login (JSON: {\"event\":\"result\",
       \"status\":\"continued_in_browser\",\"login_id\":...,\"binding_message\":...,
       \"redirect_uri\":...}; no identity, the server has it)
  4    it expired first; 130 Ctrl-C (the login is cancelled); other codes as above
It sees the server finish only through a store they share: pass --redis-url (or set
REDIS_URL) to the Redis your web servers use, with the same VIPPS_CLIENT_ID and
VIPPS_CLIENT_SECRET. Without it, the login lives in this process only: the command says
so when it starts (JSON: a {\"event\":\"notice\",\"notice\":\"no_shared_store\",...} line after
\"started\") and waits until the login expires (exit 4, even if the customer got in) or is
cancelled. A decline is not seen in this variant (the login is not polled: Vipps answers
once, to the server), so it ends as expired too.

Scopes: openid (always), name, phoneNumber, email, address, birthDate, nin,
delegatedConsents.
";

const USER_EXISTS_AFTER_HELP: &str = "\
Prints `yes` or `no` on stdout. Exit code 0 when the number has Vipps login, 5 when it
does not (so `if vipps-login user-exists --phone ...; then` reads naturally), other codes
as for `login`.

Examples:
  vipps-login user-exists --phone 4712345678
  vipps-login user-exists --phone 4711111111 --json     # {\"msisdn\":\"4711111111\",\"exists\":false}
";

const SIM_AFTER_HELP: &str = "\
Runs the vipps-login simulator in this process (not Vipps: nothing leaves this machine)
and prints the exact command to paste into another terminal. Approve or deny logins on
the simulated phone page, or let --auto-approve-ms do it.

Demo users: 4712345678 Kari Nordmann, 4798765432 Ola Nordmann,
4711111111 no Vipps account, 4733333333 app too old, 4744444444 push disabled.

Examples:
  vipps-login sim
  vipps-login sim --listen 127.0.0.1:7878 --auto-approve-ms 3000 --interval-ms 1000
";

/// `vipps-login`: Vipps phone-number login from a terminal.
#[derive(Debug, Parser)]
#[command(
    name = "vipps-login",
    version,
    about = "Vipps phone-number login (merchant-initiated login) from a terminal",
    long_about = "Vipps phone-number login (merchant-initiated login) from a terminal: for \
                  counters, call centers and scripts. Start a login with the customer's \
                  phone number; the customer confirms in the Vipps or MobilePay app.",
    after_help = MAIN_AFTER_HELP,
    propagate_version = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Log a customer in with their phone number and print who they are.
    #[command(after_help = LOGIN_AFTER_HELP)]
    Login(LoginArgs),
    /// Check whether a phone number can log in with Vipps.
    #[command(name = "user-exists", after_help = USER_EXISTS_AFTER_HELP)]
    UserExists(UserExistsArgs),
    /// Run the Vipps login simulator here, for a quick try without a Vipps account.
    #[command(after_help = SIM_AFTER_HELP)]
    Sim(SimArgs),
}

/// Where and as whom to talk to Vipps.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientArgs {
    /// Issuer: `test` (default), `production` or an issuer URL
    #[arg(
        long,
        env = "VIPPS_ISSUER",
        hide_env_values = true,
        value_name = "URL|test|production"
    )]
    pub(crate) issuer: Option<String>,

    /// Vipps Login client id (the secret is read from VIPPS_CLIENT_SECRET only)
    #[arg(
        long,
        env = "VIPPS_CLIENT_ID",
        hide_env_values = true,
        value_name = "ID"
    )]
    pub(crate) client_id: Option<String>,

    /// Client authentication: `basic` (default) or `post`
    #[arg(
        long,
        env = "VIPPS_CLIENT_AUTH",
        hide_env_values = true,
        value_name = "basic|post"
    )]
    pub(crate) client_auth: Option<String>,

    /// Merchant serial number, when a partner key acts for a merchant
    #[arg(
        long,
        env = "VIPPS_MERCHANT_SERIAL_NUMBER",
        hide_env_values = true,
        value_name = "MSN"
    )]
    pub(crate) merchant_serial_number: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The customer's phone number with country code: 4712345678, +47 123 45 678, 004712345678
    #[arg(long, value_name = "NUMBER")]
    pub(crate) phone: String,

    /// Space-separated scopes; `openid` is always added
    #[arg(long, value_name = "SCOPES", default_value = "openid name phoneNumber")]
    pub(crate) scope: String,

    /// Confirmation code shown in the app and to the customer: 5–8 of A–Z, 0–9 and `-`
    /// [default: a generated readable code]
    #[arg(long, value_name = "CODE")]
    pub(crate) binding_message: Option<String>,

    /// Seconds the customer has to confirm (60–900) [default: Vipps' own, 600]
    #[arg(long, value_name = "SECS")]
    pub(crate) expiry: Option<String>,

    /// Continue in the phone's browser at this URL after confirming (must be registered);
    /// waits until the server behind it finishes the login (see below)
    #[arg(long, value_name = "URL")]
    pub(crate) redirect_uri: Option<String>,

    /// Keep this login in the Redis your web servers share
    /// (`redis://[user:password@]host:port[/db]`), so that this command sees the server
    /// behind --redirect-uri finish it
    #[arg(long, env = "REDIS_URL", hide_env_values = true, value_name = "URL")]
    pub(crate) redis_url: Option<String>,

    /// Print JSON lines on stdout as the login goes (started, status, result or error)
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct UserExistsArgs {
    /// The phone number with country code: 4712345678, +47 123 45 678, 004712345678
    #[arg(long, value_name = "NUMBER")]
    pub(crate) phone: String,

    /// Print one JSON line on stdout (the result or the error) and nothing else
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Address to listen on (loopback is recommended; port 0 picks a free one)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub(crate) listen: SocketAddr,

    /// Approve every login automatically after this many milliseconds (default: approve
    /// on the phone page)
    #[arg(long, value_name = "MS")]
    pub(crate) auto_approve_ms: Option<u64>,

    /// Polling interval the simulator hands out, in milliseconds [default: 5000, like Vipps]
    #[arg(long, value_name = "MS")]
    pub(crate) interval_ms: Option<u64>,

    /// Deny every login automatically after this many milliseconds
    #[arg(long, value_name = "MS", conflicts_with = "auto_approve_ms")]
    pub(crate) auto_deny_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
