//! `vipps-login login`: start a login from a phone number, wait, print who logged in.

use std::future::Future;
use std::time::Duration;

use serde_json::json;
use url::Url;
use vipps_login_core::clock::unix_secs;
use vipps_login_core::{
    BindingMessage, Error, Flow, LoginEnd, LoginHint, LoginId, LoginRequest, LoginStatus, Msisdn,
    RequestedExpiry, Scopes, StartedLogin, VippsClient,
};

use crate::cli::LoginArgs;
use crate::client;
use crate::exit;
use crate::output::{self, Failure, Ui};

/// Everything the command line asked for, validated; nothing has been sent yet.
#[derive(Debug)]
struct Plan {
    msisdn: Msisdn,
    scopes: Scopes,
    binding_message: BindingMessage,
    expiry: Option<RequestedExpiry>,
    redirect_uri: Option<Url>,
    /// `--redis-url`: the logins live in this Redis, shared with other instances.
    redis_url: Option<String>,
}

/// Checks every input before anything goes on the wire (exit 2 on the first bad one).
fn plan(args: &LoginArgs) -> Result<Plan, Failure> {
    let msisdn: Msisdn = args.phone.parse()?;
    let scopes: Scopes = args.scope.parse()?;
    let binding_message = match &args.binding_message {
        Some(code) => code.parse::<BindingMessage>()?,
        None => BindingMessage::generate(),
    };
    let expiry = match &args.expiry {
        None => None,
        Some(text) => {
            let (min, max) = (
                RequestedExpiry::MIN.as_secs(),
                RequestedExpiry::MAX.as_secs(),
            );
            let secs: u64 = text.trim().parse().map_err(|_| {
                Failure::invalid_input(format!(
                    "--expiry must be a number of seconds between {min} and {max}, not {text:?}."
                ))
            })?;
            Some(RequestedExpiry::from_secs(secs).map_err(|_| {
                Failure::invalid_input(format!(
                    "--expiry must be between {min} and {max} seconds (Vipps' limits), not {secs}."
                ))
            })?)
        }
    };
    let redirect_uri = match &args.redirect_uri {
        None => None,
        Some(text) => Some(Url::parse(text.trim()).map_err(|e| {
            Failure::invalid_input(format!("--redirect-uri is not a valid URL ({e})."))
        })?),
    };
    let redis_url = match args.redis_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            // The URL may carry a password: the message names the problem, not the URL.
            Url::parse(text).map_err(|e| {
                Failure::invalid_input(format!(
                    "--redis-url (REDIS_URL) is not a valid URL ({e}); it looks like \
                     redis://[user:password@]host:port[/db]."
                ))
            })?;
            Some(text.to_owned())
        }
    };
    Ok(Plan {
        msisdn,
        scopes,
        binding_message,
        expiry,
        redirect_uri,
        redis_url,
    })
}

/// Runs `login`. Prints the result itself; a failure is returned for `main` to report.
pub(crate) async fn run(args: LoginArgs, ui: Ui) -> Result<(), Failure> {
    let plan = plan(&args)?;
    // Redis is reached (or not) before anything goes to Vipps.
    let client = match &plan.redis_url {
        Some(url) => client::shared_client(&args.client, url).await?,
        None => client::client(&args.client)?,
    };

    // Listen for Ctrl-C before anything is sent, so that it always cancels cleanly.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);

    let mut request = LoginRequest::new(LoginHint::Msisdn(plan.msisdn.clone()))
        .scopes(plan.scopes.clone())
        .binding_message(plan.binding_message.clone());
    if let Some(expiry) = plan.expiry {
        request = request.requested_expiry(expiry.into());
    }
    if let Some(redirect_uri) = &plan.redirect_uri {
        request = request.flow(Flow::ContinueInBrowser {
            redirect_uri: redirect_uri.clone(),
        });
    }

    let spinner = ui.spinner(format!(
        "Sending a login request to {} …",
        plan.msisdn.masked()
    ));
    let started = tokio::select! {
        // `biased`: the Ctrl-C handler is installed (first poll) before the request leaves.
        biased;
        _ = &mut interrupted => {
            // No login id yet, so nothing to cancel here; a push may still arrive.
            spinner.finish_and_clear();
            return Err(Failure::interrupted());
        }
        started = client.start(request) => started,
    };
    spinner.finish_and_clear();
    let started = started?;

    let code = started
        .binding_message
        .as_ref()
        .map_or_else(|| plan.binding_message.to_string(), ToString::to_string);
    ui.shout(&format!("Ask the customer to confirm code {code} in Vipps"));
    // The first JSON line, at once: a till script shows the code while the customer
    // confirms.
    ui.event(
        "started",
        json!({
            "login_id": started.id.as_str(),
            "binding_message": code,
            "phone": plan.msisdn.masked(),
            "flow": if plan.redirect_uri.is_some() { "continue_in_browser" } else { "finish_in_app" },
            "expires_at": unix_secs(started.expires_at),
            "expires_in_secs": output::secs_left(started.expires_at, client.config().clock().as_ref()),
        }),
    );

    match &plan.redirect_uri {
        None => finish_in_app(&client, &started, &code, ui, &mut interrupted).await,
        Some(redirect_uri) => {
            let browser = Browser {
                redirect_uri,
                shared_store: plan.redis_url.as_deref(),
            };
            continue_in_browser(&client, &started, &code, &browser, ui, &mut interrupted).await
        }
    }
}

