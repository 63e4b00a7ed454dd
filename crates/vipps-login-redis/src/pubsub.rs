//! Notifications: one dedicated subscriber connection per [`RedisStore`](crate::RedisStore),
//! forwarding each Redis channel to a tokio broadcast channel.
//!
//! A background task owns the connection. When it breaks, the task reconnects with
//! backoff, subscribes to every channel again and then sends each channel an empty
//! notification: "messages may have been lost, re-read". A channel nobody listens to any
//! more is unsubscribed (on its next message, or at the next health check).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use redis::{Client, Msg};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use vipps_login_core::StoreError;

use crate::errors;

/// What subscribers receive; empty means "re-read, something may be lost".
pub(crate) type Notification = Arc<[u8]>;

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often an idle subscriber connection is checked with a `PING`.
const HEALTH_CHECK: Duration = Duration::from_secs(10);

struct Channel {
    tx: broadcast::Sender<Notification>,
    /// The connection generation on which Redis confirmed the subscription.
    subscribed_on: Option<u64>,
}

#[derive(Default)]
struct State {
    channels: HashMap<String, Channel>,
    /// The live connection's generation and sink, while there is one.
    sink: Option<(u64, PubSubSink)>,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    connected: watch::Sender<bool>,
    prefix: String,
    capacity: usize,
    timeout: Duration,
    shown_url: String,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The subscriber side of a store; stops its task when dropped.
pub(crate) struct Subscriber {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscriber {
    /// Starts the connection task (it connects in the background).
    pub(crate) fn start(
        client: Client,
        prefix: String,
        capacity: usize,
        timeout: Duration,
        shown_url: String,
    ) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            connected: watch::channel(false).0,
            prefix,
            capacity,
            timeout,
            shown_url,
        });
        let task = tokio::spawn(run(shared.clone(), client));
        Subscriber { shared, task }
    }

    /// A receiver of `channel` that gets everything published after this returns.
    /// `round_trip` is called for each command sent.
    pub(crate) async fn subscribe(
        &self,
        channel: &str,
        round_trip: impl Fn(),
    ) -> Result<broadcast::Receiver<Notification>, StoreError> {
        let shared = &self.shared;
        let deadline = Instant::now() + shared.timeout;
        let (rx, target) = {
            let mut state = lock(&shared.state);
            let State { channels, sink } = &mut *state;
            let entry = channels
                .entry(channel.to_owned())
                .or_insert_with(|| Channel {
                    tx: broadcast::channel(shared.capacity).0,
                    subscribed_on: None,
                });
            let rx = entry.tx.subscribe();
            match sink {
                Some((generation, _)) if entry.subscribed_on == Some(*generation) => return Ok(rx),
                Some((generation, sink)) => (rx, Some((*generation, sink.clone()))),
                None => (rx, None),
            }
        };
        let (generation, mut sink) = match target {
            Some(target) => target,
            None => {
                // Not connected (yet): the task subscribes every known channel when it
                // connects; wait for that, within the deadline.
                let mut connected = shared.connected.subscribe();
                let up = tokio::time::timeout_at(deadline, connected.wait_for(|c| *c)).await;
                if !matches!(up, Ok(Ok(_))) {
                    return Err(StoreError::Unavailable {
                        message: format!(
                            "cannot reach Redis at {} for notifications (reconnecting); \
                             check that Redis runs and REDIS_URL is right",
                            shared.shown_url
                        ),
                        source: None,
                    });
                }
                let state = lock(&shared.state);
                match (&state.sink, state.channels.get(channel)) {
                    (Some((generation, _)), Some(c)) if c.subscribed_on == Some(*generation) => {
                        return Ok(rx);
                    }
                    (Some((generation, s)), _) => (*generation, s.clone()),
                    (None, _) => return Err(errors::timeout()),
                }
            }
        };
        round_trip();
        let full = format!("{}{channel}", shared.prefix);
        match tokio::time::timeout_at(deadline, sink.subscribe(&full)).await {
            Err(_) => Err(errors::timeout()),
            Ok(Err(e)) => Err(errors::map(e, &shared.shown_url)),
            Ok(Ok(())) => {
                if let Some(c) = lock(&shared.state).channels.get_mut(channel) {
                    c.subscribed_on =
                        Some(c.subscribed_on.map_or(generation, |g| g.max(generation)));
                }
                Ok(rx)
            }
        }
    }
}

