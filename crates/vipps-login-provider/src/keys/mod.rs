//! The provider's signing keys: RS256 and ES256, a `kid` in every token, rotation that
//! keeps retired public keys in the JWKS for a grace period. Three sources:
//!
//! * [`KeySet::generate`]: fresh keys in this process (tests, one instance);
//! * [`KeySet::from_private_keys`]: the operator's own keys (PEM or JWK), the same on
//!   every instance given them, rotated by the operator;
//! * [`KeySet::shared`]: generated once and kept sealed in the shared store (the first
//!   instance wins), rotated by one instance at a time under a lease and announced on the
//!   store's notifications, so that every instance serves the same JWKS, after restarts too.

mod alg;
mod material;
mod shared;
mod state;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::Header;
use serde::Serialize;
use vipps_login_core::clock::duration_ms;
use vipps_login_core::{Clock, SystemClock};

use crate::records::Records;
pub use alg::{KeyError, SigningAlg};
use material::{SigningKey, fresh_pair};
use state::{Retired, State};

/// Where a key set's keys come from, and so who rotates them.
enum Source {
    /// Generated in this process; rotated here.
    Local,
    /// The operator's; rotated by the operator (new configuration, restart).
    Configured,
    /// Sealed in the shared store; rotated by one instance under a lease.
    Shared(Records),
}

struct Inner {
    state: RwLock<State>,
    clock: Arc<dyn Clock>,
    source: Source,
}

/// The provider's key set: one current RS256 and one current ES256 key, plus retired
/// keys still published until their grace period ends. Cheap to clone.
///
/// ```
/// use vipps_login_provider::keys::{KeySet, SigningAlg};
/// let keys = KeySet::generate()?;
/// let token = keys.sign(SigningAlg::ES256, &serde_json::json!({"sub": "x"}))?;
/// let jwks: serde_json::Value = serde_json::from_str(&keys.jwks_json())?;
/// assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct KeySet {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.kids())
            .finish_non_exhaustive()
    }
}

impl KeySet {
    fn with(source: Source, clock: Arc<dyn Clock>, state: State) -> KeySet {
        KeySet {
            inner: Arc::new(Inner {
                state: RwLock::new(state),
                clock,
                source,
            }),
        }
    }

