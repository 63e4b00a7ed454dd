//! Upstream calls that complete a login: ID-token verification with the cached JWKS,
//! userinfo, and their checks against each other.

use std::time::Duration;

use crate::http::SendError;
use crate::instance::Inner;
use crate::verify::{VerifiedIdToken, check_nonce};
use crate::wire::TokenResponse;
use crate::{Error, Identity, TokenError, UserInfo};

impl Inner {
    /// Verifies signature and claims except `nonce`; refetches the JWKS once on an
    /// unknown `kid` (rate-limited).
    pub(crate) async fn verify_id_token(&self, token: &str) -> Result<VerifiedIdToken, Error> {
        let jwks = self.meta.jwks().await?;
        match self.verify.verify(token, &jwks) {
            Err(TokenError::UnknownKey) => match self.meta.jwks_after_unknown_kid(&jwks).await? {
                Some(fresh) => Ok(self.verify.verify(token, &fresh)?),
                None => Err(TokenError::UnknownKey.into()),
            },
            other => Ok(other?),
        }
    }

    /// Userinfo for the tokens, checked against the ID token's `sub`.
    pub(crate) async fn fetch_identity(
        &self,
        tokens: &TokenResponse,
        verified: VerifiedIdToken,
    ) -> Result<Identity, Error> {
        let endpoints = self.meta.endpoints().await?;
        let mut attempt = 0u32;
        let resp = loop {
            attempt += 1;
            let result = self
                .http
                .get(&endpoints.userinfo, Some(&tokens.access_token))
                .await;
            let retryable = match &result {
                Err(SendError::Connection(_)) => true,
                Err(SendError::TooLarge | SendError::Invalid(_)) => false,
                Ok(r) => r.status.is_server_error(),
            };
            if !retryable || attempt >= 3 {
                break result.map_err(SendError::into_error)?;
            }
            // GET userinfo is safe to repeat; the access token lives ~10 minutes.
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt * attempt))).await;
        };
        resp.require_success("userinfo")?;
        let userinfo: UserInfo = serde_json::from_slice(&resp.body)
            .map_err(|_| Error::Protocol("the userinfo answer is not understood".into()))?;
        if userinfo.sub != verified.sub {
            return Err(TokenError::SubjectMismatch.into());
        }
        Ok(Identity {
            sub: verified.sub,
            id_token_claims: verified.claims,
            userinfo,
        })
    }

    /// Completes a polled login from a token answer.
    pub(crate) async fn complete_poll(
        &self,
        tokens: &TokenResponse,
        nonce: &str,
    ) -> Result<Identity, Error> {
        let verified = self.verify_id_token(&tokens.id_token).await?;
        check_nonce(&verified, nonce)?;
        self.fetch_identity(tokens, verified).await
    }
}
