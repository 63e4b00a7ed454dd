//! The authorization-code grant at the token endpoint.

use async_trait::async_trait;
use axum::response::Response;
use subtle::ConstantTimeEq as _;
use vipps_login_core::token::sha256_b64url;

use super::code::{CODE, CodeRecord, code_digest};
use super::request::is_pkce_value;
use crate::OAuthError;
use crate::kernel::caller::Caller;
use crate::kernel::form::Form;
use crate::kernel::shared::{Grant, Shared};
use crate::kernel::tokens::issue;
use crate::registry::AUTHORIZATION_CODE_GRANT;

/// The authorization-code grant at the token endpoint.
pub(crate) struct CodeGrant;

#[async_trait]
impl Grant for CodeGrant {
    fn grant_type(&self) -> &'static str {
        AUTHORIZATION_CODE_GRANT
    }

    async fn grant(
        &self,
        s: &Shared,
        caller: &Caller,
        form: &Form,
    ) -> Result<Response, OAuthError> {
        redeem(s, caller, form).await
    }
}

/// Redeems a code: single use (taken atomically, so a second use, by anyone, fails),
/// unexpired, for this client, with the same `redirect_uri` and the PKCE verifier.
async fn redeem(s: &Shared, caller: &Caller, form: &Form) -> Result<Response, OAuthError> {
    let client = caller.client();
    let code = form.require("code")?;
    let bad = || {
        OAuthError::invalid_grant(
            "the code is invalid, expired, already used or not for this client",
        )
    };
    if code.len() != 43 {
        return Err(bad());
    }
    // Taken first: whatever is wrong below, this code is gone (RFC 6749 §4.1.2).
    let record: CodeRecord = s
        .records
        .take(CODE, &code_digest(code))
        .await
        .map_err(|_| OAuthError::server("the login store failed"))?
        .ok_or_else(bad)?;
    if record.client_id != client.client_id {
        tracing::warn!(client_id = %client.client_id, "a code of another client was presented");
        return Err(bad());
    }
    if s.records.now_ms() >= record.expires_at_ms {
        return Err(bad());
    }
    if form.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    match (&record.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            // PKCE S256 (RFC 7636 §4.6): base64url of the verifier's SHA-256.
            let computed = sha256_b64url(verifier.as_bytes());
            if !is_pkce_value(verifier)
                || !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
            {
                return Err(OAuthError::invalid_grant(
                    "the code_verifier does not match",
                ));
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant("code_verifier is missing"));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier given, but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {
            // Only a request of a client exempt from PKCE got here without a challenge;
            // the exemption is read again in case the registry changed since.
            if !matches!(caller, Caller::Confidential(_)) || client.require_pkce {
                return Err(OAuthError::invalid_grant(
                    "PKCE is required for this client",
                ));
            }
        }
    }
    issue(s, client, record.approved).await
}
