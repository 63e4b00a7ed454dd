//! Login records are sealed (AES-256-GCM) before they reach the store: they carry the
//! customer's personal data (name, address, national identity number) once approved, and
//! a shared store such as Redis is often run, backed up and inspected by others. The key
//! is derived from the client secret, so every instance of one merchant shares it and
//! nothing more needs configuring.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;

use crate::Error;

/// Seals values for a shared [`Store`](crate::Store) with AES-256-GCM (aws-lc-rs): the
/// engine seals its login records with one derived from the client secret, and a front
/// end can seal what it keeps (the tower layer's sessions) with one of its own. The
/// value's store key is bound in as associated data, so a sealed value copied to another
/// key does not open.
///
/// ```
/// use vipps_login_core::Sealer;
/// # fn demo() -> Result<(), vipps_login_core::Error> {
/// let sealer = Sealer::new(b"a secret every instance shares")?;
/// let sealed = sealer.seal("session:1", b"{\"name\":\"Kari\"}")?;
/// assert_eq!(sealer.open("session:1", &sealed)?, b"{\"name\":\"Kari\"}");
/// assert!(sealer.open("session:2", &sealed).is_err());
/// # Ok(()) }
/// ```
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// A sealer whose key is derived from `secret` (any length; keep it secret).
    ///
    /// # Errors
    /// Only if the cryptographic library refuses the derived key, which it does not.
    pub fn new(secret: &[u8]) -> Result<Sealer, Error> {
        let derive = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let tag = hmac::sign(&derive, b"vipps-login record key v1");
        // 32 bytes of HMAC-SHA256 output are exactly an AES-256 key.
        let key = UnboundKey::new(&AES_256_GCM, tag.as_ref())
            .map_err(|_| Error::Config("the sealing key could not be made".into()))?;
        Ok(Sealer {
            key: LessSafeKey::new(key),
        })
    }

    /// `nonce || ciphertext || tag` of `plain`, for the store key `store_key`.
    ///
    /// # Errors
    /// When no randomness is available for the nonce.
    pub fn seal(&self, store_key: &str, plain: &[u8]) -> Result<Vec<u8>, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| Error::Store("no randomness to seal a value".into()))?;
        let mut out = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(store_key.as_bytes()),
                &mut out,
            )
            .map_err(|_| Error::Store("a value could not be sealed".into()))?;
        let mut sealed = nonce.to_vec();
        sealed.append(&mut out);
        Ok(sealed)
    }

    /// The plain value, or [`Error::Store`] when it was not sealed with this key for
    /// `store_key` (another secret, another key, or damaged).
    ///
    /// # Errors
    /// As said.
    pub fn open(&self, store_key: &str, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        let unreadable = || {
            Error::Store(
                "a stored value does not open (sealed with another secret, or damaged)".into(),
            )
        };
        if sealed.len() < NONCE_LEN {
            return Err(unreadable());
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unreadable())?;
        let mut buf = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(store_key.as_bytes()), &mut buf)
            .map_err(|_| unreadable())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sealed_records_open_only_under_their_key_and_secret() {
        let s = Sealer::new(b"secret").unwrap();
        let sealed = s.seal("k1", b"personal data").unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"personal"));
        assert_eq!(s.open("k1", &sealed).unwrap(), b"personal data");
        assert!(s.open("k2", &sealed).is_err(), "bound to its store key");
        assert!(Sealer::new(b"other").unwrap().open("k1", &sealed).is_err());
        let mut tampered = sealed.clone();
        if let Some(b) = tampered.last_mut() {
            *b ^= 1;
        }
        assert!(s.open("k1", &tampered).is_err());
        assert_ne!(s.seal("k1", b"x").unwrap(), s.seal("k1", b"x").unwrap());
    }
}
