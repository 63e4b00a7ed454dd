//! Driving the core engine for a session: start, check (and redeem), cancel, and the
//! phone browser's return. No login state is kept here: the engine's record holds it,
//! with the session's owner token in its context.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;
use vipps_login_core::{
    BindingMessage, Error, Flow, LoginContext, LoginHint, LoginId, LoginRequest, LoginStatus,
    LoginView, Msisdn,
};

use super::context::RequestInfo;
use super::outcome::Outcome;
use crate::hooks::{CompletedLogin, Completion, FlowChoice, StartContext};
use crate::return_to::safe_return_to;
use crate::session::Session;
use crate::shared::Shared;
use crate::user::StoredUser;

/// What the start form and the JSON API send.
#[derive(Debug, Default, Deserialize)]
pub(super) struct StartInput {
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub return_to: Option<String>,
    #[serde(default)]
    pub flow: Option<FlowChoice>,
    #[serde(default)]
    pub csrf_token: Option<String>,
}

pub(super) enum StartFailure {
    InvalidPhone(Error),
    Outcome(Outcome),
}

/// The key the per-client limit counts under: the IP address, IPv6 grouped by /64 (one
/// household or device usually holds a whole /64).
fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip6:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn flow_name(flow: FlowChoice) -> &'static str {
    match flow {
        FlowChoice::FinishInApp => "finish_in_app",
        FlowChoice::ContinueInBrowser => "continue_in_browser",
    }
}

/// Starts a login for `session` (new sessions are saved here: a start is the first thing
/// stored for a visitor).
pub(super) async fn start(
    shared: &Arc<Shared>,
    session: &mut Session,
    input: &StartInput,
    info: &RequestInfo,
) -> Result<LoginView, StartFailure> {
    let msisdn: Msisdn = input.phone.parse().map_err(StartFailure::InvalidPhone)?;
    let return_to = input.return_to.as_deref().and_then(safe_return_to);
    let ip = shared.client_ip.get(&info.headers, &info.extensions);
    if ip.is_none()
        && !shared
            .no_client_ip_reported
            .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::warn!(
            "the per-IP start limit cannot apply: requests carry no client address; serve \
             with axum's into_make_service_with_connect_info (or insert ConnectInfo), or \
             configure ClientIp::Header behind a proxy"
        );
    }
    let ctx = StartContext {
        msisdn: msisdn.clone(),
        requested_flow: input.flow,
        return_to: return_to.clone(),
        client_ip: ip,
        headers: info.headers.clone(),
    };
    let flow = shared.flow_chooser.choose(&ctx).await;
    let mut request = LoginRequest::new(LoginHint::Msisdn(msisdn.clone()))
        .binding_message(BindingMessage::generate());
    match shared.completion.scopes(return_to.as_deref()).await {
        Some(scopes) => request = request.scopes(scopes),
        None => {
            if let Some(scopes) = &shared.scopes {
                request = request.scopes(scopes.clone());
            }
        }
    }
    if let Some(expiry) = shared.requested_expiry {
        request = request.requested_expiry(expiry.into());
    }
    if flow == FlowChoice::ContinueInBrowser {
        let Some(redirect_uri) = shared.callback_url() else {
            tracing::error!("continue-in-browser chosen but no public_base_url is configured");
            return Err(StartFailure::Outcome(Outcome::error(&Error::Config(
                "continue-in-browser needs a public base URL".into(),
            ))));
        };
        request = request.flow(Flow::ContinueInBrowser { redirect_uri });
    }
    // The number rides along (sealed in the store) for the completion step's phone check.
    let mut context = LoginContext::new(session.data.owner.clone())
        .extra(json!({ "flow": flow_name(flow), "msisdn": msisdn.as_str() }));
    if let Some(r) = &return_to {
        context = context.return_to(r.clone());
    }
    if let Some(ip) = ip {
        context = context.client_key(client_key(ip));
    }
    let started = match shared.client.start_login(request, context).await {
        Ok(started) => started,
        Err(e) => {
            tracing::info!(phone = %msisdn.masked(), code = e.code(), "login start failed");
            return Err(match e {
                Error::InvalidPhoneNumber(_) => StartFailure::InvalidPhone(e),
                other => StartFailure::Outcome(Outcome::error(&other)),
            });
        }
    };
    if session.is_new {
        shared
            .save_session(session)
            .await
            .map_err(StartFailure::Outcome)?;
    }
    tracing::info!(phone = %msisdn.masked(), login_id = %started.id, flow = ?flow, "login started");
    shared
        .client
        .login(&started.id)
        .await
        .map_err(|e| StartFailure::Outcome(Outcome::error(&e)))
}