/// Variant 1: wait for the identity, then print it.
async fn finish_in_app(
    client: &VippsClient,
    started: &StartedLogin,
    code: &str,
    ui: Ui,
    interrupted: &mut (impl Future<Output = std::io::Result<()>> + Unpin),
) -> Result<(), Failure> {
    let identity = waiting(
        client,
        started,
        &format!("Waiting for the customer to confirm {code}"),
        ui,
        interrupted,
        client.wait(&started.id),
    )
    .await?;
    ui.result(
        &output::identity_json(&identity, Some(code)),
        &output::identity_text(&identity),
    );
    Ok(())
}

/// Where a continue-in-browser login goes, and how this command learns that it ended.
struct Browser<'a> {
    redirect_uri: &'a Url,
    /// The Redis URL (with its password) when the login lives in a store shared with the
    /// server behind the redirect URI.
    shared_store: Option<&'a str>,
}

/// Variant 2: the server behind the redirect URI exchanges the code and finishes the
/// login; wait until it has (seen through the shared store), or the login expired or was
/// cancelled.
async fn continue_in_browser(
    client: &VippsClient,
    started: &StartedLogin,
    code: &str,
    browser: &Browser<'_>,
    ui: Ui,
    interrupted: &mut (impl Future<Output = std::io::Result<()>> + Unpin),
) -> Result<(), Failure> {
    let redirect_uri = browser.redirect_uri;
    match browser.shared_store {
        Some(url) => ui.say(&format!(
            "After confirming, the customer continues in the phone's browser at {redirect_uri}. \
             Waiting until the server there finishes the login (followed through the Redis \
             at {}).",
            client::shown_url(url)
        )),
        None => {
            let message = format!(
                "This command sees the end of a continue-in-browser login only through a store \
                 it shares with the server behind {redirect_uri} (--redis-url or REDIS_URL). \
                 Without one it waits until the login expires ({} from now) or is cancelled \
                 with Ctrl-C, even if the customer gets in.",
                output::remaining(started.expires_at, client.config().clock().as_ref())
            );
            ui.say(&format!("Note: {message}"));
            ui.event(
                "notice",
                json!({ "notice": "no_shared_store", "message": message }),
            );
        }
    }
    let end = waiting(
        client,
        started,
        &format!("Waiting for the customer to confirm {code} and continue in the browser"),
        ui,
        interrupted,
        end_of(client, &started.id),
    )
    .await?;
    if exit::browser_end_code(&end) != exit::OK {
        let mut failure = Failure::ended(&end);
        if matches!(end, LoginEnd::Expired) && browser.shared_store.is_none() {
            failure.message.push_str(
                " Without --redis-url this command cannot see whether the server behind the \
                 redirect URI finished the login before that.",
            );
        }
        return Err(failure);
    }
    ui.result(
        &json!({
            "status": "continued_in_browser",
            "login_id": started.id.as_str(),
            "binding_message": code,
            "redirect_uri": redirect_uri.as_str(),
        }),
        &format!(
            "The customer confirmed code {code} and continued in the phone's browser at\n  \
             {redirect_uri}\nwhere the server finished the login.\n"
        ),
    );
    Ok(())
}

/// How the login `id` ended, as soon as it has: watched (every change this instance
/// makes, or hears of from the others on a shared store).
async fn end_of(client: &VippsClient, id: &LoginId) -> Result<LoginEnd, Error> {
    loop {
        let mut status = client.watch(id).await?;
        loop {
            if let Some(end) = LoginEnd::of(&status.borrow_and_update()) {
                return Ok(end);
            }
            if status.changed().await.is_err() {
                // The client stopped tracking this login: watch it afresh (that reads it).
                break;
            }
        }
    }
}

