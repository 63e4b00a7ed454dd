//! The start-up test both apps run against their own binary: each app's
//! `tests/startup.rs` calls [`prints_the_urls_and_serves`] with
//! `env!("CARGO_BIN_EXE_<its binary>")`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::options::DEMO_CUSTOMER;

/// Kills the child when the test ends, also when it fails.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the app binary at `bin` as `cargo run` and the browser tests do, without Vipps
/// credentials, and checks what it promises: the machine-readable URL lines on stdout
/// (`app:`, `phone:`, `sim:`, in that order), the app answering on the `app:` URL, and a
/// loud simulator notice naming the demo customer on stderr.
///
/// # Panics
/// When any of that does not hold (it is a test).
pub fn prints_the_urls_and_serves(bin: &str) {
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--sim-interval-ms", "100"])
        .env_remove("VIPPS_CLIENT_ID")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let child = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut next = || lines.next().expect("a line").expect("utf-8");
    let (app, phone, sim) = (next(), next(), next());
    let app = app.strip_prefix("app: ").expect("app: first").to_owned();
    let phone = phone
        .strip_prefix("phone: ")
        .expect("phone: second")
        .to_owned();
    let sim = sim.strip_prefix("sim: ").expect("sim: third").to_owned();
    assert!(
        app.starts_with("http://127.0.0.1:") && app.ends_with('/'),
        "{app}"
    );
    assert!(
        phone.ends_with(&format!("/_sim/phone/{DEMO_CUSTOMER}")),
        "{phone}"
    );
    assert!(sim.ends_with("/access-management-1.0/access/"), "{sim}");

    // The app answers (a bare HTTP/1.0 request: no client library needed).
    let addr = app
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 ") || answer.starts_with("HTTP/1.1 "),
        "{answer}"
    );
    assert!(!answer.contains(" 500 "), "{answer}");

    drop(child);
    let mut stderr = String::new();
    stderr_pipe.read_to_string(&mut stderr).unwrap();
    assert!(stderr.contains("SIMULATOR MODE"), "{stderr}");
    assert!(
        stderr.contains(DEMO_CUSTOMER),
        "instructions name the demo customer"
    );
}
