//! An external load generator for the HTTP benches: Debian's `wrk`, one thread pinned to
//! one core with `taskset`, driven by `benches/wrk/checked_requests.lua` (each request
//! different, read from a file, each sent once; every answer checked), and the CPU time
//! of a server process from `/proc`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How to install the load generator, for the messages that say it is missing.
pub const INSTALL_WRK: &str = "apt-get install wrk";

/// The `wrk` program: `WRK` when set, else the first `wrk` on `PATH`.
///
/// # Errors
/// When there is none: a message naming [`INSTALL_WRK`] (`cargo xtask bench` installs it).
pub fn wrk_program() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("WRK") {
        return Ok(PathBuf::from(path));
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("wrk"))
                .find(|candidate| candidate.is_file())
        })
        .ok_or_else(|| {
            format!(
                "the load generator wrk is not installed: `{INSTALL_WRK}` (Debian), or set WRK \
                 to its path (`cargo xtask bench` installs it)"
            )
        })
}

/// The Lua script every round runs.
#[must_use]
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("wrk")
        .join("checked_requests.lua")
}

/// One round: what to send and what every answer must be.
#[derive(Debug, Clone)]
pub struct Round<'a> {
    /// The server's base URL (`http://127.0.0.1:PORT`).
    pub base: &'a str,
    /// `GET` (each line a path) or `POST` (each line a form body sent to `path`).
    pub method: &'a str,
    /// The path POSTs go to (ignored for GET).
    pub path: &'a str,
    /// The requests, one per line, each sent once.
    pub lines: &'a [String],
    /// The status every answer must have.
    pub status: u16,
    /// Text every answer's body must contain.
    pub contains: &'a str,
    /// The `Authorization` header of every request, if any.
    pub authorization: Option<&'a str>,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// The core wrk is pinned to.
    pub core: usize,
}

/// What a round measured.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Answers received (all checked and right).
    pub answered: u64,
    /// From the first request sent to the last answer.
    pub elapsed: Duration,
    /// wrk's own CPU time (all its threads, start-up included).
    pub cpu: Duration,
}

impl Outcome {
    /// Answers per second.
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs one round with `wrk -t1` pinned to `round.core`; the requests are written to
/// `file` first.
///
/// # Errors
/// wrk could not run, a socket error, a wrong answer (status or body; the first one is
/// quoted), or fewer answers than requests.
pub fn run(wrk: &Path, round: &Round<'_>, file: &Path) -> Result<Outcome, String> {
    let mut text = round.lines.join("\n");
    text.push('\n');
    std::fs::write(file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut cmd = Command::new("taskset");
    cmd.arg("-c")
        .arg(round.core.to_string())
        .arg(wrk)
        .args(["-t1", "--timeout", "10s", "-d", "120s"])
        .arg(format!("-c{}", round.connections))
        .arg("-s")
        .arg(script())
        .arg(round.base)
        .arg("--")
        .arg(round.method)
        .arg(round.path)
        .arg(file)
        .arg(round.status.to_string())
        .arg(round.contains);
    if let Some(authorization) = round.authorization {
        cmd.arg(authorization);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start taskset/wrk: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("wrk-result "))
        .ok_or_else(|| {
            format!(
                "wrk printed no result ({}): {stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let (fields, first_wrong) = line.split_once(" first_wrong=").unwrap_or((line, ""));
    let field = |name: &str| -> f64 {
        fields
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let answered = field("answered");
    let total = round.lines.len() as f64;
    if field("wrong") > 0.0 {
        return Err(format!(
            "a wrong answer (expected {} containing {}): {first_wrong}",
            round.status, round.contains
        ));
    }
    let socket_errors: f64 = ["connect", "read", "write", "timeout"]
        .iter()
        .map(|k| field(k))
        .sum();
    if socket_errors != 0.0 {
        return Err(format!("socket errors: {fields}"));
    }
    if answered != total {
        return Err(format!(
            "{answered} answers to {total} requests (the round did not finish): {fields}"
        ));
    }
    Ok(Outcome {
        answered: answered as u64,
        elapsed: Duration::from_secs_f64(field("elapsed_us") / 1e6),
        cpu: Duration::from_secs_f64(field("cpu_us") / 1e6),
    })
}

/// CPU time process `pid` has run so far, summed over its threads: the first field of
/// `/proc/PID/task/*/schedstat` (nanoseconds on a CPU, not rounded to clock ticks as
/// `utime`/`stime` are). Threads that ended are not counted (the servers keep theirs).
#[must_use]
pub fn process_cpu(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}
