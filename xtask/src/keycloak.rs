//! `cargo xtask keycloak`: a real Keycloak runs CIBA with our HTTP authentication channel.
//!
//! 1. Fetches `org.keycloak:keycloak-quarkus-dist` (zip) from Maven Central with `mvn`
//!    into `target/keycloak/` once (the local Maven repository is looked at first), and
//!    unpacks it there.
//! 2. Starts the identity bridge (`examples/identity-bridge`, with the Vipps simulator in
//!    process) serving the channel at `/keycloak/channel`, and `kc.sh start-dev`, on free
//!    loopback ports, with a fresh database, `tests/keycloak/realm-vipps.json` imported
//!    (its identity provider pointed at the bridge) and the channel URI option set; waits
//!    for the realm's discovery document and prints the start time.
//! 3. Runs `tests/keycloak` (`node --test`; openid-client and playwright-core from npm,
//!    Debian's Chromium): CIBA through Keycloak's own endpoint, and brokering in the
//!    browser to the bridge's way 2 (its operator pages are the tower layer's, behind the
//!    staff password), then stops every process group, on failure too.
//! 4. Also imports `tests/keycloak/realm-staff.json` (the shop's staff, a confidential
//!    client for the bridge, a user in the allowed group and one outside it) and starts a
//!    second bridge whose operators sign in through that realm (`--staff-oidc-*`), for
//!    `staff.test.mjs`.
//!
//! When Keycloak cannot be fetched, unpacked or started, the task fails with a sentence
//! that says so; it never skips.

use std::env;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::shell::{Result, cargo, root, run, target_dir};

/// The Keycloak release tested: 26.7.5, the first 26.7 release with the fixes for CIBA
/// letting a locked-out user get tokens (CVE-2026-9798, CVE-2026-16103; 26.6.8 on 26.6).
/// `mvn dependency:copy` fetches the one artifact, not its dependencies.
const VERSION: &str = "26.7.5";
const REALM: &str = "vipps";
/// The staff realm the second bridge's operators sign in through.
const STAFF_REALM: &str = "staff";
/// The broker bridge's staff password (its operator pages are for staff).
const BROKER_STAFF_PASSWORD: &str = "broker-staff-password";
const START_TIMEOUT: Duration = Duration::from_secs(240);

pub(crate) fn keycloak() -> Result {
    let total = Instant::now();
    let root = root();
    let target_dir = target_dir();
    let work = target_dir.join("keycloak");
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;

    let home = ensure_dist(&work)?;
    let java_home = java_home()?;
    let test_dir = root.join("tests").join("keycloak");
    ensure_node_modules(&test_dir)?;
    run(cargo().args(["build", "--package", "identity-bridge"]))?;
    let chromium = crate::debian::ensure_chromium()?;

    let kc_port = free_port()?;
    let kc_url = format!("http://127.0.0.1:{kc_port}");
    let issuer = format!("{kc_url}/realms/{REALM}");

    let bridge_bin = target_dir.join("debug").join("identity-bridge");
    let channel_log = work.join("bridge.log");
    let (bridge, bridge_url, sim_url) = start_bridge(&bridge_bin, &issuer, &channel_log)?;
    let _bridge = Group::new("identity bridge", bridge);
    let channel_url = format!("{bridge_url}/keycloak/channel");
    // The second bridge listens on a known port: the staff realm names its callback.
    let staff_port = free_port()?;
    let staff_log = work.join("staff-bridge.log");
    let (staff_bridge, staff_bridge_url, staff_sim_url) = start_staff_bridge(
        &bridge_bin,
        staff_port,
        &format!("{kc_url}/realms/{STAFF_REALM}"),
        &staff_log,
    )?;
    let _staff_bridge = Group::new("staff-signed identity bridge", staff_bridge);
    let keycloak_log = work.join("keycloak.log");
    let started = Instant::now();
    let kc = start_keycloak(
        &home,
        &java_home,
        kc_port,
        &channel_url,
        &bridge_url,
        &keycloak_log,
        &staff_bridge_url,
    )?;
    let mut kc = Group::new("Keycloak", kc);
    wait_ready(&mut kc, kc_port, &keycloak_log)?;
    let start_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "Keycloak {VERSION} ready at {kc_url} after {start_secs:.1} s (log: {})",
        keycloak_log.display()
    );

    let outcome = run(Command::new("npm")
        .args(["test", "--silent"])
        .current_dir(&test_dir)
        .env("KC_URL", &kc_url)
        .env("KC_REALM", REALM)
        .env("CHANNEL_URL", &channel_url)
        .env("SIM_URL", &sim_url)
        .env("BROKER_URL", &bridge_url)
        .env("BROKER_SIM_URL", &sim_url)
        .env("BROKER_STAFF_PASSWORD", BROKER_STAFF_PASSWORD)
        .env("STAFF_REALM", STAFF_REALM)
        .env("STAFF_BRIDGE_URL", &staff_bridge_url)
        .env("STAFF_BRIDGE_SIM_URL", &staff_sim_url)
        .env("CHROMIUM_PATH", &chromium)
        .env("SHOT_DIR", work.join("shots")));
    drop(kc);
    eprintln!(
        "xtask keycloak: Keycloak start {start_secs:.1} s, whole task {:.1} s",
        total.elapsed().as_secs_f64()
    );
    outcome.map_err(|e| {
        format!(
            "{e}\n(logs: {}, {} and {})",
            keycloak_log.display(),
            channel_log.display(),
            staff_log.display()
        )
    })
}

