//! What a front end gives the engine with a login ([`LoginContext`]) and what it gets
//! back ([`LoginView`], [`Transition`]).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::end::LoginEnd;
use crate::audit::Actor;
use crate::{BindingMessage, LoginId, LoginStatus, Msisdn};

/// Whether a login is a real Vipps login or a decoy of the enumeration-resistant mode (an
/// identity provider answers a number without Vipps as if it had one; nothing is sent to
/// Vipps and the decoy expires at its deadline).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LoginKind {
    /// A push was sent to the customer's app.
    #[default]
    Vipps,
    /// Nothing was sent; the login waits until its deadline and expires.
    Decoy,
}

/// Which way a login finishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowKind {
    /// The merchant gets the identity when the customer confirms in the app.
    FinishInApp,
    /// The customer's phone browser opens the merchant's page to carry on.
    ContinueInBrowser,
}

/// What a front end keeps with a login: who started it and what to do after it.
///
/// ```
/// use vipps_login_core::LoginContext;
/// let ctx = LoginContext::new("session:3f9a")
///     .return_to("/members")
///     .extra(serde_json::json!({"till": 4}))
///     .client_key("ip:192.0.2.0");
/// assert_eq!(ctx.owner(), "session:3f9a");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[must_use]
pub struct LoginContext {
    owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    return_to: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    extra: serde_json::Value,
    /// Used at the start only (rate limits); not stored.
    #[serde(skip)]
    client_key: Option<String>,
    /// Who started the login, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor: Option<Actor>,
    /// The till's or caller's address, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_address: Option<String>,
    /// The W3C `traceparent` of the span that started the login: later work on it, on
    /// any instance, continues that trace (see [`trace`](crate::trace)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trace_parent: Option<String>,
}

impl LoginContext {
    /// A context owned by `owner`: an opaque value the front end chooses (a session id,
    /// a relying party's client id). Only the owner may redeem the login.
    pub fn new(owner: impl Into<String>) -> Self {
        LoginContext {
            owner: owner.into(),
            ..LoginContext::default()
        }
    }

    /// Where the front end sends the user after the login.
    pub fn return_to(mut self, path: impl Into<String>) -> Self {
        self.return_to = Some(path.into());
        self
    }

    /// Anything else the front end wants back with the login (kept as JSON).
    pub fn extra(mut self, extra: serde_json::Value) -> Self {
        self.extra = extra;
        self
    }

    /// The key the per-client rate limit counts under (a till, an IP network, a relying
    /// party's client id). Not stored with the login.
    pub fn client_key(mut self, key: impl Into<String>) -> Self {
        self.client_key = Some(key.into());
        self
    }

    /// Names who started the login (a staff member, a relying party) in the audit trail.
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Names the till's or caller's address in the audit trail.
    pub fn client_address(mut self, address: impl Into<String>) -> Self {
        self.client_address = Some(address.into());
        self
    }

    /// Who started the login, if the front end said.
    #[must_use]
    pub fn actor_value(&self) -> Option<&Actor> {
        self.actor.as_ref()
    }

    /// The till's or caller's address, if the front end said.
    #[must_use]
    pub fn client_address_value(&self) -> Option<&str> {
        self.client_address.as_deref()
    }

    /// The W3C `traceparent` the login's spans continue, when its start was traced.
    #[must_use]
    pub fn trace_parent_value(&self) -> Option<&str> {
        self.trace_parent.as_deref()
    }

    pub(crate) fn set_trace_parent(&mut self, traceparent: Option<String>) {
        self.trace_parent = traceparent;
    }

    /// The owner given at the start.
    #[must_use]
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The return path given at the start.
    #[must_use]
    pub fn return_to_path(&self) -> Option<&str> {
        self.return_to.as_deref()
    }

    /// The extra JSON given at the start (`null` when none).
    #[must_use]
    pub fn extra_value(&self) -> &serde_json::Value {
        &self.extra
    }

    pub(crate) fn client_key_value(&self) -> Option<&str> {
        self.client_key.as_deref()
    }
}

/// A login as a front end sees it: its state, its context, and what it was started for.
/// No secrets in it; the full number only through [`number_for`](Self::number_for).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginView {
    /// The login's id.
    pub id: LoginId,
    /// Where it stands.
    pub status: LoginStatus,
    /// What the front end stored with it.
    pub context: LoginContext,
    /// Whether it continues in the phone's browser (see [`flow`](Self::flow)).
    pub continue_in_browser: bool,
    /// A real login or a decoy.
    pub kind: LoginKind,
    /// The confirmation code shown to the customer, when one was sent.
    pub binding_message: Option<BindingMessage>,
    /// The number, masked (`47******78`), for screens and logs.
    pub masked_hint: String,
    /// When the customer's time to confirm runs out.
    pub expires_at: SystemTime,
    /// The number the login was started for (none for a customer-token login).
    pub(crate) number: Option<Msisdn>,
    /// The sealed record this view was read from: redeeming it starts from these bytes
    /// instead of reading them again (a compare-and-swap notices if they changed).
    pub(crate) read_as: Option<ReadAs>,
}

/// The sealed bytes a [`LoginView`] was read from (never shown: they are sealed anyway).
#[derive(Clone)]
pub(crate) struct ReadAs(pub(crate) std::sync::Arc<[u8]>);

impl std::fmt::Debug for ReadAs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<sealed record, {} bytes>", self.0.len())
    }
}

impl LoginView {
    /// Which way the login finishes.
    #[must_use]
    pub fn flow(&self) -> FlowKind {
        if self.continue_in_browser {
            FlowKind::ContinueInBrowser
        } else {
            FlowKind::FinishInApp
        }
    }

    /// How the login ended; `None` while it waits.
    #[must_use]
    pub fn end(&self) -> Option<LoginEnd> {
        LoginEnd::of(&self.status)
    }

    /// The number the login was started for, in full, for its `owner` only (the owner
    /// given in its [`LoginContext`]); `None` for anyone else and for customer-token
    /// logins. Screens and logs use [`masked_hint`](Self::masked_hint).
    #[must_use]
    pub fn number_for(&self, owner: &str) -> Option<&Msisdn> {
        if self.context.owner() == owner {
            self.number.as_ref()
        } else {
            None
        }
    }
}

/// One change of one login's state, on any instance sharing the store.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Transition {
    /// The login.
    pub id: LoginId,
    /// Its new state's name ([`LoginStatus::as_str`]).
    pub status: &'static str,
}
