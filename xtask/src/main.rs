//! Project automation for vipps-login-rs, run as `cargo xtask <task>`.
//!
//! - `ci`: everything CI checks, in the order that reuses the most build output:
//!   format, import circles (`imports`), clippy (all targets, `-D warnings`), rustdoc
//!   (`-D warnings`), the whole test suite with doc tests, then the browser tests.
//!   Installs what the tests need when it is missing (Debian's `prometheus` for the
//!   operations tests, Debian's `redis-server` for the
//!   Redis store's tests, Chromium for the browser tests).
//! - `demo`: the simulator and the counter reference app, no credentials needed.
//! - `bench`: every benchmark, each against its named baseline, side by side (the
//!   provider against Node's `oidc-provider`: `npm ci` in `benches/oidc-provider` when
//!   `node_modules` is missing, the release `identity-bridge` it starts, and Debian's
//!   `wrk`, its external load generator, installed with apt-get when missing). The layer,
//!   Redis and verification comparisons run interleaved rounds (A B, B A, …) and print the
//!   median ratio with its spread; the layer and verification benches also print
//!   instructions per operation counted under callgrind (Debian's `valgrind`, installed
//!   with apt-get when missing). `bench quick` shortens every run.
//! - `imports`: fails when the files of a crate import each other in a circle; see
//!   `imports.rs`. `--verbose` lists every arrow.
//! - `e2e`: only the browser tests (Playwright driving Debian's Chromium).
//! - `interop`: Node's `openid-client` does CIBA against the identity bridge, Python's
//!   `authlib` authorization code against the provider; see `interop.rs`.
//! - `keycloak`: a real Keycloak (fetched from Maven Central with `mvn`, cached under
//!   `target/keycloak/`) runs CIBA with our HTTP authentication channel; see `keycloak.rs`.
//!
//! It depends on nothing but `std` so that it builds in seconds on a cold machine.

mod debian;
mod imports;
mod interop;
mod keycloak;
mod redis;
mod shell;

use std::env;
use std::path::Path;
use std::process::{Command, ExitCode};

