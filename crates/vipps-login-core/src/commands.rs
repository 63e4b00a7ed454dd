//! What the poller is told (by the client, the background task and its own poll tasks).

use std::time::Duration;

use tokio::time::Instant;

use crate::{Error, LoginId};

pub(crate) enum Command {
    Add {
        id: LoginId,
        interval: Duration,
        deadline: Instant,
    },
    Wake {
        id: LoginId,
    },
    Cancel {
        id: LoginId,
    },
    Report {
        id: LoginId,
        outcome: Outcome,
    },
}

/// What one poll found, as far as scheduling is concerned.
pub(crate) enum Outcome {
    Pending,
    SlowDown(Option<Duration>),
    RetryAfter(Option<Duration>),
    Transient(Error),
    /// The login is over (finished by the poll task, or gone).
    Done,
}
