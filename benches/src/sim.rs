//! The in-process simulator as the benches use it: a client configuration for it, and
//! CIBA requests started at it with bare HTTP (no client), so that what the simulator
//! itself holds for N pending logins can be measured apart from the client's share.

use std::sync::Arc;

use tokio::sync::Semaphore;
use url::Url;
use vipps_login_core::{ClientAuth, Config, ConfigBuilder, Issuer, Secret};
use vipps_login_sim::SimHandle;

/// A configuration builder for a client of `sim` (its issuer, client id and secret).
pub fn config_builder(sim: &SimHandle) -> ConfigBuilder {
    Config::builder(
        Issuer::Custom(sim.issuer()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
}

/// A client configuration for `sim` with HTTP Basic client authentication.
///
/// # Panics
/// When it does not build (a bench set-up that went wrong).
#[must_use]
#[allow(clippy::expect_used)]
pub fn config(sim: &SimHandle) -> Config {
    config_builder(sim)
        .client_auth(ClientAuth::Basic)
        .build()
        .expect("a configuration for the simulator")
}

/// The `i`-th of the distinct numbers the pending-login benches start logins for.
#[must_use]
pub fn pending_msisdn(i: usize) -> String {
    format!("47{}", 90_000_000 + i)
}

/// CIBA requests started at a simulator with bare HTTP, for [`pending_msisdn`] numbers.
pub struct BareStarts {
    http: reqwest::Client,
    url: Url,
    client_id: &'static str,
    client_secret: &'static str,
}

/// How many bare starts are on their way at once.
const AT_ONCE: u32 = 64;

impl BareStarts {
    /// Starts at `sim`'s backchannel endpoint.
    ///
    /// # Panics
    /// When the simulator's base URL cannot be joined (never for a running one).
    #[must_use]
    #[allow(clippy::expect_used)]
    pub fn new(sim: &SimHandle) -> BareStarts {
        BareStarts {
            http: reqwest::Client::new(),
            url: sim
                .base_url()
                .join("vipps-login-ciba/api/backchannel/authentication")
                .expect("the backchannel URL"),
            client_id: sim.client_id(),
            client_secret: sim.client_secret(),
        }
    }

    /// Starts one request, for number `i`.
    ///
    /// # Panics
    /// When the simulator does not accept it.
    #[allow(clippy::unwrap_used)]
    pub async fn one(&self, i: usize) {
        let hint = format!("urn:msisdn:{}", pending_msisdn(i));
        let nonce = format!("{i:043}");
        let r = self
            .http
            .post(self.url.clone())
            .basic_auth(self.client_id, Some(self.client_secret))
            .form(&[
                ("scope", "openid"),
                ("login_hint", &hint),
                ("nonce", &nonce),
            ])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "the simulator refused a start");
        r.bytes().await.unwrap();
    }

    /// Starts requests for numbers `0..n`, 64 at a time, and returns when all
    /// are answered.
    ///
    /// # Panics
    /// When the simulator does not accept one.
    #[allow(clippy::unwrap_used)]
    pub async fn all(self: &Arc<Self>, n: usize) {
        let gate = Arc::new(Semaphore::new(AT_ONCE as usize));
        for i in 0..n {
            let permit = Arc::clone(&gate).acquire_owned().await.unwrap();
            let starts = Arc::clone(self);
            tokio::spawn(async move {
                starts.one(i).await;
                drop(permit);
            });
        }
        let _all = gate.acquire_many(AT_ONCE).await.unwrap();
    }
}
