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

use super::engine::Message;
use super::keys;
use crate::commands::Command;
use crate::instance::Inner;
use crate::store::Notification;
use crate::{Error, LoginId};

/// Starts the background task of `inner`'s instance (once per client).
pub(crate) fn spawn(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    let tick = (inner.config.poll_lease / 3).max(Duration::from_millis(100));
    tokio::spawn(async move {
        run(weak, tick).await;
    });
}

async fn run(weak: Weak<Inner>, tick: Duration) {
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
                    Some(Err(RecvError::Lagged(_))) => inner.engine.refresh_all().await,
                    Some(Err(RecvError::Closed)) | None => events = None,
                }
            }
            _ = ticker.tick() => {
                let Some(inner) = weak.upgrade() else { break };
                inner.engine.prune_watchers();
                if events.is_none() {
                    match inner.engine.store.subscribe(keys::EVENTS).await {
                        Ok(rx) => {
                            events = Some(rx);
                            // Anything announced while not subscribed is read now.
                            inner.engine.refresh_all().await;
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

async fn on_message(inner: &Arc<Inner>, bytes: &Notification) {
    if bytes.is_empty() {
        inner.engine.refresh_all().await;
        return;
    }
    match serde_json::from_slice::<Message>(bytes) {
        // This instance's own transitions reached its waiters already.
        Ok(Message::Transition { id, from }) if from != inner.engine.instance => {
            inner.engine.refresh(&id).await;
        }
        Ok(Message::Transition { .. }) => {}
        Ok(Message::Wake { id }) => inner.send(Command::Wake { id }),
        Err(_) => tracing::debug!("ignoring an unreadable instance message"),
    }
}

async fn heartbeat_and_take_over(inner: &Arc<Inner>) -> Result<(), Error> {
    let engine = &inner.engine;
    let now = engine.now();
    engine
        .store
        .index_add(
            keys::INSTANCES,
            &engine.instance,
            now + inner.config.poll_lease,
        )
        .await?;
    for (other, until) in engine.store.index_members(keys::INSTANCES).await? {
        if other != engine.instance && until < now {
            take_over(inner, &other).await?;
        }
    }
    Ok(())
}

/// Moves the logins of the dead instance `other` to this one.
async fn take_over(inner: &Arc<Inner>, other: &str) -> Result<(), Error> {
    let engine = &inner.engine;
    let store = &engine.store;
    let theirs = keys::owned_by(other);
    let mine = keys::owned_by(&engine.instance);
    let now = engine.now();
    for (member, deadline) in store.index_members(&theirs).await? {
        let id = member.parse::<LoginId>().ok();
        let loaded = match &id {
            Some(id) if deadline > now => engine.load(id).await?,
            _ => None,
        };
        if let (Some(id), Some(loaded)) = (id, loaded)
            && loaded.record.status.is_waiting()
            && loaded.record.poller == other
        {
            let mut record = loaded.record.clone();
            record.poller.clone_from(&engine.instance);
            if let Some(record) = engine.swap(&id, &loaded, record).await? {
                store.index_add(&mine, id.as_str(), deadline).await?;
                tracing::info!(login_id = %id, "took over a login from an instance that stopped");
                inner.schedule(&id, &record);
            }
        }
        store.index_remove(&theirs, &member).await?;
    }
    store.index_remove(keys::INSTANCES, other).await?;
    Ok(())
}
