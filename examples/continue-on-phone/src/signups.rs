//! Customers who continued on their phone and what they answered, kept in memory; the
//! desk page follows the changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use tokio::sync::watch;
use vipps_login_core::{Clock, Msisdn, SystemClock};
use vipps_login_tower::{CompletedLogin, HookError, LoginHook};

/// The version of the terms the welcome page shows.
pub const TERMS_VERSION: &str = "2026-1";

/// How many handovers the desk remembers.
const MAX_HANDOVERS: usize = 50;

/// A customer's answer on the welcome page.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Acceptance {
    /// The terms version accepted.
    pub terms_version: String,
    /// Whether the customer also wants marketing messages.
    pub marketing: bool,
    /// When.
    pub accepted_at: SystemTime,
    /// The login (on the phone) that gave the answer.
    pub login_id: String,
}

/// A customer the desk handed over to their phone: one per continue-in-browser login.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Handover {
    /// The login id (as in the layer's URLs).
    pub login_id: String,
    /// The customer's Vipps `sub`.
    pub sub: String,
    /// What the desk shows: given name and the initial of the family name, e.g. "Kari N.".
    pub short_name: String,
    /// The phone number masked as in logs, e.g. `47******78`.
    pub masked_phone: String,
    /// When the phone's browser arrived.
    pub continued_at: SystemTime,
    /// The answer given in this login, once given.
    pub acceptance: Option<Acceptance>,
}

#[derive(Debug, Default)]
struct State {
    /// Newest first.
    handovers: Vec<Handover>,
    /// Vipps `sub` → the latest answer (what a real app would keep in its database).
    answers: HashMap<String, Acceptance>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    changes: watch::Sender<u64>,
}

/// The sign-ups: the login hook records handovers, the welcome page the answers, the
/// desk page watches [`changes`](Signups::changes). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Signups(Arc<Inner>);

impl Default for Signups {
    fn default() -> Self {
        Self(Arc::new(Inner {
            state: Mutex::new(State::default()),
            changes: watch::Sender::new(0),
        }))
    }
}

fn short_name(given: Option<&str>, family: Option<&str>, full: Option<&str>) -> String {
    match (given, family) {
        (Some(g), Some(f)) => match f.chars().next() {
            Some(initial) => format!("{g} {initial}."),
            None => g.to_owned(),
        },
        (Some(g), None) => g.to_owned(),
        _ => full
            .and_then(|n| n.split_whitespace().next())
            .unwrap_or("A customer")
            .to_owned(),
    }
}

impl Signups {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a single push or insert: a poisoned lock is still consistent.
        self.0
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn changed(&self) {
        self.0.changes.send_modify(|v| *v += 1);
    }

    /// Records that the customer's phone arrived for `login_id`.
    pub fn continued(&self, login_id: &str, identity: &vipps_login_core::Identity) -> Handover {
        let info = &identity.userinfo;
        let masked_phone = info
            .phone_number
            .as_deref()
            .and_then(|p| p.parse::<Msisdn>().ok())
            .map_or_else(|| "number not shared".to_owned(), |m| m.masked());
        let handover = Handover {
            login_id: login_id.to_owned(),
            sub: identity.sub.clone(),
            short_name: short_name(
                info.given_name.as_deref(),
                info.family_name.as_deref(),
                info.name.as_deref(),
            ),
            masked_phone,
            // The desk keeps no client: its own records take the system clock.
            continued_at: SystemClock.now(),
            acceptance: None,
        };
        {
            let mut state = self.lock();
            state.handovers.insert(0, handover.clone());
            state.handovers.truncate(MAX_HANDOVERS);
        }
        self.changed();
        handover
    }

    /// Stores the customer's answer given in `login_id`.
    pub fn accept(&self, sub: &str, login_id: &str, marketing: bool) -> Acceptance {
        let acceptance = Acceptance {
            terms_version: TERMS_VERSION.to_owned(),
            marketing,
            accepted_at: SystemClock.now(),
            login_id: login_id.to_owned(),
        };
        {
            let mut state = self.lock();
            state.answers.insert(sub.to_owned(), acceptance.clone());
            if let Some(h) = state.handovers.iter_mut().find(|h| h.login_id == login_id) {
                h.acceptance = Some(acceptance.clone());
            }
        }
        self.changed();
        acceptance
    }

    /// The customer's latest answer, if any.
    #[must_use]
    pub fn answer(&self, sub: &str) -> Option<Acceptance> {
        self.lock().answers.get(sub).cloned()
    }

    /// The handover of one login, once the customer's phone arrived.
    #[must_use]
    pub fn handover(&self, login_id: &str) -> Option<Handover> {
        self.lock()
            .handovers
            .iter()
            .find(|h| h.login_id == login_id)
            .cloned()
    }

    /// The handovers, newest first.
    #[must_use]
    pub fn handovers(&self) -> Vec<Handover> {
        self.lock().handovers.clone()
    }

    /// A counter that goes up on every change.
    #[must_use]
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.0.changes.subscribe()
    }

    /// The current value of the change counter.
    #[must_use]
    pub fn version(&self) -> u64 {
        *self.0.changes.borrow()
    }
}

/// The login hook: runs when the customer's phone browser arrives at the layer's callback.
/// The account id is the Vipps `sub`.
#[async_trait::async_trait]
impl LoginHook for Signups {
    async fn on_login(&self, login: &CompletedLogin) -> Result<String, HookError> {
        let handover = self.continued(login.login_id.as_str(), &login.identity);
        tracing::info!(
            login_id = %login.login_id,
            phone = %handover.masked_phone,
            "the customer continued on their phone"
        );
        Ok(login.identity.sub.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(short_name(Some("Kari"), Some("Nordmann"), None), "Kari N.");
        assert_eq!(short_name(Some("Kari"), None, None), "Kari");
        assert_eq!(short_name(None, None, Some("Ola Nordmann")), "Ola");
        assert_eq!(short_name(None, None, None), "A customer");
    }

    #[test]
    fn answers_are_stored_and_announced() {
        let signups = Signups::default();
        let rx = signups.changes();
        let v0 = signups.version();
        let a = signups.accept("sub-1", "login-1", true);
        assert!(a.marketing);
        assert_eq!(signups.answer("sub-1").unwrap().login_id, "login-1");
        assert!(signups.answer("sub-2").is_none());
        assert!(signups.version() > v0);
        assert!(rx.has_changed().unwrap());
    }
}
