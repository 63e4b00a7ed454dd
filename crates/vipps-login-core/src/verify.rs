//! ID-token verification: algorithm allow-list, key from JWKS, signature via jsonwebtoken
//! (aws-lc-rs backend), then `iss`, `aud`, `exp`/`iat`/`nbf`, `nonce`, `auth_req_id`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::config::{Clock, SystemClock};
use crate::{Error, TokenError};

/// Largest ID token we look at (Vipps' are around 1–2 KiB).
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A JSON Web Key Set reduced to the keys we can use: RSA keys for RS256 and P-256 EC keys
/// for ES256, each by `kid`, decoded once.
#[derive(Clone, Default)]
pub struct Jwks {
    keys: HashMap<String, Arc<UsableKey>>,
    /// Keys without `kid` (used only when a token has no `kid` and exactly one key fits).
    anonymous: Vec<Arc<UsableKey>>,
}

struct UsableKey {
    alg: Algorithm,
    key: DecodingKey,
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
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
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

    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<&UsableKey, TokenError> {
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

/// The claims of a verified ID token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifiedIdToken {
    /// `sub`.
    pub sub: String,
    /// The `auth_req_id` (or `authReqId`) claim, when present.
    pub auth_req_id: Option<String>,
    /// All claims.
    pub claims: Map<String, Value>,
}

/// Verifies Vipps ID tokens offline against a given JWKS.
///
/// [`VippsClient`](crate::VippsClient) uses this internally with a cached JWKS (refetched
/// once, rate-limited, on an unknown `kid`); use it directly to verify tokens you hold.
///
/// ```
/// use vipps_login_core::{IdTokenVerifier, Jwks};
/// let jwks = Jwks::from_json(br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig",
///   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
///   "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#)?;
/// let verifier = IdTokenVerifier::new("https://apitest.vipps.no/access-management-1.0/access/",
///     "my-client", jwks);
/// assert!(verifier.verify("not.a.token", None).is_err());
/// # Ok::<(), vipps_login_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct IdTokenVerifier {
    params: Arc<VerifyParams>,
    jwks: Arc<Jwks>,
}

impl IdTokenVerifier {
    /// A verifier for tokens issued by `issuer` (compared exactly) to `client_id`.
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>, jwks: Jwks) -> Self {
        IdTokenVerifier {
            params: Arc::new(VerifyParams::new(
                issuer.into(),
                client_id.into(),
                Duration::from_secs(60),
                Arc::new(SystemClock),
            )),
            jwks: Arc::new(jwks),
        }
    }

    /// Allowed clock skew for `exp`, `iat` and `nbf` (default 60 s).
    #[must_use]
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        let p = &*self.params;
        self.params = Arc::new(VerifyParams::new(
            p.issuer.clone(),
            p.client_id.clone(),
            skew,
            p.clock.clone(),
        ));
        self
    }

    /// The clock to check `exp`/`iat` against (default the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        let p = &*self.params;
        self.params = Arc::new(VerifyParams::new(
            p.issuer.clone(),
            p.client_id.clone(),
            p.skew,
            clock,
        ));
        self
    }

    /// Verifies `token`; with `expected_nonce`, also requires that `nonce`.
    pub fn verify(
        &self,
        token: &str,
        expected_nonce: Option<&str>,
    ) -> Result<VerifiedIdToken, Error> {
        let v = self.params.verify(token, &self.jwks)?;
        if let Some(n) = expected_nonce {
            check_nonce(&v, n)?;
        }
        Ok(v)
    }
}

/// Everything but the keys.
#[derive(Debug)]
pub(crate) struct VerifyParams {
    issuer: String,
    client_id: String,
    skew: Duration,
    clock: Arc<dyn Clock>,
    rs256: Validation,
    es256: Validation,
}

