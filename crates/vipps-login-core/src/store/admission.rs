//! A start's admission as one store step: the cool-down, the number's one waiting login
//! and the rate-limit windows, checked and counted together. A store that can run it on
//! the server (Redis, as one script) saves a round trip for each part; every other store
//! gets [`admit_step_by_step`](super::admit_step_by_step), the same checks one operation
//! at a time.
//!
//! Only the question and the answer live here; the steps are the [`Store`](super::Store)
//! trait's default, beside the operations they are made of.

use std::time::Duration;

/// What one start asks of the store, in order: refuse when
/// [`refuse_if_present`](Self::refuse_if_present) holds a value; else insert the
/// [`reserve`](Self::reserve) mark when absent (or report who holds it); else count each
/// of the [`counters`](Self::counters), stopping at the first over its allowance, whose
/// count stays and whose stop lifts the reservation just made.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Admission<'a> {
    /// A key whose presence refuses the start (the number's cool-down mark).
    pub refuse_if_present: &'a str,
    /// The mark to insert when absent: key, value, lifetime (the number's waiting login).
    pub reserve: Option<(&'a str, &'a [u8], Duration)>,
    /// Counters to increment: key, window (the lifetime a new counter gets), allowance.
    pub counters: &'a [(&'a str, Duration, u64)],
}

impl<'a> Admission<'a> {
    /// An admission that only looks at `refuse_if_present`; add the rest with
    /// [`reserve`](Self::reserve) and [`counters`](Self::counters).
    #[must_use]
    pub fn new(refuse_if_present: &'a str) -> Self {
        Admission {
            refuse_if_present,
            reserve: None,
            counters: &[],
        }
    }

    /// Also inserts `value` under `key` for `ttl` when absent.
    #[must_use]
    pub fn reserve(mut self, key: &'a str, value: &'a [u8], ttl: Duration) -> Self {
        self.reserve = Some((key, value, ttl));
        self
    }

    /// Also counts these windows.
    #[must_use]
    pub fn counters(mut self, counters: &'a [(&'a str, Duration, u64)]) -> Self {
        self.counters = counters;
        self
    }
}

/// How an [`Admission`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admitted {
    /// Every check passed: the mark is in place and every counter counted.
    Yes,
    /// `refuse_if_present` holds this value; nothing was written.
    Refused(Vec<u8>),
    /// The reservation is held by this value (`None`: it vanished in between); no counter
    /// was touched.
    Reserved(Option<Vec<u8>>),
    /// The counter at this index went over its allowance; its window ends in
    /// `retry_after`. The reservation was lifted; later counters were not touched.
    OverLimit {
        /// The index in [`Admission::counters`].
        counter: usize,
        /// How long the counter still lives.
        retry_after: Duration,
    },
}
