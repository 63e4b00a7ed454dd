//! A start's admission as one store step: the cool-down, the number's one waiting login
//! and the rate-limit windows, checked and counted together. A store that can run it on
//! the server (Redis, as one script) saves a round trip for each part; every other store
//! gets [`admit_step_by_step`], the same checks one operation at a time.

use std::time::Duration;

use crate::store::{Store, StoreError};

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

/// [`Store::admit`] one operation at a time, for stores that cannot do it in one step.
/// Not atomic as a whole: each step is, which the checks need (two starts for one number
/// still get one reservation between them).
///
/// # Errors
/// What the store's operations return.
pub async fn admit_step_by_step<S: Store + ?Sized>(
    store: &S,
    admission: &Admission<'_>,
) -> Result<Admitted, StoreError> {
    if let Some(value) = store.get(admission.refuse_if_present).await? {
        return Ok(Admitted::Refused(value));
    }
    if let Some((key, value, ttl)) = admission.reserve
        && !store.insert_if_absent(key, value.to_vec(), ttl).await?
    {
        return Ok(Admitted::Reserved(store.get(key).await?));
    }
    for (counter, (key, window, allowance)) in admission.counters.iter().enumerate() {
        let (count, left) = store.increment(key, *window).await?;
        if count > *allowance {
            if let Some((key, value, _)) = admission.reserve {
                store
                    .compare_and_swap(key, value, None, Duration::from_secs(1))
                    .await?;
            }
            return Ok(Admitted::OverLimit {
                counter,
                retry_after: left,
            });
        }
    }
    Ok(Admitted::Yes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn each_check_in_order() {
        let store = MemoryStore::new();
        let counters = [("n", MINUTE, 2), ("c", MINUTE, 1)];
        let a = Admission::new("cool")
            .reserve("mark", b"one", MINUTE)
            .counters(&counters);
        assert_eq!(store.admit(&a).await.unwrap(), Admitted::Yes);
        // The mark is held: nothing counted.
        let b = Admission::new("cool")
            .reserve("mark", b"two", MINUTE)
            .counters(&counters);
        assert_eq!(
            store.admit(&b).await.unwrap(),
            Admitted::Reserved(Some(b"one".to_vec()))
        );
        assert_eq!(store.increment("n", MINUTE).await.unwrap().0, 2);
        // Over the second counter's allowance: the mark made for it is lifted again.
        store.remove("mark").await.unwrap();
        store.remove("n").await.unwrap();
        let over = store.admit(&b).await.unwrap();
        assert!(
            matches!(over, Admitted::OverLimit { counter: 1, .. }),
            "{over:?}"
        );
        assert_eq!(store.get("mark").await.unwrap(), None);
        // A cool-down refuses before anything is written.
        store.set("cool", b"why".to_vec(), MINUTE).await.unwrap();
        assert_eq!(
            store.admit(&a).await.unwrap(),
            Admitted::Refused(b"why".to_vec())
        );
        assert_eq!(store.get("mark").await.unwrap(), None);
    }
}
