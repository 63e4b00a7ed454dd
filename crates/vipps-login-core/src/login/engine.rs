//! The engine of one instance: its configuration, its port to Vipps, the store side, and
//! its poller. The verbs are in the files beside this one (`start`, `poll`, `finish`,
//! `browser`, `webhook`, `background`), each an `impl Engine` block, so that a reader
//! finds one decision in one place.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::sync::{Semaphore, mpsc};

use super::poller::{self, Command, Pacing};
use super::record::{Loaded, LoginRecord};
use super::records::Records;
use super::sealed::Sealer;
use super::state::Event;
use super::trail::Trail;
use super::view::LoginKind;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::metered::MeteredStore;
use crate::upstream::Upstream;
use crate::{Error, LoginId, Msisdn, Store};

/// One instance's login engine, shared (`Arc`) by the public client, the poller and the
/// background task.
pub(crate) struct Engine {
    pub(crate) config: Config,
    pub(crate) upstream: Upstream,
    pub(crate) records: Records,
    pub(crate) metrics: Metrics,
    poller: OnceLock<mpsc::UnboundedSender<Command>>,
    pub(crate) background: OnceLock<()>,
    /// Whether the background task listens to the other instances yet: a login's webhook
    /// wake-up published before that would be missed, so starts wait for it (bounded).
    pub(crate) listening: tokio::sync::watch::Sender<bool>,
    /// Cancelled when the instance shuts down (its background task ends).
    pub(crate) stopping: tokio_util::sync::CancellationToken,
    poll_permits: Arc<Semaphore>,
    /// Keys the hash of phone numbers in the store (derived from the client secret, so
    /// every instance of one merchant computes the same).
    number_key: hmac::Key,
    /// Vipps' usual expiry and interval, claimed by decoys.
    pub(crate) usual: super::decoy::UsualStart,
}

impl Engine {
    pub(crate) fn new(config: Config, store: Arc<dyn Store>) -> Result<Engine, Error> {
        let upstream = Upstream::new(&config)?;
        let derive = hmac::Key::new(hmac::HMAC_SHA256, config.client_secret.expose().as_bytes());
        let number_key = hmac::Key::new(
            hmac::HMAC_SHA256,
            hmac::sign(&derive, b"vipps-login number key").as_ref(),
        );
        let sealer = Sealer::new(config.client_secret.expose().as_bytes())?;
        let audit_id_key = hmac::Key::new(
            hmac::HMAC_SHA256,
            hmac::sign(&derive, b"vipps-login audit login id key").as_ref(),
        );
        let store: Arc<dyn Store> = Arc::new(MeteredStore::new(store));
        let records = Records::new(
            store,
            config.clock.clone(),
            config.result_ttl,
            sealer,
            Trail::new(config.audit.clone(), audit_id_key),
        );
        Ok(Engine {
            poll_permits: Arc::new(Semaphore::new(config.max_concurrent_polls)),
            config,
            upstream,
            records,
            metrics: Metrics::new(),
            poller: OnceLock::new(),
            background: OnceLock::new(),
            listening: tokio::sync::watch::Sender::new(false),
            stopping: tokio_util::sync::CancellationToken::new(),
            number_key,
            usual: super::decoy::UsualStart::default(),
        })
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.records.now()
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.records.store
    }

    pub(crate) fn poll_permits(&self) -> &Arc<Semaphore> {
        &self.poll_permits
    }

    /// Tells this instance's poller (started on first use).
    pub(crate) fn send(self: &Arc<Self>, cmd: Command) {
        let tx = self.poller.get_or_init(|| {
            let pacing = Pacing {
                slow_down_step: self.config.slow_down_step,
                max_failures: self.config.max_poll_failures,
            };
            poller::spawn(Arc::downgrade(self), pacing)
        });
        // Fails only when the poller is gone, i.e. the runtime shuts down.
        let _ = tx.send(cmd);
    }

    /// Has this instance's poller drop `id` (it ended; nothing to poll or expire). Does
    /// nothing when this instance has no poller yet.
    pub(crate) fn forget(&self, id: &LoginId) {
        if let Some(tx) = self.poller.get() {
            let _ = tx.send(Command::Cancel { id: id.clone() });
        }
    }

    /// Stops this instance's poller (shutting down); nothing when it has none.
    pub(crate) fn stop_poller(&self) {
        if let Some(tx) = self.poller.get() {
            let _ = tx.send(Command::Stop);
        }
    }

    /// Has this instance's poller follow `record` from now until its deadline. A login
    /// that is never polled (continue in browser, decoys) is only woken at its deadline.
    pub(crate) fn schedule(self: &Arc<Self>, id: &LoginId, record: &LoginRecord) {
        let left = record
            .expires_at()
            .duration_since(self.now())
            .unwrap_or(Duration::ZERO);
        let polled = !record.browser && record.kind == LoginKind::Vipps;
        let interval = if polled {
            record.interval().max(Duration::from_millis(10))
        } else {
            left.max(Duration::from_millis(10))
        };
        self.send(Command::Add {
            id: id.clone(),
            interval,
            deadline: tokio::time::Instant::now() + left,
        });
    }

    /// Applies `event` from the record just read (one store read fewer); a refusal (the
    /// login moved on elsewhere) is fine.
    pub(crate) async fn finish_from(&self, id: &LoginId, event: Event, read: Option<Loaded>) {
        if let Err(e) = self.records.transition_from(id, event, read).await {
            tracing::debug!(login_id = %id, error = %e.code(), "the login had moved on");
        }
    }

    /// The keyed hash of a phone number, for limits kept in the store.
    pub(crate) fn number_key(&self, msisdn: &Msisdn) -> String {
        let tag = hmac::sign(&self.number_key, msisdn.as_str().as_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..18])
    }
}