fn signature_only(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v.leeway = 0;
    v
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

impl VerifyParams {
    pub(crate) fn new(
        issuer: String,
        client_id: String,
        skew: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        VerifyParams {
            issuer,
            client_id,
            skew,
            clock,
            rs256: signature_only(Algorithm::RS256),
            es256: signature_only(Algorithm::ES256),
        }
    }

    /// Reads the header: the allow-listed algorithm and the `kid`.
    pub(crate) fn header(token: &str) -> Result<(Algorithm, Option<String>), TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("too long".into()));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed(
                "not three dot-separated parts".into(),
            ));
        };
        let raw = URL_SAFE_NO_PAD
            .decode(h)
            .map_err(|_| TokenError::Malformed("header is not base64url".into()))?;
        let header: Header = serde_json::from_slice(&raw)
            .map_err(|_| TokenError::Malformed("header is not a JSON object with alg".into()))?;
        if header.crit.is_some() {
            return Err(TokenError::Malformed("unsupported critical header".into()));
        }
        let alg = match header.alg.as_str() {
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            other => {
                let shown: String = other.chars().take(16).collect();
                return Err(TokenError::Algorithm(shown));
            }
        };
        Ok((alg, header.kid))
    }

    /// Signature and all claims but `nonce`.
    pub(crate) fn verify(&self, token: &str, jwks: &Jwks) -> Result<VerifiedIdToken, TokenError> {
        let (alg, kid) = Self::header(token)?;
        let key = jwks.find(kid.as_deref(), alg)?;
        let validation = match alg {
            Algorithm::ES256 => &self.es256,
            _ => &self.rs256,
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::Signature,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidRsaKey(_)
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidKeyFormat
                | ErrorKind::MissingAlgorithm => TokenError::KeyMismatch,
                ErrorKind::Base64(_) => TokenError::Malformed("a part is not base64url".into()),
                ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                    TokenError::Malformed("claims are not a JSON object".into())
                }
                _ => TokenError::Malformed("rejected by the JWT decoder".into()),
            })?;
        self.check_claims(data.claims)
    }

    fn check_claims(&self, claims: Map<String, Value>) -> Result<VerifiedIdToken, TokenError> {
        match claims.get("iss") {
            Some(Value::String(iss)) if *iss == self.issuer => {}
            Some(_) => return Err(TokenError::Issuer),
            None => return Err(TokenError::MissingClaim("iss".into())),
        }
        match claims.get("aud") {
            Some(Value::String(aud)) if *aud == self.client_id => {}
            Some(Value::Array(auds))
                if auds
                    .iter()
                    .any(|a| a.as_str() == Some(self.client_id.as_str())) =>
            {
                // With several audiences, OpenID Connect wants `azp` to name us.
                if auds.len() > 1 && !claims.contains_key("azp") {
                    return Err(TokenError::Audience);
                }
            }
            Some(_) => return Err(TokenError::Audience),
            None => return Err(TokenError::MissingClaim("aud".into())),
        }
        if let Some(azp) = claims.get("azp")
            && azp.as_str() != Some(self.client_id.as_str())
        {
            return Err(TokenError::Audience);
        }
        let now = unix_seconds(self.clock.now());
        let skew = self.skew.as_secs_f64();
        let exp = numeric(&claims, "exp")?.ok_or_else(|| TokenError::MissingClaim("exp".into()))?;
        if now > exp + skew {
            return Err(TokenError::Expired);
        }
        let iat = numeric(&claims, "iat")?.ok_or_else(|| TokenError::MissingClaim("iat".into()))?;
        if iat > now + skew {
            return Err(TokenError::NotYetValid);
        }
        if let Some(nbf) = numeric(&claims, "nbf")?
            && nbf > now + skew
        {
            return Err(TokenError::NotYetValid);
        }
        let sub = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(TokenError::MissingClaim("sub".into())),
        };
        let auth_req_id = auth_req_id(&claims)?;
        Ok(VerifiedIdToken {
            sub,
            auth_req_id,
            claims,
        })
    }
}

/// Either spelling; if both are present they must agree.
fn auth_req_id(claims: &Map<String, Value>) -> Result<Option<String>, TokenError> {
    let get = |name: &str| -> Result<Option<String>, TokenError> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(TokenError::MissingClaim(name.into())),
        }
    };
    match (get("auth_req_id")?, get("authReqId")?) {
        (Some(a), Some(b)) if a != b => Err(TokenError::AuthReqId),
        (Some(a), _) | (None, Some(a)) => Ok(Some(a)),
        (None, None) => Ok(None),
    }
}

pub(crate) fn check_nonce(v: &VerifiedIdToken, expected: &str) -> Result<(), TokenError> {
    match v.claims.get("nonce") {
        Some(Value::String(n)) if bool::from(n.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
        _ => Err(TokenError::Nonce),
    }
}

fn numeric(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| TokenError::MissingClaim(name.into())),
        Some(_) => Err(TokenError::MissingClaim(name.into())),
    }
}

fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}
