//! The authorization-code grant at the token endpoint.

use aws_lc_rs::digest;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq as _;

use super::request::is_pkce_value;
use super::{CodeRecord, code_digest};
use crate::OAuthError;
use crate::backend::unix_now_ms;
use crate::provider::Shared;
use crate::provider::form::{Caller, Form};
use crate::provider::tokens::issue;

/// Redeems a code: single use (taken atomically, so a second use, by anyone, fails),
/// unexpired, for this client, with the same `redirect_uri` and the PKCE verifier.
pub(crate) async fn grant(
    s: &Shared,
    caller: &Caller<'_>,
    form: &Form,
) -> Result<Response, OAuthError> {
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
        .take("code", &code_digest(code))
        .await
        .map_err(|_| OAuthError::server("the login store failed"))?
        .ok_or_else(bad)?;
    if record.client_id != client.client_id {
        tracing::warn!(client_id = %client.client_id, "a code of another client was presented");
        return Err(bad());
    }
    if unix_now_ms() >= record.expires_at_ms {
        return Err(bad());
    }
    if form.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    match (&record.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let computed = URL_SAFE_NO_PAD
                .encode(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref());
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
            if !matches!(caller, Caller::Confidential(_)) {
                return Err(OAuthError::invalid_grant(
                    "PKCE is required for public clients",
                ));
            }
        }
    }
    issue(s, client, record.approved).await
}
