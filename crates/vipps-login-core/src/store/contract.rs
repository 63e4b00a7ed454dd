//! The [`Store`] contract as a test suite: every case an async function taking a fresh,
//! empty store. Core runs it on [`MemoryStore`](super::memory::MemoryStore) (the
//! reference semantics); a store crate runs it on its own store, so that both are held to
//! one contract. Available with the `test-util` feature.
//!
//! Each case panics (as a test does) when the store breaks the contract. Some wait for
//! lifetimes to pass (under a second each), on the wall clock: run the cases against a
//! store on the system clock.
//!
//! ```
//! use std::sync::Arc;
//! use vipps_login_core::MemoryStore;
//! use vipps_login_core::store::contract;
//!
//! # async fn demo() {
//! // One test per case, as a store crate's tests would do ...
//! contract::take_reads_once(Arc::new(MemoryStore::new())).await;
//! // ... or every case, each on a fresh store.
//! for case in contract::cases() {
//!     (case.run)(Arc::new(MemoryStore::new())).await;
//! }
//! # }
//! ```

// A test suite: a failed `unwrap` is a failed case, reported with the store's error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast::error::TryRecvError;

use super::Store;
use super::admission::{Admission, Admitted};
use crate::clock::{Clock, SystemClock, from_unix_ms};

