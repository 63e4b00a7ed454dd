//! The provider's signing keys: RS256 and ES256, a `kid` in every token, rotation that
//! keeps retired public keys in the JWKS for a grace period. Three sources:
//!
//! * [`KeySet::generate`]: fresh keys in this process (tests, one instance);
//! * [`KeySet::from_private_keys`]: the operator's own keys (PEM or JWK), the same on
//!   every instance given them, rotated by the operator;
//! * [`KeySet::shared`]: generated once and kept sealed in the shared store (the first
//!   instance wins), rotated by one instance at a time under a lease and announced on the
//!   store's notifications, so that every instance serves the same JWKS, after restarts too.

mod material;
mod shared;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vipps_login_core::clock::duration_ms;
use vipps_login_core::{Clock, SystemClock};

use crate::records::Records;
use material::SigningKey;

/// The signing algorithms offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys (the OpenID default).
    #[default]
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
}

impl SigningAlg {
    /// The JOSE name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
        }
    }

    fn jwt(self) -> Algorithm {
        match self {
            SigningAlg::RS256 => Algorithm::RS256,
            SigningAlg::ES256 => Algorithm::ES256,
        }
    }
}

/// Key generation, reading, storing or signing failed; the message says which.
#[derive(Debug, Clone, thiserror::Error)]
#[error("signing key error: {0}")]
pub struct KeyError(String);

/// A retired key published until this Unix millisecond (`u64::MAX`: as long as it is
/// configured).
type Retired = (Arc<SigningKey>, u64);

struct State {
    current: Vec<Arc<SigningKey>>,
    retired: Vec<Retired>,
    rotated_at_ms: u64,
    jwks: Arc<str>,
}

impl State {
    fn new(current: Vec<Arc<SigningKey>>, retired: Vec<Retired>, rotated_at_ms: u64) -> State {
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

fn fresh_pair() -> Result<Vec<Arc<SigningKey>>, KeyError> {
    Ok(vec![
        Arc::new(SigningKey::generate(SigningAlg::RS256)?),
        Arc::new(SigningKey::generate(SigningAlg::ES256)?),
    ])
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
        shared::load_or_create(records).await
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
            Source::Shared(records) => shared::rotate(self, records, None, grace).await,
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
            Source::Shared(records) => shared::rotate(self, records, Some(period), grace).await,
        }
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
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};

