//! `cargo xtask interop`: client libraries we did not write log in through the identity
//! bridge (`examples/identity-bridge`): Node's `openid-client` 6 does CIBA against way 1 of
//! `vipps-login-provider`, pinned by `tests/interop/package-lock.json` (`npm ci` when
//! `node_modules` is missing). The test starts the bridge binary itself, which runs the
//! simulator in process.

use std::env;
use std::path::PathBuf;
use std::process::Command;

use crate::{Result, cargo, root, run};

pub(crate) fn interop() -> Result {
    let dir = root().join("tests").join("interop");
    if !dir.join("node_modules").join("openid-client").exists() {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir))?;
    }
    run(cargo().args(["build", "--package", "identity-bridge"]))?;
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    run(Command::new("npm")
        .args(["test", "--silent"])
        .current_dir(&dir)
        .env("INTEROP_BIN_DIR", target_dir.join("debug")))
}
