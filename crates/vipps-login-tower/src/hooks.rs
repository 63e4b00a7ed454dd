//! The app's two points of control: the login hook (link or create the app's own account)
//! and the flow chooser (finish in the app, or continue in the phone's browser).

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use vipps_login_core::{Identity, LoginId, Msisdn, Scopes};

/// How a login ends, chosen per login by a [`FlowChooser`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FlowChoice {
    /// Variant 1: the customer confirms in the app and the login ends there; the browser
    /// that started it (the clerk's) is logged in.
    #[default]
    FinishInApp,
    /// Variant 2: after confirming, the customer's phone browser opens
    /// `{public_base_url}{prefix}/callback` and that browser is logged in.
    ContinueInBrowser,
}

/// What a [`FlowChooser`] knows about a login about to start.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StartContext {
    /// The customer's number (its `Debug` is masked).
    pub msisdn: Msisdn,
    /// The `flow` field of the start form or JSON body, if the client sent one.
    pub requested_flow: Option<FlowChoice>,
    /// The safe `return_to` of the start request, if any.
    pub return_to: Option<String>,
    /// The client IP as configured with [`ClientIp`](crate::ClientIp).
    pub client_ip: Option<IpAddr>,
    /// The headers of the start request.
    pub headers: HeaderMap,
}

/// Decides per login whether it finishes in the app or continues in the phone's browser.
///
/// Implemented for [`FlowChoice`] (always that choice), for [`RequestedFlow`] (the
/// client's `flow` field, default finish-in-app), and for async closures
/// `Fn(StartContext) -> impl Future<Output = FlowChoice>`.
#[async_trait]
pub trait FlowChooser: Send + Sync + 'static {
    /// The flow of the login described by `ctx`.
    async fn choose(&self, ctx: &StartContext) -> FlowChoice;
}

#[async_trait]
impl FlowChooser for FlowChoice {
    async fn choose(&self, _ctx: &StartContext) -> FlowChoice {
        *self
    }
}

/// A [`FlowChooser`] that honours the `flow` field the client sent (`"finish_in_app"` or
/// `"continue_in_browser"`), defaulting to finish-in-app.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestedFlow;

#[async_trait]
impl FlowChooser for RequestedFlow {
    async fn choose(&self, ctx: &StartContext) -> FlowChoice {
        ctx.requested_flow.unwrap_or_default()
    }
}

#[async_trait]
impl<F, Fut> FlowChooser for F
where
    F: Fn(StartContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = FlowChoice> + Send,
{
    async fn choose(&self, ctx: &StartContext) -> FlowChoice {
        self(ctx.clone()).await
    }
}

/// A successful login, handed to the [`LoginHook`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CompletedLogin {
    /// The login's id (as shown in the layer's URLs).
    pub login_id: LoginId,
    /// The verified identity: `sub`, ID-token claims and userinfo.
    pub identity: Arc<Identity>,
    /// Which variant ended it.
    pub flow: FlowChoice,
    /// The number the login was started for, as the engine gives it back to the login's
    /// owner. When the `phoneNumber` scope was asked, the engine checked that the number
    /// Vipps verified (in the userinfo) is this one.
    pub msisdn: Msisdn,
}

/// The app refused a login in its [`LoginHook`]; the message is shown to the person at
/// the screen.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct HookError {
    message: String,
    status: StatusCode,
}

impl HookError {
    /// A refusal shown as `message` with status 403.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: StatusCode::FORBIDDEN,
        }
    }

    /// The same refusal answered with `status` instead of 403.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The message shown to the user.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status of the page or JSON answer.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// Called once after every successful login, before the browser gets its session: link
