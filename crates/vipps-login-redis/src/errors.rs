//! From Redis' errors to [`StoreError`]s an operator can act on, and URLs without secrets.

use std::io;

use redis::{ErrorKind, RedisError};
use vipps_login_core::StoreError;

/// `url` as it may be shown: any password (and a user name beside it) replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Both fail only for URLs that cannot have credentials, and this one has.
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        // Not a URL we can take apart: show none of it rather than risk a secret.
        Err(_) => "the configured Redis URL".to_owned(),
    }
}

/// The hint that ends every "cannot reach" sentence.
const HINT: &str = "check that Redis runs and REDIS_URL is right";

/// Whether `e` means the server could not be reached or the connection broke.
pub(crate) fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

/// Whether `e` certainly happened before a command reached the server (so that sending the
/// command again cannot apply it twice).
pub(crate) fn failed_before_sending(e: &RedisError) -> bool {
    e.is_connection_refusal()
}

/// The [`StoreError`] for `e`, met while talking to Redis at `shown_url` (already redacted).
pub(crate) fn map(e: RedisError, shown_url: &str) -> StoreError {
    if e.is_timeout() {
        return StoreError::Timeout;
    }
    if e.kind() == ErrorKind::AuthenticationFailed || e.code() == Some("WRONGPASS") {
        return StoreError::unavailable(
            format!(
                "Redis at {shown_url} refused our credentials; check the user name and \
                 password in REDIS_URL"
            ),
            e,
        );
    }
    if e.code() == Some("NOAUTH") {
        return StoreError::unavailable(
            format!(
                "Redis at {shown_url} wants a password; put it in REDIS_URL \
                 (redis://:PASSWORD@host:port or redis://USER:PASSWORD@host:port)"
            ),
            e,
        );
    }
    if is_connection_error(&e) {
        return StoreError::unavailable(
            format!("cannot reach Redis at {shown_url}: {}; {HINT}", reason(&e)),
            e,
        );
    }
    if e.kind() == ErrorKind::InvalidClientConfig {
        return StoreError::unavailable(
            format!("the Redis URL {shown_url} is not usable: {e}; fix REDIS_URL"),
            e,
        );
    }
    StoreError::backend(format!("Redis at {shown_url} failed a command: {e}"), e)
}

/// The [`StoreError`] for a command that got no answer within its deadline.
pub(crate) fn timeout() -> StoreError {
    StoreError::Timeout
}

/// A short, lower-case reason for a connection failure ("connection refused").
fn reason(e: &RedisError) -> String {
    let kind = io_kind(e);
    match kind {
        Some(io::ErrorKind::ConnectionRefused) => "connection refused".to_owned(),
        Some(io::ErrorKind::ConnectionReset) => "connection reset".to_owned(),
        Some(io::ErrorKind::BrokenPipe | io::ErrorKind::UnexpectedEof) => {
            "the connection was closed".to_owned()
        }
        Some(io::ErrorKind::NotFound) => "no such host or socket".to_owned(),
        _ if e.is_connection_dropped() => "the connection was closed".to_owned(),
        _ => e.to_string(),
    }
}

/// The I/O error kind inside `e`, when there is one.
fn io_kind(e: &RedisError) -> Option<io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    if e.is_connection_refusal() {
        return Some(io::ErrorKind::ConnectionRefused);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("redis://:hunter2@127.0.0.1:6390/0"),
            "redis://:***@127.0.0.1:6390/0"
        );
        assert_eq!(
            redact("redis://app:hunter2@cache.internal:6379"),
            "redis://app:***@cache.internal:6379"
        );
        assert_eq!(redact("redis://127.0.0.1:6390"), "redis://127.0.0.1:6390");
        assert!(!redact("not a url hunter2").contains("hunter2"));
    }

    #[test]
    fn refused_connections_read_as_an_instruction() {
        let e = RedisError::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        let mapped = map(e, "redis://127.0.0.1:6390");
        let StoreError::Unavailable { message, .. } = mapped else {
            panic!("expected Unavailable, got {mapped:?}");
        };
        assert_eq!(
            message,
            "cannot reach Redis at redis://127.0.0.1:6390: connection refused; \
             check that Redis runs and REDIS_URL is right"
        );
    }
}
