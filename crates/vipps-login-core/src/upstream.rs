//! The engine's port to Vipps: exactly the calls a login needs (start, poll, code
//! exchange, ID-token verification, userinfo) and the user-exists pre-check. It answers in
//! the engine's words ([`Started`], [`PollAnswer`], [`Identity`], [`Error`]) and decides
//! nothing about a login: what an answer means for a login is `login/`'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::clock::Clock;
use crate::config::Config;
use crate::http::{Http, SendError};
use crate::metadata::Metadata;
use crate::metrics::{VippsEndpoint, vipps_call};
use crate::verify::{VerifiedIdToken, VerifyParams};
use crate::wire::{
    CIBA_GRANT, PollAnswer, REDIRECT_GRANT, Stage, Started, TokenResponse, classify_poll,
    error_from_response, parse_start, parse_tokens,
};
use crate::{Error, Identity, LoginHint, Msisdn, TokenError, UserInfo};

/// Vipps as the engine sees it: discovery and JWKS cached, requests authenticated.
pub(crate) struct Upstream {
    http: Http,
    meta: Metadata,
    verify: VerifyParams,
    clock: Arc<dyn Clock>,
}

impl Upstream {
    pub(crate) fn new(config: &Config) -> Result<Upstream, Error> {
        let http = Http::new(config)?;
        let meta = Metadata::new(config, http.clone())?;
        let verify = VerifyParams::new(
            config.issuer.as_str().to_owned(),
            config.client_id.clone(),
            config.clock_skew,
            config.clock.clone(),
        );
        Ok(Upstream {
            http,
            meta,
            verify,
            clock: config.clock.clone(),
        })
    }

    /// Whether Vipps' discovery document and JWKS are loaded (fetched now when their
    /// cached copies ran out).
    pub(crate) async fn readiness(&self) -> crate::health::Readiness {
        use crate::health::within;
        let mut r = crate::health::Readiness::default();
        r.check(
            "vipps_discovery",
            within("Vipps' discovery document cannot be loaded", async {
                self.meta.endpoints().await.map(drop)
            })
            .await,
        );
        r.check(
            "vipps_jwks",
            within("Vipps' signing keys (JWKS) cannot be loaded", async {
                self.meta.jwks().await.map(drop)
            })
            .await,
        );
        r
    }

    /// The backchannel authentication request (the push). Never retried: a repeat would
    /// push twice.
    pub(crate) async fn start(&self, form: &[(&str, &str)]) -> Result<Started, Error> {
        let endpoints = self.meta.endpoints().await?;
        let sent = Instant::now();
        let resp = self
            .http
            .post_form_authenticated(&endpoints.backchannel, form)
            .await;
        vipps_call(VippsEndpoint::Backchannel, &resp, sent);
        let resp = resp.map_err(SendError::into_error)?;
        if !resp.status.is_success() {
            let e = error_from_response(&resp, Stage::Start, self.clock.now());
            tracing::info!(status = resp.status.as_u16(), error = %e.code(), "login start refused");
            return Err(e);
        }
        parse_start(&resp.body)
    }

    /// One CIBA token request for `auth_req_id`, classified.
    pub(crate) async fn poll(&self, auth_req_id: &str) -> PollAnswer {
        let endpoints = match self.meta.endpoints().await {
            Ok(e) => e,
            Err(e) => return PollAnswer::Transient(e),
        };
        tracing::trace!("polling the token endpoint");
        let sent = Instant::now();
        let resp = self
            .http
            .post_form_authenticated(
                &endpoints.token,
                &[("grant_type", CIBA_GRANT), ("auth_req_id", auth_req_id)],
            )
            .await;
        vipps_call(VippsEndpoint::Token, &resp, sent);
        classify_poll(resp, self.clock.now())
    }

    /// The code exchange of the browser variant (never retried: a code is single use).
    pub(crate) async fn exchange(&self, code: &str) -> Result<TokenResponse, Error> {
        let endpoints = self.meta.endpoints().await?;
        let sent = Instant::now();
        let resp = self
            .http
            .post_form_authenticated(
                &endpoints.token,
                &[("grant_type", REDIRECT_GRANT), ("code", code)],
            )
            .await;
        vipps_call(VippsEndpoint::Token, &resp, sent);
        let resp = resp.map_err(SendError::into_error)?;
        if !resp.status.is_success() {
            let e = error_from_response(&resp, Stage::Exchange, self.clock.now());
            tracing::info!(status = resp.status.as_u16(), error = %e.code(), "code exchange refused");
            return Err(e);
        }
        parse_tokens(&resp.body)
    }

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
    pub(crate) async fn identity(
        &self,
        tokens: &TokenResponse,
        verified: VerifiedIdToken,
    ) -> Result<Identity, Error> {
        let endpoints = self.meta.endpoints().await?;
        let mut attempt = 0u32;
        let resp = loop {
            attempt += 1;
            let sent = Instant::now();
            let result = self
                .http
                .get(&endpoints.userinfo, Some(&tokens.access_token))
                .await;
            vipps_call(VippsEndpoint::Userinfo, &result, sent);
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

    /// Vipps' user-exists pre-check for `msisdn`.
    pub(crate) async fn user_exists(&self, msisdn: &Msisdn) -> Result<bool, Error> {
        let endpoints = self.meta.endpoints().await?;
        let url = endpoints
            .user_exists
            .as_ref()
            .ok_or_else(|| Error::Protocol("the user-exists endpoint is unknown".into()))?;
        let hint = LoginHint::Msisdn(msisdn.clone()).to_wire();
        let sent = Instant::now();
        let resp = self
            .http
            .post_form_authenticated(url, &[("login_hint", &hint)])
            .await;
        vipps_call(VippsEndpoint::UserExists, &resp, sent);
        let resp = resp.map_err(SendError::into_error)?;
        if !resp.status.is_success() {
            return Err(error_from_response(
                &resp,
                Stage::UserExists,
                self.clock.now(),
            ));
        }
        #[derive(Deserialize)]
        struct Exists {
            exists: bool,
        }
        let answer: Exists = serde_json::from_slice(&resp.body)
            .map_err(|_| Error::Protocol("the user-exists answer is not understood".into()))?;
        Ok(answer.exists)
    }
}
