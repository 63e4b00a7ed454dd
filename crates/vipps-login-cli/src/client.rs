//! Builds the core client from flags and `VIPPS_*` environment variables, on this
//! process' memory or on a Redis shared with other instances (`--redis-url`).

use std::sync::Arc;

use vipps_login_core::{Config, Error, VippsClient};
use vipps_login_redis::RedisStore;

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

/// A ready client whose logins live in the Redis at `redis_url`, shared with every
/// instance (web servers included) on that Redis with the same client secret. Nothing
/// is sent to Vipps here; a Redis that cannot be reached is exit 7 (`store`), with the
/// URL's password masked.
pub(crate) async fn shared_client(
    args: &ClientArgs,
    redis_url: &str,
) -> Result<VippsClient, Failure> {
    let config = config(args)?;
    let store = RedisStore::connect(redis_url)
        .await
        .map_err(|e| masked(Failure::from(Error::from(e)), redis_url))?;
    VippsClient::with_store(config, Arc::new(store))
        .map_err(|e| masked(Failure::from(e), redis_url))
}

/// `failure` with every trace of `url`'s password masked in its message.
fn masked(mut failure: Failure, url: &str) -> Failure {
    failure.message = mask_password(&failure.message, url);
    failure
}

/// `url` as it may be shown: a password replaced by `***`; a URL that cannot be taken
/// apart is not shown at all.
pub(crate) fn shown_url(url: &str) -> String {
    match url::Url::parse(url.trim()) {
        Ok(mut parsed) => {
            if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
                return "the Redis URL".to_owned();
            }
            parsed.to_string()
        }
        Err(_) => "the Redis URL".to_owned(),
    }
}

/// `text` with `url` shown masked and its password (as written and percent-decoded)
/// replaced by `***` wherever it occurs.
pub(crate) fn mask_password(text: &str, url: &str) -> String {
    let mut out = text.replace(url.trim(), &shown_url(url));
    if let Ok(parsed) = url::Url::parse(url.trim())
        && let Some(password) = parsed.password().filter(|p| !p.is_empty())
    {
        out = out.replace(password, "***");
        let decoded = url::form_urlencoded::parse(format!("p={password}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned());
        if let Some(decoded) = decoded.filter(|d| !d.is_empty() && d != password) {
            out = out.replace(&decoded, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_passwords_are_masked() {
        let url = "redis://user:s%40cret-pw@127.0.0.1:6379/2";
        assert_eq!(shown_url(url), "redis://user:***@127.0.0.1:6379/2");
        assert_eq!(
            shown_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(shown_url("not a url s3cret"), "the Redis URL");
        let text = format!("cannot reach {url}; auth s%40cret-pw / s@cret-pw failed");
        let masked = mask_password(&text, url);
        assert!(!masked.contains("cret-pw"), "{masked}");
        assert!(
            masked.contains("redis://user:***@127.0.0.1:6379/2"),
            "{masked}"
        );
    }
}
