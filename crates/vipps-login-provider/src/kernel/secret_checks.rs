//! The bound on concurrent client-secret checks (see the kernel's client
//! authentication): a check beyond it is refused at once, never queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bound on concurrent secret checks.
pub(crate) struct SecretChecks {
    permits: Arc<Semaphore>,
    warned_no_peer: AtomicBool,
}

impl SecretChecks {
    /// At most `limit` checks at once (at least one).
    pub(crate) fn new(limit: usize) -> SecretChecks {
        SecretChecks {
            permits: Arc::new(Semaphore::new(limit.max(1))),
            warned_no_peer: AtomicBool::new(false),
        }
    }

    /// A permit for one check, unless `limit` checks are running.
    pub(crate) fn try_start(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// `true` the first time it is asked (to warn once that peers are unknown).
    pub(crate) fn first_warning_without_peer(&self) -> bool {
        !self.warned_no_peer.swap(true, Ordering::Relaxed)
    }
}

/// The default bound: one check per core the process may use.
pub(crate) fn default_secret_check_limit() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}
