//! Verification of the bearer token Keycloak puts on each channel request: a JWS signed
//! by the realm's key, `iss` and `aud` the realm issuer, `exp`, `jti` (the auth result
//! id), `sub` (the Keycloak user id) and `azp` (the client that asked).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use url::Url;
use vipps_login_core::{Clock, Fetched, KeySetCache, Store, SystemClock};

use crate::http::{read_capped, short};

/// Largest bearer token looked at (Keycloak's are about 1 KiB).
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Clock skew allowed on `exp`/`nbf`/`iat`.
const LEEWAY_SECS: u64 = 5;

/// Why a channel request's bearer token was refused. The text is for logs; it never
/// contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BearerError {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token")]
    Missing,
    /// Not a compact JWS, or too large.
    #[error("the bearer token is not a well-formed JWT")]
    Malformed,
    /// The header has a `crit` parameter: an extension the token says must be understood
    /// (RFC 7515 §4.1.11), and this channel understands none. Keycloak sends none.
    #[error("the bearer token names critical header extensions (crit), which are not supported")]
    CriticalHeader,
    /// The header names an algorithm outside the allow-list (HMAC, `none`, ...).
    #[error("the bearer token uses a refused algorithm")]
    Algorithm,
    /// No realm key has the token's `kid` (even after refetching the JWKS).
    #[error("the bearer token is signed with a key the realm does not publish")]
    UnknownKey,
    /// The key with that `kid` is for another algorithm.
    #[error("the bearer token's algorithm does not match the realm key")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("the bearer token's signature is invalid")]
    Signature,
    /// `exp` has passed.
    #[error("the bearer token has expired")]
    Expired,
    /// `nbf`/`iat` lie in the future.
    #[error("the bearer token is not valid yet")]
    NotYetValid,
    /// `iss` is not the realm issuer.
    #[error("the bearer token was issued by someone else")]
    Issuer,
    /// `aud` is not the realm issuer.
    #[error("the bearer token is meant for someone else")]
    Audience,
    /// A required claim is missing or empty.
    #[error("the bearer token has no {0}")]
    MissingClaim(&'static str),
    /// A realm-signed token of another kind (an access token: it carries `scope`,
    /// `sid`, `client_id`, ...), not the bearer of a channel request.
    #[error("the bearer token is not a channel request's token (it carries {0})")]
    NotAChannelToken(&'static str),
    /// This `jti` was already used for a channel request.
    #[error("the bearer token was already used")]
    Replayed,
    /// The shared store, where every instance remembers the `jti`s it has seen, did not
    /// answer.
    #[error("the store that remembers used bearer tokens did not answer: {0}")]
    Store(String),
    /// The realm's JWKS could not be fetched or read.
    #[error("the realm's keys could not be fetched: {0}")]
    Jwks(String),
}

/// The verified claims of a channel request's bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BearerClaims {
    /// `jti`: Keycloak's auth result id for this request.
    pub jti: String,
    /// `sub`: the Keycloak user id.
    pub sub: String,
    /// `azp`: the client that started the backchannel request.
    pub azp: Option<String>,
    /// `exp`, seconds since the epoch: Keycloak stops waiting then.
    pub exp: u64,
}

impl BearerClaims {
    /// The first characters of `jti`, enough to follow one request through the logs
    /// (the whole id is Keycloak's key for the request, so it is not logged).
    #[must_use]
    pub fn log_id(&self) -> String {
        self.jti.chars().take(8).collect()
    }

    /// Time left until `exp` on the system clock, zero when past.
    #[must_use]
    pub fn remaining(&self) -> Duration {
        self.remaining_on(&SystemClock)
    }

    /// Time left until `exp` on `clock`, zero when past.
    #[must_use]
    pub fn remaining_on(&self, clock: &dyn Clock) -> Duration {
        Duration::from_secs(self.exp.saturating_sub(clock.unix_secs()))
    }
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    exp: u64,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// Claims a Keycloak access, ID or refresh token carries and a channel request's bearer
/// (`exp`, `iat`, `jti`, `iss`, `aud`, `sub`, `typ`, `azp` only) never does: a token
/// with one of them was issued to a client and must not start a login.
const FOREIGN_CLAIMS: &[&str] = &[
    "scope",
    "sid",
    "session_state",
    "client_id",
    "preferred_username",
    "realm_access",
    "resource_access",
    "nonce",
    "auth_time",
];

struct Key {
    alg: Algorithm,
    key: DecodingKey,
}

/// The realm's usable keys, by `kid`.
type RealmKeys = HashMap<String, Arc<Key>>;

/// The store key remembering that `jti` of the realm `issuer` was used.
fn seen_key(issuer: &str, jti: &str) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(issuer.as_bytes());
    ctx.update(b"\0");
    ctx.update(jti.as_bytes());
    let hex: String = ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("vipps-login-keycloak:jti:{hex}")
}

