//! Every state a login can be in, and every legal move between them.
//!
//! ```text
//! finish in app:        Pending ──Approve──▶ Approved ──Redeem──▶ Redeemed
//! continue in browser:  AwaitingBrowser ──Exchange──▶ Exchanged ──Redeem──▶ Redeemed
//! from either waiting state: ──Deny──▶ Denied, ──Expire──▶ Expired,
//!                            ──Cancel──▶ Cancelled, ──Fail──▶ Failed(error)
//! ```
//!
//! Nothing else is legal: a cancel after the approval, a second redemption, an approval
//! of a declined login are [`IllegalTransition`]s, never silent overwrites. The engine
//! applies a transition with a compare-and-swap on the stored record, so of two instances
//! racing, one wins and the other sees the winner's state.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::failure::FailureReason;
use crate::{Error, Identity};

/// Where a login stands. Stored as is with the login, so every instance sees the same.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "s", content = "v", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LoginStatus {
    /// Finish in app: waiting for the customer to confirm in the app.
    Pending,
    /// Continue in browser: waiting for the phone's browser to bring back a code.
    AwaitingBrowser,
    /// Finish in app: confirmed and verified; waiting to be [redeemed](crate::VippsClient::redeem).
    Approved(Arc<Identity>),
    /// Continue in browser: the code was exchanged and verified; waiting to be redeemed.
    Exchanged(Arc<Identity>),
    /// The result was handed out, once. The identity is no longer kept.
    Redeemed,
    /// The customer declined.
    Denied,
    /// Nobody confirmed in time.
    Expired,
    /// Cancelled by the merchant.
    Cancelled,
    /// Failed for another reason.
    Failed(FailureReason),
}

/// A move from one state to another.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    Approve(Arc<Identity>),
    Exchange(Arc<Identity>),
    Redeem,
    Deny,
    Expire,
    Cancel,
    Fail(FailureReason),
}

impl Event {
    fn as_str(&self) -> &'static str {
        match self {
            Event::Approve(_) => "approve",
            Event::Exchange(_) => "exchange",
            Event::Redeem => "redeem",
            Event::Deny => "deny",
            Event::Expire => "expire",
            Event::Cancel => "cancel",
            Event::Fail(_) => "fail",
        }
    }
}

/// A transition the state machine does not allow from the login's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a login cannot {event} when it is {from}")]
pub struct IllegalTransition {
    /// The state the login was in.
    pub from: &'static str,
    /// The move that was refused.
    pub event: &'static str,
}

impl LoginStatus {
    /// Whether the login still waits for the customer (or the phone's browser).
    #[must_use]
    pub fn is_waiting(&self) -> bool {
        matches!(self, LoginStatus::Pending | LoginStatus::AwaitingBrowser)
    }

    /// Whether the customer's part is over (no further change but a redemption will come).
    #[must_use]
    pub fn is_final(&self) -> bool {
        !self.is_waiting()
    }

