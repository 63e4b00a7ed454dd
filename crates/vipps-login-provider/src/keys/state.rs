//! What a key set holds at one moment: current keys, retired ones with their deadline,
//! and the JWKS document of both.

use std::sync::Arc;

use serde_json::{Value, json};

use super::material::SigningKey;

/// A retired key published until this Unix millisecond (`u64::MAX`: as long as it is
/// configured).
pub(crate) type Retired = (Arc<SigningKey>, u64);

/// The keys served now.
pub(crate) struct State {
    pub(crate) current: Vec<Arc<SigningKey>>,
    pub(crate) retired: Vec<Retired>,
    pub(crate) rotated_at_ms: u64,
    pub(crate) jwks: Arc<str>,
}

impl State {
    pub(crate) fn new(
        current: Vec<Arc<SigningKey>>,
        retired: Vec<Retired>,
        rotated_at_ms: u64,
    ) -> State {
        let keys: Vec<&Value> = current
            .iter()
            .map(|k| &k.jwk)
            .chain(retired.iter().map(|(k, _)| &k.jwk))
            .collect();
        let jwks = json!({ "keys": keys }).to_string();
        State {
            current,
            retired,
            rotated_at_ms,
            jwks: Arc::from(jwks),
        }
    }
}
