//! Driving the core engine for a session: start, check (and redeem), cancel, and the
//! phone browser's return. No login state is kept here: the engine's record holds it,
//! with the session's owner token in its context.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use serde::Deserialize;
use vipps_login_core::audit::Actor;
use vipps_login_core::{
    BindingMessage, Error, Flow, FlowKind, LoginContext, LoginEnd, LoginHint, LoginId,
    LoginRequest, LoginView, Msisdn, StartedLogin,
};

use super::outcome::Outcome;
use super::request::{RequestInfo, save_session, session_cookie};
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

/// What the JSON API's user-exists question sends.
#[derive(Debug, Default, Deserialize)]
pub(super) struct UserExistsInput {
    #[serde(default)]
    pub phone: String,
}

/// The code (and text key) of a start the user-exists pre-check stopped.
pub(super) const NO_VIPPS: &str = "no_vipps";

pub(super) enum StartFailure {
    InvalidPhone(Error),
    /// Vipps' user-exists pre-check says the number has no Vipps: nothing was sent.
    NoVipps,
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

/// The request's client address (for the per-client limits), reporting once when
/// requests carry none.
fn client_address(shared: &Shared, info: &RequestInfo) -> Option<IpAddr> {
    let ip = shared.client_ip.get(&info.headers, &info.extensions);
    if ip.is_none()
        && !shared
            .no_client_ip_reported
            .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::warn!(
            "the per-IP limits cannot apply: requests carry no client address; serve \
             with axum's into_make_service_with_connect_info (or insert ConnectInfo), or \
             configure ClientIp::Header behind a proxy"
        );
    }
    ip
}

/// Vipps' user-exists pre-check for `msisdn`, counted against the user-exists limit of
/// the request's client key (in the engine, in its store).
async fn ask_user_exists(
    shared: &Shared,
    msisdn: &Msisdn,
    client: Option<IpAddr>,
) -> Result<bool, Error> {
    let key = client.map(client_key);
    let exists = shared.client.user_exists_from(msisdn, key.as_deref()).await;
    match &exists {
        Ok(exists) => tracing::info!(phone = %msisdn.masked(), exists, "user-exists asked"),
        Err(e) => tracing::info!(phone = %msisdn.masked(), code = e.code(), "user-exists refused"),
    }
    exists
}

/// The JSON API's user-exists question: whether `phone` has Vipps. Nothing is stored
/// but the client's count; no push is sent.
pub(super) async fn user_exists(
    shared: &Shared,
    input: &UserExistsInput,
    info: &RequestInfo,
) -> Result<bool, StartFailure> {
    let msisdn: Msisdn = input.phone.parse().map_err(StartFailure::InvalidPhone)?;
    let client = client_address(shared, info);
    ask_user_exists(shared, &msisdn, client)
        .await
        .map_err(|e| match e {
            Error::RateLimited { retry_after } => StartFailure::Outcome(
                Outcome::user_exists_limited(retry_after.unwrap_or(Duration::from_secs(60))),
            ),
            e => StartFailure::Outcome(Outcome::error(&e)),
        })
}

/// The continue-in-browser `redirect_uri`: the public base URL plus `{prefix}/callback`.
fn callback_url(shared: &Shared) -> Option<url::Url> {
    let mut base = shared.public_base_url.clone()?;
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(&format!(
        "{}/callback",
        shared.prefix.trim_start_matches('/')
    ))
    .ok()
}