    fn verify(keys: &KeySet, token: &str) -> Result<Value, jsonwebtoken::errors::Error> {
        let header = decode_header(token)?;
        let kid = header.kid.clone().unwrap();
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&keys.jwks_json()).unwrap();
        let jwk = jwks.find(&kid).expect("kid published");
        let mut v = Validation::new(header.alg);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        Ok(decode::<Value>(token, &DecodingKey::from_jwk(jwk)?, &v)?.claims)
    }

    #[test]
    fn both_algorithms_sign_with_a_kid_and_verify_against_the_jwks() {
        let keys = KeySet::generate().unwrap();
        for alg in [SigningAlg::RS256, SigningAlg::ES256] {
            let t = keys.sign(alg, &json!({"sub": "x"})).unwrap();
            let h = decode_header(&t).unwrap();
            assert_eq!(h.alg, alg.jwt());
            assert!(
                h.kid
                    .unwrap()
                    .starts_with(&alg.as_str().to_ascii_lowercase())
            );
            assert_eq!(verify(&keys, &t).unwrap()["sub"], "x");
        }
        // A token signed by another key set does not verify.
        let other = KeySet::generate().unwrap();
        let t = other.sign(SigningAlg::RS256, &json!({"sub": "x"})).unwrap();
        let kid = decode_header(&t).unwrap().kid.unwrap();
        assert!(!keys.kids().contains(&kid));
    }

    fn memory_records() -> (Arc<vipps_login_core::MemoryStore>, Records) {
        let store = Arc::new(vipps_login_core::MemoryStore::new());
        let records = Records::sealed_with(
            store.clone(),
            Arc::new(SystemClock),
            &vipps_login_core::Secret::new("merchant secret"),
        );
        (store, records)
    }

    async fn until_jwks(keys: &KeySet, kid: &str) -> std::time::Duration {
        let t = std::time::Instant::now();
        while !keys.kids().iter().any(|k| k == kid) {
            assert!(t.elapsed() < Duration::from_secs(2), "{kid} not served");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        t.elapsed()
    }

    #[tokio::test]
    async fn shared_keys_are_the_same_on_every_instance_and_survive_restarts() {
        let (_store, records) = memory_records();
        // Two instances starting at once: one key set between them.
        let (a, b) = tokio::join!(KeySet::shared(&records), KeySet::shared(&records));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.kids(), b.kids());
        let token = a.sign(SigningAlg::RS256, &json!({"sub": "x"})).unwrap();
        assert_eq!(verify(&b, &token).unwrap()["sub"], "x");
        // A restart reads them back.
        drop(a);
        let restarted = KeySet::shared(&records).await.unwrap();
        assert_eq!(restarted.kids(), b.kids());
        assert_eq!(verify(&restarted, &token).unwrap()["sub"], "x");
    }

    #[tokio::test]
    async fn a_shared_rotation_reaches_every_instance_and_keeps_old_keys() {
        let (_store, records) = memory_records();
        let a = KeySet::shared(&records).await.unwrap();
        let b = KeySet::shared(&records).await.unwrap();
        let old = a.sign(SigningAlg::ES256, &json!({"n": 1})).unwrap();
        // Not due yet: nobody rotates.
        let day = Duration::from_secs(86_400);
        assert!(!a.rotate_if_due(day, day).await.unwrap());
        assert!(a.rotate_now(Duration::from_secs(3600)).await.unwrap());
        let new = a.sign(SigningAlg::ES256, &json!({"n": 2})).unwrap();
        let new_kid = decode_header(&new).unwrap().kid.unwrap();
        let took = until_jwks(&b, &new_kid).await;
        assert!(
            took < Duration::from_secs(1),
            "B served the new key after {took:?}"
        );
        assert_eq!(b.kids().len(), 4, "old keys still published");
        assert!(verify(&b, &old).is_ok());
        // Due on both at once: one of them rotates.
        let period = Duration::from_millis(1500);
        tokio::time::sleep(period).await;
        let (ra, rb) = tokio::join!(a.rotate_if_due(period, day), b.rotate_if_due(period, day));
        assert_eq!(
            u8::from(ra.unwrap()) + u8::from(rb.unwrap()),
            1,
            "exactly one instance rotates (the lease)"
        );
    }

    #[tokio::test]
    async fn keys_in_the_store_that_do_not_open_are_an_error_not_new_keys() {
        let (store, records) = memory_records();
        let key = records.store_key("keys", "signing");
        vipps_login_core::Store::set(
            &*store,
            &key,
            b"{\"keys\":[]}".to_vec(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        let e = KeySet::shared(&records).await.unwrap_err();
        assert!(e.to_string().contains("do not open"), "{e}");
    }

    #[test]
    fn configured_keys_sign_with_thumbprint_kids_and_publish_the_rest() {
        use aws_lc_rs::encoding::AsDer as _;
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let rsa_pem = pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            rsa.as_der().unwrap().as_ref().to_vec(),
        ));
        let ec = material::SigningKey::generate(SigningAlg::ES256).unwrap();
        let ec_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", ec.pkcs8.clone()));
        let older = material::SigningKey::generate(SigningAlg::ES256).unwrap();
        let older_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", older.pkcs8.clone()));
        let inputs = || {
            vec![
                ("keys.pem".to_owned(), format!("{rsa_pem}{ec_pem}")),
                ("old.pem".to_owned(), older_pem.clone()),
            ]
        };
        let one = KeySet::from_private_keys(inputs()).unwrap();
        let two = KeySet::from_private_keys(inputs()).unwrap();
        assert_eq!(
            one.kids(),
            two.kids(),
            "same keys, same kids on every instance"
        );
        assert_eq!(one.kids().len(), 3);
        let t = one.sign(SigningAlg::ES256, &json!({"sub": "x"})).unwrap();
        assert_eq!(verify(&two, &t).unwrap()["sub"], "x");
        let rotated = one.rotate_now(Duration::from_secs(1));
        assert!(
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(rotated)
                .is_err()
        );

        // An EC JWK with `d`.
        let jwk = {
            let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &ec.pkcs8,
            )
            .unwrap();
            use aws_lc_rs::encoding::AsBigEndian as _;
            let d = pair.private_key().as_be_bytes().unwrap();
            let mut j = ec.jwk.clone();
            j["d"] = json!(URL_SAFE_NO_PAD.encode(d.as_ref()));
            j["kid"] = json!("operator-ec-1");
            j.to_string()
        };
        let from_jwk = KeySet::from_private_keys([("jwk".to_owned(), jwk)]).unwrap();
        assert_eq!(from_jwk.kids(), vec!["operator-ec-1".to_owned()]);
        assert!(!from_jwk.has(SigningAlg::RS256));
        let bad = KeySet::from_private_keys([("env".to_owned(), "hello".to_owned())]).unwrap_err();
        assert!(bad.to_string().contains("env"), "{bad}");
    }

    #[test]
    fn rotation_keeps_old_public_keys_for_the_grace_period() {
        let keys = KeySet::generate().unwrap();
        let old = keys.sign(SigningAlg::RS256, &json!({"n": 1})).unwrap();
        keys.rotate(Duration::from_millis(300)).unwrap();
        assert_eq!(keys.kids().len(), 4);
        assert!(verify(&keys, &old).is_ok(), "old token still verifies");
        let new = keys.sign(SigningAlg::RS256, &json!({"n": 2})).unwrap();
        assert_ne!(
            decode_header(&old).unwrap().kid,
            decode_header(&new).unwrap().kid
        );
        std::thread::sleep(Duration::from_millis(350));
        let jwks: Value = serde_json::from_str(&keys.jwks_json()).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        assert!(verify(&keys, &new).is_ok());
        let rsa = &jwks["keys"][0];
        assert_eq!(rsa["kty"], "RSA");
        assert_eq!(rsa["e"], "AQAB");
        assert!(rsa.get("d").is_none(), "no private parts");
    }
}