/// The run of one case on a store.
type CaseRun = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One case of the contract: its name and the function that runs it on a store.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct Case {
    /// The case's name (its function's).
    pub name: &'static str,
    /// Runs the case on a fresh, empty store.
    pub run: fn(Arc<dyn Store>) -> CaseRun,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Every case of the contract, in this module's order.
#[must_use]
pub fn cases() -> Vec<Case> {
    macro_rules! case {
        ($name:ident) => {
            Case {
                name: stringify!($name),
                run: |s| Box::pin($name(s)),
            }
        };
    }
    vec![
        case!(values_set_get_remove),
        case!(get_many_reads_in_order),
        case!(set_and_remove_moves_a_value),
        case!(values_are_bytes),
        case!(values_expire),
        case!(set_replaces_the_lifetime),
        case!(take_reads_once),
        case!(insert_if_absent_writes_once),
        case!(compare_and_swap_needs_the_exact_value),
        case!(counters_count_within_their_first_lifetime),
        case!(indexes_keep_members_with_deadlines),
        case!(indexes_forget_members_a_day_past_their_deadline),
        case!(notifications_reach_every_subscriber),
        case!(conditional_operations_have_one_winner),
        case!(admission_checks_in_order),
    ]
}

const MINUTE: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(400);
const PAST_SHORT: Duration = Duration::from_millis(700);

/// A time with whole milliseconds (what a deadline keeps), `offset_s` from now.
fn at(offset_s: i64) -> SystemTime {
    let now = i128::from(SystemClock.unix_ms());
    from_unix_ms(u64::try_from(now + i128::from(offset_s) * 1000).unwrap())
}

/// `set` stores, `get` reads, `remove` deletes (an absent key too, without error).
pub async fn values_set_get_remove(s: Arc<dyn Store>) {
    assert_eq!(s.get("k").await.unwrap(), None);
    s.set("k", b"one".to_vec(), MINUTE).await.unwrap();
    assert_eq!(s.get("k").await.unwrap(), Some(b"one".to_vec()));
    s.set("k", b"two".to_vec(), MINUTE).await.unwrap();
    assert_eq!(s.get("k").await.unwrap(), Some(b"two".to_vec()));
    assert_eq!(s.get("other").await.unwrap(), None);
    s.remove("k").await.unwrap();
    assert_eq!(s.get("k").await.unwrap(), None);
    s.remove("k").await.unwrap(); // absent: no error
}

/// `get_many` answers each key in the order asked, absent and expired ones as `None`.
pub async fn get_many_reads_in_order(s: Arc<dyn Store>) {
    assert_eq!(
        s.get_many(&[]).await.unwrap(),
        Vec::<Option<Vec<u8>>>::new()
    );
    s.set("a", b"one".to_vec(), MINUTE).await.unwrap();
    s.set("c", b"three".to_vec(), MINUTE).await.unwrap();
    s.set("gone", b"x".to_vec(), SHORT).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(
        s.get_many(&["c", "b", "a", "gone", "a"]).await.unwrap(),
        vec![
            Some(b"three".to_vec()),
            None,
            Some(b"one".to_vec()),
            None,
            Some(b"one".to_vec())
        ]
    );
}

/// `set_and_remove` writes the new key with its lifetime and deletes the old one (an
/// absent old key too, without error).
pub async fn set_and_remove_moves_a_value(s: Arc<dyn Store>) {
    s.set("old", b"v1".to_vec(), MINUTE).await.unwrap();
    s.set_and_remove("new", b"v2".to_vec(), SHORT, "old")
        .await
        .unwrap();
    assert_eq!(s.get("old").await.unwrap(), None);
    assert_eq!(s.get("new").await.unwrap(), Some(b"v2".to_vec()));
    s.set_and_remove("other", b"v3".to_vec(), MINUTE, "absent")
        .await
        .unwrap();
    assert_eq!(s.get("other").await.unwrap(), Some(b"v3".to_vec()));
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(
        s.get("new").await.unwrap(),
        None,
        "the new key has its lifetime"
    );
}

/// Values are any bytes, the empty value included (which is a value, not an absence).
pub async fn values_are_bytes(s: Arc<dyn Store>) {
    let every_byte: Vec<u8> = (0..=255).collect();
    s.set("bin", every_byte.clone(), MINUTE).await.unwrap();
    assert_eq!(s.get("bin").await.unwrap(), Some(every_byte));
    s.set("empty", Vec::new(), MINUTE).await.unwrap();
    assert_eq!(s.get("empty").await.unwrap(), Some(Vec::new()));
    // An empty value is a value: it matches an empty `expected`, an absent key does not.
    assert!(
        s.compare_and_swap("empty", b"", None, MINUTE)
            .await
            .unwrap()
    );
    assert!(
        !s.compare_and_swap("empty", b"", None, MINUTE)
            .await
            .unwrap()
    );
    assert!(
        s.insert_if_absent("empty", Vec::new(), MINUTE)
            .await
            .unwrap()
    );
    assert_eq!(s.take("empty").await.unwrap(), Some(Vec::new()));
}

/// Every kind of read and conditional write sees a value as gone once its lifetime ends.
pub async fn values_expire(s: Arc<dyn Store>) {
    s.set("gone", b"x".to_vec(), SHORT).await.unwrap();
    assert_eq!(s.get("gone").await.unwrap(), Some(b"x".to_vec()));
    s.set("taken", b"x".to_vec(), SHORT).await.unwrap();
    s.set("swapped", b"x".to_vec(), SHORT).await.unwrap();
    s.set("inserted", b"x".to_vec(), SHORT).await.unwrap();
    s.set("kept", b"x".to_vec(), MINUTE).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(s.get("gone").await.unwrap(), None);
    assert_eq!(s.take("taken").await.unwrap(), None);
    assert!(
        !s.compare_and_swap("swapped", b"x", None, MINUTE)
            .await
            .unwrap()
    );
    assert!(
        s.insert_if_absent("inserted", b"y".to_vec(), MINUTE)
            .await
            .unwrap()
    );
    assert_eq!(s.get("inserted").await.unwrap(), Some(b"y".to_vec()));
    assert_eq!(s.get("kept").await.unwrap(), Some(b"x".to_vec()));
}

/// `set` replaces the lifetime as well as the value, longer or shorter.
pub async fn set_replaces_the_lifetime(s: Arc<dyn Store>) {
    s.set("longer", b"a".to_vec(), SHORT).await.unwrap();
    s.set("longer", b"b".to_vec(), MINUTE).await.unwrap();
    s.set("shorter", b"a".to_vec(), MINUTE).await.unwrap();
    s.set("shorter", b"b".to_vec(), SHORT).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(s.get("longer").await.unwrap(), Some(b"b".to_vec()));
    assert_eq!(s.get("shorter").await.unwrap(), None);
}

/// `take` hands a value out once and deletes it.
pub async fn take_reads_once(s: Arc<dyn Store>) {
    assert_eq!(s.take("k").await.unwrap(), None);
    s.set("k", b"v".to_vec(), MINUTE).await.unwrap();
    assert_eq!(s.take("k").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(s.take("k").await.unwrap(), None);
    assert_eq!(s.get("k").await.unwrap(), None);
}

/// `insert_if_absent` writes only into an absent key, with its own lifetime.
pub async fn insert_if_absent_writes_once(s: Arc<dyn Store>) {
    assert!(
        s.insert_if_absent("k", b"v1".to_vec(), MINUTE)
            .await
            .unwrap()
    );
    assert!(
        !s.insert_if_absent("k", b"v2".to_vec(), MINUTE)
            .await
            .unwrap()
    );
    assert_eq!(s.get("k").await.unwrap(), Some(b"v1".to_vec()));
    s.remove("k").await.unwrap();
    assert!(
        s.insert_if_absent("k", b"v3".to_vec(), SHORT)
            .await
            .unwrap()
    );
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(
        s.get("k").await.unwrap(),
        None,
        "insert_if_absent's lifetime"
    );
}

/// `compare_and_swap` needs the current value byte for byte; an absent key never matches; `None` deletes.
pub async fn compare_and_swap_needs_the_exact_value(s: Arc<dyn Store>) {
    assert!(
        !s.compare_and_swap("k", b"v1", Some(b"x".to_vec()), MINUTE)
            .await
            .unwrap()
    );
    assert_eq!(
        s.get("k").await.unwrap(),
        None,
        "an absent key never matches"
    );
    s.set("k", b"v1".to_vec(), MINUTE).await.unwrap();
    for wrong in [&b"v"[..], b"v1 ", b"V1", b""] {
        assert!(
            !s.compare_and_swap("k", wrong, Some(b"x".to_vec()), MINUTE)
                .await
                .unwrap()
        );
    }
    assert_eq!(s.get("k").await.unwrap(), Some(b"v1".to_vec()));
    assert!(
        s.compare_and_swap("k", b"v1", Some(b"v2".to_vec()), SHORT)
            .await
            .unwrap()
    );
    assert_eq!(s.get("k").await.unwrap(), Some(b"v2".to_vec()));
    assert!(!s.compare_and_swap("k", b"v1", None, MINUTE).await.unwrap());
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(s.get("k").await.unwrap(), None, "the swap's lifetime");
    s.set("k", b"v3".to_vec(), MINUTE).await.unwrap();
    assert!(s.compare_and_swap("k", b"v3", None, MINUTE).await.unwrap());
    assert_eq!(s.get("k").await.unwrap(), None, "a swap to None deletes");
}

/// Counters count within the lifetime they were created with, then start again.
pub async fn counters_count_within_their_first_lifetime(s: Arc<dyn Store>) {
    let ttl = Duration::from_millis(800);
    let (n, left) = s.increment("c", ttl).await.unwrap();
    assert_eq!(n, 1);
    assert!(
        left <= ttl && left > ttl - Duration::from_millis(200),
        "{left:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A later increment with a longer lifetime extends nothing.
    let (n, left) = s.increment("c", MINUTE).await.unwrap();
    assert_eq!(n, 2);
    assert!(left <= Duration::from_millis(500), "extended to {left:?}");
    assert_eq!(s.increment("c", ttl).await.unwrap().0, 3);
    assert_eq!(s.increment("other", ttl).await.unwrap().0, 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (n, left) = s.increment("c", MINUTE).await.unwrap();
    assert_eq!(n, 1, "a counter starts again after its lifetime");
    assert!(left > Duration::from_secs(59), "{left:?}");
}

/// Indexes keep each member with its latest deadline, also past it.
pub async fn indexes_keep_members_with_deadlines(s: Arc<dyn Store>) {
    assert!(s.index_members("i").await.unwrap().is_empty());
    s.index_remove("i", "nobody").await.unwrap(); // absent: no error
    let (soon, later, passed) = (at(30), at(3_600), at(-3_600));
    s.index_add("i", "a", soon).await.unwrap();
    s.index_add("i", "b", later).await.unwrap();
    s.index_add("i", "c", passed).await.unwrap();
    s.index_add("i", "a", later).await.unwrap(); // moves a's deadline
    s.index_add("j", "a", soon).await.unwrap();
    let mut members = s.index_members("i").await.unwrap();
    members.sort();
    let expected = vec![
        ("a".to_owned(), later),
        ("b".to_owned(), later),
        ("c".to_owned(), passed), // past its deadline, still listed: the caller decides
    ];
    assert_eq!(members, expected);
    s.index_remove("i", "b").await.unwrap();
    s.index_remove("i", "c").await.unwrap();
    assert_eq!(
        s.index_members("i").await.unwrap(),
        vec![("a".to_owned(), later)]
    );
    assert_eq!(
        s.index_members("j").await.unwrap(),
        vec![("a".to_owned(), soon)]
    );
    s.index_remove("i", "a").await.unwrap();
    assert!(s.index_members("i").await.unwrap().is_empty());
}

/// Indexes forget members a day past their deadline.
pub async fn indexes_forget_members_a_day_past_their_deadline(s: Arc<dyn Store>) {
    let recent = at(-3_600);
    s.index_add("i", "ancient", at(-2 * 86_400)).await.unwrap();
    s.index_add("i", "recent", recent).await.unwrap();
    s.index_add("only-ancient", "a", at(-2 * 86_400))
        .await
        .unwrap();
    assert_eq!(
        s.index_members("i").await.unwrap(),
        vec![("recent".to_owned(), recent)]
    );
    assert!(s.index_members("only-ancient").await.unwrap().is_empty());
}

/// Notifications reach every subscriber of their channel, and only those, in order.
pub async fn notifications_reach_every_subscriber(s: Arc<dyn Store>) {
    s.publish("nobody-listens", b"x".to_vec()).await.unwrap();
    let mut first = s.subscribe("ch").await.unwrap();
    let mut second = s.subscribe("ch").await.unwrap();
    let mut elsewhere = s.subscribe("other").await.unwrap();
    s.publish("ch", b"one".to_vec()).await.unwrap();
    s.publish("ch", vec![0, 255]).await.unwrap();
    for rx in [&mut first, &mut second] {
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(&*got.unwrap().unwrap(), b"one");
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(&*got.unwrap().unwrap(), &[0, 255]);
    }
    // Published after the two above, so delivered after them if it were ours.
    s.publish("other", b"mine".to_vec()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), elsewhere.recv()).await;
    assert_eq!(&*got.unwrap().unwrap(), b"mine");
    assert!(matches!(first.try_recv(), Err(TryRecvError::Empty)));
    // A dropped receiver and a new subscription: the new one still gets what follows.
    drop(first);
    drop(second);
    let mut again = s.subscribe("ch").await.unwrap();
    s.publish("ch", b"two".to_vec()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), again.recv()).await;
    assert_eq!(&*got.unwrap().unwrap(), b"two");
}

/// 16 tasks race each conditional operation: exactly one wins each.
pub async fn conditional_operations_have_one_winner(s: Arc<dyn Store>) {
    s.set("take", b"prize".to_vec(), MINUTE).await.unwrap();
    s.set("swap", b"v0".to_vec(), MINUTE).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let (took, inserted, swapped, count) = tokio::join!(
                s.take("take"),
                s.insert_if_absent("insert", vec![i], MINUTE),
                s.compare_and_swap("swap", b"v0", Some(vec![i]), MINUTE),
                s.increment("count", MINUTE),
            );
            (
                took.unwrap().is_some(),
                inserted.unwrap().then_some(i),
                swapped.unwrap().then_some(i),
                count.unwrap().0,
            )
        }));
    }
    let (mut took, mut inserted, mut swapped, mut counts) = (0, Vec::new(), Vec::new(), Vec::new());
    for t in tasks {
        let (t, ins, sw, c) = t.await.unwrap();
        took += usize::from(t);
        inserted.extend(ins);
        swapped.extend(sw);
        counts.push(c);
    }
    assert_eq!(took, 1, "take");
    assert_eq!(inserted.len(), 1, "insert_if_absent winners: {inserted:?}");
    assert_eq!(swapped.len(), 1, "compare_and_swap winners: {swapped:?}");
    assert_eq!(s.get("insert").await.unwrap(), Some(inserted.clone()));
    assert_eq!(s.get("swap").await.unwrap(), Some(swapped.clone()));
    let distinct: HashSet<u64> = counts.iter().copied().collect();
    assert_eq!(distinct, (1..=16).collect::<HashSet<u64>>(), "{counts:?}");
}