/// Starts a login for `session` (new sessions are saved here: a start is the first thing
/// stored for a visitor).
pub(super) async fn start(
    shared: &Arc<Shared>,
    session: &mut Session,
    input: &StartInput,
    info: &RequestInfo,
) -> Result<StartedLogin, StartFailure> {
    let msisdn: Msisdn = input.phone.parse().map_err(StartFailure::InvalidPhone)?;
    let return_to = input.return_to.as_deref().and_then(safe_return_to);
    let ip = client_address(shared, info);
    // Asked first, when configured: a number without Vipps gets no push and no start is
    // counted. The check only ever spares a push: when it cannot answer (Vipps down, this
    // client over its user-exists limit) the start goes on under its own limits, and
    // Vipps itself refuses a number it does not know.
    if shared.check_user_exists {
        match ask_user_exists(shared, &msisdn, ip).await {
            Ok(true) => {}
            Ok(false) => return Err(StartFailure::NoVipps),
            Err(e) => {
                tracing::warn!(
                    code = e.code(),
                    "user-exists pre-check skipped; starting anyway"
                );
            }
        }
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
        let Some(redirect_uri) = callback_url(shared) else {
            tracing::error!("continue-in-browser chosen but no public_base_url is configured");
            return Err(StartFailure::Outcome(Outcome::error(&Error::Config(
                "continue-in-browser needs a public base URL".into(),
            ))));
        };
        request = request.flow(Flow::ContinueInBrowser { redirect_uri });
    }
    // The engine keeps the number (sealed) and gives it back to this session only.
    let mut context = LoginContext::new(session.data.owner.clone());
    if let Some(r) = &return_to {
        context = context.return_to(r.clone());
    }
    if let Some(ip) = ip {
        context = context
            .client_key(client_key(ip))
            .client_address(ip.to_string());
    }
    // The audit trail names who started it, as the app's staff gate says.
    if let Some(staff) = info.extensions.get::<crate::StaffMember>() {
        context = context.actor(Actor::staff(staff.id.clone(), staff.name.clone()));
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
        save_session(shared, session)
            .await
            .map_err(StartFailure::Outcome)?;
    }
    tracing::info!(phone = %msisdn.masked(), login_id = %started.id, flow = ?flow, "login started");
    Ok(started)
}

/// Where a session's login stands, as the waiting page and the status API show it.
pub(super) enum View {
    Waiting {
        login: Box<LoginView>,
        /// The number the login was started for (this session's own login).
        started_for: Option<Msisdn>,
        /// The session's CSRF token, for the cancel form.
        csrf: String,
    },
    Done(Outcome),
    LoggedIn {
        redirect: String,
        user: Box<StoredUser>,
        /// The new session's cookie, when the login rotated it.
        cookie: Option<HeaderValue>,
    },
    /// A replaced completion step sent the operator elsewhere.
    Redirect(String),
}

/// The login `id` of `owner`, or `None` when it is not theirs (or unknown).
pub(super) async fn own_login(
    shared: &Shared,
    owner: &str,
    id: &str,
) -> Result<Option<LoginView>, Error> {
    let Ok(login_id) = id.parse::<LoginId>() else {
        return Ok(None);
    };
    owned_by(shared.client.login(&login_id).await, owner)
}

