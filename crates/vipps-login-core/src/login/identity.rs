//! What a token answer from Vipps must satisfy before it completes a login, written once
//! for both variants: a verified ID token (signature, issuer, audience, times), the
//! `nonce` we sent when the token carries one (Vipps does not document that it comes
//! back), the `auth_req_id` of this login (browser variant), userinfo of the
//! same `sub`, and — when the login asked for the verified number — the number the
//! login was started for. No front end reports a success this has not passed.

use super::engine::Engine;
use super::record::LoginRecord;
use crate::verify::{VerifiedIdToken, check_nonce_if_present};
use crate::wire::TokenResponse;
use crate::{Error, Identity, Msisdn, TokenError};

impl Engine {
    /// The identity the tokens prove for `record`'s login, or why they do not.
    pub(crate) async fn identity_for(
        &self,
        record: &LoginRecord,
        tokens: &TokenResponse,
    ) -> Result<Identity, Error> {
        let verified = self.upstream.verify_id_token(&tokens.id_token).await?;
        self.identity_from_verified(record, tokens, verified).await
    }

    /// [`identity_for`](Self::identity_for) from an ID token verified already.
    pub(crate) async fn identity_from_verified(
        &self,
        record: &LoginRecord,
        tokens: &TokenResponse,
        verified: VerifiedIdToken,
    ) -> Result<Identity, Error> {
        if record.browser && verified.auth_req_id.as_deref() != Some(record.auth_req_id.as_str()) {
            tracing::warn!("code exchange for another login than the browser's state names");
            return Err(TokenError::AuthReqId.into());
        }
        check_nonce_if_present(&verified, &record.nonce)?;
        let identity = self.upstream.identity(tokens, verified).await?;
        check_started_number(record, &identity)?;
        Ok(identity)
    }
}

/// The one started-number check: when the login asked Vipps for the verified number, it
/// must be present and be the number the login was started for (compared as parsed
/// numbers, so `+4712345678` and `4712345678` are one number).
pub(crate) fn check_started_number(
    record: &LoginRecord,
    identity: &Identity,
) -> Result<(), TokenError> {
    if !record.checks_number {
        return Ok(());
    }
    let Some(started) = record.started_number() else {
        // A customer-token login names no number to compare with.
        return Ok(());
    };
    let verified = identity
        .userinfo
        .phone_number
        .as_deref()
        .or_else(|| {
            identity
                .id_token_claims
                .get("phone_number")
                .and_then(|v| v.as_str())
        })
        .and_then(|n| Msisdn::parse(n).ok());
    match verified {
        Some(v) if v == started => Ok(()),
        _ => {
            tracing::warn!(hint = %started.masked(), "the verified number is not the one the login was started for");
            Err(TokenError::PhoneNumber)
        }
    }
}
