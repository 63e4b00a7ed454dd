//! A string that must never be printed.

use std::fmt;

use subtle::ConstantTimeEq;

/// A secret (client secret, webhook secret, customer token).
///
/// `Debug` and `Display` print `***`. There is deliberately no `PartialEq`: compare with
/// [`Secret::ct_eq`], which takes the same time wherever the first difference is.
///
/// ```
/// use vipps_login_core::Secret;
/// let s = Secret::new("demo-secret");
/// assert_eq!(format!("{s} {s:?}"), "*** ***");
/// assert_eq!(s.expose(), "demo-secret");
/// ```
#[derive(Clone)]
pub struct Secret(Box<str>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into().into_boxed_str())
    }

    /// The secret value itself; use only where it must be sent.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with another secret.
    #[must_use]
    pub fn ct_eq(&self, other: &Secret) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s:#?}"), "***");
        assert!(s.ct_eq(&Secret::new("hunter2")));
        assert!(!s.ct_eq(&Secret::new("hunter3")));
        assert!(!s.ct_eq(&Secret::new("hunter")));
    }
}
