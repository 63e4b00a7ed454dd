//! Exit codes: the one place where core's errors become process exit codes.

use std::process::ExitCode;

use vipps_login_core::{Error, LoginEnd};

/// Logged in (`user-exists`: the number has Vipps login).
pub(crate) const OK: u8 = 0;
/// Bad input or usage; nothing was sent to Vipps.
pub(crate) const USAGE: u8 = 2;
/// The customer declined.
pub(crate) const DECLINED: u8 = 3;
/// The login expired.
pub(crate) const EXPIRED: u8 = 4;
/// The customer cannot use Vipps login (`user-exists`: the number has no Vipps login).
pub(crate) const CANNOT_USE_VIPPS: u8 = 5;
/// Rate limited.
pub(crate) const RATE_LIMITED: u8 = 6;
/// Vipps refused or answered wrongly (or anything else went wrong on the way).
pub(crate) const VIPPS_FAILED: u8 = 7;
/// Cancelled with Ctrl-C (128 + SIGINT, as shells report it).
pub(crate) const INTERRUPTED: u8 = 130;

/// Maps every core error to the exit code the documentation promises: bad input and
/// Vipps' rate limit by themselves, everything else through how the login ended.
pub(crate) fn exit_code(error: &Error) -> u8 {
    match error {
        Error::InvalidPhoneNumber(_)
        | Error::InvalidBindingMessage(_)
        | Error::InvalidScope(_)
        | Error::InvalidInput(_)
        | Error::Config(_) => USAGE,
        Error::RateLimited { .. } => RATE_LIMITED,
        // A login that cannot be found is a refusal on the way, not an end of the login.
        Error::LoginNotFound => VIPPS_FAILED,
        other => end_code(&LoginEnd::from_error(other)),
    }
}

/// The exit code of a login that ended as `end`: the one table from core's
/// classification to the documented codes.
pub(crate) fn end_code(end: &LoginEnd) -> u8 {
    match end {
        LoginEnd::Approved(_) => OK,
        LoginEnd::Declined => DECLINED,
        LoginEnd::Expired => EXPIRED,
        LoginEnd::CannotUseVipps(_) => CANNOT_USE_VIPPS,
        LoginEnd::Cancelled => INTERRUPTED,
        // Handed out already, or anything that went wrong with Vipps or on the way; and
        // whatever core may add, until it is mapped here.
        _ => VIPPS_FAILED,
    }
}

/// `u8` to [`ExitCode`].
pub(crate) fn code(code: u8) -> ExitCode {
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vipps_login_core::TokenError;

    use super::*;

    /// One entry per variant of core's `Error`; keep in step with core.
    fn every_variant() -> Vec<(Error, u8)> {
        let s = || "x".to_owned();
        vec![
            (
                Error::InvalidPhoneNumber(vipps_login_core::PhoneProblem::Empty),
                2,
            ),
            (Error::InvalidBindingMessage(s()), 2),
            (Error::InvalidScope(s()), 2),
            (Error::InvalidInput(s()), 2),
            (Error::Config(s()), 2),
            (Error::Declined, 3),
            (Error::Expired, 4),
            (Error::InvalidUser, 5),
            (Error::OldApp, 5),
            (Error::RateLimited { retry_after: None }, 6),
            (
                Error::RateLimited {
                    retry_after: Some(Duration::from_secs(30)),
                },
                6,
            ),
            (Error::InvalidClient, 7),
            (Error::UnauthorizedClient, 7),
            (Error::InvalidRequest(s()), 7),
            (Error::LoginNotFound, 7),
            (Error::Cancelled, 130),
            (Error::AlreadyCompleted, 7),
            (Error::InvalidCode, 7),
            (Error::TokenVerification(TokenError::Signature), 7),
            (Error::TokenVerification(TokenError::Nonce), 7),
            (Error::Protocol(s()), 7),
            (Error::Upstream { status: 503 }, 7),
            (Error::Transport(s().into()), 7),
            (Error::Store(s().into()), 7),
            (Error::WebhookRejected(s()), 7),
        ]
    }

    #[test]
    fn every_error_variant_has_its_documented_exit_code() {
        for (error, expected) in every_variant() {
            assert_eq!(exit_code(&error), expected, "{}", error.code());
        }
    }

    #[test]
    fn the_table_covers_every_code_once() {
        // Distinct codes in the table: catches a variant forgotten in `every_variant`
        // when core adds one with a new code (compare against core's list by eye).
        let mut codes: Vec<&str> = every_variant().iter().map(|(e, _)| e.code()).collect();
        codes.dedup();
        assert_eq!(codes.len(), 23);
    }
}
