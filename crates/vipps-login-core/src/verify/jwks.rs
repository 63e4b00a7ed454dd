//! The JWKS as the verifier uses it: each usable key parsed once, by `kid`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use serde::Deserialize;
use serde_json::Value;

use crate::{Error, TokenError};

/// A JSON Web Key Set reduced to the keys we can use: RSA keys for RS256 and P-256 EC keys
/// for ES256, each by `kid`, decoded once.
#[derive(Clone, Default)]
pub struct Jwks {
    keys: HashMap<String, Arc<UsableKey>>,
    /// Keys without `kid` (used only when a token has no `kid` and exactly one key fits).
    anonymous: Vec<Arc<UsableKey>>,
}

pub(super) struct UsableKey {
    /// The one algorithm this key verifies (pinned by its type and curve).
    pub(super) alg: Algorithm,
    /// Parsed once, when the JWKS is loaded.
    pub(super) key: ParsedPublicKey,
}

/// The verifying key of a JWK: RSA from `n` and `e` (RS256, PKCS#1 v1.5, 2048 to 8192
/// bits, the size checked at each verification), P-256 from `x` and `y` (ES256).
fn parse_key(params: &AlgorithmParameters) -> Option<ParsedPublicKey> {
    match params {
        AlgorithmParameters::RSA(rsa) => {
            let n = URL_SAFE_NO_PAD.decode(&rsa.n).ok()?;
            let e = URL_SAFE_NO_PAD.decode(&rsa.e).ok()?;
            // Big-endian integers; aws-lc wants them without leading zero bytes.
            let strip = |b: &[u8]| -> Vec<u8> {
                let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
                b[first..].to_vec()
            };
            RsaPublicKeyComponents {
                n: strip(&n),
                e: strip(&e),
            }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .ok()
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let x = URL_SAFE_NO_PAD.decode(&ec.x).ok()?;
            let y = URL_SAFE_NO_PAD.decode(&ec.y).ok()?;
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            // The uncompressed point; aws-lc checks that it is on the curve.
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).ok()
        }
        _ => None,
    }
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("Jwks")
            .field("kids", &kids)
            .field("anonymous", &self.anonymous.len())
            .finish()
    }
}

impl Jwks {
    /// Parses a JWKS document (`{"keys": [...]}`). Keys that are not signature keys for
    /// RS256 or ES256 (P-256) are skipped; a document with no usable key is an error.
    pub fn from_json(json: &[u8]) -> Result<Jwks, Error> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<Value>,
        }
        let doc: Doc = serde_json::from_slice(json)
            .map_err(|e| Error::Protocol(format!("the JWKS is not valid JSON ({e})")))?;
        let mut jwks = Jwks::default();
        for raw in doc.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
                continue;
            };
            jwks.add(&jwk);
        }
        if jwks.keys.is_empty() && jwks.anonymous.is_empty() {
            return Err(Error::Protocol("the JWKS has no usable signing key".into()));
        }
        Ok(jwks)
    }

    /// Adds one key when usable; returns whether it was.
    pub fn add(&mut self, jwk: &Jwk) -> bool {
        if let Some(u) = &jwk.common.public_key_use
            && *u != PublicKeyUse::Signature
        {
            return false;
        }
        let alg = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => return false,
        };
        match jwk.common.key_algorithm {
            None => {}
            Some(KeyAlgorithm::RS256) if alg == Algorithm::RS256 => {}
            Some(KeyAlgorithm::ES256) if alg == Algorithm::ES256 => {}
            Some(_) => return false,
        }
        let Some(key) = parse_key(&jwk.algorithm) else {
            return false;
        };
        let usable = Arc::new(UsableKey { alg, key });
        match &jwk.common.key_id {
            Some(kid) => {
                self.keys.insert(kid.clone(), usable);
            }
            None => self.anonymous.push(usable),
        }
        true
    }

    /// Whether a key with this `kid` is present.
    #[must_use]
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// Number of usable keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len() + self.anonymous.len()
    }

    /// Whether there is no usable key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<&UsableKey, TokenError> {
        let key = match kid {
            Some(kid) => self.keys.get(kid).ok_or(TokenError::UnknownKey)?,
            None => {
                let mut fitting = self
                    .keys
                    .values()
                    .chain(self.anonymous.iter())
                    .filter(|k| k.alg == alg);
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => k,
                    _ => return Err(TokenError::UnknownKey),
                }
            }
        };
        if key.alg != alg {
            return Err(TokenError::KeyMismatch);
        }
        Ok(key)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const JWKS: &str = include_str!("../../tests/fixtures/jwks.json");

    fn doc() -> Value {
        serde_json::from_str(JWKS).unwrap()
    }

    #[test]
    fn keys_are_parsed_once_with_their_algorithm_pinned() {
        let jwks = Jwks::from_json(JWKS.as_bytes()).unwrap();
        assert_eq!(jwks.len(), 2);
        assert_eq!(
            jwks.find(Some("test:rsa"), Algorithm::RS256).unwrap().alg,
            Algorithm::RS256
        );
        assert_eq!(
            jwks.find(Some("test:ec"), Algorithm::ES256).unwrap().alg,
            Algorithm::ES256
        );
        assert!(matches!(
            jwks.find(Some("test:rsa"), Algorithm::ES256),
            Err(TokenError::KeyMismatch)
        ));
        assert!(matches!(
            jwks.find(Some("nope"), Algorithm::RS256),
            Err(TokenError::UnknownKey)
        ));
    }

    #[test]
    fn a_leading_zero_in_the_modulus_is_the_same_key() {
        let mut d = doc();
        let n = URL_SAFE_NO_PAD
            .decode(d["keys"][0]["n"].as_str().unwrap())
            .unwrap();
        let mut padded = vec![0u8];
        padded.extend(n);
        d["keys"][0]["n"] = Value::String(URL_SAFE_NO_PAD.encode(padded));
        let jwks = Jwks::from_json(d.to_string().as_bytes()).unwrap();
        assert!(jwks.contains("test:rsa"));
    }

    #[test]
    fn unusable_keys_are_skipped() {
        let mut d = doc();
        // A P-256 coordinate of the wrong length, a point off the curve, a small RSA key
        // (it parses, but every verification refuses it: the 2048-bit floor holds).
        d["keys"][1]["x"] = Value::String(URL_SAFE_NO_PAD.encode([7u8; 31]));
        let jwks = Jwks::from_json(d.to_string().as_bytes()).unwrap();
        assert!(!jwks.contains("test:ec"));
        let mut d = doc();
        d["keys"][1]["y"] = Value::String(URL_SAFE_NO_PAD.encode([7u8; 32]));
        let jwks = Jwks::from_json(d.to_string().as_bytes()).unwrap();
        assert!(!jwks.contains("test:ec"), "not on the curve");
        let mut d = doc();
        d["keys"][0]["n"] = Value::String(URL_SAFE_NO_PAD.encode([0xc5u8; 128]));
        if let Ok(jwks) = Jwks::from_json(d.to_string().as_bytes())
            && let Ok(key) = jwks.find(Some("test:rsa"), Algorithm::RS256)
        {
            assert!(key.key.verify_sig(b"x", &[1u8; 128]).is_err());
        }
    }
}
