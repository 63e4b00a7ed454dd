//! Redis for the tests of `vipps-login-redis`: they start their own `redis-server` on a
//! free loopback port, so the binary has to be there (Debian's package, like Chromium for
//! the browser tests).

use std::env;
use std::path::PathBuf;

use crate::debian::{self, on_path};
use crate::shell::Result;

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
    debian::install("redis-server", &["redis-server"])?;
    on_path("redis-server")
        .ok_or_else(|| "apt-get finished but redis-server is still not on PATH".into())
}
