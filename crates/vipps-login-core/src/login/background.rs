//! What every instance does in the background besides polling: it listens to the other
//! instances (transitions, webhook wake-ups), keeps its heartbeat in the store, and takes
//! over the logins of instances whose heartbeat stopped.
//!
//! The lease is per instance, not per login: an instance's heartbeat (a deadline in the
//! instances index, renewed every third of [`poll_lease`](crate::ConfigBuilder::poll_lease))
//! covers every login whose record names it as poller. When a heartbeat is past its
//! deadline, any other instance moves that instance's logins to itself, one conditional
//! write per login, so of several instances trying, each login gets exactly one new
//! poller. Renewal costs one store write per instance, however many logins it polls.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::engine::Engine;
use super::keys;
use super::poller::Command;
use super::record::Message;
use crate::store::Notification;
use crate::{Error, LoginId};

impl Engine {
    /// Waits (at most a second) until this instance listens to the others, so that a
    /// webhook's wake-up for a login about to start cannot be published before anyone
    /// here hears it. Without the store's notifications it goes on after the second: the
    /// login is then polled at its interval.
    pub(crate) async fn until_listening(&self) {
        if *self.listening.borrow() {
            return;
        }
        let mut rx = self.listening.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(1), rx.wait_for(|on| *on)).await;
    }

    /// Starts this instance's background task, once (later calls do nothing).
    pub(crate) fn start_background(self: &Arc<Self>) {
        if self.stopping.is_cancelled() {
            return;
        }
        self.background.get_or_init(|| {
            let weak = Arc::downgrade(self);
            let tick = (self.config.poll_lease / 3).max(Duration::from_millis(100));
            let stopping = self.stopping.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = run(weak, tick) => {}
                    () = stopping.cancelled() => {}
                }
            });
        });
    }

    /// Shuts this instance's engine down: its background task and poller stop, and its
    /// lease is released so that the other instances take its waiting logins over at
    /// once instead of when the lease runs out. Logins are still finished and redeemed
    /// through the store by whichever instance asks.
    pub(crate) async fn shut_down(&self) -> Result<(), Error> {
        self.stopping.cancel();
        self.stop_poller();
        let records = &self.records;
        // A past deadline: the next heartbeat of any other instance takes over, even one
        // that misses the announcement below.
        records
            .store
            .index_add(keys::INSTANCES, &records.instance, std::time::UNIX_EPOCH)
            .await?;
        let msg = serde_json::to_vec(&Message::Released {
            from: records.instance.clone(),
        })
        .unwrap_or_default();
        records.store.publish(keys::EVENTS, msg).await?;
        tracing::info!("released this instance's logins to the other instances");
        Ok(())
    }
}

async fn run(weak: Weak<Engine>, tick: Duration) {
    let mut events: Option<tokio::sync::broadcast::Receiver<Notification>> = None;
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let received = async {
            match &mut events {
                Some(rx) => Some(rx.recv().await),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = received => {
                let Some(inner) = weak.upgrade() else { break };
                match msg {
                    Some(Ok(bytes)) => on_message(&inner, &bytes).await,
                    Some(Err(RecvError::Lagged(_))) => caught_up(&inner).await,
                    Some(Err(RecvError::Closed)) | None => events = None,
                }
            }
            _ = ticker.tick() => {
                let Some(inner) = weak.upgrade() else { break };
                inner.records.prune_watchers();
                if events.is_none() {
                    match inner.store().subscribe(keys::EVENTS).await {
                        Ok(rx) => {
                            events = Some(rx);
                            inner.listening.send_replace(true);
                            // Anything announced while not subscribed is read now.
                            caught_up(&inner).await;
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot follow other instances yet"),
                    }
                }
                if let Err(e) = heartbeat_and_take_over(&inner).await {
                    tracing::warn!(error = %e, "instance heartbeat failed; retrying");
                }
            }
        }
    }
    tracing::debug!("instance background task stopped");
}

/// After notifications may have been missed (not yet subscribed, a reconnect, a
/// subscriber that fell behind): waiters re-read their logins, and every login polled
/// here before is polled again as soon as its interval allows, in case a webhook's
/// wake-up was lost (one not polled yet keeps its first poll, an interval after its start).
async fn caught_up(inner: &Arc<Engine>) {
    inner.records.refresh_all().await;
    inner.send(Command::WakeAll);
}

async fn on_message(inner: &Arc<Engine>, bytes: &Notification) {
    if bytes.is_empty() {
        caught_up(inner).await;
        return;
    }
    match serde_json::from_slice::<Message>(bytes) {
        // This instance's own transitions reached its waiters already.
        Ok(Message::Transition { id, from }) if from != inner.records.instance => {
            // Every transition leaves the waiting states: this instance's poller, should
            // it still follow the login, lets it go.
            inner.forget(&id);
            inner.records.refresh(&id).await;
        }
        Ok(Message::Transition { .. }) => {}
        Ok(Message::Wake { id }) => inner.send(Command::Wake { id }),
        Ok(Message::Released { from }) if from != inner.records.instance => {
            if let Err(e) = take_over(inner, &from).await {
                tracing::warn!(error = %e, "could not take over a stopping instance's logins; the heartbeat retries");
            }
        }
        Ok(Message::Released { .. }) => {}
        Err(_) => tracing::debug!("ignoring an unreadable instance message"),
    }
}

async fn heartbeat_and_take_over(inner: &Arc<Engine>) -> Result<(), Error> {
    let records = &inner.records;
    let now = records.now();
    records
        .store
        .index_add(
            keys::INSTANCES,
            &records.instance,
            now + inner.config.poll_lease,
        )
        .await?;
    for (other, until) in records.store.index_members(keys::INSTANCES).await? {
        if other != records.instance && until < now {
            take_over(inner, &other).await?;
        }
    }
    Ok(())
}

/// Moves the logins of the dead instance `other` to this one.
async fn take_over(inner: &Arc<Engine>, other: &str) -> Result<(), Error> {
    let records = &inner.records;
    let store = &records.store;
    let theirs = keys::owned_by(other);
    let mine = keys::owned_by(&records.instance);
    let now = records.now();
    for (member, deadline) in store.index_members(&theirs).await? {
        let id = member.parse::<LoginId>().ok();
        let loaded = match &id {
            Some(id) if deadline > now => records.load(id).await?,
            _ => None,
        };
        if let (Some(id), Some(loaded)) = (id, loaded)
            && loaded.record.status.is_waiting()
            && loaded.record.poller == other
        {
            let mut record = loaded.record.clone();
            record.poller.clone_from(&records.instance);
            if let Some(record) = records.swap(&id, &loaded, record).await? {
                store.index_add(&mine, id.as_str(), deadline).await?;
                crate::metrics::lease_take_over();
                tracing::info!(login_id = %id, "took over a login from an instance that stopped");
                inner.schedule(&id, &record);
            }
        }
        store.index_remove(&theirs, &member).await?;
    }
    store.index_remove(keys::INSTANCES, other).await?;
    Ok(())
}