    /// Whether no further change at all will come.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        !matches!(
            self,
            LoginStatus::Pending
                | LoginStatus::AwaitingBrowser
                | LoginStatus::Approved(_)
                | LoginStatus::Exchanged(_)
        )
    }

    /// A short `snake_case` name, e.g. `pending` or `approved`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            LoginStatus::Pending => "pending",
            LoginStatus::AwaitingBrowser => "awaiting_browser",
            LoginStatus::Approved(_) => "approved",
            LoginStatus::Exchanged(_) => "exchanged",
            LoginStatus::Redeemed => "redeemed",
            LoginStatus::Denied => "denied",
            LoginStatus::Expired => "expired",
            LoginStatus::Cancelled => "cancelled",
            LoginStatus::Failed(_) => "failed",
        }
    }

    /// The outcome as a `Result` once the customer's part is over: the identity, or the
    /// reason it failed. `None` while still waiting. A redeemed login answers
    /// [`Error::AlreadyCompleted`]: its result was handed out already.
    #[must_use]
    pub fn outcome(&self) -> Option<Result<Arc<Identity>, Error>> {
        match self {
            LoginStatus::Pending | LoginStatus::AwaitingBrowser => None,
            LoginStatus::Approved(i) | LoginStatus::Exchanged(i) => Some(Ok(i.clone())),
            LoginStatus::Redeemed => Some(Err(Error::AlreadyCompleted)),
            LoginStatus::Denied => Some(Err(Error::Declined)),
            LoginStatus::Expired => Some(Err(Error::Expired)),
            LoginStatus::Cancelled => Some(Err(Error::Cancelled)),
            LoginStatus::Failed(reason) => Some(Err(reason.to_error())),
        }
    }

    /// The state after `event`, or why that move is not allowed.
    pub(crate) fn apply(&self, event: Event) -> Result<LoginStatus, IllegalTransition> {
        use LoginStatus as S;
        let refuse = |event: &Event| IllegalTransition {
            from: self.as_str(),
            event: event.as_str(),
        };
        Ok(match (self, event) {
            (S::Pending, Event::Approve(i)) => S::Approved(i),
            (S::AwaitingBrowser, Event::Exchange(i)) => S::Exchanged(i),
            (S::Approved(_) | S::Exchanged(_), Event::Redeem) => S::Redeemed,
            (S::Pending | S::AwaitingBrowser, Event::Deny) => S::Denied,
            (S::Pending | S::AwaitingBrowser, Event::Expire) => S::Expired,
            (S::Pending | S::AwaitingBrowser, Event::Cancel) => S::Cancelled,
            (S::Pending | S::AwaitingBrowser, Event::Fail(e)) => S::Failed(e),
            (_, event) => return Err(refuse(&event)),
        })
    }

    /// The error a caller gets when `event` is refused in this state.
    pub(crate) fn refusal(&self) -> Error {
        match self {
            LoginStatus::Cancelled => Error::Cancelled,
            LoginStatus::Expired => Error::Expired,
            LoginStatus::Denied => Error::Declined,
            LoginStatus::Failed(reason) => reason.to_error(),
            LoginStatus::Pending | LoginStatus::AwaitingBrowser => Error::NotFinished,
            _ => Error::AlreadyCompleted,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::UserInfo;

    fn identity() -> Arc<Identity> {
        Arc::new(Identity {
            sub: "s".into(),
            id_token_claims: serde_json::Map::new(),
            userinfo: serde_json::from_str::<UserInfo>(r#"{"sub":"s"}"#).unwrap(),
        })
    }

    fn all_states() -> Vec<LoginStatus> {
        vec![
            LoginStatus::Pending,
            LoginStatus::AwaitingBrowser,
            LoginStatus::Approved(identity()),
            LoginStatus::Exchanged(identity()),
            LoginStatus::Redeemed,
            LoginStatus::Denied,
            LoginStatus::Expired,
            LoginStatus::Cancelled,
            LoginStatus::Failed(FailureReason::InvalidUser),
        ]
    }

    fn all_events() -> Vec<Event> {
        vec![
            Event::Approve(identity()),
            Event::Exchange(identity()),
            Event::Redeem,
            Event::Deny,
            Event::Expire,
            Event::Cancel,
            Event::Fail(FailureReason::OldApp),
        ]
    }

    /// The whole table: (from, event) -> to, or refused.
    #[test]
    fn every_legal_and_illegal_transition() {
        let legal: &[(&str, &str, &str)] = &[
            ("pending", "approve", "approved"),
            ("pending", "deny", "denied"),
            ("pending", "expire", "expired"),
            ("pending", "cancel", "cancelled"),
            ("pending", "fail", "failed"),
            ("awaiting_browser", "exchange", "exchanged"),
            ("awaiting_browser", "deny", "denied"),
            ("awaiting_browser", "expire", "expired"),
            ("awaiting_browser", "cancel", "cancelled"),
            ("awaiting_browser", "fail", "failed"),
            ("approved", "redeem", "redeemed"),
            ("exchanged", "redeem", "redeemed"),
        ];
        let mut seen = 0;
        for from in all_states() {
            for event in all_events() {
                let name = event.as_str();
                let expected = legal
                    .iter()
                    .find(|(f, e, _)| *f == from.as_str() && *e == name)
                    .map(|(_, _, to)| *to);
                match (from.apply(event), expected) {
                    (Ok(to), Some(want)) => {
                        assert_eq!(to.as_str(), want, "{} + {name}", from.as_str());
                        seen += 1;
                    }
                    (Err(e), None) => {
                        assert_eq!(e.from, from.as_str());
                        assert_eq!(e.event, name);
                    }
                    (got, want) => panic!(
                        "{} + {name}: got {:?}, want {want:?}",
                        from.as_str(),
                        got.map(|s| s.as_str())
                    ),
                }
            }
        }
        assert_eq!(seen, legal.len());
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(LoginStatus::Cancelled.refusal(), Error::Cancelled);
        assert_eq!(LoginStatus::Redeemed.refusal(), Error::AlreadyCompleted);
        assert_eq!(
            LoginStatus::Approved(identity()).refusal(),
            Error::AlreadyCompleted
        );
        assert_eq!(LoginStatus::Pending.refusal(), Error::NotFinished);
    }

    #[test]
    fn stored_form_round_trips() {
        for s in all_states() {
            let json = serde_json::to_vec(&s).unwrap();
            let back: LoginStatus = serde_json::from_slice(&json).unwrap();
            assert_eq!(back.as_str(), s.as_str());
        }
    }
}
