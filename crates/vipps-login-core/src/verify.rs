//! ID-token verification: algorithm allow-list, key from JWKS, signature through aws-lc-rs
//! with the key parsed once when the JWKS is loaded, then `iss`, `aud`, `exp`/`iat`/`nbf`,
//! `nonce`, `auth_req_id`. The header and the claims are each decoded and parsed once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::clock::{Clock, SystemClock, unix_secs_f64};
use crate::{Error, TokenError};

mod jwks;

pub use jwks::Jwks;

/// Largest ID token we look at (Vipps' are around 1–2 KiB).
const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Decoded token parts up to this size are decoded on the stack (the estimate for an
/// RSA-2048 signature is 258 bytes).
const STACK_PART: usize = 264;

/// The base64url part `b64` decoded into `stack` when it fits, else into `heap`.
fn decode_part<'a>(b64: &str, stack: &'a mut [u8], heap: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    if base64::decoded_len_estimate(b64.len()) <= stack.len() {
        let n = URL_SAFE_NO_PAD.decode_slice(b64, stack).ok()?;
        stack.get(..n)
    } else {
        URL_SAFE_NO_PAD.decode_vec(b64, heap).ok()?;
        Some(heap)
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
}

/// What we read of a JOSE header (other members are ignored, as RFC 7515 allows, except
/// `crit`, which we do not support).
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    kid: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
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
        }
    }

    /// Signature and all claims but `nonce`. The token is split once; the header is
    /// decoded and parsed once, the signature checked over the first two parts as they
    /// came, and only then are the claims decoded and parsed, once.
    pub(crate) fn verify(&self, token: &str, jwks: &Jwks) -> Result<VerifiedIdToken, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("too long".into()));
        }
        let three = || TokenError::Malformed("not three dot-separated parts".into());
        let (h, rest) = token.split_once('.').ok_or_else(three)?;
        let (payload, sig) = rest.split_once('.').ok_or_else(three)?;
        // A further dot is in `sig`, which then does not decode as base64url: refused
        // below as malformed, before any key is looked up.
        // Headers are a few dozen bytes and the signatures of Vipps' keys (RSA-2048, P-256)
        // at most 256: both are decoded on the stack, larger ones on the heap.
        let mut header_buf = [0u8; STACK_PART];
        let mut header_heap = Vec::new();
        let raw = decode_part(h, &mut header_buf, &mut header_heap)
            .ok_or_else(|| TokenError::Malformed("header is not base64url".into()))?;
        let header: Header<'_> = serde_json::from_slice(raw)
            .map_err(|_| TokenError::Malformed("header is not a JSON object with alg".into()))?;
        if header.crit.is_some() {
            return Err(TokenError::Malformed("unsupported critical header".into()));
        }
        let alg = match &*header.alg {
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            other => {
                let shown: String = other.chars().take(16).collect();
                return Err(TokenError::Algorithm(shown));
            }
        };
        let mut signature_buf = [0u8; STACK_PART];
        let mut signature_heap = Vec::new();
        let signature = decode_part(sig, &mut signature_buf, &mut signature_heap)
            .ok_or_else(|| TokenError::Malformed("a part is not base64url".into()))?;
        let key = jwks.find(header.kid.as_deref(), alg)?;
        // The signing input is the token up to its last dot: header and claims as sent.
        let signed = &token[..h.len() + 1 + payload.len()];
        key.key
            .verify_sig(signed.as_bytes(), signature)
            .map_err(|_| TokenError::Signature)?;
        let claims = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed("a part is not base64url".into()))?;
        // UTF-8 checked once for the whole document rather than string by string.
        let claims = std::str::from_utf8(&claims)
            .ok()
            .and_then(|text| serde_json::from_str::<ClaimsObject>(text).ok())
            .ok_or_else(|| TokenError::Malformed("claims are not a JSON object".into()))?;
        self.check_claims(claims.0)
    }

    fn check_claims(&self, claims: Map<String, Value>) -> Result<VerifiedIdToken, TokenError> {
        let c = Claims::of(&claims);
        match c.iss {
            Some(Value::String(iss)) if *iss == self.issuer => {}
            Some(_) => return Err(TokenError::Issuer),
            None => return Err(TokenError::MissingClaim("iss".into())),
        }
        match c.aud {
            Some(Value::String(aud)) if *aud == self.client_id => {}
            Some(Value::Array(auds))
                if auds
                    .iter()
                    .any(|a| a.as_str() == Some(self.client_id.as_str())) =>
            {
                // With several audiences, OpenID Connect wants `azp` to name us.
                if auds.len() > 1 && c.azp.is_none() {
                    return Err(TokenError::Audience);
                }
            }
            Some(_) => return Err(TokenError::Audience),
            None => return Err(TokenError::MissingClaim("aud".into())),
        }
        if let Some(azp) = c.azp
            && azp.as_str() != Some(self.client_id.as_str())
        {
            return Err(TokenError::Audience);
        }
        let now = unix_secs_f64(self.clock.now());
        let skew = self.skew.as_secs_f64();
        let exp = numeric(c.exp, "exp")?.ok_or_else(|| TokenError::MissingClaim("exp".into()))?;
        if now > exp + skew {
            return Err(TokenError::Expired);
        }
        let iat = numeric(c.iat, "iat")?.ok_or_else(|| TokenError::MissingClaim("iat".into()))?;
        if iat > now + skew {
            return Err(TokenError::NotYetValid);
        }
        if let Some(nbf) = numeric(c.nbf, "nbf")?
            && nbf > now + skew
        {
            return Err(TokenError::NotYetValid);
        }
        let sub = match c.sub {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(TokenError::MissingClaim("sub".into())),
        };
        let auth_req_id = auth_req_id(c.auth_req_id, c.auth_req_id_camel)?;
        Ok(VerifiedIdToken {
            sub,
            auth_req_id,
            claims,
        })
    }
}