/// Shows a spinner while `until` runs; Ctrl-C cancels the login and ends with exit 130.
async fn waiting<T>(
    client: &VippsClient,
    started: &StartedLogin,
    what: &str,
    ui: Ui,
    interrupted: &mut (impl Future<Output = std::io::Result<()>> + Unpin),
    until: impl Future<Output = Result<T, Error>>,
) -> Result<T, Failure> {
    let message = || {
        format!(
            "{what} · {} left · Ctrl-C cancels",
            output::remaining(started.expires_at, client.config().clock().as_ref())
        )
    };
    let spinner = ui.spinner(message());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // In `--json` mode every change of the login's status is a `status` line.
    let mut statuses = if ui.json {
        client.watch(&started.id).await.ok()
    } else {
        None
    };
    let mut last_status = LoginStatus::Pending.as_str();
    tokio::pin!(until);
    let outcome = loop {
        tokio::select! {
            outcome = &mut until => break outcome.map_err(Failure::from),
            _ = &mut *interrupted => {
                spinner.finish_and_clear();
                cancel(client, &started.id, ui).await;
                ui.event("status", json!({ "status": LoginStatus::Cancelled.as_str() }));
                return Err(Failure::interrupted());
            }
            changed = next_status(statuses.as_mut()) => match changed {
                Some(status) if status != last_status => {
                    last_status = status;
                    ui.event("status", json!({ "status": status }));
                }
                Some(_) => {}
                None => statuses = None,
            },
            _ = tick.tick() => spinner.set_message(message()),
        }
    };
    spinner.finish_and_clear();
    outcome
}

/// The next status of a watched login (`None` when the watch ended); never resolves
/// without a watch.
async fn next_status(
    watch: Option<&mut tokio::sync::watch::Receiver<LoginStatus>>,
) -> Option<&'static str> {
    let Some(watch) = watch else {
        return std::future::pending().await;
    };
    watch.changed().await.ok()?;
    Some(watch.borrow_and_update().as_str())
}

/// Best effort: a cancel that fails is reported but changes nothing about the exit code.
async fn cancel(client: &VippsClient, id: &LoginId, ui: Ui) {
    match client.cancel(id).await {
        // Vipps has no cancel call: the request stays in the app until it expires.
        Ok(()) => {
            ui.say("Cancelled: this login is not completed even if the customer confirms it now.")
        }
        Err(error) => ui.say(&format!("Could not cancel cleanly: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ClientArgs;

    fn args(phone: &str) -> LoginArgs {
        LoginArgs {
            phone: phone.to_owned(),
            scope: "openid name phoneNumber".to_owned(),
            binding_message: None,
            expiry: None,
            redirect_uri: None,
            redis_url: None,
            json: false,
            client: ClientArgs {
                issuer: None,
                client_id: None,
                client_auth: None,
                merchant_serial_number: None,
            },
        }
    }

    #[test]
    fn plan_validates_every_input() {
        assert!(plan(&args("+47 123 45 678")).is_ok());
        assert_eq!(plan(&args("12")).err().map(|f| f.exit), Some(2));

        let mut a = args("4712345678");
        a.expiry = Some("30".into());
        assert_eq!(plan(&a).err().map(|f| f.code), Some("invalid_input"));
        a.expiry = Some("soon".into());
        assert_eq!(plan(&a).err().map(|f| f.code), Some("invalid_input"));
        a.expiry = Some("120".into());
        assert!(plan(&a).is_ok());

        a.binding_message = Some("no".into());
        assert_eq!(plan(&a).err().map(|f| f.exit), Some(2));
        a.binding_message = Some("DESK-42".into());
        assert!(plan(&a).is_ok());

        a.redirect_uri = Some("not a url".into());
        assert_eq!(plan(&a).err().map(|f| f.code), Some("invalid_input"));
        a.redirect_uri = Some("https://shop.example/welcome".into());

        a.redis_url = Some("redis//:s3cret@nowhere".into());
        let failure = plan(&a).err();
        assert_eq!(failure.as_ref().map(|f| f.code), Some("invalid_input"));
        assert!(failure.is_some_and(|f| !f.message.contains("s3cret")));
        a.redis_url = Some("  ".into());
        assert!(plan(&a).is_ok_and(|p| p.redis_url.is_none()));
        a.redis_url = Some("redis://:s3cret@127.0.0.1:6379".into());
        assert!(plan(&a).is_ok_and(|p| p.redis_url.is_some()));
    }

    #[test]
    fn a_binding_message_is_generated() {
        let plan = plan(&args("4712345678")).ok();
        assert!(plan.is_some_and(|p| !p.binding_message.to_string().is_empty()));
    }
}