/// Verifies bearer tokens against the realm's JWKS, in core's [`KeySetCache`]: one fetch
/// shared by concurrent requests, and an unknown `kid` refetches at most once per
/// `min_refetch`, so forged `kid`s cannot make us hammer Keycloak. Keycloak's keys change
/// by rotation (a new `kid`, which refetches), so a key set lives an hour, the cache's
/// default, whatever the realm's `Cache-Control` says.
pub(crate) struct BearerVerifier {
    issuer: String,
    certs_url: Url,
    http: reqwest::Client,
    keys: KeySetCache<RealmKeys>,
    /// Where the `jti`s seen are remembered: the engine's store, shared by every
    /// instance, so that a bearer replayed on another instance is refused too.
    store: Arc<dyn Store>,
    /// The client's clock: replayed `jti`s are remembered until their `exp` on it.
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for BearerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerVerifier")
            .field("issuer", &self.issuer)
            .field("certs_url", &self.certs_url.as_str())
            .finish_non_exhaustive()
    }
}

/// The algorithms a realm key may sign with. Never HMAC, never `none`.
fn allowed(alg: Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
            | Algorithm::ES256
            | Algorithm::ES384
    )
}

fn key_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let declared = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
        Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
        Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
        Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
        Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::ES384) => Some(Algorithm::ES384),
        Some(_) => return None,
    };
    match (&jwk.algorithm, declared) {
        (AlgorithmParameters::RSA(_), None) => Some(Algorithm::RS256),
        (AlgorithmParameters::RSA(_), Some(a))
            if !matches!(a, Algorithm::ES256 | Algorithm::ES384) =>
        {
            Some(a)
        }
        (AlgorithmParameters::EllipticCurve(ec), d) => match (ec.curve.clone(), d) {
            (EllipticCurve::P256, None | Some(Algorithm::ES256)) => Some(Algorithm::ES256),
            (EllipticCurve::P384, None | Some(Algorithm::ES384)) => Some(Algorithm::ES384),
            _ => None,
        },
        _ => None,
    }
}

/// Reads a JWKS document into the keys usable for verification (signature keys with a
/// `kid`, of an allowed algorithm). Encryption keys and unusable entries are skipped.
fn parse_jwks(body: &[u8]) -> Result<RealmKeys, BearerError> {
    #[derive(Deserialize)]
    struct Doc {
        keys: Vec<serde_json::Value>,
    }
    let doc: Doc = serde_json::from_slice(body)
        .map_err(|_| BearerError::Jwks("not a JWKS document".into()))?;
    let mut keys = HashMap::new();
    for raw in doc.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
            continue;
        };
        if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let (Some(kid), Some(alg)) = (jwk.common.key_id.clone(), key_algorithm(&jwk)) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        keys.insert(kid, Arc::new(Key { alg, key }));
    }
    Ok(keys)
}

