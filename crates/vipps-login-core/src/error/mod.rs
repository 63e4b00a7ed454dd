//! The one error type of this crate: the types in `variants.rs`, their sentences in every
//! language (and the English `Display`) in `sentence.rs`, the parsers that report through
//! it in `parse.rs`.

mod parse;
mod sentence;
mod variants;

pub use sentence::{SentenceParts, Wait, WaitFormat};
pub use variants::{CoolDownReason, Error, TokenError, TransportError};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use http::StatusCode;

    use super::*;
    use crate::store::StoreError;

    #[test]
    fn sentences_are_plain() {
        assert_eq!(
            Error::OldApp.to_string(),
            "The customer's Vipps app is too old; ask them to update it and try again."
        );
        let e = Error::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(e.code(), "rate_limited");
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
        assert!(e.to_string().contains("wait 30 seconds"));
    }

    #[test]
    fn sources_are_kept() {
        use std::error::Error as _;
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::Transport(TransportError::new("connection failed", io));
        let source = e.source().expect("the transport error");
        assert_eq!(source.to_string(), "connection failed");
        assert_eq!(
            source.source().expect("the io error").to_string(),
            "refused"
        );
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e: Error = StoreError::unavailable("redis at 127.0.0.1:1", io).into();
        let inner = e.source().and_then(|s| s.source()).expect("the io error");
        assert_eq!(inner.to_string(), "refused");
        let e = Error::TokenVerification(TokenError::Nonce);
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("ID token nonce does not match")
        );
    }

    #[test]
    fn serde_round_trip() {
        let e = Error::TokenVerification(TokenError::Nonce);
        let json = serde_json::to_string(&e).unwrap_or_default();
        let back: Error = serde_json::from_str(&json).unwrap_or(Error::Cancelled);
        assert_eq!(back, e);
    }
}
