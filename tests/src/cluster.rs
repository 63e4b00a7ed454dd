//! Several app instances on one Redis and one standalone simulator, driven over HTTP
//! (the multi-instance tests in `tests/tests/multi_instance.rs`).
//!
//! * [`Cluster`]: its own [`Redis`], its own simulator ([`Sim`], with its control API)
//!   and the app instances it starts ([`App`]), all with the same `COOKIE_SECRET` and
//!   `REDIS_URL`, pointed at the simulator through `VIPPS_ISSUER`/`VIPPS_CLIENT_ID`/
//!   `VIPPS_CLIENT_SECRET`, with a short poll lease (`VIPPS_POLL_LEASE_MS`).
//!
//! The devices that drive them are in [`crate::device`].

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use url::Url;

use crate::device::{http, join, masked, until};
use crate::procs::{Proc, Redis, free_port, temp_dir, workspace_bin};

/// The poll lease of every instance, in milliseconds (`VIPPS_POLL_LEASE_MS`).
pub const LEASE_MS: u64 = 1_500;
/// The polling interval the simulator hands out, in seconds (`--interval`).
pub const INTERVAL_S: f64 = 0.3;
/// The cookie secret every instance shares (64+ bytes).
const COOKIE_SECRET: &str =
    "multi-instance-test-cookie-secret-0123456789abcdef0123456789abcdef0123456789";

/// The standalone simulator and its control API.
#[derive(Debug)]
pub struct Sim {
    _proc: Proc,
    /// Its issuer URL (first stdout line).
    pub issuer: Url,
    /// Its origin, where `/_sim/` lives.
    pub base: Url,
    http: reqwest::Client,
}

impl Sim {
    fn start(dir: &std::path::Path) -> Sim {
        let mut cmd = Command::new(workspace_bin("vipps-login-sim"));
        cmd.args([
            "--listen",
            "127.0.0.1:0",
            "--interval",
            &INTERVAL_S.to_string(),
        ])
        .args(["--slow-down-step", &INTERVAL_S.to_string(), "--auto-users"])
        .args(["--max-pending-per-user", "1000"]);
        let (proc, line) = Proc::spawn_until_line(cmd, dir, "vipps-login-sim", "");
        let issuer = Url::parse(&line)
            .unwrap_or_else(|e| panic!("the simulator's issuer line `{line}`: {e}"));
        Sim {
            _proc: proc,
            base: join(&issuer, "/"),
            issuer,
            http: http(),
        }
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let res = req.send().await.unwrap_or_else(|e| panic!("sim: {e}"));
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// `GET /_sim/requests?msisdn=…&status=…`.
    pub async fn requests(&self, msisdn: &str, status: &str) -> Vec<Value> {
        let mut url = join(&self.base, "_sim/requests");
        url.query_pairs_mut()
            .append_pair("msisdn", msisdn)
            .append_pair("status", status);
        match self.call(self.http.get(url)).await {
            (200, Value::Array(list)) => list,
            other => panic!("GET /_sim/requests: {other:?}"),
        }
    }

    /// The `auth_req_id` of the one pending request for `msisdn`, once there is one.
    pub async fn pending(&self, msisdn: &str) -> String {
        let what = format!("a pending request for {}", masked(msisdn));
        until(Duration::from_secs(10), &what, || async {
            let list = self.requests(msisdn, "pending").await;
            list.first()
                .and_then(|r| r["auth_req_id"].as_str())
                .map(str::to_owned)
        })
        .await
        .0
    }

    /// `POST /_sim/requests/{id}/approve`: status and answer (`redirect_to` in variant 2).
    pub async fn approve(&self, auth_req_id: &str) -> (u16, Value) {
        let url = join(&self.base, &format!("_sim/requests/{auth_req_id}/approve"));
        self.call(self.http.post(url)).await
    }

    /// `POST /_sim/policy` with `{"policy": policy, "after_ms": after_ms}`.
    pub async fn policy(&self, policy: &str, after_ms: u64) {
        let url = join(&self.base, "_sim/policy");
        let body = serde_json::json!({ "policy": policy, "after_ms": after_ms });
        let (status, answer) = self.call(self.http.post(url).json(&body)).await;
        assert_eq!(status, 200, "POST /_sim/policy: {answer}");
    }

    /// `GET /_sim/stats`.
    pub async fn stats(&self) -> Value {
        self.call(self.http.get(join(&self.base, "_sim/stats")))
            .await
            .1
    }
}

/// A running app instance.
#[derive(Debug)]
pub struct App {
    /// The process (SIGKILL it with `proc.kill()`).
    pub proc: Proc,
    /// Its own base URL (`app:` line, or its listen address when a public URL is given).
    pub url: Url,
}

/// Redis, the simulator and the app instances of one test.
#[derive(Debug)]
pub struct Cluster {
    /// The apps' Redis (stop and start it to test an outage).
    pub redis: Redis,
    /// The simulator.
    pub sim: Sim,
    /// The running instances.
    pub apps: Vec<App>,
    dir: PathBuf,
    started: usize,
    /// Environment variables for the instances started from now on.
    env: Vec<(String, String)>,
}

impl Cluster {
    /// Redis, the simulator, and `n` counter instances (with `extra` options each).
    #[must_use]
    pub fn counters(n: usize, extra: &[&str]) -> Cluster {
        let mut cluster = Cluster::empty();
        for _ in 0..n {
            let app = cluster.counter(extra);
            cluster.apps.push(app);
        }
        cluster
    }

