//! Way 2's completion: the operator's approved login becomes a code for the waiting
//! authorization request (or the request is denied), and the operator page reads it.

use url::Url;
use vipps_login_core::Identity;
use vipps_login_core::clock::duration_ms;
use vipps_login_core::token::{random_token, sha256_b64url};

use super::code::{
    AUTHORIZATION, AUTHORIZATION_USED, CODE, CodeRecord, CodeState, MAX_REQUEST_ID, PENDING_TTL,
    code_digest,
};
use super::request::{PendingAuthorization, with_query};
use crate::backend::{LoginExtra, VippsPhoneLogin};
use crate::provider::Provider;
use crate::{ApprovedLogin, OAuthError};

impl Provider {
    /// The authorization request an operator page was sent with (`?authorization=`), if
    /// it is still waiting: the scopes, nonce and subject type to log the customer in with.
    pub async fn authorization(&self, id: &str) -> Option<PendingAuthorization> {
        let pending = self.open_request(id)?;
        let used: Option<bool> = self
            .shared
            .records
            .get(AUTHORIZATION_USED, &sha256_b64url(id.as_bytes()))
            .await
            .ok()?;
        used.is_none().then_some(pending)
    }

    /// The sealed request `id`, if it opens and has not expired.
    fn open_request(&self, id: &str) -> Option<PendingAuthorization> {
        let s = &self.shared;
        if id.len() > MAX_REQUEST_ID {
            return None;
        }
        s.request_sealer.open(AUTHORIZATION, id, s.records.now_ms())
    }

    /// Finishes authorization request `id` with the operator's approved login: issues a
    /// single-use code and returns where to send the browser, `redirect_uri?code&state&iss`.
    /// A request completes once; afterwards it is unknown.
    pub async fn complete_authorization(
        &self,
        id: &str,
        approved: ApprovedLogin,
    ) -> Result<Url, OAuthError> {
        let s = &self.shared;
        let (pending, redirect_uri) = self.take_pending(id).await?;
        let code = random_token();
        let record = CodeRecord {
            client_id: pending.client_id,
            redirect_uri: pending.redirect_uri,
            code_challenge: pending.code_challenge,
            approved,
            expires_at_ms: s.records.now_ms().saturating_add(duration_ms(s.code_ttl)),
        };
        s.records
            .put(
                CODE,
                &code_digest(&code),
                &CodeState::Issued(Box::new(record)),
                s.code_ttl,
            )
            .await
            .map_err(|_| OAuthError::server("the code could not be stored"))?;
        Ok(with_query(
            &redirect_uri,
            &[
                ("code", Some(&code)),
                ("state", pending.state.as_deref()),
                ("iss", Some(&s.issuer)),
            ],
        ))
    }

    /// Takes authorization request `id` (once: its mark of use is stored, first come
    /// first served, for as long as the request could be valid) with its redirect URI.
    async fn take_pending(&self, id: &str) -> Result<(PendingAuthorization, Url), OAuthError> {
        let unknown = || {
            OAuthError::invalid_request("the authorization request is unknown or was already used")
        };
        let pending = self.open_request(id).ok_or_else(unknown)?;
        let first = self
            .shared
            .records
            .insert_if_absent(
                AUTHORIZATION_USED,
                &sha256_b64url(id.as_bytes()),
                &true,
                PENDING_TTL,
            )
            .await
            .map_err(|_| OAuthError::server("the login store failed"))?;
        if !first {
            return Err(unknown());
        }
        let redirect_uri = Url::parse(&pending.redirect_uri)
            .map_err(|_| OAuthError::server("the stored redirect URI is not a URL"))?;
        Ok((pending, redirect_uri))
    }

    /// Ends authorization request `id` without a login (the customer declined, or the
    /// operator gave up): where to send the browser, `redirect_uri?error=access_denied&state`.
    pub async fn deny_authorization(&self, id: &str, description: &str) -> Result<Url, OAuthError> {
        let s = &self.shared;
        let (pending, redirect_uri) = self.take_pending(id).await?;
        Ok(with_query(
            &redirect_uri,
            &[
                ("error", Some("access_denied")),
                ("error_description", Some(description)),
                ("state", pending.state.as_deref()),
                ("iss", Some(&s.issuer)),
            ],
        ))
    }
}

impl VippsPhoneLogin {
    /// Way 2's completion step: the verified `identity` of a login the operator page
    /// started (e.g. through the tower layer, with the scopes of
    /// `CompletionStep::scopes`, which always ask Vipps for the number, so that the engine
    /// has checked it is the number the login was started for) as the [`ApprovedLogin`] of authorization
    /// request `pending`: its scopes, nonce and subject type, with the same claim and
    /// subject mapping as the SPI.
    #[must_use]
    pub fn approve_identity(
        &self,
        pending: &PendingAuthorization,
        identity: &Identity,
    ) -> ApprovedLogin {
        let extra = LoginExtra {
            scopes: pending.scopes.clone(),
            nonce: pending.nonce.clone(),
            subject_type: pending.subject_type,
        };
        self.approved(&pending.client_id, &extra, identity)
    }
}
