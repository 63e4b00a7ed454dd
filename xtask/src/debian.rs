//! Debian's packages the tests and benches need, installed with apt-get when missing
//! (the machines run as root; a package that cannot be installed fails the step).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::shell::{Result, run};

/// Installs `packages` with apt-get (after an `apt-get update`), saying first that
/// `what` is missing.
pub(crate) fn install(what: &str, packages: &[&str]) -> Result {
    eprintln!("{what} is missing: installing Debian's package (needs root and apt).");
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    run(Command::new("apt-get").arg("update").arg("-q").envs(env))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(packages)
        .envs(env))
}

/// The first executable file called `name` in a directory of `PATH`.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Debian's `valgrind` (for the benches' instruction counts): `VALGRIND` when set, the
/// one on `PATH`, or installed when missing.
pub(crate) fn ensure_valgrind() -> Result<PathBuf> {
    if let Some(path) = env::var_os("VALGRIND").map(PathBuf::from) {
        return Ok(path);
    }
    if let Some(path) = on_path("valgrind") {
        return Ok(path);
    }
    install("valgrind", &["valgrind"])?;
    on_path("valgrind").ok_or_else(|| "apt-get finished but valgrind is still not on PATH".into())
}

/// Debian's `wrk` (the external load generator of the provider benchmark): `WRK` when
/// set, the one on `PATH`, or installed when missing.
pub(crate) fn ensure_wrk() -> Result<PathBuf> {
    if let Some(path) = env::var_os("WRK").map(PathBuf::from) {
        return Ok(path);
    }
    if let Some(path) = on_path("wrk") {
        return Ok(path);
    }
    install("wrk", &["wrk"])?;
    on_path("wrk").ok_or_else(|| "apt-get finished but wrk is still not on PATH".into())
}

/// Debian's Chromium (Playwright cannot download its own browser here): `CHROMIUM_PATH`
/// when set, else `/usr/bin/chromium`, installed when missing.
pub(crate) fn ensure_chromium() -> Result<PathBuf> {
    if let Some(path) = env::var_os("CHROMIUM_PATH").map(PathBuf::from) {
        return Ok(path);
    }
    let path = PathBuf::from("/usr/bin/chromium");
    if !path.exists() {
        install("Chromium", &["chromium", "fonts-dejavu-core"])?;
    }
    if path.exists() {
        Ok(path)
    } else {
        Err("apt-get finished but /usr/bin/chromium is still missing".into())
    }
}

/// Debian's Prometheus (the operations tests scrape the apps with a real one):
/// `PROMETHEUS` when set, the one on `PATH`, or installed when missing.
pub(crate) fn ensure_prometheus() -> Result<PathBuf> {
    if let Some(path) = env::var_os("PROMETHEUS").map(PathBuf::from) {
        return Ok(path);
    }
    if let Some(path) = on_path("prometheus") {
        return Ok(path);
    }
    install("Prometheus", &["prometheus"])?;
    on_path("prometheus")
        .ok_or_else(|| "apt-get finished but prometheus is still not on PATH".into())
}
