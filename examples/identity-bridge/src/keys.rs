//! The ID tokens' signing keys of the bridge: the operator's (files or a variable), else
//! generated once and shared sealed in the store; and how long retired ones stay published.

use std::path::PathBuf;
use std::time::Duration;

use example_support::AppError;
use vipps_login_provider::keys::{KeySet, SigningAlg};

use crate::config::BridgeConfig;

/// Where the signing keys come from. Without keys given, they are generated once and kept
/// sealed in the shared store (`--redis-url`), shared by every instance and kept across
/// restarts, and rotated every `key_rotation_secs` by one instance.
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct KeyOptions {
    /// A private key file (PEM: PKCS#8 `PRIVATE KEY`, `RSA PRIVATE KEY` or P-256 `EC
    /// PRIVATE KEY`; or a JWK / JWK set of EC P-256 keys with `d`). Repeat for several;
    /// the first key of each algorithm signs, the others are only published (keep the
    /// previous key after the new one while tokens it signed live). Configured keys are
    /// never rotated by the bridge.
    #[arg(
        long = "signing-key",
        value_name = "FILE",
        env = "BRIDGE_SIGNING_KEY_FILES",
        value_delimiter = ','
    )]
    pub signing_key_files: Vec<PathBuf>,
    /// The private keys themselves (PEM blocks or a JWK set, as in the files), for an
    /// environment variable filled from a secret store.
    #[arg(
        long,
        env = "BRIDGE_SIGNING_KEYS",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub signing_keys: Option<String>,
    /// Rotate generated keys this often, in seconds (at least 60; default: the config
    /// file's `key_rotation_secs`, else a day). Retired public keys stay in the JWKS for
    /// this period plus 15 minutes, longer than any ID token they signed.
    #[arg(long, env = "BRIDGE_KEY_ROTATION_SECS")]
    pub key_rotation_secs: Option<u64>,
}

impl KeyOptions {
    /// The operator's keys, when any are given (the files, then the variable).
    pub(crate) fn configured(&self) -> Result<Option<KeySet>, AppError> {
        let mut inputs = Vec::new();
        for path in &self.signing_key_files {
            let text = std::fs::read_to_string(path)
                .map_err(|e| AppError::Config(format!("--signing-key {}: {e}", path.display())))?;
            inputs.push((format!("--signing-key {}", path.display()), text));
        }
        if let Some(text) = &self.signing_keys {
            inputs.push(("BRIDGE_SIGNING_KEYS".to_owned(), text.clone()));
        }
        if inputs.is_empty() {
            return Ok(None);
        }
        let keys =
            KeySet::from_private_keys(inputs).map_err(|e| AppError::Config(e.to_string()))?;
        for alg in [SigningAlg::RS256, SigningAlg::ES256] {
            if !keys.has(alg) {
                tracing::warn!(
                    alg = alg.as_str(),
                    "no configured signing key of this algorithm: clients asking for it get server_error at the token endpoint"
                );
            }
        }
        Ok(Some(keys))
    }

    /// The rotation period: the option, else the config file's.
    pub(crate) fn rotation(&self, config: &BridgeConfig) -> Result<Duration, AppError> {
        match self.key_rotation_secs {
            Some(s) if s < 60 => Err(AppError::Config(
                "--key-rotation-secs must be at least 60".into(),
            )),
            Some(s) => Ok(Duration::from_secs(s)),
            None => Ok(config.key_rotation),
        }
    }
}

/// How long a retired key stays published after a rotation every `period`: a period
/// more, plus 15 minutes (ID tokens live 10, the JWKS is cached 5).
pub(crate) fn retired_grace(period: Duration) -> Duration {
    period + Duration::from_secs(900)
}