/// The unpacked distribution, fetched and unpacked when missing.
fn ensure_dist(work: &Path) -> Result<PathBuf> {
    let home = work.join(format!("keycloak-{VERSION}"));
    if home.join("bin").join("kc.sh").exists() && home.join("lib").exists() {
        return Ok(home);
    }
    let file = format!("keycloak-quarkus-dist-{VERSION}.zip");
    let zip = work.join(&file);
    if !zip.exists() {
        let m2 = env::var_os("HOME").map(|h| {
            PathBuf::from(h).join(format!(
                ".m2/repository/org/keycloak/keycloak-quarkus-dist/{VERSION}/{file}"
            ))
        });
        match m2.filter(|p| p.exists()) {
            Some(cached) => {
                fs::copy(&cached, &zip).map_err(|e| {
                    format!("cannot copy Keycloak from the local Maven repository: {e}")
                })?;
            }
            None => {
                let t = Instant::now();
                eprintln!("Fetching Keycloak {VERSION} from Maven Central with mvn ...");
                let fetched = run(Command::new("mvn")
                    .args([
                        "-B",
                        "-q",
                        "-Dstyle.color=never",
                        "dependency:copy",
                        &format!("-Dartifact=org.keycloak:keycloak-quarkus-dist:{VERSION}:zip"),
                    ])
                    .arg(format!("-DoutputDirectory={}", work.display())));
                if let Err(e) = fetched {
                    return Err(format!(
                        "Keycloak {VERSION} could not be fetched from Maven Central with mvn, so the Keycloak test cannot run ({e})"
                    ));
                }
                eprintln!("Keycloak fetched in {:.1} s", t.elapsed().as_secs_f64());
            }
        }
    }
    if !zip.exists() {
        return Err(format!(
            "mvn finished but {} is missing, so the Keycloak test cannot run",
            zip.display()
        ));
    }
    let t = Instant::now();
    run(Command::new("unzip")
        .args(["-q", "-o"])
        .arg(&zip)
        .arg("-d")
        .arg(work))
    .map_err(|e| format!("Keycloak's distribution could not be unpacked ({e})"))?;
    eprintln!("Keycloak unpacked in {:.1} s", t.elapsed().as_secs_f64());
    if !home.join("bin").join("kc.sh").exists() {
        return Err(format!(
            "{} has no bin/kc.sh after unpacking, so Keycloak cannot start",
            home.display()
        ));
    }
    Ok(home)
}

