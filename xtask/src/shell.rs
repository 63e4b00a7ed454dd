//! What every task shares: the error type, the workspace's root and target directory,
//! a `cargo` command run from the root, and running a command to completion.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A task's outcome: on failure, the sentence `xtask <task>:` prints.
pub(crate) type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root: xtask lives one level below it.
pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target/` in the workspace.
pub(crate) fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// `cargo` (the one running xtask, else the one on `PATH`), run from the workspace root.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs a command to completion, failing with its description when it does not succeed.
pub(crate) fn run(cmd: &mut Command) -> Result {
    let shown = format!("{cmd:?}");
    eprintln!("\n==> {shown}");
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed with {status}"))
    }
}
