//! The stored form of one login, and what instances tell each other about logins.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::policy::CoolDowns;
use super::view::{FlowKind, LoginContext, LoginKind, LoginView};
use crate::clock::from_unix_ms;
use crate::{BindingMessage, LoginId, LoginStatus, Msisdn};

/// A login as stored (sealed). No `Debug`: it holds the `auth_req_id`, the nonce, the
/// number it was started for and, once approved, personal data.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct LoginRecord {
    /// Grows by one with every write; makes every write's bytes unique.
    pub version: u64,
    pub status: LoginStatus,
    /// A real Vipps login, or a decoy of the enumeration-resistant mode.
    #[serde(default)]
    pub kind: LoginKind,
    /// Empty for a decoy (nothing was sent to Vipps).
    pub auth_req_id: String,
    pub nonce: String,
    pub browser: bool,
    /// Unix milliseconds.
    pub expires_at: u64,
    pub interval_ms: u64,
    /// The instance that polls this login.
    pub poller: String,
    /// Keyed hash of the phone number (empty for customer-token hints).
    pub number_key: String,
    /// The number the login was started for (none for customer-token hints).
    #[serde(default)]
    pub number: Option<String>,
    /// Whether the login asked Vipps for the verified number (`phoneNumber`): then the
    /// verified number must be the started one before the login may succeed.
    #[serde(default)]
    pub checks_number: bool,
    pub cool_downs: CoolDowns,
    pub binding_message: Option<String>,
    pub masked_hint: String,
    pub context: LoginContext,
}

impl LoginRecord {
    pub(crate) fn expires_at(&self) -> SystemTime {
        from_unix_ms(self.expires_at)
    }

    pub(crate) fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    /// Which way the login finishes.
    pub(crate) fn flow(&self) -> FlowKind {
        if self.browser {
            FlowKind::ContinueInBrowser
        } else {
            FlowKind::FinishInApp
        }
    }

    /// The number the login was started for, typed.
    pub(crate) fn started_number(&self) -> Option<Msisdn> {
        self.number.as_deref().and_then(|n| Msisdn::parse(n).ok())
    }

    pub(crate) fn view(&self, id: &LoginId) -> LoginView {
        LoginView {
            id: id.clone(),
            status: self.status.clone(),
            context: self.context.clone(),
            continue_in_browser: self.browser,
            kind: self.kind,
            binding_message: self
                .binding_message
                .as_deref()
                .and_then(|b| BindingMessage::parse(b).ok()),
            masked_hint: self.masked_hint.clone(),
            expires_at: self.expires_at(),
            number: self.started_number(),
            read_as: None,
        }
    }
}

/// A record with the exact bytes it was read as (the compare-and-swap's expectation).
pub(crate) struct Loaded {
    pub bytes: Vec<u8>,
    pub record: LoginRecord,
}

impl Loaded {
    /// The view of the record, remembering the bytes it was read as.
    pub(crate) fn view(&self, id: &LoginId) -> LoginView {
        let mut view = self.record.view(id);
        view.read_as = Some(super::view::ReadAs(self.bytes.as_slice().into()));
        view
    }
}

/// What instances tell each other through the store's notifications.
#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum Message {
    /// A login changed state (on instance `from`, whose own waiters already know).
    Transition {
        id: LoginId,
        #[serde(default)]
        from: String,
    },
    /// A webhook ping arrived for a login: its poller should poll now.
    Wake { id: LoginId },
    /// Instance `from` is shutting down and let go of its logins: take them over now.
    Released { from: String },
}