/// Where a session's login stands, as the waiting page and the status API show it.
pub(super) enum View {
    Waiting(LoginView),
    Done(Outcome),
    LoggedIn {
        redirect: String,
        user: Box<StoredUser>,
    },
    /// A replaced completion step sent the operator elsewhere.
    Redirect(String),
}

/// The login `id` of `session`, or `None` when it is not this session's (or unknown).
async fn own_login(
    shared: &Shared,
    session: &Session,
    id: &str,
) -> Result<Option<LoginView>, Outcome> {
    let Ok(login_id) = id.parse::<LoginId>() else {
        return Ok(None);
    };
    match shared.client.login(&login_id).await {
        Ok(view) if view.context.owner() == session.data.owner => Ok(Some(view)),
        Ok(_) | Err(Error::LoginNotFound) => Ok(None),
        Err(e) => Err(Outcome::error(&e)),
    }
}

fn logged_in_with(shared: &Shared, session: &Session, id: &str) -> Option<View> {
    let user = session.data.user.as_ref().filter(|u| u.login_id == id)?;
    Some(View::LoggedIn {
        redirect: shared.continue_url.clone(),
        user: Box::new(user.clone()),
    })
}

/// Checks a login of `session`; an approved one is redeemed here, once, and the session
/// logged in (or the replaced completion step runs).
pub(super) async fn check(shared: &Arc<Shared>, session: &mut Session, id: &str) -> View {
    let view = match own_login(shared, session, id).await {
        Ok(Some(view)) => view,
        Ok(None) => {
            return logged_in_with(shared, session, id)
                .unwrap_or_else(|| View::Done(Outcome::not_found()));
        }
        Err(o) => return View::Done(o),
    };
    match &view.status {
        LoginStatus::Pending | LoginStatus::AwaitingBrowser => View::Waiting(view),
        LoginStatus::Approved(_) => redeem_here(shared, session, view).await,
        LoginStatus::Redeemed if !view.continue_in_browser => logged_in_with(shared, session, id)
            .unwrap_or_else(|| View::Done(Outcome::error(&Error::AlreadyCompleted))),
        other => {
            if let Some(Err(why)) = other.outcome() {
                let return_to = view.context.return_to_path();
                if let Some(Completion::Redirect { location }) =
                    shared.completion.ended(&view.id, return_to, &why).await
                {
                    return View::Redirect(location);
                }
            }
            View::Done(Outcome::from_status(other).unwrap_or_else(Outcome::not_found))
        }
    }
}

/// The number the login was started for, from its context.
pub(super) fn started_for(view: &LoginView) -> Option<Msisdn> {
    view.context
        .extra_value()
        .get("msisdn")
        .and_then(|m| m.as_str())
        .and_then(|m| m.parse().ok())
}

