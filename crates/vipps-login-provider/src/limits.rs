//! Per-client start limits: a fixed window per client, in process.
//!
//! (The core's login engine will enforce these per client key across instances; until
//! then each instance counts its own starts.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::registry::StartLimit;

/// Counts starts per client in fixed windows.
#[derive(Debug, Default)]
pub(crate) struct StartLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl StartLimiter {
    /// Counts one start for `client`; `Err(retry_after)` when over the limit.
    pub(crate) fn check(&self, client: &str, limit: &StartLimit) -> Result<(), Duration> {
        let now = Instant::now();
        let window = limit.window();
        let mut map = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 10_000 {
            map.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = map.entry(client.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        if entry.1 >= limit.max {
            return Err(window.saturating_sub(now.duration_since(entry.0)));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn counts_per_client() {
        let l = StartLimiter::default();
        let limit = StartLimit {
            max: 2,
            window_secs: 60,
        };
        assert!(l.check("a", &limit).is_ok());
        assert!(l.check("a", &limit).is_ok());
        let wait = l.check("a", &limit).unwrap_err();
        assert!(wait > Duration::from_secs(50));
        assert!(l.check("b", &limit).is_ok());
    }
}
