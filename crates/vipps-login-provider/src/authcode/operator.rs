//! Way 2's operator pages are the tower layer's own login and waiting pages: the layer
//! is mounted with [`OperatorCompletion`] as its completion step, so that a redeemed login
//! becomes the waiting authorization request's code instead of a session. Pages, CSRF,
//! limits and the login itself stay the layer's and the engine's; nothing is copied.

use async_trait::async_trait;
use url::Url;
use vipps_login_core::{Error, LoginId, Scopes};
use vipps_login_tower::{CompletedLogin, Completion, CompletionStep, HookError};

use super::code::MAX_REQUEST_ID;
use crate::backend::VippsPhoneLogin;
use crate::provider::Provider;

/// The path prefix of the `return_to` that names an authorization request; the
/// completion step reads the request's id from it (`/authorize/operator/{id}`).
pub const OPERATOR_RETURN_PREFIX: &str = "/authorize/operator/";

/// The layer's completion step for way 2 (see the module docs).
///
/// ```no_run
/// # fn demo(provider: vipps_login_provider::Provider,
/// #         login: vipps_login_provider::VippsPhoneLogin,
/// #         client: vipps_login_core::VippsClient) -> Result<(), Box<dyn std::error::Error>> {
/// use vipps_login_provider::authcode::OperatorCompletion;
/// let layer = vipps_login_tower::VippsLoginLayer::builder(client)
///     .completion(OperatorCompletion::new(provider, login))
///     .build()?;
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct OperatorCompletion {
    provider: Provider,
    login: VippsPhoneLogin,
}

impl OperatorCompletion {
    /// The step handing logins to `provider`'s authorization requests, mapped as `login`
    /// maps its own.
    #[must_use]
    pub fn new(provider: Provider, login: VippsPhoneLogin) -> Self {
        OperatorCompletion { provider, login }
    }

    /// Where `/authorize` sends the operator's browser for request `id`: the layer's
    /// login page at `login_page`, with a `return_to` naming the request.
    #[must_use]
    pub fn operator_url(login_page: &Url, id: &str) -> Url {
        let mut u = login_page.clone();
        u.query_pairs_mut()
            .append_pair("return_to", &format!("{OPERATOR_RETURN_PREFIX}{id}"));
        u
    }
}

fn request_id(return_to: Option<&str>) -> Option<&str> {
    return_to?
        .strip_prefix(OPERATOR_RETURN_PREFIX)
        .filter(|id| !id.is_empty() && id.len() <= MAX_REQUEST_ID)
}

fn refused(e: impl std::fmt::Display) -> HookError {
    HookError::new(format!(
        "The sign-in could not be handed back to the application ({e}); start again from the application."
    ))
}

#[async_trait]
impl CompletionStep for OperatorCompletion {
    async fn complete(
        &self,
        login: &CompletedLogin,
        return_to: Option<&str>,
    ) -> Result<Completion, HookError> {
        let id = request_id(return_to).ok_or_else(|| {
            HookError::new("This login was not started for an application's sign-in request.")
        })?;
        let pending = self.provider.authorization(id).await.ok_or_else(|| {
            HookError::new(
                "The application's sign-in request has expired or was used; start again from the application.",
            )
        })?;
        let approved = self.login.approve_identity(&pending, &login.identity);
        let to = self
            .provider
            .complete_authorization(id, approved)
            .await
            .map_err(|e| refused(e.description))?;
        tracing::info!(client = %pending.client_id, "operator login handed to the client as a code");
        Ok(Completion::Redirect {
            location: to.to_string(),
        })
    }

    async fn scopes(&self, return_to: Option<&str>) -> Option<Scopes> {
        let pending = self.provider.authorization(request_id(return_to)?).await?;
        Some(pending.scopes.to_vipps())
    }

    async fn ended(
        &self,
        _login_id: &LoginId,
        return_to: Option<&str>,
        why: &Error,
    ) -> Option<Completion> {
        let id = request_id(return_to)?;
        let to = self
            .provider
            .deny_authorization(id, &why.to_string())
            .await
            .ok()?;
        Some(Completion::Redirect {
            location: to.to_string(),
        })
    }
}