use shell::{Result, cargo, root, run, target_dir};

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = args.get(1..).unwrap_or_default();
    let outcome = match task {
        "ci" => ci(),
        "test" => test(),
        "demo" => demo(rest),
        "bench" => bench(rest),
        "e2e" => e2e(),
        "imports" => imports::imports(&root(), rest),
        "keycloak" => keycloak::keycloak(),
        "interop" => interop::interop(),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 ci     fmt check, import circles, clippy and rustdoc -D warnings, all tests (unit, integration, doc), browser tests, Keycloak\n  \
                 test   all Rust tests (unit, integration, doc), no lint, no browser\n  \
                 demo   run the simulator and the counter reference app (no credentials needed)\n  \
                 bench  run every benchmark against its baseline (pass `quick` for a short run)\n  \
                 e2e    browser tests only (installs Chromium and playwright-core when missing)\n  \
                 imports   fail when files of a crate import each other in a circle (`--verbose`: every arrow)\n  \
                 keycloak  a real Keycloak runs CIBA with our channel (fetches Keycloak with mvn once)\n  \
                 interop   openid-client (npm) and authlib (PyPI) log in through the provider"
            );
            return if task == "help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {task}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result {
    warn_when_disk_is_short();
    if component("fmt") {
        run(cargo().args(["fmt", "--all", "--check"]))?;
    }
    // Lexical and quick: a circle between files fails before anything is compiled.
    eprintln!("\n==> cargo xtask imports");
    imports::imports(&root(), &[])?;
    if component("clippy") {
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    // Broken intra-doc links and malformed docs fail like lints do.
    run(cargo()
        .args(["doc", "--no-deps", "--workspace"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;
    test()?;
    e2e()?;
    interop::interop()?;
    keycloak::keycloak()
}

/// Whether `cargo {name}` is installed; when not, a loud warning that its step is skipped
/// (a toolchain without the rustfmt or clippy component still runs every test).
fn component(name: &str) -> bool {
    let present = cargo()
        .args([name, "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !! xtask ci: `cargo {name}` is not installed: its step is SKIPPED.\n\
             !! Install it with `rustup component add {component}`.\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
            component = if name == "fmt" { "rustfmt" } else { name },
        );
    }
    present
}

/// A cold `cargo xtask ci` needs about 10 GB under `target/`; with less free, the linker
/// dies of SIGBUS halfway. Says so at the start instead (it does not stop the run).
fn warn_when_disk_is_short() {
    const NEEDED_KB: u64 = 12 * 1024 * 1024;
    let target = target_dir();
    let probe = if target.exists() { target } else { root() };
    let Ok(out) = Command::new("df").arg("-Pk").arg(&probe).output() else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let free_kb = text
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(free_kb) = free_kb {
        eprintln!(
            "xtask ci: {} GB free for {}",
            free_kb / 1024 / 1024,
            probe.display()
        );
        if free_kb < NEEDED_KB {
            eprintln!(
                "\n!! xtask ci: only {} GB free; a cold build needs about 12 GB. Free some space \
                 (old target directories) or the link steps may fail with SIGBUS.\n",
                free_kb / 1024 / 1024
            );
        }
    }
}

fn test() -> Result {
    // The Redis store's tests start redis-servers of their own (unless REDIS_URL is set).
    let redis_server = redis::ensure_redis_server()?;
    // The operations tests scrape the apps with a real Prometheus.
    let prometheus = debian::ensure_prometheus()?;
    // `cargo test` runs unit, integration and doc tests; examples are built too, so
    // a reference deployment that stops compiling fails CI.
    run(cargo()
        .args(["test", "--workspace"])
        .env("REDIS_SERVER", &redis_server)
        .env("PROMETHEUS", &prometheus))?;
    // The flow tests again, against the simulator playing Vipps "as documented": no
    // `nonce` in ID tokens, no `state` on the phone's redirect, one token answer per
    // browser login, plain-text 429s, late and repeated webhook pings. The in-process
    // simulators (`SimConfig::default()`) and the simulator binary both read the variable.
    eprintln!("\n==> the flow tests against the simulator \"as documented\"");
    let mut cmd = cargo();
    cmd.arg("test");
    for package in AS_DOCUMENTED_FLOW_TESTS {
        cmd.args(["--package", package]);
    }
    run(cmd
        .env("VIPPS_SIM_AS_DOCUMENTED", "1")
        .env("REDIS_SERVER", &redis_server)
        .env("PROMETHEUS", &prometheus))
}

/// The crates whose flow tests also run against the simulator "as documented".
const AS_DOCUMENTED_FLOW_TESTS: &[&str] = &[
    "vipps-login-core",
    "vipps-login-tower",
    "vipps-login-cli",
    "vipps-login-provider",
    "vipps-login-keycloak",
    "counter",
    "continue-on-phone",
    "identity-bridge",
    "vipps-login-tests",
];

/// The simulator's port in the demo, named in the README and the instructions.
const DEMO_SIM_LISTEN: &str = "127.0.0.1:3100";

fn demo(args: &[String]) -> Result {
    // `cargo build --workspace`, not `cargo run -p counter`: building one package resolves
    // other features and would rebuild dozens of dependencies the workspace build already
    // has; this way the demo and `cargo build --workspace` share every artefact.
    eprintln!(
        "xtask demo: building the workspace (the first build on a new machine takes several \
         minutes; later ones seconds)..."
    );
    run(cargo().args(["build", "--workspace"]))?;
    let target_dir = target_dir();
    let counter = target_dir.join("debug").join(exe("counter"));
    let mut cmd = Command::new(&counter);
    cmd.current_dir(root());
    if !args.iter().any(|a| a.starts_with("--sim-listen")) {
        cmd.args(["--sim-listen", DEMO_SIM_LISTEN]);
    }
    eprintln!("xtask demo: starting {}", counter.display());
    run(cmd.args(args))
}

/// `name` with the platform's executable suffix.
fn exe(name: &str) -> String {
    format!("{name}{}", env::consts::EXE_SUFFIX)
}

fn bench(args: &[String]) -> Result {
    let quick = args.iter().any(|a| a == "quick");
    // The Redis benchmark starts a redis-server of its own; the layer and verification
    // benches count instructions under valgrind's callgrind.
    let redis_server = redis::ensure_redis_server()?;
    let valgrind = debian::ensure_valgrind()?;
    // The provider benchmark's external load generator.
    let wrk = debian::ensure_wrk()?;
    let criterion_args: &[&str] = if quick {
        &["--warm-up-time", "1", "--measurement-time", "3"]
    } else {
        &[]
    };
    // The provider against Node's oidc-provider: its npm packages (pinned by the lock
    // file) and the release bridge binary the benchmark starts as a child process.
    let oidc_provider_dir = root().join("benches").join("oidc-provider");
    if !oidc_provider_dir.join("node_modules").exists() {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&oidc_provider_dir))?;
    }
    run(cargo().args(["build", "--release", "--package", "identity-bridge"]))?;
    for (package, bench) in [
        ("vipps-login-core", "verify"),
        ("vipps-login-benches", "pending_logins"),
        ("vipps-login-benches", "login_memory"),
        ("vipps-login-benches", "layer_overhead"),
        ("vipps-login-benches", "redis"),
        ("vipps-login-benches", "layer_http"),
        ("vipps-login-benches", "provider_vs_oidc_provider"),
    ] {
        let mut cmd = cargo();
        cmd.env("REDIS_SERVER", &redis_server);
        cmd.env("VALGRIND", &valgrind);
        cmd.env("WRK", &wrk);
        if quick {
            // The plain-program benches (and the interleaved rounds after criterion's
            // report) read this for shorter runs.
            cmd.env("BENCH_QUICK", "1");
        }
        cmd.args(["bench", "--package", package, "--bench", bench, "--"]);
        // The load benchmarks are plain programs, not criterion: they take no criterion flags.
        if !matches!(
            bench,
            "pending_logins"
                | "login_memory"
                | "layer_overhead"
                | "redis"
                | "layer_http"
                | "provider_vs_oidc_provider"
        ) {
            cmd.args(criterion_args);
        }
        run(&mut cmd)?;
    }
    Ok(())
}

fn e2e() -> Result {
    let e2e_dir = root().join("tests").join("e2e");
    let chromium = debian::ensure_chromium()?;
    ensure_node_modules(&e2e_dir)?;
    run(cargo().args([
        "build",
        "--package",
        "counter",
        "--package",
        "continue-on-phone",
    ]))?;
    let target_dir = target_dir();
    run(Command::new("npm")
        .args(["test", "--silent"])
        .current_dir(&e2e_dir)
        .env("E2E_BIN_DIR", target_dir.join("debug"))
        .env("E2E_SCREENSHOT_DIR", target_dir.join("e2e"))
        .env("CHROMIUM_PATH", chromium))
}

/// playwright-core from npm, pinned by tests/e2e/package-lock.json.
fn ensure_node_modules(e2e_dir: &Path) -> Result {
    if e2e_dir
        .join("node_modules")
        .join("playwright-core")
        .exists()
    {
        return Ok(());
    }
    let verb = if e2e_dir.join("package-lock.json").exists() {
        "ci"
    } else {
        "install"
    };
    run(Command::new("npm")
        .args([verb, "--no-audit", "--no-fund"])
        .current_dir(e2e_dir))
}
