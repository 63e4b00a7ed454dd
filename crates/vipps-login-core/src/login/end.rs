//! How a login ended, classified once for every front end: the tower layer's result
//! pages, the provider's CIBA and authorization-code answers, the Keycloak channel's
//! callback status and the CLI's exit codes all map from [`LoginEnd`], each in one table
//! of its own.

use std::sync::Arc;

use super::failure::FailureReason;
use super::state::LoginStatus;
use crate::{Error, Identity};

/// How a login ended.
///
/// ```
/// use vipps_login_core::{Error, LoginEnd, LoginStatus, login::CannotUseVipps};
/// assert!(matches!(LoginEnd::of(&LoginStatus::Denied), Some(LoginEnd::Declined)));
/// assert!(LoginEnd::of(&LoginStatus::Pending).is_none());
/// assert!(matches!(
///     LoginEnd::from_error(&Error::OldApp),
///     LoginEnd::CannotUseVipps(CannotUseVipps::OldApp)
/// ));
/// assert_eq!(LoginEnd::Expired.as_str(), "expired");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LoginEnd {
    /// The customer confirmed; ID token, userinfo and the started number are verified.
    /// The identity is there until the login is redeemed.
    Approved(Arc<Identity>),
    /// Approved, and its result was handed out already (once).
    Redeemed,
    /// The customer declined in the app.
    Declined,
    /// Nobody confirmed in time.
    Expired,
    /// Cancelled by the merchant (or the caller that started it).
    Cancelled,
    /// Vipps will not log this customer in.
    CannotUseVipps(CannotUseVipps),
    /// Anything else: Vipps refused or was unreachable, or its answer failed verification.
    Failed(FailureReason),
}

/// Why a customer cannot use Vipps login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CannotUseVipps {
    /// No account, an inactive one, or a customer under 15 (`invalid_user`).
    NotEligible,
    /// The app is too old for merchant-initiated login (`old_app`).
    OldApp,
}

impl LoginEnd {
    /// How a login in `status` ended; `None` while it waits.
    #[must_use]
    pub fn of(status: &LoginStatus) -> Option<LoginEnd> {
        Some(match status {
            LoginStatus::Pending | LoginStatus::AwaitingBrowser => return None,
            LoginStatus::Approved(i) | LoginStatus::Exchanged(i) => LoginEnd::Approved(i.clone()),
            LoginStatus::Redeemed => LoginEnd::Redeemed,
            LoginStatus::Denied => LoginEnd::Declined,
            LoginStatus::Expired => LoginEnd::Expired,
            LoginStatus::Cancelled => LoginEnd::Cancelled,
            LoginStatus::Failed(reason) => LoginEnd::from_error(&reason.to_error()),
        })
    }

    /// How a login ended that answered `error` (at its start, or while it was followed).
    #[must_use]
    pub fn from_error(error: &Error) -> LoginEnd {
        match error {
            Error::Declined => LoginEnd::Declined,
            Error::Expired => LoginEnd::Expired,
            Error::Cancelled => LoginEnd::Cancelled,
            Error::AlreadyCompleted => LoginEnd::Redeemed,
            Error::InvalidUser => LoginEnd::CannotUseVipps(CannotUseVipps::NotEligible),
            Error::OldApp => LoginEnd::CannotUseVipps(CannotUseVipps::OldApp),
            other => LoginEnd::Failed(FailureReason::from(other)),
        }
    }

    /// A short `snake_case` name from a closed set: `approved`, `redeemed`, `declined`,
    /// `expired`, `cancelled`, `cannot_use_vipps`, `failed`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            LoginEnd::Approved(_) => "approved",
            LoginEnd::Redeemed => "redeemed",
            LoginEnd::Declined => "declined",
            LoginEnd::Expired => "expired",
            LoginEnd::Cancelled => "cancelled",
            LoginEnd::CannotUseVipps(_) => "cannot_use_vipps",
            LoginEnd::Failed(_) => "failed",
        }
    }

    /// The error a caller waiting for this login gets (`None` for an approval).
    #[must_use]
    pub fn error(&self) -> Option<Error> {
        Some(match self {
            LoginEnd::Approved(_) => return None,
            LoginEnd::Redeemed => Error::AlreadyCompleted,
            LoginEnd::Declined => Error::Declined,
            LoginEnd::Expired => Error::Expired,
            LoginEnd::Cancelled => Error::Cancelled,
            LoginEnd::CannotUseVipps(CannotUseVipps::NotEligible) => Error::InvalidUser,
            LoginEnd::CannotUseVipps(CannotUseVipps::OldApp) => Error::OldApp,
            LoginEnd::Failed(reason) => reason.to_error(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::TokenError;

    #[test]
    fn failure_reasons_round_trip_through_the_store_form() {
        let errors = [
            Error::InvalidUser,
            Error::OldApp,
            Error::RateLimited {
                retry_after: Some(Duration::from_secs(3)),
            },
            Error::InvalidClient,
            Error::UnauthorizedClient,
            Error::InvalidRequest("x".into()),
            Error::InvalidCode,
            Error::TokenVerification(TokenError::Nonce),
            Error::TokenVerification(TokenError::PhoneNumber),
            Error::Protocol("p".into()),
            Error::Upstream { status: 502 },
            Error::Transport("down".into()),
        ];
        for e in errors {
            let reason = FailureReason::from(&e);
            let json = serde_json::to_vec(&reason).unwrap();
            let back: FailureReason = serde_json::from_slice(&json).unwrap();
            assert_eq!(back, reason);
            assert_eq!(back.to_error(), e, "{e:?}");
            assert_eq!(back.code(), e.code());
        }
    }

    #[test]
    fn every_status_and_error_has_one_end() {
        let cases = [
            (Error::Declined, "declined"),
            (Error::Expired, "expired"),
            (Error::Cancelled, "cancelled"),
            (Error::AlreadyCompleted, "redeemed"),
            (Error::InvalidUser, "cannot_use_vipps"),
            (Error::OldApp, "cannot_use_vipps"),
            (Error::InvalidClient, "failed"),
        ];
        for (e, name) in cases {
            let end = LoginEnd::from_error(&e);
            assert_eq!(end.as_str(), name);
            assert_eq!(end.error(), Some(e));
        }
        assert!(LoginEnd::of(&LoginStatus::AwaitingBrowser).is_none());
        assert_eq!(
            LoginEnd::of(&LoginStatus::Failed(FailureReason::OldApp))
                .unwrap()
                .as_str(),
            "cannot_use_vipps"
        );
    }
}
