//! Signing keys (RS256 and ES256), the JWKS, rotation and the wrong-key fault.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::config::SigningAlg;
use crate::error::SimError;

/// One private key with its kid and public JWK.
pub(crate) struct SigningKey {
    pub(crate) kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    pub(crate) jwk: Value,
}

fn new_kid() -> String {
    format!("public:{}", uuid::Uuid::new_v4())
}

fn keygen_err<E: std::fmt::Display>(e: E) -> SimError {
    SimError::Keys(e.to_string())
}

impl SigningKey {
    fn rsa(kid: String) -> Result<Self, SimError> {
        let kp = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).map_err(keygen_err)?;
        let der =
            AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'static>>::as_der(&kp).map_err(keygen_err)?;
        // jsonwebtoken's aws-lc backend wants PKCS#1; its PEM reader unwraps PKCS#8.
        let b64 = STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(keygen_err)?;
        let components = RsaPublicKeyComponents::<Vec<u8>>::from(kp.public_key());
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(&components.n),
            "e": URL_SAFE_NO_PAD.encode(&components.e),
        });
        Ok(SigningKey {
            kid,
            alg: Algorithm::RS256,
            encoding,
            jwk,
        })
    }

    fn ec(kid: String) -> Result<Self, SimError> {
        let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(keygen_err)?;
        let pkcs8 = kp.to_pkcs8v1().map_err(keygen_err)?;
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        let point = kp.public_key().as_ref();
        if point.len() != 65 || point[0] != 4 {
            return Err(SimError::Keys(
                "unexpected P-256 public key encoding".into(),
            ));
        }
        let jwk = json!({
            "kty": "EC",
            "use": "sig",
            "alg": "ES256",
            "crv": "P-256",
            "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Ok(SigningKey {
            kid,
            alg: Algorithm::ES256,
            encoding,
            jwk,
        })
    }

    /// Signs `claims` with this key, announcing `kid` in the header.
    pub(crate) fn sign(&self, kid: &str, claims: &Value) -> Result<String, SimError> {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(keygen_err)
    }
}

/// The current key pair (one RSA, one EC), the previous one after a rotation, and
/// lazily made rogue keys for the wrong-key fault.
pub(crate) struct KeyRing {
    rsa: SigningKey,
    ec: SigningKey,
    previous: Vec<Value>,
    rogue: Option<(SigningKey, SigningKey)>,
}

impl KeyRing {
    pub(crate) fn generate() -> Result<Self, SimError> {
        Ok(KeyRing {
            rsa: SigningKey::rsa(new_kid())?,
            ec: SigningKey::ec(new_kid())?,
            previous: Vec::new(),
            rogue: None,
        })
    }

    pub(crate) fn current(&self, alg: SigningAlg) -> &SigningKey {
        match alg {
            SigningAlg::RS256 => &self.rsa,
            SigningAlg::ES256 => &self.ec,
        }
    }

    /// A key not in the JWKS, of the same algorithm as `alg`'s current key.
    pub(crate) fn rogue(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.rogue.as_ref().map(|(r, e)| match alg {
            SigningAlg::RS256 => r,
            SigningAlg::ES256 => e,
        })
    }

    pub(crate) fn ensure_rogue(&mut self) -> Result<(), SimError> {
        if self.rogue.is_none() {
            self.rogue = Some((SigningKey::rsa(new_kid())?, SigningKey::ec(new_kid())?));
        }
        Ok(())
    }

    /// New current keys; the old ones stay published until the next rotation.
    pub(crate) fn rotate(&mut self) -> Result<(), SimError> {
        let rsa = SigningKey::rsa(new_kid())?;
        let ec = SigningKey::ec(new_kid())?;
        let old_rsa = std::mem::replace(&mut self.rsa, rsa);
        let old_ec = std::mem::replace(&mut self.ec, ec);
        self.previous = vec![old_rsa.jwk, old_ec.jwk];
        Ok(())
    }

    pub(crate) fn jwks(&self) -> Value {
        let mut keys = vec![self.rsa.jwk.clone(), self.ec.jwk.clone()];
        keys.extend(self.previous.iter().cloned());
        json!({ "keys": keys })
    }

    pub(crate) fn kids(&self) -> (String, String) {
        (self.rsa.kid.clone(), self.ec.kid.clone())
    }
}
