//! The memory store's own tests (the store contract runs in `tests/store_contract.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[derive(Debug)]
struct ManualClock(Mutex<SystemTime>);

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *lock(&self.0)
    }
}

#[tokio::test]
async fn lifetimes_follow_the_injected_clock() {
    let clock = Arc::new(ManualClock(Mutex::new(SystemTime::now())));
    let s = MemoryStore::with_clock(100, clock.clone());
    s.set("a", vec![1], Duration::from_secs(30)).await.unwrap();
    let (n, left) = s.increment("c", Duration::from_secs(60)).await.unwrap();
    assert_eq!((n, left), (1, Duration::from_secs(60)));
    *lock(&clock.0) += Duration::from_secs(31);
    assert_eq!(s.get("a").await.unwrap(), None);
    assert!(
        s.insert_if_absent("a", vec![2], Duration::from_secs(30))
            .await
            .unwrap()
    );
    let (n, left) = s.increment("c", Duration::from_secs(60)).await.unwrap();
    assert_eq!((n, left), (2, Duration::from_secs(29)));
    *lock(&clock.0) += Duration::from_secs(30);
    assert_eq!(
        s.increment("c", Duration::from_secs(60)).await.unwrap().0,
        1
    );
}

#[tokio::test]
async fn ready_reads_answer_as_get_does_and_share_the_value() {
    let s = MemoryStore::new();
    assert_eq!(s.get_ready("k").unwrap().unwrap(), None);
    s.set("k", b"v1".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    let a = s.get_ready("k").unwrap().unwrap().unwrap();
    let b = s.get_ready("k").unwrap().unwrap().unwrap();
    assert_eq!(&*a, b"v1");
    assert!(
        Arc::ptr_eq(&a, &b),
        "an unchanged value is shared, not copied"
    );
    s.set("k", b"v1".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    let c = s.get_ready("k").unwrap().unwrap().unwrap();
    assert!(!Arc::ptr_eq(&a, &c), "a rewrite is a new value");
    s.remove("k").await.unwrap();
    assert_eq!(s.get_ready("k").unwrap().unwrap(), None);
}

#[tokio::test]
async fn conditional_writes() {
    let s = MemoryStore::new();
    let ttl = Duration::from_secs(60);
    assert!(!s.compare_and_swap("k", b"x", None, ttl).await.unwrap());
    assert!(s.insert_if_absent("k", b"x".to_vec(), ttl).await.unwrap());
    assert!(!s.compare_and_swap("k", b"y", None, ttl).await.unwrap());
    assert!(s.compare_and_swap("k", b"x", None, ttl).await.unwrap());
    assert_eq!(s.get("k").await.unwrap(), None);
}

#[tokio::test]
async fn take_and_swap_are_single_winner_under_concurrency() {
    let s = MemoryStore::new();
    s.set("k", vec![9], Duration::from_secs(60)).await.unwrap();
    s.set("v", vec![0], Duration::from_secs(60)).await.unwrap();
    let mut handles = Vec::new();
    for i in 0..16u8 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            let took = s.take("k").await.unwrap().is_some();
            let swapped = s
                .compare_and_swap("v", &[0], Some(vec![i + 1]), Duration::from_secs(60))
                .await
                .unwrap();
            (took, swapped)
        }));
    }
    let (mut took, mut swapped) = (0, 0);
    for h in handles {
        let (t, w) = h.await.unwrap();
        took += usize::from(t);
        swapped += usize::from(w);
    }
    assert_eq!((took, swapped), (1, 1));
}

#[tokio::test]
async fn indexes_and_notifications() {
    let s = MemoryStore::new();
    let t = SystemTime::now();
    s.index_add("i", "a", t).await.unwrap();
    s.index_add("i", "b", t).await.unwrap();
    s.index_remove("i", "a").await.unwrap();
    assert_eq!(
        s.index_members("i").await.unwrap(),
        vec![("b".to_owned(), t)]
    );
    let mut rx = s.subscribe("ch").await.unwrap();
    s.publish("ch", b"hello".to_vec()).await.unwrap();
    assert_eq!(&*rx.recv().await.unwrap(), b"hello");
}
