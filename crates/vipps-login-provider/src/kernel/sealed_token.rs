//! Values carried by the browser instead of kept in the store: sealed (AES-256-GCM with
//! the core's [`Sealer`], bound to their purpose) with a deadline, as base64url text.
//! What an anonymous request asks for can wait this way without costing the store
//! anything until someone acts on it.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use vipps_login_core::Sealer;

/// The label the sealing key is derived under, so that a secret shared with another use
/// (the cookie secret) never yields that use's key.
const KEY_LABEL: &[u8] = b"vipps-login-provider sealed tokens v1";

/// Seals and opens tokens.
pub(crate) struct TokenSealer {
    sealer: Sealer,
}

#[derive(Serialize, serde::Deserialize)]
struct Envelope<T> {
    value: T,
    expires_at_ms: u64,
}

impl TokenSealer {
    /// A sealer with a key derived from `secret`, or a random one.
    pub(crate) fn new(secret: Option<&[u8]>) -> Result<TokenSealer, String> {
        let random;
        let secret = match secret {
            Some(s) => s,
            None => {
                let mut bytes = [0u8; 32];
                aws_lc_rs::rand::fill(&mut bytes)
                    .map_err(|_| "no randomness for a sealing key".to_owned())?;
                random = bytes;
                &random
            }
        };
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), KEY_LABEL);
        let sealer = Sealer::new(derived.as_ref()).map_err(|e| e.to_string())?;
        Ok(TokenSealer { sealer })
    }

    /// `value`, sealed for `purpose` until `expires_at_ms` (Unix ms).
    pub(crate) fn seal<T: Serialize>(
        &self,
        purpose: &str,
        value: &T,
        expires_at_ms: u64,
    ) -> Result<String, String> {
        let plain = serde_json::to_vec(&Envelope {
            value,
            expires_at_ms,
        })
        .map_err(|e| e.to_string())?;
        let sealed = self
            .sealer
            .seal(purpose, &plain)
            .map_err(|e| e.to_string())?;
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The value of `token` sealed for `purpose`, if it opens and `now_ms` is before its
    /// deadline.
    pub(crate) fn open<T: DeserializeOwned>(
        &self,
        purpose: &str,
        token: &str,
        now_ms: u64,
    ) -> Option<T> {
        let sealed = URL_SAFE_NO_PAD.decode(token).ok()?;
        let plain = self.sealer.open(purpose, &sealed).ok()?;
        let envelope: Envelope<T> = serde_json::from_slice(&plain).ok()?;
        (now_ms < envelope.expires_at_ms).then_some(envelope.value)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_for_its_purpose_key_and_time_only() {
        let s = TokenSealer::new(Some(b"secret")).unwrap();
        let t = s.seal("authz", &"request", 1000).unwrap();
        assert_eq!(
            s.open::<String>("authz", &t, 999).as_deref(),
            Some("request")
        );
        assert_eq!(s.open::<String>("authz", &t, 1000), None, "expired");
        assert_eq!(s.open::<String>("other", &t, 999), None, "another purpose");
        let other = TokenSealer::new(Some(b"other")).unwrap();
        assert_eq!(other.open::<String>("authz", &t, 999), None, "another key");
        let random = TokenSealer::new(None).unwrap();
        assert_eq!(random.open::<String>("authz", &t, 999), None);
        let mut edited = t.into_bytes();
        edited[5] = if edited[5] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(edited).unwrap();
        assert_eq!(s.open::<String>("authz", &edited, 999), None, "edited");
    }
}
