//! What every endpoint of the provider shares ([`Shared`]), and the handler of one grant
//! type at the token endpoint ([`Grant`]), which each way in registers.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::response::Response;
use url::Url;

use super::caller::Caller;
use super::form::Form;
use super::sealed_token::TokenSealer;
use super::secret_checks::SecretChecks;
use crate::keys::KeySet;
use crate::records::Records;
use crate::{ClientRegistry, OAuthError, PhoneLogin};

/// The state of one provider, shared by its endpoints.
pub(crate) struct Shared {
    pub(crate) issuer: String,
    pub(crate) registry: ClientRegistry,
    /// The bound on concurrent client-secret checks.
    pub(crate) secret_checks: SecretChecks,
    pub(crate) login: Arc<dyn PhoneLogin>,
    pub(crate) records: Records,
    pub(crate) keys: KeySet,
    pub(crate) access_token_ttl: Duration,
    pub(crate) id_token_ttl: Duration,
    pub(crate) poll_interval: Option<Duration>,
    pub(crate) slow_down_step: Duration,
    pub(crate) ciba: bool,
    pub(crate) authorization_code: bool,
    pub(crate) code_ttl: Duration,
    pub(crate) operator_page: Option<OperatorPage>,
    /// Seals the authorization requests carried to the operator page (way 2).
    pub(crate) request_sealer: TokenSealer,
    /// The grant types the token endpoint serves, each with its way's handler.
    pub(crate) grants: Vec<Arc<dyn Grant>>,
}

/// Where `/authorize` sends the operator's browser for authorization request `id`.
pub(crate) type OperatorPage = Arc<dyn Fn(&str) -> Url + Send + Sync>;

impl Shared {
    /// The absolute URL of the endpoint at `path`.
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The handler of `grant_type`, when this provider serves it.
    pub(crate) fn grant(&self, grant_type: &str) -> Option<&Arc<dyn Grant>> {
        self.grants.iter().find(|g| g.grant_type() == grant_type)
    }
}

/// One grant type at the token endpoint, handled by the way in it belongs to. The
/// endpoint has parsed the form, authenticated the caller, and checked that the client
/// may use this grant type.
#[async_trait]
pub(crate) trait Grant: Send + Sync + 'static {
    /// The `grant_type` value handled.
    fn grant_type(&self) -> &'static str;

    /// The token answer (or the OAuth error) for `caller`'s request `form`.
    async fn grant(&self, s: &Shared, caller: &Caller, form: &Form)
    -> Result<Response, OAuthError>;
}
