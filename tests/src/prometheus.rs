//! A real Prometheus (Debian's `prometheus` package) of a test's own: it scrapes the
//! management listeners it is given every 500 ms and answers queries through its HTTP
//! API, so that a test reads back through Prometheus what the apps exported.
//!
//! The binary is `PROMETHEUS` when set, else `prometheus` on `PATH` (`cargo xtask ci`
//! installs Debian's package); without one the test fails with an instruction.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::device::until;
use crate::procs::{Proc, free_port, temp_dir};

/// A running Prometheus, killed when dropped.
#[derive(Debug)]
pub struct Prometheus {
    _proc: Proc,
    port: u16,
    dir: PathBuf,
    http: reqwest::Client,
}

/// One sample of a query's answer: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels (with `__name__`, `job`, `instance`).
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (job name → management listener address) and
    /// waits until it is ready.
    ///
    /// # Panics
    /// When there is no `prometheus` binary, or it does not become ready in time.
    pub async fn start(targets: &[(&str, SocketAddr)]) -> Prometheus {
        let binary = std::env::var_os("PROMETHEUS")
            .map_or_else(|| PathBuf::from("prometheus"), PathBuf::from);
        let found = Command::new(&binary)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "no Prometheus binary (`{}`): install Debian's package (`apt-get install -y \
             prometheus`, which `cargo xtask ci` does when it is missing) or set PROMETHEUS",
            binary.display()
        );
        let dir = temp_dir("prometheus");
        let mut config = String::from(
            "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\nscrape_configs:\n",
        );
        for (job, addr) in targets {
            config.push_str(&format!(
                "  - job_name: {job}\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{addr}']\n"
            ));
        }
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap_or_else(|e| panic!("prometheus.yml: {e}"));
        let port = free_port();
        // `sh` says when it starts Prometheus (which writes nothing on stdout).
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("echo started; exec \"$0\" \"$@\"")
            .arg(&binary)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let (proc, _) = Proc::spawn_until_line(cmd, &dir, "prometheus", "started");
        let prometheus = Prometheus {
            _proc: proc,
            port,
            dir,
            http: reqwest::Client::new(),
        };
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        until(
            Duration::from_secs(30),
            "Prometheus to be ready",
            || async {
                let res = prometheus.http.get(&ready).send().await.ok()?;
                res.status().is_success().then_some(())
            },
        )
        .await;
        prometheus
    }

    /// The instant query `expr` (`GET /api/v1/query`).
    ///
    /// # Panics
    /// When Prometheus does not answer with a vector.
    pub async fn query(&self, expr: &str) -> Vec<Sample> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let res = self
            .http
            .get(url)
            .query(&[("query", expr)])
            .send()
            .await
            .unwrap_or_else(|e| panic!("Prometheus query {expr}: {e}"));
        let body: Value = res
            .json()
            .await
            .unwrap_or_else(|e| panic!("Prometheus query {expr}: {e}"));
        assert_eq!(body["status"], "success", "query {expr}: {body}");
        body["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("query {expr}: no vector in {body}"))
            .iter()
            .map(|r| Sample {
                labels: r["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default(),
                value: r["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN),
            })
            .collect()
    }

    /// The value of the single series `expr` answers, `None` when there is none.
    ///
    /// # Panics
    /// When the query answers more than one series.
    pub async fn value(&self, expr: &str) -> Option<f64> {
        let samples = self.query(expr).await;
        assert!(
            samples.len() <= 1,
            "{expr}: more than one series: {samples:?}"
        );
        samples.first().map(|s| s.value)
    }

    /// Where its configuration and data are.
    #[must_use]
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
