//! One signing key: generated with aws-lc-rs, or read from an operator's PEM or JWK, kept
//! as PKCS#8 (what the shared store holds, sealed) with its public JWK.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use rand::Rng as _;
use serde_json::{Value, json};

use super::alg::{KeyError, SigningAlg};

/// Fresh RS256 and ES256 keys.
pub(crate) fn fresh_pair() -> Result<Vec<Arc<SigningKey>>, KeyError> {
    Ok(vec![
        Arc::new(SigningKey::generate(SigningAlg::RS256)?),
        Arc::new(SigningKey::generate(SigningAlg::ES256)?),
    ])
}

/// A private signing key with its `kid` and public JWK.
pub(crate) struct SigningKey {
    pub(crate) alg: SigningAlg,
    pub(crate) kid: String,
    pub(crate) encoding: EncodingKey,
    pub(crate) jwk: Value,
    /// PKCS#8 DER of the private key (kept only to be sealed into the shared store).
    pub(crate) pkcs8: Vec<u8>,
}

impl SigningKey {
    /// A fresh key of `alg` with a random `kid`.
    pub(crate) fn generate(alg: SigningAlg) -> Result<SigningKey, KeyError> {
        let fail = |what: &str| KeyError(format!("{} {what}", alg.as_str()));
        let pkcs8 = match alg {
            SigningAlg::RS256 => {
                let pair =
                    RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| fail("generation"))?;
                pair.as_der()
                    .map_err(|_| fail("encoding"))?
                    .as_ref()
                    .to_vec()
            }
            SigningAlg::ES256 => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| fail("generation"))?
                    .as_ref()
                    .to_vec()
            }
        };
        let id: [u8; 12] = rand::rng().random();
        let kid = format!(
            "{}-{}",
            alg.as_str().to_ascii_lowercase(),
            URL_SAFE_NO_PAD.encode(id)
        );
        SigningKey::from_pkcs8(alg, &pkcs8, Some(kid))
    }

    /// The key of `alg` in PKCS#8 DER; its `kid` is `kid`, else its RFC 7638 thumbprint
    /// (the same on every instance given the same key).
    pub(crate) fn from_pkcs8(
        alg: SigningAlg,
        pkcs8: &[u8],
        kid: Option<String>,
    ) -> Result<SigningKey, KeyError> {
        let bad = || KeyError(format!("not a usable {} private key", alg.as_str()));
        let (encoding, mut jwk) = match alg {
            SigningAlg::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| bad())?;
                let public = pair.public_key();
                let jwk = json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256",
                    "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                });
                let der = pair.as_der().map_err(|_| bad())?;
                let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
                let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())
                    .map_err(|e| KeyError(e.to_string()))?;
                (encoding, jwk)
            }
            SigningAlg::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|_| bad())?;
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(bad());
                }
                let jwk = json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..]),
                });
                (EncodingKey::from_ec_der(pkcs8), jwk)
            }
        };
        let kid = match kid {
            Some(kid) => kid,
            None => serde_json::from_value::<Jwk>(jwk.clone())
                .ok()
                .and_then(|j| j.thumbprint(ThumbprintHash::SHA256).ok())
                .ok_or_else(bad)?,
        };
        jwk["kid"] = Value::String(kid.clone());
        Ok(SigningKey {
            alg,
            kid,
            encoding,
            jwk,
            pkcs8: pkcs8.to_vec(),
        })
    }

    /// Every private key in `text`: PEM blocks (`PRIVATE KEY` as PKCS#8, `RSA PRIVATE
    /// KEY`, `EC PRIVATE KEY` on P-256), or JSON (one JWK or a JWK set; EC P-256 keys with
    /// their private `d`), in the order given.
    pub(crate) fn parse_all(text: &str, source: &str) -> Result<Vec<SigningKey>, KeyError> {
        let trimmed = text.trim_start();
        let keys = if trimmed.starts_with('{') {
            parse_jwks(trimmed, source)?
        } else {
            let blocks =
                pem::parse_many(text).map_err(|e| KeyError(format!("{source}: not PEM ({e})")))?;
            blocks
                .iter()
                .filter(|b| b.tag().ends_with("PRIVATE KEY"))
                .map(|b| from_pem_block(b, source))
                .collect::<Result<Vec<_>, _>>()?
        };
        if keys.is_empty() {
            return Err(KeyError(format!(
                "{source}: no private key found (give a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`, or a JWK with `d`)"
            )));
        }
        Ok(keys)
    }
}

fn from_pem_block(block: &pem::Pem, source: &str) -> Result<SigningKey, KeyError> {
    let der = block.contents();
    let unusable =
        |what: &str| KeyError(format!("{source}: a `{}` block is not {what}", block.tag()));
    match block.tag() {
        "PRIVATE KEY" => SigningKey::from_pkcs8(SigningAlg::RS256, der, None)
            .or_else(|_| SigningKey::from_pkcs8(SigningAlg::ES256, der, None))
            .map_err(|_| unusable("an RSA (2048 bits or more) or P-256 key")),
        "RSA PRIVATE KEY" => {
            let pair = RsaKeyPair::from_der(der)
                .map_err(|_| unusable("an RSA key of 2048 bits or more"))?;
            let pkcs8 = pair.as_der().map_err(|_| unusable("re-encodable"))?;
            SigningKey::from_pkcs8(SigningAlg::RS256, pkcs8.as_ref(), None)
        }
        "EC PRIVATE KEY" => {
            let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map_err(|_| unusable("a P-256 key"))?;
            let pkcs8 = pair.to_pkcs8v1().map_err(|_| unusable("re-encodable"))?;
            SigningKey::from_pkcs8(SigningAlg::ES256, pkcs8.as_ref(), None)
        }
        other => Err(KeyError(format!(
            "{source}: `{other}` blocks are not supported (use PKCS#8 `PRIVATE KEY`)"
        ))),
    }
}

fn parse_jwks(text: &str, source: &str) -> Result<Vec<SigningKey>, KeyError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| KeyError(format!("{source}: not JSON ({e})")))?;
    let list = match value.get("keys") {
        Some(Value::Array(keys)) => keys.clone(),
        Some(_) => return Err(KeyError(format!("{source}: `keys` is not a list"))),
        None => vec![value],
    };
    list.iter()
        .map(|jwk| from_private_jwk(jwk, source))
        .collect()
}

fn from_private_jwk(jwk: &Value, source: &str) -> Result<SigningKey, KeyError> {
    let field = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or_else(|| KeyError(format!("{source}: the JWK has no base64url `{name}`")))
    };
    match (
        jwk.get("kty").and_then(Value::as_str),
        jwk.get("crv").and_then(Value::as_str),
    ) {
        (Some("EC"), Some("P-256")) => {
            let (d, x, y) = (field("d")?, field("x")?, field("y")?);
            let mut point = vec![4u8];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let pair = EcdsaKeyPair::from_private_key_and_public_key(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &d,
                &point,
            )
            .map_err(|_| KeyError(format!("{source}: the EC JWK's d, x and y do not match")))?;
            let pkcs8 = pair
                .to_pkcs8v1()
                .map_err(|_| KeyError(format!("{source}: the EC JWK cannot be re-encoded")))?;
            let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
            SigningKey::from_pkcs8(SigningAlg::ES256, pkcs8.as_ref(), kid)
        }
        (Some("RSA"), _) => Err(KeyError(format!(
            "{source}: give RSA keys as PEM (`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`); RSA JWKs are not read"
        ))),
        _ => Err(KeyError(format!(
            "{source}: only EC P-256 JWKs (ES256) and RSA PEM keys are supported"
        ))),
    }
}
