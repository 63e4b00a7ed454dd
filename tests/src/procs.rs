//! Real processes for the multi-instance tests (`tests/tests/multi_instance.rs`): a
//! `redis-server` of the test's own, the standalone simulator (`vipps-login-sim`) and
//! instances of the reference apps (`counter`, `continue-on-phone`), all on free loopback
//! ports.
//!
//! Every child is killed when its handle is dropped (also when a test panics), every wait
//! is bounded, and stderr of each child goes to a log file in its own temp directory whose
//! tail is shown when a start fails.
//!
//! The binaries are taken from the directory the test executable was built into
//! (`target/debug`): `cargo test --workspace` builds them; `cargo test -p
//! vipps-login-tests` alone does not, so build them first (`cargo build -p
//! vipps-login-sim -p counter -p continue-on-phone`), and again after changing their code.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a child gets to print its first line, and Redis to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A fresh, empty temp directory no other test (or earlier run) uses.
///
/// # Panics
/// When the directory cannot be created.
#[must_use]
pub fn temp_dir(what: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "vipps-login-multi-{what}-{}-{nanos}-{n}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A port that was free a moment ago on 127.0.0.1.
///
/// # Panics
/// When no port can be bound at all.
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// The workspace binary `name` next to the test executable (`target/debug/{name}`).
///
/// # Panics
/// When it is not there, with the command that builds it.
#[must_use]
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("no current_exe: {e}"));
    // target/debug/deps/multi_instance-HASH → target/debug
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} has no grandparent directory", exe.display()));
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "{} is missing: these tests run the real binary. Build it with `cargo build -p {}` \
         (`cargo test --workspace` builds it too).",
        bin.display(),
        package_of(name)
    );
    bin
}

fn package_of(bin: &str) -> &str {
    match bin {
        "vipps-login-sim" => "vipps-login-sim",
        other => other,
    }
}

/// The last `max` bytes of the file at `path` (what a child logged), lossily.
#[must_use]
pub fn tail(path: &Path, max: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let from = bytes.len().saturating_sub(max);
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

/// A child process that is killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
    /// Where its stderr goes.
    pub log: PathBuf,
    name: String,
}

