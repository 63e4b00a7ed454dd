//! The login engine: one record per login in the [`Store`](crate::Store), moved from
//! state to state by conditional writes only (see [`state`] for the states).
//!
//! What a record holds: the upstream `auth_req_id` and nonce (never shown), the flow, the
//! deadline and poll interval, which instance polls it, the keyed hash of the phone
//! number (for limits), and the front end's [`LoginContext`]. Front ends keep no login
//! record of their own.

pub(crate) mod background;
pub(crate) mod engine;
pub(crate) mod keys;
pub(crate) mod policy;
pub(crate) mod sealed;
pub mod state;

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::{BindingMessage, LoginId, LoginStatus};

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

/// A login as a front end sees it: its state and its context. No secrets in it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginView {
    /// The login's id.
    pub id: LoginId,
    /// Where it stands.
    pub status: LoginStatus,
    /// What the front end stored with it.
    pub context: LoginContext,
    /// Whether it continues in the phone's browser.
    pub continue_in_browser: bool,
    /// The confirmation code shown to the customer, when one was sent.
    pub binding_message: Option<BindingMessage>,
    /// The number, masked (`47******78`), for screens and logs.
    pub masked_hint: String,
    /// When the customer's time to confirm runs out.
    pub expires_at: SystemTime,
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
