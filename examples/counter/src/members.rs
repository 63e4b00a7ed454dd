//! The club's member list, kept in memory by the layer's login hook.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use vipps_login_core::{Clock, SystemClock};
use vipps_login_tower::{CompletedLogin, HookError, LoginHook};

/// One club member.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// The club's own member number, e.g. `M-0001` (the layer's account id).
    pub number: String,
    /// The name Vipps shared at the last login.
    pub name: Option<String>,
    /// When the customer first logged in at the desk.
    pub joined_at: SystemTime,
    /// How many logins this member has had, this one included.
    pub visits: u32,
    /// The login that created the membership (its page says "New member").
    pub first_login_id: String,
}

#[derive(Debug, Default)]
struct Inner {
    /// Vipps `sub` → member.
    by_sub: HashMap<String, Member>,
    /// Member number → Vipps `sub`.
    by_number: HashMap<String, String>,
}

/// The member list: Vipps `sub` ↔ the club's member number. Cheap to clone.
///
/// As the layer's login hook (its [`LoginHook`] implementation) it links each Vipps login
/// to a member, creating one the first time; a real club would do the same against its
/// database.
#[derive(Debug, Clone, Default)]
pub struct Members(Arc<Mutex<Inner>>);

impl Members {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent (every
        // update is a single insert), so a poisoned lock is still usable.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a login of the customer `sub` and returns their member (new or existing).
    pub fn record(&self, sub: &str, name: Option<String>, login_id: &str) -> Member {
        let mut inner = self.lock();
        if let Some(member) = inner.by_sub.get_mut(sub) {
            member.visits += 1;
            if name.is_some() {
                member.name = name;
            }
            return member.clone();
        }
        let number = format!("M-{:04}", inner.by_sub.len() + 1);
        let member = Member {
            number: number.clone(),
            name,
            // The member list keeps no client: its own records take the system clock.
            joined_at: SystemClock.now(),
            visits: 1,
            first_login_id: login_id.to_owned(),
        };
        inner.by_number.insert(number, sub.to_owned());
        inner.by_sub.insert(sub.to_owned(), member.clone());
        member
    }

    /// The member with this member number.
    #[must_use]
    pub fn get(&self, number: &str) -> Option<Member> {
        let inner = self.lock();
        let sub = inner.by_number.get(number)?;
        inner.by_sub.get(sub).cloned()
    }

    /// How many members the club has.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().by_sub.len()
    }

    /// Whether the club has no members yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The login hook: links every Vipps login to a member (creating one the first time);
/// the account id the layer keeps is the member number. Install it with
/// [`VippsLoginLayerBuilder::on_login`](vipps_login_tower::VippsLoginLayerBuilder::on_login).
#[async_trait::async_trait]
impl LoginHook for Members {
    async fn on_login(&self, login: &CompletedLogin) -> Result<String, HookError> {
        let identity = &login.identity;
        let member = self.record(
            &identity.sub,
            identity.userinfo.name.clone(),
            login.login_id.as_str(),
        );
        tracing::info!(
            member = %member.number,
            visits = member.visits,
            login_id = %login.login_id,
            "member logged in at the desk"
        );
        Ok(member.number)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn first_login_creates_later_logins_count() {
        let members = Members::default();
        assert!(members.is_empty());
        let kari = members.record("sub-kari", Some("Kari".into()), "login-1");
        assert_eq!(kari.number, "M-0001");
        assert_eq!(kari.visits, 1);
        assert_eq!(kari.first_login_id, "login-1");
        let ola = members.record("sub-ola", None, "login-2");
        assert_eq!(ola.number, "M-0002");
        let again = members.record("sub-kari", Some("Kari Nordmann".into()), "login-3");
        assert_eq!(again.number, "M-0001");
        assert_eq!(again.visits, 2);
        assert_eq!(again.first_login_id, "login-1");
        assert_eq!(
            members.get("M-0001").unwrap().name.as_deref(),
            Some("Kari Nordmann")
        );
        assert_eq!(members.len(), 2);
        assert!(members.get("M-0099").is_none());
    }
}
