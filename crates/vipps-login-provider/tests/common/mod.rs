//! Shared harness of the provider's tests: the simulator and a core client on it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use vipps_login_core::{ClientAuth, Config, Issuer, Secret, VippsClient};
use vipps_login_sim::{SimConfig, SimHandle, Simulator};

pub const KARI: &str = "4712345678";
pub const OLA: &str = "4798765432";
pub const NO_ACCOUNT: &str = "4711111111";
pub const OLD_APP: &str = "4733333333";

pub fn sim_config() -> SimConfig {
    SimConfig::default()
        .interval(Duration::from_millis(50))
        .slow_down_step(Duration::from_millis(50))
        .expires_in(Duration::from_secs(30))
}

pub async fn sim() -> SimHandle {
    Simulator::start(sim_config()).await.unwrap()
}

pub fn vipps_client(sim: &SimHandle) -> VippsClient {
    let config = Config::builder(
        Issuer::Custom(sim.issuer()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
    .client_auth(ClientAuth::Basic)
    .build()
    .unwrap();
    VippsClient::new(config).unwrap()
}

/// Approves the newest pending request of `msisdn` on the simulated phone.
pub async fn approve(sim: &SimHandle, msisdn: &str) {
    let r = sim
        .wait_for_pending(msisdn, Duration::from_secs(5))
        .await
        .expect("a pending request");
    sim.approve(&r.auth_req_id).await.unwrap();
}

/// Denies the newest pending request of `msisdn`.
pub async fn deny(sim: &SimHandle, msisdn: &str) {
    let r = sim
        .wait_for_pending(msisdn, Duration::from_secs(5))
        .await
        .expect("a pending request");
    sim.deny(&r.auth_req_id).await.unwrap();
}