impl Proc {
    /// Spawns `cmd` (stdout piped, stderr to `{dir}/{name}.log`) and waits, bounded, for
    /// the first stdout line that starts with `prefix`; returns the process and the rest
    /// of that line. Later stdout is read and dropped so the child never blocks on it.
    ///
    /// # Panics
    /// When it cannot be spawned, exits, or prints no such line in time.
    #[must_use]
    pub fn spawn_until_line(
        mut cmd: Command,
        dir: &Path,
        name: &str,
        prefix: &str,
    ) -> (Proc, String) {
        let log = dir.join(format!("{name}.log"));
        let stderr = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {name} ({cmd:?}): {e}"));
        let stdout = child.stdout.take();
        let mut proc = Proc {
            child: Some(child),
            log,
            name: name.to_owned(),
        };
        let (tx, rx) = mpsc::channel();
        let prefix = prefix.to_owned();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(rest) = line.strip_prefix(prefix.as_str()) {
                    sent = true;
                    let _ = tx.send(rest.trim().to_owned());
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => return (proc, line),
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Some(status) = proc.try_wait() {
                        panic!(
                            "{name} exited with {status} before it was ready; its log:\n{}",
                            tail(&proc.log, 4_000)
                        );
                    }
                }
                Err(_) => {
                    proc.kill();
                    panic!(
                        "{name} printed no `{}` line within {START_TIMEOUT:?}; its log:\n{}",
                        proc.name,
                        tail(&proc.log, 4_000)
                    );
                }
            }
        }
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// The process id (while it runs).
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL and reap (as abrupt as a crash); nothing when it is gone already.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (through `kill(1)`: no libc here), then waits up to `limit` for the exit,
    /// and SIGKILLs when it has not exited by then. Whether it exited by itself.
    pub fn terminate(&mut self, limit: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + limit;
        while sent && Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `redis-server` of the test's own on a free loopback port, persisting every write
/// (append-only file, fsync always, no RDB snapshots) in its own temp directory, so that
/// [`stop`](Self::stop) and [`start`](Self::start) keep the data. Killed when dropped.
///
/// The binary is `REDIS_SERVER` when set, else `redis-server` on `PATH` (`cargo xtask`
/// installs Debian's package); without one the test fails with an instruction.
#[derive(Debug)]
pub struct Redis {
    port: u16,
    dir: PathBuf,
    server: Option<Proc>,
}

impl Redis {
    /// Starts a server on a free port (a few ports are tried, should one be taken
    /// between the probe and the start).
    ///
    /// # Panics
    /// When no redis-server can be started.
    #[must_use]
    pub fn start_new() -> Redis {
        let mut last = String::new();
        for _ in 0..5 {
            let mut redis = Redis {
                port: free_port(),
                dir: temp_dir("redis"),
                server: None,
            };
            match redis.launch() {
                Ok(()) => return redis,
                Err(why) => last = why,
            }
        }
        panic!("could not start a redis-server for the multi-instance tests: {last}");
    }

    /// The loopback port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, while it runs (to pin it to a core in a benchmark, or to
    /// read its CPU time from `/proc`).
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().and_then(Proc::pid)
    }

    /// `redis://127.0.0.1:{port}`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Every key in the server with its value's raw bytes (strings as stored; the
    /// members, fields and values of sets, sorted sets, hashes and lists, concatenated),
    /// read with `redis-cli` (`REDIS_CLI` or on `PATH`): what anyone with access to the
    /// server sees.
    ///
    /// # Panics
    /// When redis-cli cannot be run.
    #[must_use]
    pub fn raw_contents(&self) -> Vec<(String, Vec<u8>)> {
        let cli = |args: &[&str]| -> Vec<u8> {
            let binary = std::env::var_os("REDIS_CLI")
                .map_or_else(|| PathBuf::from("redis-cli"), PathBuf::from);
            let out = Command::new(&binary)
                .args(["-p", &self.port.to_string(), "--raw"])
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            out.stdout
        };
        let keys = String::from_utf8_lossy(&cli(&["--scan"])).into_owned();
        keys.lines()
            .filter(|k| !k.is_empty())
            .map(|key| {
                let kind = String::from_utf8_lossy(&cli(&["TYPE", key]))
                    .trim()
                    .to_owned();
                let value = match kind.as_str() {
                    "string" => cli(&["GET", key]),
                    "hash" => cli(&["HGETALL", key]),
                    "set" => cli(&["SMEMBERS", key]),
                    "zset" => cli(&["ZRANGE", key, "0", "-1"]),
                    "list" => cli(&["LRANGE", key, "0", "-1"]),
                    _ => Vec::new(),
                };
                (key.to_owned(), value)
            })
            .collect()
    }

    /// Stops the server with SIGTERM and waits (bounded) until it has exited.
    ///
    /// # Panics
    /// When it had to be killed.
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            assert!(
                server.terminate(Duration::from_secs(10)),
                "redis-server did not exit within 10 s of SIGTERM"
            );
        }
    }

    /// Starts the server again on the same port with the same data directory.
    ///
    /// # Panics
    /// When it does not come up.
    pub fn start(&mut self) {
        assert!(self.server.is_none(), "redis-server runs already");
        let mut last = String::new();
        // The port may linger for a moment after the stop.
        for _ in 0..20 {
            match self.launch() {
                Ok(()) => return,
                Err(why) => last = why,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "could not start redis-server again on port {}: {last}",
            self.port
        );
    }

    fn launch(&mut self) -> Result<(), String> {
        let binary = std::env::var_os("REDIS_SERVER")
            .map_or_else(|| PathBuf::from("redis-server"), PathBuf::from);
        let log = self.dir.join("redis.log");
        let spawned = Command::new(&binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--save", "", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => panic!(
                "`{}` could not be started ({e}), and the multi-instance tests need a real \
                 Redis. Install it (`apt-get install -y redis-server`; `cargo xtask ci` does \
                 that) or set REDIS_SERVER to the path of a redis-server binary.",
                binary.display()
            ),
        };
        let mut proc = Proc {
            child: Some(child),
            log: log.clone(),
            name: "redis-server".into(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = proc.try_wait() {
                return Err(format!(
                    "redis-server on port {} exited with {status}: {}",
                    self.port,
                    tail(&log, 2_000)
                ));
            }
            if ping(self.port) {
                self.server = Some(proc);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "redis-server on port {} did not answer PING within {START_TIMEOUT:?}",
            self.port
        ))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether Redis on `port` answers `PING` (and has loaded its data: `-LOADING` is no).
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}