async fn redeem_here(shared: &Arc<Shared>, session: &mut Session, view: LoginView) -> View {
    let id = view.id.clone();
    let Some(msisdn) = started_for(&view) else {
        return View::Done(Outcome::not_found());
    };
    let identity = match shared.client.redeem(&id, &session.data.owner).await {
        Ok(identity) => identity,
        Err(Error::AlreadyCompleted) => {
            return logged_in_with(shared, session, id.as_str())
                .unwrap_or_else(|| View::Done(Outcome::error(&Error::AlreadyCompleted)));
        }
        Err(e) => return View::Done(Outcome::error(&e)),
    };
    let completed = CompletedLogin {
        login_id: id.clone(),
        identity: Arc::clone(&identity),
        flow: FlowChoice::FinishInApp,
        msisdn,
    };
    let return_to = view.context.return_to_path().map(str::to_owned);
    let account_id = match shared
        .completion
        .complete(&completed, return_to.as_deref())
        .await
    {
        Ok(Completion::Session { account_id }) => account_id,
        Ok(Completion::Redirect { location }) => return View::Redirect(location),
        Err(e) => {
            tracing::info!(login_id = %id, "login refused by the app's hook");
            return View::Done(Outcome::rejected(&e));
        }
    };
    let user = StoredUser {
        sub: identity.sub.clone(),
        account_id,
        login_id: id.to_string(),
        logged_in_at: shared.sessions.now(),
        id_token_claims: identity.id_token_claims.clone(),
        userinfo: identity.userinfo.clone(),
    };
    shared.sessions.rotate(session).await;
    session.data.user = Some(user.clone());
    if let Err(o) = shared.save_session(session).await {
        return View::Done(o);
    }
    tracing::info!(login_id = %id, "logged in (finish in app)");
    View::LoggedIn {
        redirect: return_to.unwrap_or_else(|| shared.continue_url.clone()),
        user: Box::new(user),
    }
}

/// Cancels a login of `session`.
pub(super) async fn cancel(shared: &Shared, session: &Session, id: &str) -> Result<(), Outcome> {
    let view = own_login(shared, session, id)
        .await?
        .ok_or_else(Outcome::not_found)?;
    shared.client.cancel(&view.id).await.map_err(|e| match e {
        // Decided a moment earlier (perhaps on another instance): too late, and the
        // login stays as it is.
        Error::AlreadyCompleted => Outcome::too_late_to_cancel(),
        e => Outcome::error(&e),
    })?;
    tracing::info!(login_id = %view.id, "login cancelled");
    Ok(())
}

/// The phone's browser is back with `state` and `code`: complete and redeem the login,
/// and give the phone a session of its own.
pub(super) async fn phone_returns(
    shared: &Arc<Shared>,
    info: &RequestInfo,
    state: &str,
    code: &str,
) -> Result<Session, Outcome> {
    // Callbacks count per client address, as starts do (in the engine, in its store).
    let client = shared
        .client_ip
        .get(&info.headers, &info.extensions)
        .map(client_key);
    let (view, _) = shared
        .client
        .complete_browser_from(state, code, client.as_deref())
        .await
        .map_err(|e| {
            tracing::info!(code = e.code(), "browser callback refused");
            Outcome::error(&e)
        })?;
    let msisdn = started_for(&view).ok_or_else(Outcome::not_found)?;
    let identity = shared
        .client
        .redeem(&view.id, view.context.owner())
        .await
        .map_err(|e| Outcome::error(&e))?;
    let completed = CompletedLogin {
        login_id: view.id.clone(),
        identity: Arc::clone(&identity),
        flow: FlowChoice::ContinueInBrowser,
        msisdn,
    };
    let account_id = shared
        .hook
        .on_login(&completed)
        .await
        .map_err(|e| Outcome::rejected(&e))?;
    let mut session = shared.sessions.new_session();
    session.data.user = Some(StoredUser {
        sub: identity.sub.clone(),
        account_id,
        login_id: view.id.to_string(),
        logged_in_at: shared.sessions.now(),
        id_token_claims: identity.id_token_claims.clone(),
        userinfo: identity.userinfo.clone(),
    });
    shared.save_session(&session).await?;
    tracing::info!(login_id = %view.id, "logged in (continue in browser)");
    Ok(session)
}

impl Shared {
    pub(crate) fn callback_url(&self) -> Option<url::Url> {
        let mut base = self.public_base_url.clone()?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.join(&format!("{}/callback", self.prefix.trim_start_matches('/')))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::from([0u8; 4]));
        let b: IpAddr = "2001:db8:1:2:bbbb::9"
            .parse()
            .unwrap_or(IpAddr::from([0u8; 4]));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0u8; 4]));
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap_or(IpAddr::from([0u8; 4]));
        assert_eq!(client_key(mapped), "ip:192.0.2.7");
    }
}
