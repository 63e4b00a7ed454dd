//! The authorization-code grant at the token endpoint.

use async_trait::async_trait;
use axum::response::Response;
use subtle::ConstantTimeEq as _;
use vipps_login_core::token::sha256_b64url;

use super::code::{CODE, CodeState, code_digest};
use super::request::is_pkce_value;
use crate::OAuthError;
use crate::kernel::caller::Caller;
use crate::kernel::form::Form;
use crate::kernel::shared::{Grant, Shared};
use crate::kernel::tokens::{NewAccessToken, issue_token, revoke};
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

/// Redeems a code: single use (spent atomically, so a second use, by anyone, fails and
/// revokes the token of the first),
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
    let store_failed = |_| OAuthError::server("the login store failed");
    let digest = code_digest(code);
    let Some((state, read)) = s
        .records
        .get_versioned::<CodeState>(CODE, &digest)
        .await
        .map_err(store_failed)?
    else {
        return Err(bad());
    };
    let record = match state {
        CodeState::Issued(record) => record,
        CodeState::Spent { access_token, .. } => {
            reused(s, &digest, &access_token).await?;
            tracing::warn!(client_id = %client.client_id, "an authorization code was used twice; the token issued from it is revoked");
            return Err(bad());
        }
    };
    // Spent first, whatever is wrong below (RFC 6749 §4.1.2), naming the token it will be
    // issued as; of concurrent redemptions exactly one gets here.
    let access_token = NewAccessToken::generate();
    let spent = CodeState::Spent {
        access_token: access_token.id(),
        reused: false,
    };
    if !s
        .records
        .replace(CODE, &digest, &read, &spent, s.access_token_ttl)
        .await
        .map_err(store_failed)?
    {
        // Another redemption won: this one is the reuse.
        if let Some(CodeState::Spent { access_token, .. }) = s
            .records
            .get::<CodeState>(CODE, &digest)
            .await
            .map_err(store_failed)?
        {
            reused(s, &digest, &access_token).await?;
        }
        return Err(bad());
    }
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
    let token_id = access_token.id();
    let response = issue_token(s, client, record.approved, access_token).await?;
    // A reuse that came while the token was written has marked the code: it did not
    // find the token yet, so it is revoked here.
    if let Some(CodeState::Spent { reused: true, .. }) = s
        .records
        .get::<CodeState>(CODE, &digest)
        .await
        .map_err(store_failed)?
    {
        revoke(s, &token_id).await?;
        return Err(bad());
    }
    Ok(response)
}

/// A second use of the code spent as `digest`: marks it reused (so that a redemption
/// still writing its token revokes it), then revokes the token issued from it.
async fn reused(s: &Shared, digest: &str, access_token: &str) -> Result<(), OAuthError> {
    let store_failed = |_| OAuthError::server("the login store failed");
    let marked = CodeState::Spent {
        access_token: access_token.to_owned(),
        reused: true,
    };
    s.records
        .put(CODE, digest, &marked, s.access_token_ttl)
        .await
        .map_err(store_failed)?;
    revoke(s, access_token).await
}
