//! Counting what a real `redis-server` was asked, from outside our code: `redis-cli
//! MONITOR` records every command a client sent; commands a server-side script ran
//! appear as `[0 lua]` and are not round trips.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A `redis-cli MONITOR` running against a server until [`RedisMonitor::finish`].
#[derive(Debug)]
pub struct RedisMonitor {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// What clients sent during a monitored span.
#[derive(Debug, Default, Clone)]
pub struct Sent {
    /// Commands sent by clients (one round trip each: our store does not pipeline), by
    /// name.
    pub by_command: BTreeMap<String, u64>,
    /// Commands run inside server-side scripts (not round trips), by name.
    pub in_scripts: BTreeMap<String, u64>,
}

impl Sent {
    /// Round trips: every command a client sent.
    #[must_use]
    pub fn round_trips(&self) -> u64 {
        self.by_command.values().sum()
    }

    /// Round trips excluding these commands (e.g. a background heartbeat's).
    #[must_use]
    pub fn round_trips_without(&self, commands: &[&str]) -> u64 {
        self.by_command
            .iter()
            .filter(|(c, _)| !commands.contains(&c.as_str()))
            .map(|(_, n)| n)
            .sum()
    }
}

impl RedisMonitor {
    /// Starts `redis-cli -p {port} monitor` and waits until it listens.
    ///
    /// # Panics
    /// When `redis-cli` cannot be started (Debian's `redis-tools`, installed with
    /// `redis-server`).
    #[must_use]
    #[allow(clippy::expect_used)]
    pub fn start(port: u16) -> RedisMonitor {
        let mut child = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "monitor"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-cli (Debian's redis-tools) is needed to count round trips");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line == "OK" {
                    let _ = ready_tx.send(());
                    continue;
                }
                sink.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(line);
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("redis-cli monitor did not start");
        RedisMonitor {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// Lines seen so far are dropped: counting starts now.
    pub fn reset(&self) {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// What was sent since the start (or the last [`reset`](Self::reset)); the monitor
    /// keeps running.
    #[must_use]
    pub fn sent(&self) -> Sent {
        // MONITOR lines arrive a moment after the commands.
        std::thread::sleep(Duration::from_millis(200));
        let lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut sent = Sent::default();
        for line in lines.iter() {
            // `1733550000.123456 [0 127.0.0.1:43210] "GET" "key"`
            let Some((who, rest)) = line.split_once("] ") else {
                continue;
            };
            let command = rest
                .split('"')
                .nth(1)
                .unwrap_or_default()
                .to_ascii_lowercase();
            let map = if who.ends_with(" lua") {
                &mut sent.in_scripts
            } else {
                &mut sent.by_command
            };
            *map.entry(command).or_default() += 1;
        }
        sent
    }

    /// Stops `redis-cli`.
    pub fn finish(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}