    /// Redis and the simulator, no instances yet.
    #[must_use]
    pub fn empty() -> Cluster {
        let dir = temp_dir("cluster");
        let redis = Redis::start_new();
        let sim = Sim::start(&dir);
        Cluster {
            redis,
            sim,
            apps: Vec::new(),
            dir,
            started: 0,
            env: Vec::new(),
        }
    }

    /// The URL of instance `i`.
    #[must_use]
    pub fn url(&self, i: usize) -> Url {
        self.apps[i].url.clone()
    }

    fn command(&self, bin: &str) -> Command {
        let mut cmd = Command::new(workspace_bin(bin));
        cmd.env("VIPPS_ISSUER", self.sim.issuer.as_str())
            .env("VIPPS_CLIENT_ID", "demo-client")
            .env("VIPPS_CLIENT_SECRET", "demo-secret")
            .env("VIPPS_POLL_LEASE_MS", LEASE_MS.to_string())
            .env("REDIS_URL", self.redis.url())
            .env("COOKIE_SECRET", COOKIE_SECRET)
            .env("STAFF_PASSWORD", crate::device::STAFF_PASSWORD)
            .env_remove("VIPPS_WEBHOOK_SECRET")
            .env_remove("PUBLIC_URL")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Sets the environment variable `key` for the instances started from now on.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Starts one more counter instance (not added to `apps`).
    pub fn counter(&mut self, extra: &[&str]) -> App {
        let mut cmd = self.command("counter");
        cmd.args(["--listen", "127.0.0.1:0"]).args(extra);
        self.started += 1;
        let name = format!("counter-{}", self.started);
        let (proc, line) = Proc::spawn_until_line(cmd, &self.dir, &name, "app:");
        let url = Url::parse(&line).unwrap_or_else(|e| panic!("{name}'s app line `{line}`: {e}"));
        App { proc, url }
    }

    /// Starts an identity bridge on this cluster's Redis and simulator (with `extra`
    /// options; not added to `apps`); its URL is its issuer.
    pub fn bridge(&mut self, extra: &[&str]) -> App {
        let mut cmd = self.command("identity-bridge");
        cmd.args(["--listen", "127.0.0.1:0"]).args(extra);
        self.started += 1;
        let name = format!("identity-bridge-{}", self.started);
        let (proc, line) = Proc::spawn_until_line(cmd, &self.dir, &name, "issuer:");
        let url = Url::parse(line.trim())
            .unwrap_or_else(|e| panic!("{name}'s issuer line `{line}`: {e}"));
        App { proc, url }
    }

    /// Starts one more continue-on-phone instance behind `public_url` (not added to
    /// `apps`); its own URL is its listen address.
    pub fn continue_on_phone(&mut self, public_url: &Url, extra: &[&str]) -> App {
        let port = free_port();
        let mut cmd = self.command("continue-on-phone");
        cmd.args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--public-url", public_url.as_str()])
            .args(extra);
        self.started += 1;
        let name = format!("continue-on-phone-{}", self.started);
        let (proc, _) = Proc::spawn_until_line(cmd, &self.dir, &name, "app:");
        let url = Url::parse(&format!("http://127.0.0.1:{port}/"))
            .unwrap_or_else(|e| panic!("{name}'s URL: {e}"));
        App { proc, url }
    }
}

impl Cluster {
    /// Starts one more identity-bridge instance listening on `port`, with `issuer` as its
    /// public URL (every instance of one bridge has the same), not added to `apps`; its
    /// own URL is its listen address.
    pub fn identity_bridge(&mut self, issuer: &Url, port: u16, extra: &[&str]) -> App {
        let mut cmd = self.command("identity-bridge");
        cmd.args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--public-url", issuer.as_str()])
            .env_remove("BRIDGE_SIGNING_KEYS")
            .env_remove("BRIDGE_SIGNING_KEY_FILES")
            .env_remove("BRIDGE_KEY_ROTATION_SECS")
            .args(extra);
        self.started += 1;
        let name = format!("identity-bridge-{}", self.started);
        let (proc, _) = Proc::spawn_until_line(cmd, &self.dir, &name, "issuer:");
        let url = Url::parse(&format!("http://127.0.0.1:{port}/"))
            .unwrap_or_else(|e| panic!("{name}'s URL: {e}"));
        App { proc, url }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.apps.clear();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("the instances' logs are kept in {}", self.dir.display());
        }
    }
}
