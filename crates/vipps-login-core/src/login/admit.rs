//! Whether a start may go ahead: the number's cool-down, its one waiting login, and the
//! start windows per number and per client key, all counted in the store before anything
//! is sent to Vipps.

use std::time::{Duration, SystemTime};

use super::engine::Engine;
use super::keys;
use super::policy::{self, RateLimits};
use crate::{Admission, Admitted, Error, LoginId};

impl Engine {
    /// The limits for one start: cool-down, the number's one waiting login, then the
    /// windows (counted only for a start that may go ahead). One [`Store::admit`] step
    /// (one round trip on Redis); a mark held by another login, which may be stale, and
    /// a cool-down mark that has just run out take the step-by-step way.
    ///
    /// [`Store::admit`]: crate::Store::admit
    pub(crate) async fn admit(
        &self,
        limits: &RateLimits,
        number_key: &str,
        client_key: Option<&str>,
        id: &LoginId,
        hold: Duration,
    ) -> Result<(), Error> {
        let now = self.now();
        let cool_key = keys::cool_down(number_key);
        let mark_key = keys::pending_number(number_key);
        let windows = policy::windows(limits, number_key, client_key);
        let counters: Vec<(&str, Duration, u64)> = windows
            .iter()
            .map(|(key, w)| (key.as_str(), w.period, u64::from(w.max)))
            .collect();
        let mut admission = Admission::new(&cool_key).counters(&counters);
        if limits.one_pending_per_number {
            admission = admission.reserve(&mark_key, id.as_str().as_bytes(), hold);
        }
        match self.store().admit(&admission).await? {
            Admitted::Yes => Ok(()),
            Admitted::OverLimit { retry_after, .. } => Err(policy::over_limit(retry_after)),
            Admitted::Refused(mark) => match policy::cool_down_refusal(&mark, now) {
                Some(refusal) => Err(refusal),
                None => {
                    self.admit_step_by_step(limits, number_key, client_key, id, hold, now)
                        .await
                }
            },
            Admitted::Reserved(_) => {
                self.admit_step_by_step(limits, number_key, client_key, id, hold, now)
                    .await
            }
        }
    }

    /// [`admit`](Self::admit) one check at a time, looking into a held mark (a login that
    /// ended without lifting it does not block the number).
    async fn admit_step_by_step(
        &self,
        limits: &RateLimits,
        number_key: &str,
        client_key: Option<&str>,
        id: &LoginId,
        hold: Duration,
        now: SystemTime,
    ) -> Result<(), Error> {
        let store = &**self.store();
        policy::check_cool_down(store, number_key, now).await?;
        if limits.one_pending_per_number {
            self.records.reserve_number(number_key, id, hold).await?;
        }
        let counted = policy::count_starts(store, limits, number_key, client_key).await;
        if counted.is_err() && limits.one_pending_per_number {
            self.records.release_number(number_key, id).await?;
        }
        counted
    }
}