    /// Fresh RS256 and ES256 keys, in this process only.
    pub fn generate() -> Result<KeySet, KeyError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let state = State::new(fresh_pair()?, Vec::new(), clock.unix_ms());
        Ok(KeySet::with(Source::Local, clock, state))
    }

    /// The operator's own keys: each item is (where it came from, for messages; its text),
    /// PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`) or JSON (a JWK or a JWK set,
    /// EC P-256 with `d`). The first key of each algorithm signs; the others are published
    /// in the JWKS only (keep the previous key listed after the new one for as long as
    /// tokens it signed live). `kid`s are the keys' RFC 7638 thumbprints (or the JWK's own
    /// `kid`), so every instance given the same keys serves the same JWKS.
    ///
    /// # Errors
    /// A text with no usable private key, naming its source.
    pub fn from_private_keys(
        inputs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<KeySet, KeyError> {
        let mut current: Vec<Arc<SigningKey>> = Vec::new();
        let mut retired: Vec<Retired> = Vec::new();
        for (source, text) in inputs {
            for key in SigningKey::parse_all(&text, &source)? {
                let seen = current
                    .iter()
                    .chain(retired.iter().map(|(k, _)| k))
                    .any(|k| k.kid == key.kid);
                if seen {
                    continue;
                }
                if current.iter().any(|k| k.alg == key.alg) {
                    retired.push((Arc::new(key), u64::MAX));
                } else {
                    current.push(Arc::new(key));
                }
            }
        }
        if current.is_empty() {
            return Err(KeyError("no signing key was given".into()));
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let state = State::new(current, retired, clock.unix_ms());
        Ok(KeySet::with(Source::Configured, clock, state))
    }

    /// The keys kept sealed in `records`' shared store: read, or generated and stored when
    /// none are there yet (of several instances starting at once, the first one's win).
    /// This instance follows the store's notifications (and re-reads every minute) from
    /// then on, so a rotation by any instance reaches it. Needs a tokio runtime.
    ///
    /// # Errors
    /// When the store cannot be reached, or holds keys that do not open (sealed with
    /// another Vipps client secret).
    pub async fn shared(records: &Records) -> Result<KeySet, KeyError> {
        let state = shared::load_or_create(records).await?;
        let set = KeySet::with(
            Source::Shared(records.clone()),
            records.clock().clone(),
            state,
        );
        let weak = Arc::downgrade(&set.inner);
        shared::follow(records, move |state| match weak.upgrade() {
            Some(inner) => {
                KeySet { inner }.replace_state(state);
                true
            }
            None => false,
        })
        .await;
        Ok(set)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn replace_state(&self, state: State) {
        *self
            .inner
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state;
    }

    /// Whether a current key of `alg` signs.
    #[must_use]
    pub fn has(&self, alg: SigningAlg) -> bool {
        self.read().current.iter().any(|k| k.alg == alg)
    }

    /// Whether the keys are the operator's (rotated by changing the configuration).
    #[must_use]
    pub fn is_configured(&self) -> bool {
        matches!(self.inner.source, Source::Configured)
    }

    /// Replaces both current keys of a key set made by [`generate`](Self::generate) with
    /// new ones. The old public keys stay in the JWKS for `grace` (at least as long as
    /// tokens signed with them live); keys whose grace ended are dropped. Shared and
    /// configured keys are rotated with [`rotate_now`](Self::rotate_now).
    ///
    /// # Errors
    /// Key generation failed, or the keys are not this process' own.
    pub fn rotate(&self, grace: Duration) -> Result<(), KeyError> {
        if !matches!(self.inner.source, Source::Local) {
            return Err(KeyError(
                "shared or configured keys rotate with rotate_now".into(),
            ));
        }
        let fresh = fresh_pair()?;
        let now = self.inner.clock.unix_ms();
        let until = now.saturating_add(duration_ms(grace));
        let mut state = self
            .inner
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut retired: Vec<Retired> = state
            .retired
            .iter()
            .filter(|(_, u)| *u > now)
            .cloned()
            .collect();
        retired.extend(state.current.iter().map(|k| (k.clone(), until)));
        *state = State::new(fresh, retired, now);
        Ok(())
    }

    /// Rotates now: this process' keys at once; shared keys by this instance when it gets
    /// the rotation lease (`false` when another instance holds it), announced to every
    /// instance.
    ///
    /// # Errors
    /// The keys are the operator's, key generation failed, or the store failed.
    pub async fn rotate_now(&self, grace: Duration) -> Result<bool, KeyError> {
        match &self.inner.source {
            Source::Local => self.rotate(grace).map(|()| true),
            Source::Configured => Err(KeyError(
                "configured keys are rotated by the operator (list the new key first, keep the old one after it)".into(),
            )),
            Source::Shared(records) => self.rotate_shared(records, None, grace).await,
        }
    }

    /// Rotates when the current keys are `period` old (on any instance: shared keys are
    /// rotated by one instance, under a lease); `true` when this call rotated. Configured
    /// keys are never rotated here.
    ///
    /// # Errors
    /// Key generation or the store failed.
    pub async fn rotate_if_due(&self, period: Duration, grace: Duration) -> Result<bool, KeyError> {
        match &self.inner.source {
            Source::Local => {
                let due = self
                    .read()
                    .rotated_at_ms
                    .saturating_add(duration_ms(period))
                    <= self.inner.clock.unix_ms();
                if due {
                    self.rotate(grace)?;
                }
                Ok(due)
            }
            Source::Configured => Ok(false),
            Source::Shared(records) => self.rotate_shared(records, Some(period), grace).await,
        }
    }

    async fn rotate_shared(
        &self,
        records: &Records,
        period: Option<Duration>,
        grace: Duration,
    ) -> Result<bool, KeyError> {
        let (rotated, state) = shared::rotate(records, period, grace).await?;
        if let Some(state) = state {
            self.replace_state(state);
        }
        Ok(rotated)
    }

    /// The JWKS document (`{"keys": [...]}`), current keys first.
    #[must_use]
    pub fn jwks_json(&self) -> Arc<str> {
        let now = self.inner.clock.unix_ms();
        let state = self.read();
        if state.retired.iter().any(|(_, until)| *until <= now) {
            let retired = state
                .retired
                .iter()
                .filter(|(_, u)| *u > now)
                .cloned()
                .collect();
            let fresh = State::new(state.current.clone(), retired, state.rotated_at_ms);
            drop(state);
            let jwks = fresh.jwks.clone();
            self.replace_state(fresh);
            return jwks;
        }
        state.jwks.clone()
    }

    /// The `kid`s published now (current and retired).
    #[must_use]
    pub fn kids(&self) -> Vec<String> {
        let state = self.read();
        state
            .current
            .iter()
            .chain(state.retired.iter().map(|(k, _)| k))
            .map(|k| k.kid.clone())
            .collect()
    }

    /// Signs `claims` as a JWT with the current key of `alg`; the header names its `kid`.
    ///
    /// # Errors
    /// No current key of `alg`, or signing failed.
    pub fn sign<T: Serialize>(&self, alg: SigningAlg, claims: &T) -> Result<String, KeyError> {
        let key = self
            .read()
            .current
            .iter()
            .find(|k| k.alg == alg)
            .cloned()
            .ok_or_else(|| KeyError(format!("no current {} key", alg.as_str())))?;
        let mut header = Header::new(alg.jwt());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(|e| KeyError(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
