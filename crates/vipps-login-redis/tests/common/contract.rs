//! The `Store` contract as test cases, generic over the store: `tests/contract.rs` runs
//! each on `MemoryStore` (the reference) and on `RedisStore`, so both are held to one
//! contract. Every case gets a fresh, empty store.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast::error::TryRecvError;
use vipps_login_core::{Admission, Admitted, Store};

const MINUTE: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(400);
const PAST_SHORT: Duration = Duration::from_millis(700);

/// A time with whole milliseconds (what a deadline keeps), `offset_s` from now.
fn at(offset_s: i64) -> SystemTime {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let ms = i128::try_from(now.as_millis()).unwrap() + i128::from(offset_s) * 1000;
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap())
}

pub async fn values_set_get_remove<S: Store + Clone>(s: S) {
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

pub async fn values_are_bytes<S: Store + Clone>(s: S) {
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

pub async fn values_expire<S: Store + Clone>(s: S) {
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

pub async fn set_replaces_the_lifetime<S: Store + Clone>(s: S) {
    s.set("longer", b"a".to_vec(), SHORT).await.unwrap();
    s.set("longer", b"b".to_vec(), MINUTE).await.unwrap();
    s.set("shorter", b"a".to_vec(), MINUTE).await.unwrap();
    s.set("shorter", b"b".to_vec(), SHORT).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(s.get("longer").await.unwrap(), Some(b"b".to_vec()));
    assert_eq!(s.get("shorter").await.unwrap(), None);
}

pub async fn take_reads_once<S: Store + Clone>(s: S) {
    assert_eq!(s.take("k").await.unwrap(), None);
    s.set("k", b"v".to_vec(), MINUTE).await.unwrap();
    assert_eq!(s.take("k").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(s.take("k").await.unwrap(), None);
    assert_eq!(s.get("k").await.unwrap(), None);
}

pub async fn insert_if_absent_writes_once<S: Store + Clone>(s: S) {
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

pub async fn compare_and_swap_needs_the_exact_value<S: Store + Clone>(s: S) {
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

pub async fn counters_count_within_their_first_lifetime<S: Store + Clone>(s: S) {
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

pub async fn indexes_keep_members_with_deadlines<S: Store + Clone>(s: S) {
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

pub async fn indexes_forget_members_a_day_past_their_deadline<S: Store + Clone>(s: S) {
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

pub async fn notifications_reach_every_subscriber<S: Store + Clone>(s: S) {
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
pub async fn conditional_operations_have_one_winner<S: Store + Clone>(s: S) {
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
pub async fn admission_checks_in_order<S: Store + Clone>(s: S) {
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
