//! The public view of a login request: its flow, its status and the snapshot the
//! control API lists.

use serde::{Deserialize, Serialize};

/// Where a login ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RequestFlow {
    /// Variant 1: the login ends in the app; the merchant polls (or gets a webhook ping).
    FinishInApp,
    /// Variant 2 (`requested_flow=login_to_webpage`): the phone's browser opens
    /// `redirect_uri?code=...`.
    LoginToWebpage,
}

/// The state of a simulated login request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RequestStatus {
    /// Waiting for the customer.
    Pending,
    /// The customer approved; tokens (or the code) not collected yet.
    Approved,
    /// The customer declined.
    Denied,
    /// The request timed out.
    Expired,
    /// Tokens were issued (poll answered or code exchanged).
    Completed,
}

/// A login request as the control API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SimRequest {
    /// The `auth_req_id` the start call returned.
    pub auth_req_id: String,
    /// The client that started it.
    pub client_id: String,
    /// The customer's number (digits with country code).
    pub msisdn: String,
    /// The binding message, if one was sent.
    pub binding_message: Option<String>,
    /// Requested scopes, `openid` included.
    pub scopes: Vec<String>,
    /// Current status.
    pub status: RequestStatus,
    /// Finish in app or continue in browser.
    pub flow: RequestFlow,
    /// Whether the request has reached the phone (false while push is off and the
    /// phone page has not been opened).
    pub delivered: bool,
    /// The registered redirect URI (variant 2).
    pub redirect_uri: Option<String>,
    /// Where the phone's browser goes after approval (variant 2, once approved).
    pub redirect_to: Option<String>,
    /// Seconds until the request expires (0 once expired).
    pub expires_in: u64,
}
