//! `cargo xtask interop`: client libraries we did not write log in through
//! `vipps-login-provider`.
//!
//! - Node's `openid-client` 6 does CIBA against the identity bridge
//!   (`examples/identity-bridge`, way 1), pinned by `tests/interop/package-lock.json`
//!   (`npm ci` when `node_modules` is missing). The test starts the bridge binary itself,
//!   which runs the simulator in process; `instances.test.mjs` starts two bridges behind
//!   one issuer on a `redis-server` and the standalone simulator of its own, and checks
//!   the ID tokens of one against the JWKS of the other.
//! - `openid-client` and Python's `authlib` do authorization code with PKCE against way 2
//!   (`crates/vipps-login-provider/tests/external_rps.rs` driving
//!   `tests/interop/authcode_rp.mjs` and `tests/interop/authlib_rp.py`; the tests play the
//!   operator page), and authlib once more through one of two bridge instances on one
//!   Redis with the operator on the other (`tests/tests/bridge_instances.rs`, ignored in a
//!   plain `cargo test`). authlib comes from a virtualenv in `target/interop-venv` holding
//!   `tests/interop/requirements.txt` (installed with pip when missing or changed).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::shell::{Result, cargo, root, run, target_dir};

pub(crate) fn interop() -> Result {
    let dir = root().join("tests").join("interop");
    if !dir.join("node_modules").join("openid-client").exists() {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir))?;
    }
    run(cargo().args([
        "build",
        "--package",
        "identity-bridge",
        "--package",
        "vipps-login-sim",
    ]))?;
    let redis_server = crate::redis::ensure_redis_server()?;
    let target_dir = target_dir();
    run(Command::new("npm")
        .args(["test", "--silent"])
        .current_dir(&dir)
        .env("INTEROP_BIN_DIR", target_dir.join("debug"))
        .env("REDIS_SERVER", redis_server))?;

    let python = ensure_venv(
        &target_dir.join("interop-venv"),
        &dir.join("requirements.txt"),
    )?;
    run(cargo()
        .args([
            "test",
            "--package",
            "vipps-login-provider",
            "--test",
            "external_rps",
            "--",
            "--ignored",
        ])
        .env("INTEROP_PYTHON", &python)
        .env(
            "INTEROP_NODE",
            env::var("NODE").unwrap_or_else(|_| "node".into()),
        ))?;
    // authlib again, across two bridge instances on one Redis (the operator on the other).
    run(cargo()
        .args([
            "test",
            "--package",
            "vipps-login-tests",
            "--test",
            "bridge_instances",
            "--",
            "--ignored",
        ])
        .env("INTEROP_PYTHON", &python)
        .env("REDIS_SERVER", crate::redis::ensure_redis_server()?))
}

/// A virtualenv with `requirements`, (re)installed when missing or changed.
fn ensure_venv(venv: &Path, requirements: &Path) -> Result<PathBuf> {
    let python = venv.join("bin").join("python");
    let wanted =
        fs::read_to_string(requirements).map_err(|e| format!("{}: {e}", requirements.display()))?;
    let stamp = venv.join("requirements.installed");
    if python.exists() && fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(python);
    }
    if !python.exists() {
        let system = env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        run(Command::new(system).arg("-m").arg("venv").arg(venv))?;
    }
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(requirements))?;
    fs::write(&stamp, wanted).map_err(|e| format!("{}: {e}", stamp.display()))?;
    Ok(python)
}
