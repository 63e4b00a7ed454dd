//! Starting a login: input checked, limits admitted, the push sent (or, for a decoy,
//! nothing sent), the record and its side keys written, the poller told.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument as _;

use super::engine::Engine;
use super::keys;
use super::policy::{CoolDowns, RateLimits};
use super::record::LoginRecord;
use super::view::{LoginContext, LoginKind};
use crate::clock::unix_ms;
use crate::wire::Started;
use crate::{Error, Flow, LoginHint, LoginId, LoginRequest, LoginStatus, Scope, StartedLogin};

use super::decoy::VIPPS_DEFAULT_EXPIRY;

/// What to send for a start.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Push {
    /// The push; Vipps' refusal is the answer.
    Vipps,
    /// Nothing: a decoy.
    Decoy,
    /// The push; a number that cannot use Vipps (no account, not eligible, app too old)
    /// gets a decoy under the same admission instead of the refusal.
    VippsElseDecoy,
}

impl Engine {
    /// Sends the backchannel authentication request (the push) after every check; see
    /// [`VippsClient::start_login`](crate::VippsClient::start_login).
    pub(crate) async fn start_login(
        self: &Arc<Self>,
        limits: &RateLimits,
        request: LoginRequest,
        context: LoginContext,
    ) -> Result<StartedLogin, Error> {
        self.start(limits, request, context, Push::Vipps).await
    }

    /// A login, or, for a number that cannot use Vipps, a decoy admitted by the same
    /// step; see [`VippsClient::start_login_or_decoy`](crate::VippsClient::start_login_or_decoy).
    pub(crate) async fn start_login_or_decoy(
        self: &Arc<Self>,
        limits: &RateLimits,
        request: LoginRequest,
        context: LoginContext,
    ) -> Result<StartedLogin, Error> {
        self.start(limits, request, context, Push::VippsElseDecoy)
            .await
    }

    /// A decoy: admitted and recorded exactly as a real login for the same request, but
    /// nothing is sent to Vipps; it waits until its deadline and then expires. The
    /// enumeration-resistant mode answers a number without Vipps with one, so that the
    /// answer cannot tell the two apart.
    pub(crate) async fn start_decoy(
        self: &Arc<Self>,
        limits: &RateLimits,
        request: LoginRequest,
        context: LoginContext,
    ) -> Result<StartedLogin, Error> {
        self.start(limits, request, context, Push::Decoy).await
    }

    async fn start(
        self: &Arc<Self>,
        limits: &RateLimits,
        request: LoginRequest,
        context: LoginContext,
        push: Push,
    ) -> Result<StartedLogin, Error> {
        request.validate(self.config.allow_http_loopback)?;
        let masked = request.hint.masked();
        let number_key = match &request.hint {
            LoginHint::Msisdn(m) => self.number_key(m),
            LoginHint::CustomerToken(_) => String::new(),
        };
        // A store that could not keep the login refuses it now, before the push.
        self.store().check_room().await.inspect_err(
            |e| tracing::warn!(hint = %masked, error = %e, "login start refused: the store is full"),
        )?;
        let id = LoginId::generate();
        let hold =
            request.requested_expiry.unwrap_or(VIPPS_DEFAULT_EXPIRY) + Duration::from_secs(30);
        if !number_key.is_empty() {
            self.admit(limits, &number_key, context.client_key_value(), &id, hold)
                .await
                .inspect_err(|e| tracing::info!(hint = %masked, error = %e.code(), "login start refused by the limits"))?;
        }
        // The login's trace starts here (under the front end's span, when it has one);
        // its record keeps this span's traceparent for the work that follows.
        let result = self
            .send_and_record(limits, &request, &id, &number_key, context, push)
            .instrument(self.records.span("vipps_login.start", &id, None))
            .await;
        if result.is_err() && !number_key.is_empty() {
            let _ = self.records.release_number(&number_key, &id).await;
        }
        result
    }