impl BearerVerifier {
    pub(crate) fn new(
        issuer: &Url,
        http: reqwest::Client,
        min_refetch: Duration,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<BearerVerifier, url::ParseError> {
        let issuer_str = issuer.as_str().trim_end_matches('/').to_owned();
        let certs_url = Url::parse(&format!("{issuer_str}/protocol/openid-connect/certs"))?;
        Ok(BearerVerifier {
            issuer: issuer_str,
            certs_url,
            http,
            keys: KeySetCache::new(min_refetch),
            store,
            clock,
        })
    }

    /// Verifies a channel request's bearer token and records its `jti`, so the same
    /// token cannot start a second login.
    pub(crate) async fn verify(&self, token: &str) -> Result<BearerClaims, BearerError> {
        let claims = self.verify_signed(token).await?;
        self.remember(&claims).await?;
        Ok(claims)
    }

    /// Signature and claims, without the replay check.
    async fn verify_signed(&self, token: &str) -> Result<BearerClaims, BearerError> {
        if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
            return Err(BearerError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| BearerError::Malformed)?;
        if header.crit.is_some() {
            return Err(BearerError::CriticalHeader);
        }
        if !allowed(header.alg) {
            return Err(BearerError::Algorithm);
        }
        let kid = header.kid.ok_or(BearerError::MissingClaim("kid"))?;
        let key = self.key(&kid).await?;
        if key.alg != header.alg {
            return Err(BearerError::KeyMismatch);
        }
        let mut validation = Validation::new(key.alg);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        let data =
            jsonwebtoken::decode::<RawClaims>(token, &key.key, &validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidSignature => BearerError::Signature,
                    ErrorKind::ExpiredSignature => BearerError::Expired,
                    ErrorKind::ImmatureSignature => BearerError::NotYetValid,
                    ErrorKind::InvalidIssuer => BearerError::Issuer,
                    ErrorKind::InvalidAudience => BearerError::Audience,
                    ErrorKind::MissingRequiredClaim(c) if c == "iss" => BearerError::Issuer,
                    ErrorKind::MissingRequiredClaim(c) if c == "aud" => BearerError::Audience,
                    ErrorKind::MissingRequiredClaim(_) => BearerError::MissingClaim("exp"),
                    _ => BearerError::Malformed,
                }
            })?;
        let raw = data.claims;
        if let Some(claim) = FOREIGN_CLAIMS.iter().find(|c| raw.rest.contains_key(**c)) {
            return Err(BearerError::NotAChannelToken(claim));
        }
        if raw
            .typ
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(BearerError::NotAChannelToken("typ"));
        }
        let jti = raw
            .jti
            .filter(|j| !j.is_empty() && j.len() <= 512)
            .ok_or(BearerError::MissingClaim("jti"))?;
        let sub = raw
            .sub
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or(BearerError::MissingClaim("sub"))?;
        Ok(BearerClaims {
            jti,
            sub,
            azp: raw.azp,
            exp: raw.exp,
        })
    }

    /// Records the `jti` in the shared store until the token expires (and the clock
    /// leeway); refuses one already there. The key names a hash of the realm and the
    /// `jti`, never the `jti` itself.
    async fn remember(&self, claims: &BearerClaims) -> Result<(), BearerError> {
        let left = claims.exp.saturating_sub(self.clock.unix_secs()) + LEEWAY_SECS;
        let first = self
            .store
            .insert_if_absent(
                &seen_key(&self.issuer, &claims.jti),
                Vec::new(),
                Duration::from_secs(left),
            )
            .await
            .map_err(|e| BearerError::Store(e.to_string()))?;
        if first {
            Ok(())
        } else {
            Err(BearerError::Replayed)
        }
    }

    /// The realm key `kid`, from the cache, or after one (rate-limited) refetch.
    async fn key(&self, kid: &str) -> Result<Arc<Key>, BearerError> {
        let keys = self.keys.get(|| self.fetch_jwks()).await?;
        if let Some(k) = keys.get(kid) {
            return Ok(k.clone());
        }
        self.keys
            .after_unknown_kid(&keys, || self.fetch_jwks())
            .await?
            .and_then(|keys| keys.get(kid).cloned())
            .ok_or(BearerError::UnknownKey)
    }

    async fn fetch_jwks(&self) -> Result<Fetched<RealmKeys>, BearerError> {
        let resp = self
            .http
            .get(self.certs_url.clone())
            .send()
            .await
            .map_err(|e| BearerError::Jwks(format!("request failed ({})", short(&e))))?;
        if !resp.status().is_success() {
            return Err(BearerError::Jwks(format!(
                "HTTP {}",
                resp.status().as_u16()
            )));
        }
        let body = read_capped(resp, MAX_JWKS_BYTES)
            .await
            .map_err(BearerError::Jwks)?;
        let keys = parse_jwks(&body)?;
        tracing::debug!(keys = keys.len(), "Keycloak realm keys fetched");
        Ok(Fetched {
            keys,
            max_age: None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn only_asymmetric_algorithms_are_allowed() {
        assert!(!allowed(Algorithm::HS256));
        assert!(!allowed(Algorithm::HS512));
        assert!(allowed(Algorithm::RS256));
        assert!(allowed(Algorithm::ES256));
    }

    #[test]
    fn encryption_keys_and_keys_without_kid_are_skipped() {
        let doc = br#"{"keys":[
            {"kty":"RSA","use":"enc","kid":"enc","alg":"RSA-OAEP","n":"sXch","e":"AQAB"},
            {"kty":"oct","kid":"hmac","k":"c2VjcmV0"}
        ]}"#;
        let keys = parse_jwks(doc).unwrap();
        assert!(keys.is_empty());
    }

    #[test]
    fn a_document_that_is_not_a_jwks_is_an_error() {
        assert!(matches!(parse_jwks(b"<html>"), Err(BearerError::Jwks(_))));
    }
}
