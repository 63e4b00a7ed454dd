//! What the engine gives front ends back about a login: the one started-number check,
//! the number for its owner only, how the login ended, and decoys that send nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use vipps_login_core::{
    Config, Error, FlowKind, Issuer, LoginContext, LoginEnd, LoginKind, LoginRequest, LoginStatus,
    Msisdn, Secret, TokenError, VippsClient,
};
use vipps_login_sim::Policy;

fn auto() -> Policy {
    Policy::AutoApprove {
        after: Duration::from_millis(50),
    }
}

fn kari_with_number() -> LoginRequest {
    kari().scopes("openid name phoneNumber".parse().unwrap())
}

#[tokio::test]
async fn a_verified_number_other_than_the_started_one_fails_the_login() {
    let (sim, proxy) = sim_behind_proxy(fast_sim().policy(auto())).await;
    proxy.rewrite_userinfo(|doc| doc["phone_number"] = Value::String(OLA.into()));
    let client = client_for(&sim);
    let started = client.start(kari_with_number()).await.unwrap();
    let err = client.wait(&started.id).await.unwrap_err();
    assert_eq!(err, Error::TokenVerification(TokenError::PhoneNumber));
    let view = client.login(&started.id).await.unwrap();
    assert!(matches!(view.status, LoginStatus::Failed(_)));
    assert!(matches!(view.end(), Some(LoginEnd::Failed(_))));
    assert!(
        client.redeem(&started.id, "").await.is_err(),
        "nothing to hand out"
    );
}

#[tokio::test]
async fn a_missing_verified_number_fails_a_login_that_asked_for_it() {
    let (sim, proxy) = sim_behind_proxy(fast_sim().policy(auto())).await;
    proxy.rewrite_userinfo(|doc| {
        doc.as_object_mut().unwrap().remove("phone_number");
    });
    let client = client_for(&sim);
    let started = client.start(kari_with_number()).await.unwrap();
    let err = client.wait(&started.id).await.unwrap_err();
    assert_eq!(err, Error::TokenVerification(TokenError::PhoneNumber));
}

#[tokio::test]
async fn the_same_number_written_differently_passes_and_no_number_asked_means_no_check() {
    let (sim, proxy) = sim_behind_proxy(fast_sim().policy(auto())).await;
    proxy.rewrite_userinfo(|doc| {
        if doc.get("phone_number").is_some() {
            doc["phone_number"] = Value::String(format!("+{KARI}"));
        }
    });
    let client = client_for(&sim);
    let started = client.start(kari_with_number()).await.unwrap();
    client.wait(&started.id).await.unwrap();
    // `openid` alone asks for no number: there is nothing to compare.
    let started = client.start(kari()).await.unwrap();
    client.wait(&started.id).await.unwrap();
}

#[tokio::test]
async fn the_owner_alone_gets_the_started_number() {
    let sim = sim(fast_sim().policy(auto())).await;
    let client = client_for(&sim);
    let started = client
        .start_login(kari_with_number(), LoginContext::new("desk:1"))
        .await
        .unwrap();
    let view = client.login(&started.id).await.unwrap();
    let kari = Msisdn::parse(KARI).unwrap();
    assert_eq!(view.number_for("desk:1"), Some(&kari));
    assert_eq!(view.number_for("desk:2"), None);
    assert_eq!(view.kind, LoginKind::Vipps);
    assert_eq!(view.flow(), FlowKind::FinishInApp);
    assert!(
        !format!("{view:?}").contains(KARI),
        "Debug masks the number"
    );
    client.wait(&started.id).await.unwrap();
    assert!(matches!(
        client.login(&started.id).await.unwrap().end(),
        Some(LoginEnd::Approved(_))
    ));
    assert_eq!(
        client
            .redeem_login(&started.id, "desk:2")
            .await
            .unwrap_err(),
        Error::LoginNotFound
    );
    let redeemed = client.redeem_login(&started.id, "desk:1").await.unwrap();
    assert_eq!(redeemed.started_for, Some(kari));
    assert!(matches!(
        client.login(&started.id).await.unwrap().end(),
        Some(LoginEnd::Redeemed)
    ));
}

/// A decoy is recorded like a login but nothing reaches Vipps (here an issuer nobody
/// listens on: any request would fail the start), and it expires at its deadline.
#[tokio::test(start_paused = true)]
async fn a_decoy_sends_nothing_and_expires_at_its_deadline() {
    let config = Config::builder(
        Issuer::Custom("http://127.0.0.1:9/nothing/".parse().unwrap()),
        "client",
        Secret::new("secret"),
    )
    .build()
    .unwrap();
    let client = VippsClient::new(config).unwrap();
    let started = client
        .start_decoy(
            kari_with_number().requested_expiry(Duration::from_secs(60)),
            LoginContext::new("rp"),
        )
        .await
        .unwrap();
    assert_eq!(started.interval, Duration::from_secs(5));
    let view = client.login(&started.id).await.unwrap();
    assert_eq!(view.kind, LoginKind::Decoy);
    assert!(matches!(view.status, LoginStatus::Pending));
    let err = client.wait(&started.id).await.unwrap_err();
    assert_eq!(err, Error::Expired);
    assert!(matches!(
        client.login(&started.id).await.unwrap().end(),
        Some(LoginEnd::Expired)
    ));
}