/// A JDK Keycloak supports (25 or 21): `KEYCLOAK_JAVA_HOME`, else one under /usr/lib/jvm.
fn java_home() -> Result<PathBuf> {
    if let Some(home) = env::var_os("KEYCLOAK_JAVA_HOME").map(PathBuf::from) {
        return Ok(home);
    }
    let mut found: Vec<PathBuf> = fs::read_dir("/usr/lib/jvm")
        .map_err(|e| format!("no JDK for Keycloak: /usr/lib/jvm cannot be read ({e})"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("bin").join("java").exists())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.contains("-25") || n.contains("-21"))
        })
        .collect();
    // Prefer 25, the newest.
    found.sort_by_key(|p| !p.to_string_lossy().contains("-25"));
    found.into_iter().next().ok_or_else(|| {
        "Keycloak needs JDK 21 or 25 and none is under /usr/lib/jvm (set KEYCLOAK_JAVA_HOME)".into()
    })
}

/// openid-client and playwright-core from npm, pinned by tests/keycloak/package-lock.json.
fn ensure_node_modules(dir: &Path) -> Result {
    let modules = dir.join("node_modules");
    if ["openid-client", "playwright-core"]
        .iter()
        .all(|p| modules.join(p).exists())
    {
        return Ok(());
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir))
}

fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free loopback port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// Starts the identity bridge with the channel on; returns it with its issuer URL and the
/// simulator's base URL.
fn start_bridge(bin: &Path, issuer: &str, log: &Path) -> Result<(Child, String, String)> {
    start_printing(
        "the identity bridge",
        Command::new(bin)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--simulator",
                "--sim-interval-ms",
                "200",
            ])
            .arg("--config")
            .arg(root().join("tests").join("keycloak").join("bridge.toml"))
            .args([
                "--keycloak-issuer",
                issuer,
                "--keycloak-client",
                "ciba-client",
            ])
            .args(["--keycloak-attribute", "phoneNumber"])
            .args(["--keycloak-admin-client", "channel-admin"])
            .args(["--keycloak-admin-secret", "channel-admin-secret"])
            .env("STAFF_PASSWORD", BROKER_STAFF_PASSWORD),
        log,
    )
}

/// Starts the second identity bridge on `port`, its operators signing in through the
/// staff realm at `staff_issuer` (read when the first operator signs in, so it may start
/// before Keycloak); returns it with its issuer URL and its simulator's base URL.
fn start_staff_bridge(
    bin: &Path,
    port: u16,
    staff_issuer: &str,
    log: &Path,
) -> Result<(Child, String, String)> {
    start_printing(
        "the staff-signed identity bridge",
        Command::new(bin)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--simulator", "--sim-interval-ms", "200"])
            .args(["--staff-oidc-issuer", staff_issuer])
            .args(["--staff-oidc-client-id", "identity-bridge"])
            .args(["--staff-oidc-group", "bridge-operators"])
            .env("STAFF_OIDC_CLIENT_SECRET", "identity-bridge-staff-secret")
            .env_remove("STAFF_PASSWORD"),
        log,
    )
}

/// Puts the staff realm, its client's redirect URI pointed at `bridge_url`, next to the
/// Vipps realm in Keycloak's import directory (read when Keycloak starts).
fn import_staff_realm(home: &Path, bridge_url: &str) -> Result {
    let src = root()
        .join("tests")
        .join("keycloak")
        .join("realm-staff.json");
    let realm = fs::read_to_string(&src)
        .map_err(|e| format!("cannot read {}: {e}", src.display()))?
        .replace("__STAFF_BRIDGE_URL__", bridge_url);
    let to = home.join("data").join("import").join("realm-staff.json");
    fs::write(&to, realm).map_err(|e| format!("cannot write {}: {e}", to.display()))
}

/// Starts a server that prints `issuer: URL` and `sim: URL` on stdout (the bridge) in a
/// process group of its own, logging to `log`.
fn start_printing(what: &str, cmd: &mut Command, log: &Path) -> Result<(Child, String, String)> {
    let log_file =
        fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(log_file)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start {what}: {e}"))?;
    let stdout = child.stdout.take();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Some(out) = stdout else { return };
        for line in BufReader::new(out).lines().map_while(std::io::Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut channel, mut sim) = (None, None);
    let until = Instant::now() + Duration::from_secs(30);
    while channel.is_none() || sim.is_none() {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(v) = line.strip_prefix("issuer: ") {
                    channel = Some(v.trim().trim_end_matches('/').to_owned());
                } else if let Some(v) = line.strip_prefix("sim: ") {
                    sim = Some(v.trim().trim_end_matches('/').to_owned());
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} did not start (see {})", log.display()));
            }
        }
    }
    match (channel, sim) {
        (Some(c), Some(s)) => Ok((child, c, s)),
        _ => Err(format!(
            "{what} did not print its issuer and simulator URLs"
        )),
    }
}

