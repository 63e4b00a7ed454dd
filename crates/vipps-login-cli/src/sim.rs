//! `vipps-login sim`: the simulator in this process, for a quick try without Vipps.

use std::path::{Path, PathBuf};
use std::time::Duration;

use vipps_login_sim::{Policy, SimConfig, Simulator};

use crate::cli::SimArgs;
use crate::output::Failure;

/// The demo number the printed command uses.
const DEMO_PHONE: &str = "4712345678";

/// Runs the simulator until Ctrl-C.
pub(crate) async fn run(args: SimArgs) -> Result<(), Failure> {
    let mut config = SimConfig::default().listen(args.listen);
    if let Some(ms) = args.interval_ms {
        config = config
            .interval(Duration::from_millis(ms))
            .slow_down_step(Duration::from_millis(ms));
    }
    let sim = Simulator::start(config).await.map_err(|e| Failure {
        code: "sim",
        message: format!("The simulator could not start on {}: {e}", args.listen),
        exit: crate::exit::VIPPS_FAILED,
        retry_after: None,
    })?;
    let policy = match (args.auto_approve_ms, args.auto_deny_ms) {
        (Some(ms), _) => Policy::AutoApprove {
            after: Duration::from_millis(ms),
        },
        (None, Some(ms)) => Policy::AutoDeny {
            after: Duration::from_millis(ms),
        },
        (None, None) => Policy::Manual,
    };
    sim.set_policy(policy);

    let issuer = sim.issuer();
    let program = program_name();
    let decide = match policy {
        Policy::AutoApprove { after } => {
            format!(
                "every login is approved automatically after {} ms",
                after.as_millis()
            )
        }
        Policy::AutoDeny { after } => {
            format!(
                "every login is denied automatically after {} ms",
                after.as_millis()
            )
        }
        _ => "open the phone page to approve or deny".to_owned(),
    };
    println!(
        "Vipps login simulator running (a stand-in for Vipps' test environment; nothing leaves \
         this machine).\n\
         \n  issuer      {issuer}\
         \n  phone page  {phone}   ({decide})\
         \n  client      {id} / {secret}\
         \n\nIn another terminal:\n\n  \
         VIPPS_ISSUER={issuer} VIPPS_CLIENT_ID={id} VIPPS_CLIENT_SECRET={secret} {program} login --phone {DEMO_PHONE}\n\
         \nDemo users: 4712345678 Kari Nordmann, 4798765432 Ola Nordmann, 4711111111 no Vipps \
         account,\n4733333333 app too old, 4744444444 push disabled (waits until the phone page \
         is opened).\n\nPress Ctrl-C to stop.",
        phone = sim.phone_url(DEMO_PHONE),
        id = sim.client_id(),
        secret = sim.client_secret(),
    );
    if !args.listen.ip().is_loopback() {
        eprintln!(
            "note: the client accepts an http:// issuer only on loopback; use an https proxy \
             (and SimConfig::public_url) to reach this simulator from elsewhere."
        );
    }
    // Ctrl-C is the normal way to stop the simulator: exit 0.
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("Simulator stopped.");
    Ok(())
}

/// `vipps-login` when that name on `PATH` is this very program, otherwise this program's
/// path, so that the printed command works when pasted (also after `cargo run`).
fn program_name() -> String {
    let Ok(me) = std::env::current_exe() else {
        return "vipps-login".to_owned();
    };
    let me = me.canonicalize().unwrap_or(me);
    if on_path("vipps-login")
        .is_some_and(|p| p.canonicalize().ok().as_deref() == Some(me.as_path()))
    {
        return "vipps-login".to_owned();
    }
    shell_quote(&me)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn shell_quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_the_shell() {
        assert_eq!(
            shell_quote(Path::new("/usr/bin/vipps-login")),
            "/usr/bin/vipps-login"
        );
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
