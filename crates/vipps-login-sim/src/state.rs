//! The simulator's model: login requests, consents, grants and the tokens issued for
//! them, and the operations the protocol endpoints, the phone and the control API call.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use url::Url;

use crate::claims;
use crate::client::SimClient;
use crate::config::{Policy, SimConfig};
use crate::error::SimError;
use crate::faults::Faults;
use crate::keys::KeyRing;
use crate::login::{AuthRequest, NewRequest, PhoneView};
use crate::oauth_error::OAuthError;
use crate::outbox::Outbox;
use crate::request::{RequestStatus, SimRequest};
use crate::stats::{Counters, SimStats};
use crate::store::{Sharded, lock, read};
use crate::tokens::{AccessGrant, Grant, TokenStore, random_token};
use crate::users::{Directory, mask};

/// One running simulator's state.
pub(crate) struct Sim {
    pub(crate) cfg: SimConfig,
    pub(crate) base: Url,
    pub(crate) issuer: Url,
    pub(crate) clients: HashMap<String, Arc<SimClient>>,
    pub(crate) users: Directory,
    pub(crate) keys: RwLock<KeyRing>,
    requests: Sharded<AuthRequest>,
    by_user: Sharded<Vec<(String, Instant)>>,
    tokens: TokenStore,
    consents: Sharded<()>,
    pub(crate) policy: RwLock<Policy>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) stats: Arc<Counters>,
    pub(crate) outbox: Outbox,
    sub_key: aws_lc_rs::hmac::Key,
    me: Weak<Sim>,
}

