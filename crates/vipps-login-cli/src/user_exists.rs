//! `vipps-login user-exists`: can this number log in with Vipps? Exit 0 yes, 5 no.

use serde_json::json;
use vipps_login_core::Msisdn;

use crate::cli::UserExistsArgs;
use crate::client;
use crate::exit;
use crate::output::{Failure, Ui};

/// Runs `user-exists`; returns the exit code on an answer, a failure otherwise.
pub(crate) async fn run(args: UserExistsArgs, ui: Ui) -> Result<u8, Failure> {
    let msisdn: Msisdn = args.phone.parse()?;
    let client = client::client(&args.client)?;
    let exists = client.user_exists(&msisdn).await?;
    ui.result(
        &json!({ "msisdn": msisdn.as_str(), "exists": exists }),
        if exists { "yes\n" } else { "no\n" },
    );
    Ok(if exists {
        exit::OK
    } else {
        exit::CANNOT_USE_VIPPS
    })
}