    async fn send_and_record(
        self: &Arc<Self>,
        limits: &RateLimits,
        request: &LoginRequest,
        id: &LoginId,
        number_key: &str,
        context: LoginContext,
        push: Push,
    ) -> Result<StartedLogin, Error> {
        let nonce = crate::token::random_token();
        let browser = matches!(request.flow, Flow::ContinueInBrowser { .. });
        let state = match (&request.state, browser) {
            (Some(s), _) => Some(s.clone()),
            (None, true) => Some(crate::token::random_token()),
            (None, false) => None,
        };
        let masked = request.hint.masked();
        let (kind, started) = match push {
            Push::Decoy => (LoginKind::Decoy, self.usual.decoy(request)),
            Push::Vipps | Push::VippsElseDecoy => {
                match self.send_start(request, &nonce, state.as_deref()).await {
                    Ok(started) => {
                        self.usual.learn(request, &started);
                        (LoginKind::Vipps, started)
                    }
                    // The admission (the number's waiting mark, the counted windows) stays
                    // this decoy's, as it would be a real login's: the next start for the
                    // number is answered exactly as for a number with Vipps.
                    Err(Error::InvalidUser | Error::OldApp) if push == Push::VippsElseDecoy => {
                        tracing::info!(hint = %masked, "number cannot use Vipps; answered with a decoy login");
                        (LoginKind::Decoy, self.usual.decoy(request))
                    }
                    Err(e) => {
                        tracing::info!(hint = %masked, error = %e.code(), "login start failed");
                        return Err(e);
                    }
                }
            }
        };
        let expires_at = self.now() + started.expires_in;
        let mut context = context;
        context.set_trace_parent(crate::trace::current());
        let record = LoginRecord {
            version: 0,
            status: if browser {
                LoginStatus::AwaitingBrowser
            } else {
                LoginStatus::Pending
            },
            kind,
            auth_req_id: started.auth_req_id,
            nonce,
            browser,
            expires_at: unix_ms(expires_at),
            interval_ms: u64::try_from(started.interval.as_millis()).unwrap_or(u64::MAX),
            poller: self.records.instance.clone(),
            number_key: number_key.to_owned(),
            number: match &request.hint {
                LoginHint::Msisdn(m) => Some(m.as_str().to_owned()),
                LoginHint::CustomerToken(_) => None,
            },
            checks_number: request.scopes.contains(Scope::PhoneNumber),
            cool_downs: CoolDowns::from(limits),
            binding_message: request
                .binding_message
                .as_ref()
                .map(|b| b.as_str().to_owned()),
            masked_hint: masked.clone(),
            context,
        };
        // The push is out: from here on the login must be findable, or it is lost.
        self.records.insert(id, &record).await?;
        self.write_side_keys(id, &record, state.as_deref(), started.expires_in)
            .await?;
        self.schedule(id, &record);
        self.records.started(id, &record);
        tracing::info!(login_id = %id, hint = %masked, browser, expires_in = started.expires_in.as_secs(), "login started");
        Ok(StartedLogin {
            id: id.clone(),
            binding_message: request.binding_message.clone(),
            expires_at,
            interval: started.interval,
        })
    }

    /// The push itself: the backchannel request with every parameter Vipps takes.
    async fn send_start(
        &self,
        request: &LoginRequest,
        nonce: &str,
        state: Option<&str>,
    ) -> Result<Started, Error> {
        let scope = request.scopes.to_string();
        let hint = request.hint.to_wire();
        let expiry = request.requested_expiry.map(|d| d.as_secs().to_string());
        let mut form: Vec<(&str, &str)> =
            vec![("scope", &scope), ("login_hint", &hint), ("nonce", nonce)];
        if let Some(b) = &request.binding_message {
            form.push(("binding_message", b.as_str()));
        }
        if let Some(e) = &expiry {
            form.push(("requested_expiry", e));
        }
        if let Some(s) = state {
            form.push(("state", s));
        }
        if let Flow::ContinueInBrowser { redirect_uri } = &request.flow {
            form.push(("requested_flow", "login_to_webpage"));
            form.push(("redirect_uri", redirect_uri.as_str()));
        }
        self.upstream.start(&form).await
    }

    /// The keys that find a login by something other than its id: its `auth_req_id`
    /// (webhook pings; a phone's browser back without `state`), its `state` (the phone's
    /// browser), and this instance's index of
    /// the logins it polls (a take-over reads it).
    async fn write_side_keys(
        &self,
        id: &LoginId,
        record: &LoginRecord,
        state: Option<&str>,
        expires_in: Duration,
    ) -> Result<(), Error> {
        let store = self.store();
        let ttl = expires_in + self.config.result_ttl;
        let id_bytes = id.as_str().as_bytes().to_vec();
        // A webhook ping, and a browser that comes back without `state`, find the login by
        // its auth_req_id; a decoy has none.
        if (self.config.webhook_secret.is_some() || record.browser)
            && record.kind == LoginKind::Vipps
        {
            store
                .set(&keys::auth_req(&record.auth_req_id), id_bytes.clone(), ttl)
                .await?;
        }
        if let Some(s) = state
            && record.browser
        {
            store.set(&keys::browser_state(s), id_bytes, ttl).await?;
        }
        store
            .index_add(
                &keys::owned_by(&self.records.instance),
                id.as_str(),
                record.expires_at(),
            )
            .await?;
        Ok(())
    }
}
