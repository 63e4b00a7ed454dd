//! The config file: a `[bridge]` table and the `[[clients]]` of the provider's registry.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::Rng as _;
use serde::Deserialize;
use vipps_login_provider::{ClientRegistry, SubjectMapping};

use crate::AppError;

/// The default configuration: the demo clients `demo-rp` and `demo-rp-2`.
pub const DEFAULT_CONFIG: &str = include_str!("../identity-bridge.toml");

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BridgeTable {
    #[serde(default)]
    enumeration_resistant: bool,
    pairwise_key: Option<String>,
    key_rotation_secs: Option<u64>,
    max_concurrent_secret_checks: Option<usize>,
}

/// The bridge's settings and its clients.
#[derive(Debug)]
#[non_exhaustive]
pub struct BridgeConfig {
    /// Unknown numbers end as expired instead of `unknown_user_id`.
    pub enumeration_resistant: bool,
    /// The registered clients.
    pub registry: ClientRegistry,
    /// How often generated signing keys rotate (`--key-rotation-secs` overrides it).
    pub key_rotation: Duration,
    /// At most this many client-secret checks at once (`[bridge]
    /// max_concurrent_secret_checks`); one more is answered 503 at once. `None`: the
    /// provider's default, one per core the process may use.
    pub max_concurrent_secret_checks: Option<usize>,
    pairwise_key: Option<Vec<u8>>,
}

impl BridgeConfig {
    /// Parses a config file.
    ///
    /// ```
    /// let c = identity_bridge::BridgeConfig::parse(identity_bridge::DEFAULT_CONFIG).unwrap();
    /// assert!(c.registry.authenticate("demo-rp", "demo-rp-secret").is_some());
    /// assert!(c.registry.authenticate("demo-rp-2", "demo-rp-2-secret").is_some());
    /// ```
    ///
    /// # Errors
    /// The problem, naming the setting.
    pub fn parse(text: &str) -> Result<BridgeConfig, String> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let bridge: BridgeTable = match table.remove("bridge") {
            Some(v) => v
                .try_into()
                .map_err(|e: toml::de::Error| format!("[bridge]: {}", e.message()))?,
            None => BridgeTable::default(),
        };
        let clients = toml::to_string(&table).map_err(|e| e.to_string())?;
        let registry = ClientRegistry::from_toml(&clients).map_err(|e| e.to_string())?;
        let pairwise_key = bridge
            .pairwise_key
            .map(|k| {
                STANDARD
                    .decode(k.trim())
                    .ok()
                    .filter(|k| k.len() >= 32)
                    .ok_or("[bridge] pairwise_key must be base64 of at least 32 bytes")
            })
            .transpose()?;
        let rotation = bridge.key_rotation_secs.unwrap_or(86_400);
        if rotation < 60 {
            return Err("[bridge] key_rotation_secs must be at least 60".into());
        }
        if bridge.max_concurrent_secret_checks == Some(0) {
            return Err("[bridge] max_concurrent_secret_checks must be at least 1".into());
        }
        Ok(BridgeConfig {
            enumeration_resistant: bridge.enumeration_resistant,
            registry,
            key_rotation: Duration::from_secs(rotation),
            max_concurrent_secret_checks: bridge.max_concurrent_secret_checks,
            pairwise_key,
        })
    }

    /// The subject mapping for pairwise clients: the configured key, else a random one
    /// (logged: pairwise subjects then change on every start).
    pub(crate) fn subject_mapping(&self) -> Result<SubjectMapping, AppError> {
        let key = match &self.pairwise_key {
            Some(k) => k.clone(),
            None => {
                tracing::warn!("no [bridge] pairwise_key: pairwise subjects change on every start");
                let k: [u8; 32] = rand::rng().random();
                k.to_vec()
            }
        };
        SubjectMapping::pairwise(&key)
            .ok_or_else(|| AppError::Config("pairwise_key too short".into()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn bridge_table_and_clients() {
        let c = BridgeConfig::parse(DEFAULT_CONFIG).unwrap();
        assert_eq!(c.registry.len(), 2);
        assert!(!c.enumeration_resistant);
        let bad = BridgeConfig::parse("[bridge]\ncolour = 1\n").unwrap_err();
        assert!(bad.contains("[bridge]"), "{bad}");
        let bad = BridgeConfig::parse("[bridge]\npairwise_key = \"c2hvcnQ=\"\n").unwrap_err();
        assert!(bad.contains("pairwise_key"), "{bad}");
        assert_eq!(c.max_concurrent_secret_checks, None);
        let c = BridgeConfig::parse("[bridge]\nmax_concurrent_secret_checks = 64\n").unwrap();
        assert_eq!(c.max_concurrent_secret_checks, Some(64));
        let bad = BridgeConfig::parse("[bridge]\nmax_concurrent_secret_checks = 0\n").unwrap_err();
        assert!(bad.contains("max_concurrent_secret_checks"), "{bad}");
        let bad = BridgeConfig::parse("[[clients]]\nclient_id = \"x\"\n").unwrap_err();
        assert!(bad.contains("client x"), "{bad}");
    }
}
