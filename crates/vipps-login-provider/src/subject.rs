//! Subject mapping: which `sub` a relying party sees.

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// How the `sub` claim handed to relying parties is derived from Vipps' `sub`.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum SubjectMapping {
    /// Vipps' own `sub` (stable per Vipps merchant, so the same for every relying party
    /// of this bridge).
    #[default]
    Vipps,
    /// A stable keyed hash per client, `base64url(HMAC-SHA256(key, client_id 0x00 vipps_sub))`:
    /// two relying parties cannot correlate their users, and nobody without the key can
    /// compute a user's `sub`.
    Pairwise(Box<hmac::Key>),
}

impl SubjectMapping {
    /// Pairwise subjects keyed with `key` (keep it secret and stable: changing it changes
    /// every user's `sub`). At least 32 bytes.
    ///
    /// ```
    /// use vipps_login_provider::SubjectMapping;
    /// let m = SubjectMapping::pairwise(&[7u8; 32]).unwrap();
    /// assert_ne!(m.subject("rp-1", "vipps-sub"), m.subject("rp-2", "vipps-sub"));
    /// assert_eq!(m.subject("rp-1", "vipps-sub"), m.subject("rp-1", "vipps-sub"));
    /// assert_eq!(SubjectMapping::Vipps.subject("rp-1", "vipps-sub"), "vipps-sub");
    /// ```
    #[must_use]
    pub fn pairwise(key: &[u8]) -> Option<SubjectMapping> {
        (key.len() >= 32)
            .then(|| SubjectMapping::Pairwise(Box::new(hmac::Key::new(hmac::HMAC_SHA256, key))))
    }

    /// The `sub` for `client_id` of the Vipps user `vipps_sub`.
    #[must_use]
    pub fn subject(&self, client_id: &str, vipps_sub: &str) -> String {
        match self {
            SubjectMapping::Vipps => vipps_sub.to_owned(),
            SubjectMapping::Pairwise(key) => {
                let mut ctx = hmac::Context::with_key(key);
                ctx.update(client_id.as_bytes());
                ctx.update(&[0]);
                ctx.update(vipps_sub.as_bytes());
                URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
            }
        }
    }
}

impl fmt::Debug for SubjectMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectMapping::Vipps => f.write_str("Vipps"),
            SubjectMapping::Pairwise(_) => f.write_str("Pairwise([redacted])"),
        }
    }
}