/// A JSON object read into a [`Map`] by collecting its members first and building the
/// map from them at once (sorted, then filled node by node), rather than inserting member
/// by member. The same map: of repeated names the last one counts, as with inserts.
struct ClaimsObject(Map<String, Value>);

impl<'de> Deserialize<'de> for ClaimsObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = ClaimsObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<ClaimsObject, A::Error> {
                let mut members = Vec::with_capacity(access.size_hint().unwrap_or(16));
                while let Some(member) = access.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(ClaimsObject(members.into_iter().collect()))
            }
        }
        d.deserialize_map(Members)
    }
}

/// The registered claims we check, found in one pass over the claims.
#[derive(Default)]
struct Claims<'a> {
    iss: Option<&'a Value>,
    aud: Option<&'a Value>,
    azp: Option<&'a Value>,
    exp: Option<&'a Value>,
    iat: Option<&'a Value>,
    nbf: Option<&'a Value>,
    sub: Option<&'a Value>,
    auth_req_id: Option<&'a Value>,
    auth_req_id_camel: Option<&'a Value>,
}

impl<'a> Claims<'a> {
    fn of(claims: &'a Map<String, Value>) -> Self {
        let mut c = Claims::default();
        for (name, value) in claims {
            let slot = match name.as_str() {
                "iss" => &mut c.iss,
                "aud" => &mut c.aud,
                "azp" => &mut c.azp,
                "exp" => &mut c.exp,
                "iat" => &mut c.iat,
                "nbf" => &mut c.nbf,
                "sub" => &mut c.sub,
                "auth_req_id" => &mut c.auth_req_id,
                "authReqId" => &mut c.auth_req_id_camel,
                _ => continue,
            };
            *slot = Some(value);
        }
        c
    }
}

/// Either spelling; if both are present they must agree.
fn auth_req_id(snake: Option<&Value>, camel: Option<&Value>) -> Result<Option<String>, TokenError> {
    let get = |claim: Option<&Value>, name: &str| -> Result<Option<String>, TokenError> {
        match claim {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(TokenError::MissingClaim(name.into())),
        }
    };
    match (get(snake, "auth_req_id")?, get(camel, "authReqId")?) {
        (Some(a), Some(b)) if a != b => Err(TokenError::AuthReqId),
        (Some(a), _) | (None, Some(a)) => Ok(Some(a)),
        (None, None) => Ok(None),
    }
}

/// The `nonce` of a login's ID token: CIBA defines no `nonce` and Vipps does not say it
/// comes back (the one decoded CIBA ID token it shows has none), so an absent `nonce` is
/// accepted; a present one must be ours (compared in constant time). The login is bound
/// by the client-authenticated token call, and in the browser variant by `auth_req_id`.
pub(crate) fn check_nonce_if_present(
    v: &VerifiedIdToken,
    expected: &str,
) -> Result<(), TokenError> {
    if v.claims.contains_key("nonce") {
        check_nonce(v, expected)
    } else {
        Ok(())
    }
}

/// `nonce` must be present and be `expected` (constant time).
pub(crate) fn check_nonce(v: &VerifiedIdToken, expected: &str) -> Result<(), TokenError> {
    match v.claims.get("nonce") {
        Some(Value::String(n)) if bool::from(n.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
        _ => Err(TokenError::Nonce),
    }
}

fn numeric(claim: Option<&Value>, name: &str) -> Result<Option<f64>, TokenError> {
    match claim {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| TokenError::MissingClaim(name.into())),
        Some(_) => Err(TokenError::MissingClaim(name.into())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn claims_objects_read_as_serde_json_reads_them() {
        for text in [
            r#"{"b":1,"a":[1,{"x":null}],"c":"ø\u00e6","a":2,"z":{"k":true}}"#,
            r#"{}"#,
            r#"{"only":"one"}"#,
        ] {
            let ours = serde_json::from_str::<ClaimsObject>(text).unwrap().0;
            let theirs: Map<String, Value> = serde_json::from_str(text).unwrap();
            assert_eq!(ours, theirs, "{text}");
        }
        assert_eq!(
            serde_json::from_str::<ClaimsObject>(r#"{"a":1,"a":2}"#)
                .unwrap()
                .0["a"],
            2,
            "of repeated names the last counts"
        );
        for bad in ["[]", "1", "\"x\"", "{\"a\":}", "null"] {
            assert!(serde_json::from_str::<ClaimsObject>(bad).is_err(), "{bad}");
        }
    }
}