/// the Vipps identity to the app's own account (or create one) and return the account id,
/// which [`VippsUser::account_id`](crate::VippsUser::account_id) then carries.
///
/// Implemented for async closures `Fn(CompletedLogin) -> impl Future<Output =
/// Result<String, HookError>>`. The default hook uses the Vipps `sub` as the account id.
///
/// ```
/// use vipps_login_tower::{CompletedLogin, HookError, LoginHook};
/// struct Members;
/// #[async_trait::async_trait]
/// impl LoginHook for Members {
///     async fn on_login(&self, login: &CompletedLogin) -> Result<String, HookError> {
///         if login.identity.userinfo.name.is_none() {
///             return Err(HookError::new("The customer did not share a name."));
///         }
///         Ok(format!("member-{}", login.identity.sub))
///     }
/// }
/// ```
#[async_trait]
pub trait LoginHook: Send + Sync + 'static {
    /// Returns the app's account id for this login, or a refusal to show.
    async fn on_login(&self, login: &CompletedLogin) -> Result<String, HookError>;
}

#[async_trait]
impl<F, Fut> LoginHook for F
where
    F: Fn(CompletedLogin) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, HookError>> + Send,
{
    async fn on_login(&self, login: &CompletedLogin) -> Result<String, HookError> {
        self(login.clone()).await
    }
}

/// The default hook: the account id is the Vipps `sub`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SubIsAccount;

#[async_trait]
impl LoginHook for SubIsAccount {
    async fn on_login(&self, login: &CompletedLogin) -> Result<String, HookError> {
        Ok(login.identity.sub.clone())
    }
}

/// What to do once an operator's finish-in-app login is redeemed on the layer's pages.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Completion {
    /// Log the browser in: a session for `account_id` (the default).
    Session {
        /// The app's account id ([`VippsUser::account_id`](crate::VippsUser::account_id)).
        account_id: String,
    },
    /// No session: send the browser to `location` (a same-origin path or the caller's own
    /// URL), e.g. an identity provider returning an authorization code to its client.
    Redirect {
        /// Where the browser goes next.
        location: String,
    },
}

/// The step after an operator's login is redeemed, replaceable with
/// [`VippsLoginLayerBuilder::completion`](crate::VippsLoginLayerBuilder::completion):
/// the layer's pages, CSRF and limits stay the same, only the result goes elsewhere.
/// The default logs the browser in through the [`LoginHook`].
///
/// ```
/// use vipps_login_tower::{CompletedLogin, Completion, CompletionStep, HookError};
/// struct HandBack;
/// #[async_trait::async_trait]
/// impl CompletionStep for HandBack {
///     async fn complete(&self, login: &CompletedLogin, return_to: Option<&str>)
///         -> Result<Completion, HookError> {
///         let to = return_to.ok_or_else(|| HookError::new("No pending request."))?;
///         Ok(Completion::Redirect { location: format!("{to}?login={}", login.login_id) })
///     }
/// }
/// ```
#[async_trait]
pub trait CompletionStep: Send + Sync + 'static {
    /// Decides what the redeemed `login` leads to; `return_to` is the safe path the login
    /// was started with.
    async fn complete(
        &self,
        login: &CompletedLogin,
        return_to: Option<&str>,
    ) -> Result<Completion, HookError>;

    /// The scopes to ask Vipps for in a login started with `return_to` (default: the
    /// layer's). An identity provider asks for what its client asked.
    async fn scopes(&self, _return_to: Option<&str>) -> Option<Scopes> {
        None
    }

    /// Where the browser goes when a login started with `return_to` ends without an
    /// identity (declined, expired, cancelled, failed: `why` says which). `None` (the
    /// default) shows the layer's result page.
    async fn ended(
        &self,
        _login_id: &LoginId,
        _return_to: Option<&str>,
        _why: &vipps_login_core::Error,
    ) -> Option<Completion> {
        None
    }
}

/// The default completion: a session for the account the [`LoginHook`] names.
pub(crate) struct SessionCompletion(pub Arc<dyn LoginHook>);

#[async_trait]
impl CompletionStep for SessionCompletion {
    async fn complete(
        &self,
        login: &CompletedLogin,
        _return_to: Option<&str>,
    ) -> Result<Completion, HookError> {
        let account_id = self.0.on_login(login).await?;
        Ok(Completion::Session { account_id })
    }
}
