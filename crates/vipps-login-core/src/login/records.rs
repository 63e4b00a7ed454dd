//! The store side of the engine: login records read and written by conditional writes
//! only, and who is told about each change (this instance's waiters, every other instance).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, watch};

use super::keys;
use super::policy;
use super::record::{Loaded, LoginRecord, Message};
use super::record_format;
use super::sealed::Sealer;
use super::state::Event;
use super::trail::Trail;
use super::view::Transition;
use crate::error::CoolDownReason;
use crate::{Clock, Error, LoginId, LoginStatus, Store};

/// The login id a side key's value holds.
fn login_id_of(value: &[u8]) -> Option<LoginId> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The store side of the engine: records, transitions, and who is told about them.
pub(crate) struct Records {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub result_ttl: Duration,
    /// This instance's id (random per client, 22 characters).
    pub instance: String,
    transitions: broadcast::Sender<Transition>,
    sealer: Sealer,
    trail: Trail,
    watchers: Mutex<HashMap<LoginId, watch::Sender<LoginStatus>>>,
}

impl Records {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        result_ttl: Duration,
        sealer: Sealer,
        trail: Trail,
    ) -> Self {
        Records {
            sealer,
            trail,
            store,
            clock,
            result_ttl,
            // 22 of the token's characters (132 random bits: instances never meet
            // twice), not all 43: every waiting login's record names its instance.
            instance: crate::token::random_token()[..22].to_owned(),
            transitions: broadcast::channel(1024).0,
            watchers: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    pub(crate) async fn load(&self, id: &LoginId) -> Result<Option<Loaded>, Error> {
        let key = keys::login(id);
        let Some(bytes) = self.store.get(&key).await? else {
            return Ok(None);
        };
        self.open(&key, bytes).map(Some)
    }

    /// [`load`](Self::load) and the value under `other_key`, in one store round trip
    /// where the store can.
    pub(crate) async fn load_with(
        &self,
        id: &LoginId,
        other_key: &str,
    ) -> Result<(Option<Loaded>, Option<Vec<u8>>), Error> {
        let key = keys::login(id);
        let mut values = self.store.get_many(&[&key, other_key]).await?.into_iter();
        let (login, other) = (values.next().flatten(), values.next().flatten());
        let loaded = login.map(|bytes| self.open(&key, bytes)).transpose()?;
        Ok((loaded, other))
    }

    /// A record from the bytes a caller read it as (they must open under its key).
    pub(crate) fn open_read(&self, id: &LoginId, bytes: Vec<u8>) -> Result<Loaded, Error> {
        self.open(&keys::login(id), bytes)
    }

    fn open(&self, key: &str, bytes: Vec<u8>) -> Result<Loaded, Error> {
        let plain = self.sealer.open(key, &bytes)?;
        let record = record_format::decode(&plain)?;
        Ok(Loaded { bytes, record })
    }

    /// How long a record in this state is kept.
    fn ttl(&self, record: &LoginRecord) -> Duration {
        if record.status.is_waiting() {
            record
                .expires_at()
                .duration_since(self.now())
                .unwrap_or(Duration::ZERO)
                + self.result_ttl
        } else {
            self.result_ttl
        }
    }

    fn encode(&self, id: &LoginId, record: &LoginRecord) -> Result<Vec<u8>, Error> {
        let plain = record_format::encode(record)?;
        self.sealer.seal(&keys::login(id), &plain)
    }

    /// Stores a new login (its id is fresh, so it cannot exist yet).
    pub(crate) async fn insert(&self, id: &LoginId, record: &LoginRecord) -> Result<(), Error> {
        let bytes = self.encode(id, record)?;
        if self
            .store
            .insert_if_absent(&keys::login(id), bytes, self.ttl(record))
            .await?
        {
            Ok(())
        } else {
            Err(Error::Store("a login id was used twice".into()))
        }
    }

    /// Replaces `loaded` by `record` if nobody wrote in between.
    pub(crate) async fn swap(
        &self,
        id: &LoginId,
        loaded: &Loaded,
        mut record: LoginRecord,
    ) -> Result<Option<LoginRecord>, Error> {
        record.version = loaded.record.version + 1;
        let bytes = self.encode(id, &record)?;
        let ttl = self.ttl(&record);
        let swapped = self
            .store
            .compare_and_swap(&keys::login(id), &loaded.bytes, Some(bytes), ttl)
            .await?;
        Ok(swapped.then_some(record))
    }

    /// Applies `event` to the login with a compare-and-swap, retrying when another writer
    /// got there first. An illegal move answers the error its current state implies.
    /// Returns the record as it was before and after.
    pub(crate) async fn transition(
        &self,
        id: &LoginId,
        event: Event,
    ) -> Result<(LoginRecord, LoginRecord), Error> {
        self.transition_from(id, event, None).await
    }

    /// [`transition`](Self::transition) starting from a record the caller has just read
    /// (one store read fewer); a stale one only costs a retry.
    pub(crate) async fn transition_from(
        &self,
        id: &LoginId,
        event: Event,
        mut read: Option<Loaded>,
    ) -> Result<(LoginRecord, LoginRecord), Error> {
        for _ in 0..16 {
            let loaded = match read.take() {
                Some(l) => l,
                None => self.load(id).await?.ok_or(Error::LoginNotFound)?,
            };
            let next = match loaded.record.status.apply(event.clone()) {
                Ok(next) => next,
                Err(illegal) => {
                    tracing::debug!(login_id = %id, %illegal, "transition refused");
                    return Err(loaded.record.status.refusal());
                }
            };
            let mut record = loaded.record.clone();
            record.status = next;
            if let Some(done) = self.swap(id, &loaded, record).await? {
                self.after_transition(id, &loaded.record, &done).await;
                return Ok((loaded.record, done));
            }
        }
        Err(Error::Store(
            "a login record kept changing while it was being written".into(),
        ))
    }

    /// Everything a transition sets off: the waiters and every instance are told, and
    /// when the customer's part ended, the number's pending mark and indexes go and a
    /// cool-down may start. Failures here are logged; the transition itself stands.
    async fn after_transition(&self, id: &LoginId, before: &LoginRecord, after: &LoginRecord) {
        let status = &after.status;
        match status {
            LoginStatus::Failed(e) => {
                tracing::warn!(login_id = %id, status = status.as_str(), error = %e.code(), "login transition");
            }
            _ => tracing::info!(login_id = %id, status = status.as_str(), "login transition"),
        }
        // The number's mark and cool-down first, then the news: whoever hears that a
        // push was declined and asks again at once must meet the cool-down.
        if before.status.is_waiting() && status.is_final() {
            self.clean_up_after_end(id, after).await;
        }
        self.trail.moved(id, before, after, self.now());
        self.notify_local(id, status.clone());
        let msg = serde_json::to_vec(&Message::Transition {
            id: id.clone(),
            from: self.instance.clone(),
        })
        .unwrap_or_default();
        if let Err(e) = self.store.publish(keys::EVENTS, msg).await {
            tracing::warn!(login_id = %id, error = %e, "could not announce a login transition");
        }
    }

    /// When the customer's part ended: the number's pending mark goes, and a declined or
    /// unanswered push starts the number's cool-down.
    async fn clean_up_after_end(&self, id: &LoginId, after: &LoginRecord) {
        let status = &after.status;
        let store = &*self.store;
        let mut results = Vec::new();
        if !after.number_key.is_empty() {
            results.push(self.release_number(&after.number_key, id).await);
            let reason = match status {
                LoginStatus::Denied => Some(CoolDownReason::Declined),
                LoginStatus::Expired => Some(CoolDownReason::Ignored),
                _ => None,
            };
            if let Some(reason) = reason {
                results.push(
                    policy::start_cool_down(
                        store,
                        &after.number_key,
                        after.cool_downs,
                        reason,
                        self.now(),
                    )
                    .await,
                );
            }
        }
        // The login stays in its poller's index until its deadline: a takeover skips
        // logins that are no longer waiting, and the index forgets them by itself.
        for r in results {
            if let Err(e) = r {
                tracing::warn!(login_id = %id, error = %e, "clean-up after a login ended failed; it expires by itself");
            }
        }
    }

    /// The span one step of work on the login `id` runs in (see [`Trail::span`]).
    pub(crate) fn span(
        &self,
        step: &'static str,
        id: &LoginId,
        record: Option<&LoginRecord>,
    ) -> tracing::Span {
        self.trail.span(step, id, record)
    }

    /// Records a login's start in the metrics and the audit trail.
    pub(crate) fn started(&self, id: &LoginId, record: &LoginRecord) {
        self.trail.started(id, record, self.now());
    }

    /// Tells this instance's waiters and subscribers about a login's new state.
    pub(crate) fn notify_local(&self, id: &LoginId, status: LoginStatus) {
        let _ = self.transitions.send(Transition {
            id: id.clone(),
            status: status.as_str(),
        });
        let mut watchers = lock(&self.watchers);
        if let Some(tx) = watchers.get(id) {
            if tx.receiver_count() == 0 {
                watchers.remove(id);
            } else {
                // States only move forward: the same name is no news (a re-read).
                tx.send_if_modified(|current| {
                    let changed = current.as_str() != status.as_str();
                    if changed {
                        *current = status;
                    }
                    changed
                });
            }
        }
    }

    /// Re-reads a watched login after a notification from another instance.
    pub(crate) async fn refresh(&self, id: &LoginId) {
        let watched = lock(&self.watchers)
            .get(id)
            .is_some_and(|tx| tx.receiver_count() > 0);
        if !watched {
            return;
        }
        if let Ok(Some(loaded)) = self.load(id).await {
            self.notify_local(id, loaded.record.status);
        }
    }

    /// Forgets watchers nobody holds any more (a waiter that gave up, a closed page).
    pub(crate) fn prune_watchers(&self) {
        lock(&self.watchers).retain(|_, tx| tx.receiver_count() > 0);
    }

    /// Re-reads every watched login (notifications may have been lost).
    pub(crate) async fn refresh_all(&self) {
        let ids: Vec<LoginId> = {
            let mut watchers = lock(&self.watchers);
            watchers.retain(|_, tx| tx.receiver_count() > 0);
            watchers.keys().cloned().collect()
        };
        for id in ids {
            self.refresh(&id).await;
        }
    }

    /// A receiver of the login's state, current now and updated on every change.
    ///
    /// The watcher is registered before the record is read, so a transition in between
    /// is not missed (it either lands before the read, or reaches the registered watcher).
    pub(crate) async fn watch(&self, id: &LoginId) -> Result<watch::Receiver<LoginStatus>, Error> {
        let (mut rx, fresh) = {
            let mut watchers = lock(&self.watchers);
            match watchers.get(id) {
                Some(tx) if tx.receiver_count() > 0 => (tx.subscribe(), false),
                _ => {
                    // Waiting is what a login mostly is; the read below corrects it.
                    let (tx, rx) = watch::channel(LoginStatus::Pending);
                    watchers.insert(id.clone(), tx);
                    (rx, true)
                }
            }
        };
        if fresh {
            match self.load(id).await {
                Ok(Some(loaded)) => {
                    if let Some(tx) = lock(&self.watchers).get(id) {
                        tx.send_replace(loaded.record.status);
                    }
                    // The read is the starting point, not a change.
                    rx.borrow_and_update();
                }
                Ok(None) => {
                    lock(&self.watchers).remove(id);
                    return Err(Error::LoginNotFound);
                }
                Err(e) => {
                    lock(&self.watchers).remove(id);
                    return Err(e);
                }
            }
        }
        Ok(rx)
    }

    /// The login a side key names: the `state` and `auth_req_id` keys and a number's
    /// pending mark hold a login id. `None` when the key is absent or holds no login id.
    pub(crate) async fn login_named_by(&self, key: &str) -> Result<Option<LoginId>, Error> {
        Ok(self.store.get(key).await?.as_deref().and_then(login_id_of))
    }

    /// Marks the number as having the waiting login `id` (one at a time per number, on
    /// every instance). A mark whose login is no longer waiting (its instance died before
    /// lifting it) is cleared and taken.
    pub(crate) async fn reserve_number(
        &self,
        number_key: &str,
        id: &LoginId,
        hold: Duration,
    ) -> Result<(), Error> {
        let store = &*self.store;
        let key = keys::pending_number(number_key);
        let mine = id.as_str().as_bytes().to_vec();
        for _ in 0..3 {
            if store.insert_if_absent(&key, mine.clone(), hold).await? {
                return Ok(());
            }
            let Some(other) = store.get(&key).await? else {
                continue;
            };
            // A mark whose login has no record yet is a start under way (admitted, the
            // push on its way; the record is written after Vipps answers), or one whose
            // instance died mid-push, leaving a push on the phone: either way the number
            // waits, until the mark's hold runs out. Only a login that has ended without
            // lifting its mark (or a mark that names no login) gives way.
            let waiting = match login_id_of(&other) {
                Some(o) => self
                    .load(&o)
                    .await?
                    .is_none_or(|l| l.record.status.is_waiting()),
                None => false,
            };
            if waiting {
                return Err(Error::LoginPending {
                    retry_after: Some(hold),
                });
            }
            store.compare_and_swap(&key, &other, None, hold).await?;
        }
        Err(Error::LoginPending { retry_after: None })
    }

    /// Lifts the number's pending mark if it still names `id`.
    pub(crate) async fn release_number(&self, number_key: &str, id: &LoginId) -> Result<(), Error> {
        self.store
            .compare_and_swap(
                &keys::pending_number(number_key),
                id.as_str().as_bytes(),
                None,
                Duration::from_secs(1),
            )
            .await?;
        Ok(())
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.transitions.subscribe()
    }
}