/// A login as read, if it is `owner`'s (`None` when it is someone else's, or unknown).
pub(super) fn owned_by(
    read: Result<LoginView, Error>,
    owner: &str,
) -> Result<Option<LoginView>, Error> {
    match read {
        Ok(view) if view.context.owner() == owner => Ok(Some(view)),
        Ok(_) | Err(Error::LoginNotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

fn logged_in(shared: &Shared, session: &Session, user: StoredUser, redirect: String) -> View {
    View::LoggedIn {
        redirect,
        user: Box::new(user),
        cookie: session_cookie(shared, session),
    }
}

/// The session is logged in with login `id` already (its result came here).
fn logged_in_with(shared: &Shared, session: &Session, id: &str) -> Option<View> {
    let user = session.data.user.as_ref().filter(|u| u.login_id == id)?;
    Some(logged_in(
        shared,
        session,
        user.clone(),
        shared.continue_url.clone(),
    ))
}

/// Checks login `id` of `session`, as read for it (by [`own_login`] or [`owned_by`]); an
/// approved one is redeemed here, once, and the session logged in (or the replaced
/// completion step runs).
pub(super) async fn check(
    shared: &Arc<Shared>,
    session: &mut Session,
    id: &str,
    read: Result<Option<LoginView>, Error>,
) -> View {
    let view = match read {
        Ok(Some(view)) => view,
        Ok(None) => {
            return logged_in_with(shared, session, id)
                .unwrap_or_else(|| View::Done(Outcome::not_found()));
        }
        Err(e) => return View::Done(Outcome::error(&e)),
    };
    let flow = view.flow();
    let Some(end) = view.end() else {
        return View::Waiting {
            started_for: view.number_for(&session.data.owner).cloned(),
            login: Box::new(view),
            csrf: session.data.csrf.clone(),
        };
    };
    let in_app = flow == FlowKind::FinishInApp;
    match end {
        LoginEnd::Approved(_) if in_app => redeem_here(shared, session, view).await,
        LoginEnd::Redeemed if in_app => {
            logged_in_with(shared, session, id).unwrap_or_else(|| View::Done(ended(&end, flow)))
        }
        end => {
            if let Some(why) = end.error() {
                let return_to = view.context.return_to_path();
                if let Some(Completion::Redirect { location }) =
                    shared.completion.ended(&view.id, return_to, &why).await
                {
                    return View::Redirect(location);
                }
            }
            View::Done(ended(&end, flow))
        }
    }
}

fn ended(end: &LoginEnd, flow: FlowKind) -> Outcome {
    Outcome::ended(end, flow).unwrap_or_else(Outcome::not_found)
}

async fn redeem_here(shared: &Arc<Shared>, session: &mut Session, view: LoginView) -> View {
    let id = view.id.clone();
    let redeemed = match shared.client.redeem_read(&view, &session.data.owner).await {
        Ok(redeemed) => redeemed,
        Err(Error::AlreadyCompleted) => {
            return logged_in_with(shared, session, id.as_str())
                .unwrap_or_else(|| View::Done(Outcome::error(&Error::AlreadyCompleted)));
        }
        Err(e) => return View::Done(Outcome::error(&e)),
    };
    let Some(msisdn) = redeemed.started_for else {
        return View::Done(Outcome::not_found());
    };
    let identity = redeemed.identity;
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
    shared.sessions.rotate(session);
    session.data.user = Some(user.clone());
    if let Err(o) = save_session(shared, session).await {
        return View::Done(o);
    }
    tracing::info!(login_id = %id, "logged in (finish in app)");
    let redirect = return_to.unwrap_or_else(|| shared.continue_url.clone());
    logged_in(shared, session, user, redirect)
}

/// Cancels a login of `session`.
pub(super) async fn cancel(shared: &Shared, session: &Session, id: &str) -> Result<(), Outcome> {
    let view = own_login(shared, &session.data.owner, id)
        .await
        .map_err(|e| Outcome::error(&e))?
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

/// The phone's browser is back with `code` (and `state` when Vipps returned it): complete
/// and redeem the login, and give the phone a session of its own.
pub(super) async fn phone_returns(
    shared: &Arc<Shared>,
    info: &RequestInfo,
    state: Option<&str>,
    code: &str,
) -> Result<Session, Outcome> {
    // Callbacks count per client address, as starts do (in the engine, in its store).
    let client = shared
        .client_ip
        .get(&info.headers, &info.extensions)
        .map(client_key);
    let completed = match state {
        Some(state) => {
            shared
                .client
                .complete_browser_from(state, code, client.as_deref())
                .await
        }
        None => {
            shared
                .client
                .complete_browser_code(code, client.as_deref())
                .await
        }
    };
    let (view, _) = completed.map_err(|e| {
        tracing::info!(code = e.code(), "browser callback refused");
        Outcome::error(&e)
    })?;
    let redeemed = shared
        .client
        .redeem_login(&view.id, view.context.owner())
        .await
        .map_err(|e| Outcome::error(&e))?;
    let msisdn = redeemed.started_for.ok_or_else(Outcome::not_found)?;
    let identity = redeemed.identity;
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
    save_session(shared, &session).await?;
    tracing::info!(login_id = %view.id, "logged in (continue in browser)");
    Ok(session)
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