/// The connection task: connect, resubscribe, announce, forward; again after each loss.
async fn run(shared: Arc<Shared>, client: Client) {
    let mut backoff = MIN_BACKOFF;
    let mut generation = 0u64;
    let mut failures = 0u32;
    loop {
        match connect(&shared, &client, generation + 1).await {
            Ok((sink, stream)) => {
                generation += 1;
                if generation > 1 {
                    tracing::info!(url = %shared.shown_url, "Redis notification connection is back");
                    announce_possible_loss(&shared);
                }
                backoff = MIN_BACKOFF;
                failures = 0;
                forward(&shared, sink, stream, generation).await;
                lock(&shared.state).sink = None;
                shared.connected.send_replace(false);
                tracing::warn!(
                    url = %shared.shown_url,
                    "lost the Redis notification connection; reconnecting"
                );
            }
            Err(e) => {
                if failures == 0 {
                    tracing::warn!(url = %shared.shown_url, error = %e, "cannot reach Redis for notifications; retrying");
                } else {
                    tracing::debug!(url = %shared.shown_url, error = %e, "Redis notification reconnect failed");
                }
                failures = failures.saturating_add(1);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// A new subscriber connection, subscribed to every channel known now.
async fn connect(
    shared: &Shared,
    client: &Client,
    generation: u64,
) -> Result<(PubSubSink, PubSubStream), StoreError> {
    let timeout = shared.timeout;
    let pubsub = match tokio::time::timeout(timeout, client.get_async_pubsub()).await {
        Err(_) => return Err(errors::timeout()),
        Ok(Err(e)) => return Err(errors::map(e, &shared.shown_url)),
        Ok(Ok(p)) => p,
    };
    let (mut sink, stream) = pubsub.split();
    let names: Vec<String> = lock(&shared.state).channels.keys().cloned().collect();
    if !names.is_empty() {
        let full: Vec<String> = names
            .iter()
            .map(|n| format!("{}{n}", shared.prefix))
            .collect();
        match tokio::time::timeout(timeout, sink.subscribe(&full)).await {
            Err(_) => return Err(errors::timeout()),
            Ok(Err(e)) => return Err(errors::map(e, &shared.shown_url)),
            Ok(Ok(())) => {}
        }
    }
    {
        let mut state = lock(&shared.state);
        for name in &names {
            if let Some(c) = state.channels.get_mut(name) {
                c.subscribed_on = Some(generation);
            }
        }
        state.sink = Some((generation, sink.clone()));
    }
    shared.connected.send_replace(true);
    Ok((sink, stream))
}

/// Tells every channel that messages may have been lost while disconnected.
fn announce_possible_loss(shared: &Shared) {
    let empty: Notification = Arc::from(Vec::new());
    for c in lock(&shared.state).channels.values() {
        // No receiver: nobody to tell.
        let _ = c.tx.send(empty.clone());
    }
}

/// Forwards messages until the connection breaks (or stops answering health checks).
async fn forward(shared: &Shared, mut sink: PubSubSink, mut stream: PubSubStream, generation: u64) {
    let mut health = tokio::time::interval_at(Instant::now() + HEALTH_CHECK, HEALTH_CHECK);
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                None => return,
                Some(msg) => {
                    if let Some(idle) = deliver(shared, &msg) {
                        prune(shared, &mut sink, vec![idle], generation).await;
                    }
                }
            },
            _ = health.tick() => {
                let ping = sink.ping::<redis::Value>();
                if !matches!(tokio::time::timeout(shared.timeout, ping).await, Ok(Ok(_))) {
                    return;
                }
                let idle: Vec<String> = {
                    let mut state = lock(&shared.state);
                    let idle: Vec<String> = state
                        .channels
                        .iter()
                        .filter(|(_, c)| c.tx.receiver_count() == 0)
                        .map(|(n, _)| n.clone())
                        .collect();
                    for n in &idle {
                        state.channels.remove(n);
                    }
                    idle
                };
                if !idle.is_empty() {
                    prune(shared, &mut sink, idle, generation).await;
                }
            }
        }
    }
}

/// Hands `msg` to its channel's receivers; the channel's name when nobody listens any more
/// (it has then been removed).
fn deliver(shared: &Shared, msg: &Msg) -> Option<String> {
    let name = msg.get_channel_name().strip_prefix(&shared.prefix)?;
    let payload: Notification = Arc::from(msg.get_payload_bytes());
    let mut state = lock(&shared.state);
    let channel = state.channels.get(name)?;
    if channel.tx.send(payload).is_ok() {
        return None;
    }
    state.channels.remove(name);
    Some(name.to_owned())
}

/// Unsubscribes the removed channels `names`. One that got a new subscriber meanwhile is
/// subscribed again, and told that it may have missed messages in between.
async fn prune(shared: &Shared, sink: &mut PubSubSink, names: Vec<String>, generation: u64) {
    let full: Vec<String> = names
        .iter()
        .map(|n| format!("{}{n}", shared.prefix))
        .collect();
    if !matches!(
        tokio::time::timeout(shared.timeout, sink.unsubscribe(&full)).await,
        Ok(Ok(()))
    ) {
        // The connection is failing; the reconnect resubscribes whatever is still wanted.
        return;
    }
    let revived: Vec<String> = {
        let state = lock(&shared.state);
        names
            .into_iter()
            .filter(|n| state.channels.contains_key(n))
            .collect()
    };
    for name in revived {
        let full = format!("{}{name}", shared.prefix);
        if matches!(
            tokio::time::timeout(shared.timeout, sink.subscribe(&full)).await,
            Ok(Ok(()))
        ) && let Some(c) = lock(&shared.state).channels.get_mut(&name)
        {
            c.subscribed_on = Some(generation);
            let _ = c.tx.send(Arc::from(Vec::new()));
        }
    }
}
