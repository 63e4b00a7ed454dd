//! Redis for the tests of `vipps-login-redis`: they start their own `redis-server` on a
//! free loopback port, so the binary has to be there (Debian's package, like Chromium for
//! the browser tests).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, run};

/// Makes sure `redis-server` can be started by the tests: `REDIS_SERVER` when it names a
/// file, else `redis-server` on `PATH`, else Debian's package installed with apt-get.
pub(crate) fn ensure_redis_server() -> Result<PathBuf> {
    if let Some(path) = env::var_os("REDIS_SERVER").map(PathBuf::from) {
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "REDIS_SERVER is set to {}, which is not a file",
                path.display()
            ))
        };
    }
    if let Some(path) = on_path("redis-server") {
        return Ok(path);
    }
    eprintln!("redis-server is missing: installing Debian's package (needs root and apt).");
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    run(Command::new("apt-get").arg("update").arg("-q").envs(env))?;
    run(Command::new("apt-get")
        .args([
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "redis-server",
        ])
        .envs(env))?;
    on_path("redis-server")
        .ok_or_else(|| "apt-get finished but redis-server is still not on PATH".into())
}

/// Debian's `valgrind` (for the benches' instruction counts): the one on `PATH`, or
/// installed with apt-get when missing. `VALGRIND` names another.
pub(crate) fn ensure_valgrind() -> Result<PathBuf> {
    if let Some(path) = env::var_os("VALGRIND").map(PathBuf::from) {
        return Ok(path);
    }
    if let Some(path) = on_path("valgrind") {
        return Ok(path);
    }
    eprintln!("valgrind is missing: installing Debian's package (needs root and apt).");
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    run(Command::new("apt-get").arg("update").arg("-q").envs(env))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends", "valgrind"])
        .envs(env))?;
    on_path("valgrind").ok_or_else(|| "apt-get finished but valgrind is still not on PATH".into())
}

/// The first file called `name` in a directory of `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
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
