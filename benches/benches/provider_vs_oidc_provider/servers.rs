//! The two servers under test as child processes pinned to one core (`taskset`), with
//! their endpoints read from their own discovery documents.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The identity bridge (release binary, simulator in process).
    Bridge,
    /// Node's oidc-provider (`benches/oidc-provider/server.mjs`).
    OidcProvider,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bridge => "bridge",
            Kind::OidcProvider => "oidc-provider",
        }
    }
}

/// A server under test, a child process killed on drop.
pub struct Server {
    pub kind: Kind,
    pub child: Child,
    /// `http://127.0.0.1:PORT`, no trailing slash (both issuers are their base URLs).
    pub base: String,
    /// Paths, from the discovery document.
    pub discovery: String,
    pub jwks: String,
    pub token: String,
    pub backchannel: String,
    pub authorization: String,
    /// The bridge's in-process simulator (its base URL, control API under `/_sim/`).
    pub sim: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// How each server is started.
pub struct Launch<'a> {
    pub bridge_bin: &'a Path,
    pub bridge_config: &'a Path,
    pub node_dir: &'a Path,
    pub logs: &'a Path,
    /// The core the server runs on.
    pub core: usize,
}

/// The staff password the bridge is started with (the operator step's gate).
pub const STAFF_PASSWORD: &str = "bench-staff-password";

/// Starts `kind` pinned to `launch.core`; `sim_interval_ms` is the bridge's simulator's
/// polling interval (how soon its engine learns of an approval, and how often it polls
/// the simulator for each pending login); `bridge_extra` are more of the bridge's options.
pub async fn start(
    kind: Kind,
    launch: &Launch<'_>,
    sim_interval_ms: u64,
    bridge_extra: &[&str],
) -> Server {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c").arg(launch.core.to_string());
    match kind {
        Kind::Bridge => {
            cmd.arg(launch.bridge_bin)
                .args(["--listen", "127.0.0.1:0", "--config"])
                .arg(launch.bridge_config)
                .args([
                    "--simulator",
                    "--sim-auto-users",
                    "--management-listen",
                    "off",
                ])
                .args(["--sim-interval-ms", &sim_interval_ms.to_string()])
                .args(["--sim-expires-in-secs", "900"])
                // Thousands of starts from one address, one number each, many pending
                // at once: no per-address limit, room in the memory store.
                .args(["--rate-limit-per-ip", "1000000000"])
                .args(["--memory-store-capacity", "5000000"])
                .args(["--staff-password", STAFF_PASSWORD])
                .args(bridge_extra)
                .env_remove("VIPPS_CLIENT_ID")
                .env_remove("PUBLIC_URL")
                .env_remove("BRIDGE_CONFIG")
                .env_remove("REDIS_URL")
                .env_remove("STAFF_PASSWORD")
                .env_remove("STAFF_OIDC_ISSUER")
                .env_remove("COOKIE_SECRET")
                .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
                .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .env("RUST_LOG", "warn");
        }
        Kind::OidcProvider => {
            cmd.arg(std::env::var_os("NODE").unwrap_or_else(|| "node".into()))
                .arg("server.mjs")
                .current_dir(launch.node_dir)
                .env("NODE_ENV", "production");
        }
    }
    let log = launch
        .logs
        .join(format!("provider_vs_oidc_provider-{}.log", kind.name()));
    let (child, lines) = spawn(kind.name(), cmd, &log, kind == Kind::Bridge);
    let base = lines["issuer"].trim_end_matches('/').to_owned();
    let doc: Value = reqwest::get(format!("{base}/.well-known/openid-configuration"))
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|e| panic!("{}: discovery: {e}", kind.name()))
        .json()
        .await
        .unwrap();
    let path = |k: &str| {
        let url = doc[k]
            .as_str()
            .unwrap_or_else(|| panic!("{}: discovery has no {k}", kind.name()));
        url.strip_prefix(&base)
            .unwrap_or_else(|| panic!("{}: {k} {url} is not under {base}", kind.name()))
            .to_owned()
    };
    let algs = doc["id_token_signing_alg_values_supported"].to_string();
    assert!(
        algs.contains("RS256"),
        "{}: RS256 missing: {algs}",
        kind.name()
    );
    Server {
        kind,
        discovery: "/.well-known/openid-configuration".to_owned(),
        jwks: path("jwks_uri"),
        token: path("token_endpoint"),
        backchannel: path("backchannel_authentication_endpoint"),
        authorization: path("authorization_endpoint"),
        sim: lines.get("sim").map(|s| s.trim_end_matches('/').to_owned()),
        base,
        child,
    }
}

/// Starts `cmd` and reads its `key: value` lines on stdout until `issuer` (and `sim`
/// when `wants_sim`) came; keeps draining stdout so that later lines never meet a
/// closed pipe.
fn spawn(
    name: &str,
    mut cmd: Command,
    log: &Path,
    wants_sim: bool,
) -> (Child, HashMap<String, String>) {
    let log_file = std::fs::File::create(log).expect("log file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: cannot start {cmd:?}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut lines = HashMap::new();
    while !(lines.contains_key("issuer") && (!wants_sim || lines.contains_key("sim"))) {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                if let Some((k, v)) = line.split_once(": ") {
                    lines.insert(k.trim().to_owned(), v.trim().to_owned());
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{name} did not print its issuer; its stderr is in {}",
                    log.display()
                );
            }
        }
    }
    (child, lines)
}
