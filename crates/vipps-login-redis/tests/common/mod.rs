//! Test support: a real `redis-server` of the test's own on a free loopback port (stopped
//! when dropped), or the Redis at `REDIS_URL` when that is set.
//!
//! No Redis means a failing test with an instruction, never a skipped one.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vipps_login_redis::RedisStore;

/// A Redis to test against.
pub struct Redis {
    url: String,
    own: Option<OwnServer>,
}

/// A `redis-server` process of ours.
struct OwnServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra_args: Vec<String>,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A prefix no other test (or earlier run) uses, so tests can share one Redis.
pub fn unique_prefix() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test-{}-{nanos}-{n}:", std::process::id())
}

impl Redis {
    /// The Redis at `REDIS_URL` when set, else a server of our own.
    pub fn start() -> Self {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => Redis { url, own: None },
            _ => Redis::start_own(),
        }
    }

    /// Always a server of our own (for tests that stop and restart it).
    pub fn start_own() -> Self {
        Redis::start_own_with(&[])
    }

    /// A server of our own with more `redis-server` arguments (`--requirepass`, …).
    pub fn start_own_with(extra_args: &[&str]) -> Self {
        let mut last_failure = String::new();
        for _ in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!("vipps-login-redis-{}", unique_prefix()));
            std::fs::create_dir_all(&dir).unwrap();
            let mut own = OwnServer {
                child: None,
                port,
                dir,
                extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
            };
            match own.launch() {
                Ok(()) => {
                    return Redis {
                        url: format!("redis://127.0.0.1:{port}"),
                        own: Some(own),
                    };
                }
                // Most likely someone took the port between our probe and the start.
                Err(why) => last_failure = why,
            }
        }
        panic!("could not start a redis-server for the tests: {last_failure}");
    }

    /// The port of our server.
    pub fn port(&self) -> u16 {
        self.own.as_ref().expect("not our server").port
    }

    /// The URL to connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A store on this Redis with a prefix of its own.
    pub async fn store(&self) -> RedisStore {
        self.store_with_prefix(&unique_prefix()).await
    }

    /// A store on this Redis with `prefix`, and a short timeout so that failures show fast.
    pub async fn store_with_prefix(&self, prefix: &str) -> RedisStore {
        RedisStore::builder(self.url.clone())
            .prefix(prefix)
            .command_timeout(Duration::from_secs(1))
            .build()
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test Redis at {}: {e}", self.url))
    }

    /// Stops our server (SIGKILL: as abrupt as a crash). Panics on `REDIS_URL`'s.
    pub fn stop(&mut self) {
        self.own.as_mut().expect("not our server").kill();
    }

    /// Starts our server again on the same port, empty.
    pub fn restart(&mut self) {
        let own = self.own.as_mut().expect("not our server");
        own.kill();
        own.launch()
            .unwrap_or_else(|why| panic!("could not restart redis-server: {why}"));
    }

    /// A plain connection for looking at what the store wrote.
    pub async fn inspect(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(own) = self.own.as_mut() {
            own.kill();
            let _ = std::fs::remove_dir_all(&own.dir);
        }
    }
}

/// The redis-server to run: `REDIS_SERVER`, else `redis-server` on `PATH`.
fn redis_server_binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl OwnServer {
    fn launch(&mut self) -> Result<(), String> {
        let log = self.dir.join("redis.log");
        let binary = redis_server_binary();
        let child = Command::new(&binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "`{binary}` was not found, and these tests need a real Redis. Install it \
                 (`apt-get install -y redis-server`; `cargo xtask ci` does that), set \
                 REDIS_SERVER to its path, or set REDIS_URL to a running Redis."
            ),
            Err(e) => panic!("could not run `{binary}`: {e}"),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!(
                    "redis-server on port {} exited with {status}: {log}",
                    self.port
                ));
            }
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!(
            "redis-server on port {} did not answer PING within 10 s",
            self.port
        ))
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    // A server with a password answers NOAUTH: up all the same.
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
}

/// Retries `f` until it returns `Some`, for at most `limit`; how long it took.
pub async fn eventually<T, F, Fut>(limit: Duration, mut f: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = f().await {
            return (v, started.elapsed());
        }
        assert!(
            started.elapsed() < limit,
            "gave up after {limit:?} of retrying"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