fn start_keycloak(
    home: &Path,
    java_home: &Path,
    port: u16,
    channel_url: &str,
    idp_url: &str,
    log: &Path,
    staff_bridge_url: &str,
) -> Result<Child> {
    // A fresh database each run, so the realm is imported as committed.
    let data = home.join("data");
    if data.exists() {
        fs::remove_dir_all(&data).map_err(|e| format!("cannot reset {}: {e}", data.display()))?;
    }
    let import = data.join("import");
    fs::create_dir_all(&import).map_err(|e| format!("cannot create {}: {e}", import.display()))?;
    let realm_src = root()
        .join("tests")
        .join("keycloak")
        .join("realm-vipps.json");
    let realm = fs::read_to_string(&realm_src)
        .map_err(|e| format!("cannot read {}: {e}", realm_src.display()))?
        .replace("__BRIDGE_URL__", idp_url)
        .replace(
            "__KC_ISSUER__",
            &format!("http://127.0.0.1:{port}/realms/{REALM}"),
        );
    fs::write(import.join("realm-vipps.json"), realm)
        .map_err(|e| format!("cannot write the realm import: {e}"))?;
    import_staff_realm(home, staff_bridge_url)?;
    let log_file =
        fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let log_err = log_file
        .try_clone()
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    eprintln!("\n==> kc.sh start-dev on 127.0.0.1:{port}, channel {channel_url}");
    Command::new("bash")
        .arg(home.join("bin").join("kc.sh"))
        .args([
            "start-dev",
            "--http-host=127.0.0.1",
            &format!("--http-port={port}"),
            "--import-realm",
            &format!(
                "--spi-ciba-auth-channel--ciba-http-auth-channel--http-authentication-channel-uri={channel_url}"
            ),
        ])
        .env("JAVA_HOME", java_home)
        .env("KC_BOOTSTRAP_ADMIN_USERNAME", "admin")
        .env("KC_BOOTSTRAP_ADMIN_PASSWORD", "admin")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("Keycloak could not be started: {e}"))
}

/// Waits until the realm's discovery document answers 200.
fn wait_ready(kc: &mut Group, port: u16, log: &Path) -> Result {
    let until = Instant::now() + START_TIMEOUT;
    let path = format!("/realms/{REALM}/.well-known/openid-configuration");
    loop {
        if let Some(status) = kc.exited() {
            return Err(format!(
                "Keycloak did not start: kc.sh exited with {status}; last lines of {}:\n{}",
                log.display(),
                tail(log, 15)
            ));
        }
        if http_status(port, &path) == Some(200) {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(format!(
                "Keycloak did not start within {} s; last lines of {}:\n{}",
                START_TIMEOUT.as_secs(),
                log.display(),
                tail(log, 15)
            ));
        }
        thread::sleep(Duration::from_millis(500));
    }
}

/// A plain HTTP/1.0 GET on loopback; the status code, or `None` when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 32];
    let n = stream.read(&mut head).ok()?;
    let text = std::str::from_utf8(&head[..n]).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A started process group, stopped (TERM, then KILL) when dropped.
struct Group {
    name: &'static str,
    child: Child,
}

impl Group {
    fn new(name: &'static str, child: Child) -> Group {
        Group { name, child }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn signal(&self, signal: &str) {
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args([signal, "--", &pgid])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // The whole group, even when its leader is gone (kc.sh's java, the simulator).
        self.signal("-TERM");
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if self.exited().is_some() {
                eprintln!("{} stopped", self.name);
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
        self.signal("-KILL");
        let _ = self.child.wait();
        eprintln!("{} killed after 20 s", self.name);
    }
}
