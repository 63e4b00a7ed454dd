//! The provider's own signing keys: RS256 and ES256, generated with aws-lc-rs, a `kid` in
//! every token, rotation that keeps retired public keys in the JWKS for a grace period.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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

/// Key generation or signing failed (in the crypto library).
#[derive(Debug, Clone, thiserror::Error)]
#[error("signing key error: {0}")]
pub struct KeyError(String);

struct SigningKey {
    alg: SigningAlg,
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    fn generate(alg: SigningAlg) -> Result<SigningKey, KeyError> {
        let id: [u8; 12] = rand::rng().random();
        let kid = format!(
            "{}-{}",
            alg.as_str().to_ascii_lowercase(),
            URL_SAFE_NO_PAD.encode(id)
        );
        let fail = |what: &str| KeyError(format!("{} {what}", alg.as_str()));
        let (encoding, jwk) = match alg {
            SigningAlg::RS256 => {
                let pair =
                    RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| fail("generation"))?;
                let der = pair.as_der().map_err(|_| fail("encoding"))?;
                let pem = pem("PRIVATE KEY", der.as_ref());
                let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())
                    .map_err(|e| KeyError(e.to_string()))?;
                let public = pair.public_key();
                let jwk = json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                    "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                });
                (encoding, jwk)
            }
            SigningAlg::ES256 => {
                let rng = SystemRandom::new();
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| fail("generation"))?;
                let pair =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                        .map_err(|_| fail("parsing"))?;
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(fail("public key encoding"));
                }
                let jwk = json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..]),
                });
                (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
            }
        };
        Ok(SigningKey {
            alg,
            kid,
            encoding,
            jwk,
        })
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

struct State {
    current: Vec<Arc<SigningKey>>,
    retired: Vec<(Arc<SigningKey>, Instant)>,
    jwks: Arc<str>,
}

impl State {
    fn new(current: Vec<Arc<SigningKey>>, retired: Vec<(Arc<SigningKey>, Instant)>) -> State {
        let keys: Vec<&Value> = current
            .iter()
            .map(|k| &k.jwk)
            .chain(retired.iter().map(|(k, _)| &k.jwk))
            .collect();
        let jwks = json!({ "keys": keys }).to_string();
        State {
            current,
            retired,
            jwks: Arc::from(jwks),
        }
    }
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
    state: Arc<RwLock<State>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.kids())
            .finish_non_exhaustive()
    }
}

impl KeySet {
    /// Fresh RS256 and ES256 keys.
    pub fn generate() -> Result<KeySet, KeyError> {
        let current = vec![
            Arc::new(SigningKey::generate(SigningAlg::RS256)?),
            Arc::new(SigningKey::generate(SigningAlg::ES256)?),
        ];
        Ok(KeySet {
            state: Arc::new(RwLock::new(State::new(current, Vec::new()))),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces both current keys with new ones. The old public keys stay in the JWKS for
    /// `grace` (at least as long as tokens signed with them live); keys whose grace ended
    /// are dropped.
    pub fn rotate(&self, grace: Duration) -> Result<(), KeyError> {
        let fresh = vec![
            Arc::new(SigningKey::generate(SigningAlg::RS256)?),
            Arc::new(SigningKey::generate(SigningAlg::ES256)?),
        ];
        let now = Instant::now();
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut retired: Vec<(Arc<SigningKey>, Instant)> = state
            .retired
            .iter()
            .filter(|(_, until)| *until > now)
            .cloned()
            .collect();
        retired.extend(state.current.iter().map(|k| (k.clone(), now + grace)));
        *state = State::new(fresh, retired);
        Ok(())
    }

    /// The JWKS document (`{"keys": [...]}`), current keys first.
    #[must_use]
    pub fn jwks_json(&self) -> Arc<str> {
        let state = self.read();
        let now = Instant::now();
        if state.retired.iter().any(|(_, until)| *until <= now) {
            drop(state);
            let mut w = self
                .state
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let current = w.current.clone();
            let retired = w
                .retired
                .iter()
                .filter(|(_, u)| *u > now)
                .cloned()
                .collect();
            *w = State::new(current, retired);
            return w.jwks.clone();
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