/// `admit`: the refusing key first, then the reservation, then the counters in order; the
/// first counter over its allowance stops the rest and lifts the reservation just made.
/// The answers are those of `admit_step_by_step`, whatever the store does inside.
pub async fn admission_checks_in_order(s: Arc<dyn Store>) {
    let counters = [("n", MINUTE, 2), ("c", MINUTE, 1)];
    let first = Admission::new("cool")
        .reserve("mark", b"one", MINUTE)
        .counters(&counters);
    assert_eq!(s.admit(&first).await.unwrap(), Admitted::Yes);
    assert_eq!(s.get("mark").await.unwrap(), Some(b"one".to_vec()));
    assert_eq!(s.increment("n", MINUTE).await.unwrap().0, 2, "counted once");

    let second = Admission::new("cool")
        .reserve("mark", b"two", MINUTE)
        .counters(&counters);
    assert_eq!(
        s.admit(&second).await.unwrap(),
        Admitted::Reserved(Some(b"one".to_vec()))
    );
    assert_eq!(
        s.increment("c", MINUTE).await.unwrap().0,
        2,
        "nothing counted"
    );

    // Over the first counter's allowance: the later one is not touched, the mark lifted.
    s.remove("mark").await.unwrap();
    let over = s.admit(&second).await.unwrap();
    let Admitted::OverLimit {
        counter,
        retry_after,
    } = over
    else {
        panic!("over the limit: {over:?}");
    };
    assert_eq!(counter, 0);
    assert!(retry_after > MINUTE - Duration::from_secs(5) && retry_after <= MINUTE);
    assert_eq!(s.get("mark").await.unwrap(), None, "the mark is lifted");
    assert_eq!(s.increment("c", MINUTE).await.unwrap().0, 3);

    // Without a reservation, only counters; a mark held by someone else stays.
    s.set("mark", b"other".to_vec(), MINUTE).await.unwrap();
    let fresh = [("fresh", MINUTE, 5)];
    let only = Admission::new("cool").counters(&fresh);
    assert_eq!(s.admit(&only).await.unwrap(), Admitted::Yes);
    assert_eq!(s.get("mark").await.unwrap(), Some(b"other".to_vec()));

    // A present refusing key wins before anything is written.
    s.set("cool", b"declined".to_vec(), MINUTE).await.unwrap();
    s.remove("mark").await.unwrap();
    assert_eq!(
        s.admit(&first).await.unwrap(),
        Admitted::Refused(b"declined".to_vec())
    );
    assert_eq!(s.get("mark").await.unwrap(), None);
    assert_eq!(s.increment("fresh", MINUTE).await.unwrap().0, 2);
}
