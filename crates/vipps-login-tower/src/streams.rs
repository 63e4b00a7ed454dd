//! A bound on live status streams (server-sent events): each holds a connection and a
//! watcher, so one session or one login may not open them without end. Counted per
//! instance, which is where the connections are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Streams one login may have open at once (a clerk's screen, a second tab, a reload).
pub(crate) const PER_LOGIN: usize = 4;
/// Streams one session may have open at once.
pub(crate) const PER_SESSION: usize = 8;

#[derive(Debug, Default)]
pub(crate) struct Streams {
    open: Mutex<HashMap<String, usize>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Streams {
    /// A slot for one more stream of `login` in `session`, or `None` when either is at
    /// its bound. The slot is given back when the returned guard is dropped.
    pub(crate) fn open(self: &Arc<Self>, login: &str, session: &str) -> Option<StreamSlot> {
        let keys = [format!("l:{login}"), format!("s:{session}")];
        let mut open = lock(&self.open);
        let full = open.get(&keys[0]).copied().unwrap_or(0) >= PER_LOGIN
            || open.get(&keys[1]).copied().unwrap_or(0) >= PER_SESSION;
        if full {
            return None;
        }
        for k in &keys {
            *open.entry(k.clone()).or_default() += 1;
        }
        Some(StreamSlot {
            streams: Arc::clone(self),
            keys,
        })
    }
}

/// One open stream; closing it (dropping the guard) frees its slot.
pub(crate) struct StreamSlot {
    streams: Arc<Streams>,
    keys: [String; 2],
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.streams.open);
        for k in &self.keys {
            if let Some(n) = open.get_mut(k) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_per_login_and_per_session_and_freed_on_drop() {
        let s = Arc::new(Streams::default());
        let held: Vec<_> = (0..PER_LOGIN).filter_map(|_| s.open("a", "s1")).collect();
        assert_eq!(held.len(), PER_LOGIN);
        assert!(s.open("a", "s2").is_none(), "per login");
        let more: Vec<_> = (0..PER_SESSION).filter_map(|_| s.open("b", "s1")).collect();
        assert_eq!(more.len(), PER_SESSION - PER_LOGIN, "per session");
        drop(held);
        assert!(s.open("a", "s2").is_some());
    }
}