impl Sim {
    pub(crate) fn new(cfg: SimConfig, base: Url) -> Result<Arc<Sim>, SimError> {
        let issuer = base
            .join("access-management-1.0/access/")
            .map_err(|e| SimError::Config(e.to_string()))?;
        let clients = cfg
            .clients
            .iter()
            .map(|c| (c.client_id.clone(), Arc::new(c.clone())))
            .collect();
        let users = Directory::new(cfg.builtin_users, &cfg.users, cfg.auto_users);
        let keys = KeyRing::generate()?;
        let stats = Arc::new(Counters::default());
        let outbox = Outbox::new(
            cfg.webhook.clone(),
            cfg.consent_revoked_url.clone(),
            stats.clone(),
        )?;
        let sub_key =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, cfg.sub_seed.as_bytes());
        let policy = cfg.policy;
        Ok(Arc::new_cyclic(|me| Sim {
            cfg,
            base,
            issuer,
            clients,
            users,
            keys: RwLock::new(keys),
            requests: Sharded::new(),
            by_user: Sharded::new(),
            tokens: TokenStore::new(),
            consents: Sharded::new(),
            policy: RwLock::new(policy),
            faults: Mutex::new(Faults::default()),
            stats,
            outbox,
            sub_key,
            me: me.clone(),
        }))
    }

    /// `sub`: stable per client and user, a UUID derived with HMAC-SHA256.
    pub(crate) fn sub_for(&self, client_id: &str, msisdn: &str) -> String {
        let mut msg = Vec::with_capacity(client_id.len() + msisdn.len() + 1);
        msg.extend_from_slice(client_id.as_bytes());
        msg.push(0);
        msg.extend_from_slice(msisdn.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&self.sub_key, &msg);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&tag.as_ref()[..16]);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    pub(crate) fn consent_given(&self, client_id: &str, msisdn: &str) -> bool {
        let key = format!("{client_id}\0{msisdn}");
        self.consents.shard(&key).contains_key(&key)
    }

    pub(crate) fn give_consent(&self, client_id: &str, msisdn: &str) {
        let key = format!("{client_id}\0{msisdn}");
        self.consents.shard(&key).insert(key, ());
    }

    /// Forgets a consent; true if there was one.
    pub(crate) fn forget_consent(&self, client_id: &str, msisdn: &str) -> bool {
        let key = format!("{client_id}\0{msisdn}");
        self.consents.shard(&key).remove(&key).is_some()
    }

    /// Registers a validated request, enforcing the per-user pending limit.
    pub(crate) fn register(&self, new: NewRequest) -> Result<(String, Duration), OAuthError> {
        let now = Instant::now();
        let id = random_token(24);
        let expires_in = new.expires_in;
        let expires_at = now + expires_in;
        {
            let mut idx = self.by_user.shard(&new.user.msisdn);
            let list = idx.entry(new.user.msisdn.clone()).or_default();
            list.retain(|(_, exp)| *exp > now);
            if list.len() >= self.cfg.max_pending_per_user {
                let soonest = list.iter().map(|(_, e)| *e).min().unwrap_or(now);
                let secs = soonest.saturating_duration_since(now).as_secs_f64().ceil() as u64;
                let mut err = OAuthError::new(
                    429,
                    "too_many_requests",
                    "Too many login requests are pending for this user; try again later",
                );
                err.retry_after = Some(secs.max(1));
                return Err(err);
            }
            list.push((id.clone(), expires_at));
        }
        tracing::info!(
            client_id = %new.client.client_id,
            msisdn = %mask(&new.user.msisdn),
            flow = if new.redirect_uri.is_some() { "login_to_webpage" } else { "finish_in_app" },
            "login request started"
        );
        let req = AuthRequest::new(id.clone(), new, now, self.cfg.interval);
        self.requests.shard(&id).insert(id.clone(), req);
        let policy = *read(&self.policy);
        match policy {
            Policy::Manual => {}
            Policy::AutoApprove { after } | Policy::AutoDeny { after } => {
                let approve = matches!(policy, Policy::AutoApprove { .. });
                let me = self.me.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    if let Some(sim) = me.upgrade() {
                        let _ = if approve {
                            sim.approve(&id, None).map(|_| ())
                        } else {
                            sim.deny(&id)
                        };
                    }
                });
            }
        }
        Ok((id, expires_in))
    }

    fn unindex(&self, msisdn: &str, id: &str) {
        let mut idx = self.by_user.shard(msisdn);
        if let Some(list) = idx.get_mut(msisdn) {
            list.retain(|(i, _)| i != id);
            if list.is_empty() {
                idx.remove(msisdn);
            }
        }
    }

    /// Approves a pending request as the customer. `answers` are the delegated-consent
    /// answers (all accepted when `None`). Returns the browser redirect in variant 2.
    pub(crate) fn approve(
        &self,
        id: &str,
        answers: Option<BTreeMap<String, bool>>,
    ) -> Result<Option<Url>, SimError> {
        let now = Instant::now();
        let (msisdn, client_id, redirect) = {
            let mut shard = self.requests.shard(id);
            let req = shard.get_mut(id).ok_or(SimError::NotFound)?;
            req.approve(answers, now)?;
            let mut redirect = None;
            if let Some(uri) = &req.redirect_uri {
                let code = self.tokens.add_code(
                    req.id.clone(),
                    req.client.client_id.clone(),
                    uri.clone(),
                    now + self.cfg.code_ttl,
                );
                let mut to = uri.clone();
                {
                    let mut q = to.query_pairs_mut();
                    q.append_pair("code", &code);
                    if let Some(state) = &req.state {
                        q.append_pair("state", state);
                    }
                }
                req.redirect_to = Some(to.clone());
                redirect = Some(to);
            }
            (
                req.user.msisdn.clone(),
                req.client.client_id.clone(),
                redirect,
            )
        };
        self.unindex(&msisdn, id);
        self.give_consent(&client_id, &msisdn);
        tracing::info!(msisdn = %mask(&msisdn), client_id = %client_id, "login approved");
        // The finish-in-app variant tells the merchant by webhook; the webpage variant
        // tells it through the browser redirect.
        if redirect.is_none() {
            self.outbox.ping(id);
        }
        Ok(redirect)
    }

    /// Denies a pending request as the customer.
    pub(crate) fn deny(&self, id: &str) -> Result<(), SimError> {
        let now = Instant::now();
        let msisdn = {
            let mut shard = self.requests.shard(id);
            let req = shard.get_mut(id).ok_or(SimError::NotFound)?;
            req.deny(now)?;
            req.user.msisdn.clone()
        };
        self.unindex(&msisdn, id);
        tracing::info!(msisdn = %mask(&msisdn), "login denied");
        Ok(())
    }

    pub(crate) fn request(&self, id: &str) -> Option<SimRequest> {
        let now = Instant::now();
        self.requests.shard(id).get(id).map(|r| r.snapshot(now))
    }

    pub(crate) fn phone_view(&self, msisdn: &str, id: &str) -> Option<PhoneView> {
        let now = Instant::now();
        let shard = self.requests.shard(id);
        let r = shard.get(id).filter(|r| r.user.msisdn == msisdn)?;
        Some(PhoneView {
            req: r.snapshot(now),
            merchant: r.client.name.clone(),
            questions: r.client.delegated_consents.clone(),
            consent_given: self.consent_given(&r.client.client_id, msisdn),
            expires_in: r.expires_at.saturating_duration_since(now),
        })
    }

    /// All requests (control API); O(n), not on a hot path.
    pub(crate) fn all_requests(&self) -> Vec<SimRequest> {
        let now = Instant::now();
        let mut out: Vec<(Instant, SimRequest)> = Vec::new();
        for shard in self.requests.each_shard() {
            out.extend(shard.values().map(|r| (r.created_at, r.snapshot(now))));
        }
        out.sort_by_key(|(t, _)| *t);
        out.into_iter().map(|(_, r)| r).collect()
    }

    /// Pending requests of one phone number, oldest first. With `open`, the app is
    /// opened: requests held back because push is off are delivered. Undelivered
    /// requests are listed only with `open` or `peek`.
    pub(crate) fn pending_for(&self, msisdn: &str, open: bool, peek: bool) -> Vec<SimRequest> {
        let now = Instant::now();
        let ids: Vec<String> = {
            let idx = self.by_user.shard(msisdn);
            idx.get(msisdn)
                .map(|l| {
                    l.iter()
                        .filter(|(_, e)| *e > now)
                        .map(|(i, _)| i.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        for id in ids {
            let mut shard = self.requests.shard(&id);
            if let Some(r) = shard.get_mut(&id) {
                if r.status_at(now) != RequestStatus::Pending {
                    continue;
                }
                if open {
                    r.delivered = true;
                }
                if r.delivered || peek {
                    out.push(r.snapshot(now));
                }
            }
        }
        out
    }

    /// One poll of the CIBA grant.
    pub(crate) fn poll(&self, client_id: &str, id: &str) -> Result<Grant, OAuthError> {
        let now = Instant::now();
        let mut shard = self.requests.shard(id);
        let req = match shard.get_mut(id) {
            Some(r) if r.client.client_id == client_id => r,
            _ => return Err(OAuthError::bad("invalid_grant", "Unknown auth_req_id")),
        };
        req.poll(now, &self.cfg)
    }

    /// The code exchange of the redirect variant (single use).
    pub(crate) fn exchange(
        &self,
        client_id: &str,
        code: &str,
        redirect_uri: Option<&str>,
    ) -> Result<Grant, OAuthError> {
        self.stats.code_exchanges.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let auth_req_id = self
            .tokens
            .redeem_code(client_id, code, redirect_uri, now)?;
        let mut shard = self.requests.shard(&auth_req_id);
        let req = shard
            .get_mut(&auth_req_id)
            .filter(|r| r.status == RequestStatus::Approved)
            .ok_or_else(|| OAuthError::bad("invalid_grant", "The login request is gone"))?;
        Ok(req.complete(true))
    }

    /// Issues the ID token and access token of a grant; the token response body.
    pub(crate) fn issue(&self, g: Grant) -> Result<Value, OAuthError> {
        let sub = self.sub_for(&g.client.client_id, &g.user.msisdn);
        let (wrong_key, skew) = {
            let f = lock(&self.faults);
            (f.wrong_key(), f.skew())
        };
        let claims = claims::id_token_claims(
            &self.issuer,
            &g,
            &sub,
            skew,
            self.cfg.id_token_ttl,
            self.cfg.camel_case_auth_req_id,
        );
        let alg = if g.redirect {
            self.cfg.redirect_alg
        } else {
            self.cfg.poll_alg
        };
        let id_token = {
            let keys = read(&self.keys);
            let current = keys.current(alg);
            let key = if wrong_key {
                keys.rogue(alg).unwrap_or(current)
            } else {
                current
            };
            key.sign(&current.kid, &claims)
                .map_err(|e| OAuthError::new(500, "server_error", e.to_string()))?
        };
        let access_token = self.tokens.add_access_token(AccessGrant {
            client: g.client.clone(),
            user: g.user.clone(),
            scopes: g.scopes.clone(),
            sub,
            sid: g.sid,
            answers: g.answers,
            expires_at: Instant::now() + self.cfg.access_token_ttl,
        });
        self.stats.tokens_issued.fetch_add(1, Ordering::Relaxed);
        Ok(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.cfg.access_token_ttl.as_secs(),
            "id_token": id_token,
            "scope": g.scopes.join(" "),
        }))
    }

    /// Userinfo claims for an access token.
    pub(crate) fn userinfo(&self, token: &str) -> Option<Value> {
        self.tokens
            .with_access_grant(token, Instant::now(), claims::userinfo_claims)
    }

    pub(crate) fn stats_snapshot(&self) -> SimStats {
        let mut pending = 0u64;
        for shard in self.by_user.each_shard() {
            pending += shard.values().map(|l| l.len() as u64).sum::<u64>();
        }
        self.stats.snapshot(pending)
    }

    /// The customer withdraws consent for `client_id`: the consent is forgotten (the
    /// next login asks again) and, when a consent-revoked URL is configured, the
    /// notification is POSTed there. Returns the `sub`.
    pub(crate) async fn revoke_consent(
        &self,
        msisdn: &str,
        client_id: &str,
    ) -> Result<String, SimError> {
        if !self.clients.contains_key(client_id) {
            return Err(SimError::NotFound);
        }
        self.forget_consent(client_id, msisdn);
        let sub = self.sub_for(client_id, msisdn);
        self.outbox
            .consent_revoked(&self.issuer, client_id, &sub)
            .await?;
        Ok(sub)
    }

    /// Removes finished or expired state past its retention; runs in the background.
    pub(crate) fn purge(&self) {
        let now = Instant::now();
        let keep = self.cfg.retention;
        for mut shard in self.requests.each_shard() {
            shard.retain(|_, r| {
                let end = match r.status {
                    RequestStatus::Pending => r.expires_at,
                    RequestStatus::Approved => match (r.redirect_uri.is_some(), r.finished_at) {
                        (true, Some(f)) => r.expires_at.max(f + self.cfg.code_ttl),
                        _ => r.expires_at,
                    },
                    _ => r.finished_at.unwrap_or(r.expires_at),
                };
                now < end + keep
            });
        }
        for mut shard in self.by_user.each_shard() {
            shard.retain(|_, l| {
                l.retain(|(_, e)| *e > now);
                !l.is_empty()
            });
        }
        self.tokens.purge(now);
    }
}
