//! The PhoneLogin SPI over the core client, against the simulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use vipps_login_core::RateLimits;
use vipps_login_provider::{
    LoginCheck, LoginError, LoginHandle, OidcScopes, PhoneLogin, StartLimit, StartRequest,
    SubjectMapping, SubjectType, VippsPhoneLogin, parse_binding_message, parse_login_hint,
};

fn request(owner: &str, msisdn: &str, scope: &str) -> StartRequest {
    StartRequest::new(
        owner,
        parse_login_hint(&format!("+{msisdn}")).unwrap(),
        OidcScopes::parse(scope).unwrap(),
    )
}

async fn until_final(login: &VippsPhoneLogin, h: &LoginHandle, owner: &str) -> LoginCheck {
    for _ in 0..200 {
        match login.check(h, owner).await.unwrap() {
            LoginCheck::Pending => tokio::time::sleep(Duration::from_millis(25)).await,
            other => return other,
        }
    }
    panic!("still pending");
}

#[tokio::test]
async fn approved_login_is_verified_mapped_and_redeemed_once() {
    let sim = sim().await;
    let login = VippsPhoneLogin::new(vipps_client(&sim));
    let started = login
        .start(
            request("rp", KARI, "openid profile phone email address")
                .nonce(Some("rp-nonce".into())),
        )
        .await
        .unwrap();
    // No binding message given: one was generated, and it is the one on the phone.
    let on_phone = sim
        .wait_for_pending(KARI, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        on_phone.binding_message.as_deref(),
        Some(started.binding_message.as_str())
    );
    // Vipps is always asked for the phone number (to verify it).
    assert!(on_phone.scopes.iter().any(|s| s == "phoneNumber"));
    assert!(matches!(
        login.check(&started.handle, "rp").await.unwrap(),
        LoginCheck::Pending
    ));
    assert!(matches!(
        login.redeem(&started.handle, "rp").await,
        Err(LoginError::NotApproved)
    ));
    sim.approve(&on_phone.auth_req_id).await.unwrap();

    let LoginCheck::Approved(a) = until_final(&login, &started.handle, "rp").await else {
        panic!("not approved");
    };
    assert_eq!(a.subject, sim.sub_for(sim.client_id(), KARI));
    assert_eq!(a.claims["phone_number"], "+4712345678");
    assert_eq!(a.claims["phone_number_verified"], true);
    assert_eq!(a.claims["given_name"], "Kari");
    assert!(a.claims.contains_key("email"));
    assert!(a.claims.contains_key("address"));
    assert_eq!(a.nonce.as_deref(), Some("rp-nonce"));
    assert_eq!(a.amr, vec!["mfa", "swk"]);

    // Another owner sees nothing, and cannot redeem.
    assert!(matches!(
        login.check(&started.handle, "other-rp").await,
        Err(LoginError::NotFound)
    ));
    assert!(matches!(
        login.redeem(&started.handle, "other-rp").await,
        Err(LoginError::NotFound)
    ));
    // Exactly one of two concurrent redeems wins.
    let (x, y) = tokio::join!(
        login.redeem(&started.handle, "rp"),
        login.redeem(&started.handle, "rp")
    );
    assert!(x.is_ok() ^ y.is_ok(), "{x:?} / {y:?}");
    assert_eq!(x.or(y).unwrap().subject, a.subject);
    assert!(matches!(
        login.redeem(&started.handle, "rp").await,
        Err(LoginError::NotFound)
    ));
    assert!(matches!(
        login.check(&started.handle, "rp").await,
        Err(LoginError::NotFound)
    ));
}

#[tokio::test]
async fn claims_follow_the_scopes_and_the_given_binding_message_is_used() {
    let sim = sim().await;
    let login = VippsPhoneLogin::new(vipps_client(&sim));
    let started = login
        .start(
            request("rp", OLA, "openid")
                .binding_message(Some(parse_binding_message("AB-123").unwrap())),
        )
        .await
        .unwrap();
    assert_eq!(started.binding_message.as_str(), "AB-123");
    approve(&sim, OLA).await;
    let LoginCheck::Approved(a) = until_final(&login, &started.handle, "rp").await else {
        panic!("not approved");
    };
    assert!(a.claims.is_empty(), "{:?}", a.claims);
    assert!(parse_binding_message("ab-123").is_err());
    assert!(parse_binding_message("ABCDEFGHI").is_err());
}

#[tokio::test]
async fn denied_cancelled_and_unknown_numbers() {
    let sim = sim().await;
    let login = VippsPhoneLogin::new(vipps_client(&sim));
    let s = login.start(request("rp", KARI, "openid")).await.unwrap();
    deny(&sim, KARI).await;
    assert!(matches!(
        until_final(&login, &s.handle, "rp").await,
        LoginCheck::Denied
    ));

    let s = login.start(request("rp", OLA, "openid")).await.unwrap();
    assert!(login.cancel(&s.handle, "other").await.is_err());
    login.cancel(&s.handle, "rp").await.unwrap();
    assert!(matches!(
        login.check(&s.handle, "rp").await.unwrap(),
        LoginCheck::Failed(LoginError::Cancelled)
    ));

    for n in [NO_ACCOUNT, OLD_APP] {
        let e = login.start(request("rp", n, "openid")).await.unwrap_err();
        assert_eq!(e, LoginError::UnknownUser, "{n}");
    }
    let e = login
        .start(request("rp", KARI, "openid").requested_expiry(Some(Duration::from_secs(5))))
        .await
        .unwrap_err();
    assert!(matches!(e, LoginError::InvalidRequest(_)), "{e:?}");
}

/// Moves the engine's timers (a decoy's deadline) past `by`, at once.
async fn jump(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

#[tokio::test]
async fn enumeration_resistant_mode_hides_unknown_numbers() {
    let sim = sim().await;
    let pushes = || sim.stats().backchannel;
    // No cool-down after an unanswered push: the test starts for the same number again
    // at once (the engine's clock is the system's; the jumps below move only its timers).
    let limits = RateLimits::default().ignored_cool_down(Duration::ZERO);
    let login = VippsPhoneLogin::new(vipps_client(&sim))
        .enumeration_resistant(true)
        .rate_limits(limits)
        .unwrap();
    let s = login
        .start(request("rp", NO_ACCOUNT, "openid"))
        .await
        .unwrap();
    // A decoy of the engine: before this instance has seen a real login, it claims
    // Vipps' default expiry (600 s).
    assert!(
        s.expires_in <= Duration::from_secs(600) && s.expires_in > Duration::from_secs(599),
        "{:?}",
        s.expires_in
    );
    assert!(matches!(
        login.check(&s.handle, "rp").await.unwrap(),
        LoginCheck::Pending
    ));
    assert!(login.redeem(&s.handle, "rp").await.is_err());
    assert!(matches!(
        login.check(&s.handle, "other-rp").await,
        Err(LoginError::NotFound)
    ));
    // Only the refused start reached Vipps.
    assert_eq!(pushes(), 1);
    jump(Duration::from_secs(601)).await;
    assert!(matches!(
        until_final(&login, &s.handle, "rp").await,
        LoginCheck::Expired
    ));
    // A decoy can be cancelled like any login.
    let c = login
        .start(request("rp", NO_ACCOUNT, "openid"))
        .await
        .unwrap();
    login.cancel(&c.handle, "rp").await.unwrap();
    assert!(matches!(
        login.check(&c.handle, "rp").await.unwrap(),
        LoginCheck::Failed(LoginError::Cancelled)
    ));
    // Real numbers still work as before.
    let s = login.start(request("rp", KARI, "openid")).await.unwrap();
    approve(&sim, KARI).await;
    assert!(matches!(
        until_final(&login, &s.handle, "rp").await,
        LoginCheck::Approved(_)
    ));
    // From now on an unknown number imitates the expiry Vipps gives real logins (the
    // simulator's 30 s here).
    let s = login.start(request("rp", OLD_APP, "openid")).await.unwrap();
    assert!(s.expires_in > Duration::from_secs(25), "{:?}", s.expires_in);
    assert!(
        s.expires_in <= Duration::from_secs(30),
        "{:?}",
        s.expires_in
    );
}

#[tokio::test]
async fn a_decoy_counts_once_against_the_start_limit() {
    let sim = sim().await;
    let login = VippsPhoneLogin::new(vipps_client(&sim)).enumeration_resistant(true);
    let limit = Some(StartLimit {
        max: 2,
        window_secs: 60,
    });
    for n in [NO_ACCOUNT, KARI] {
        login
            .start(request("rp", n, "openid").start_limit(limit))
            .await
            .unwrap();
    }
    let e = login
        .start(request("rp", OLA, "openid").start_limit(limit))
        .await
        .unwrap_err();
    assert!(matches!(e, LoginError::RateLimited { .. }), "{e:?}");
}

#[tokio::test]
async fn a_number_vipps_verified_for_someone_else_fails_the_login() {
    // Vipps' userinfo names Ola's number for a login started for Kari's.
    let sim = common::proxy::sim_verifying(sim_config(), "+4798765432").await;
    let login = VippsPhoneLogin::new(vipps_client(&sim));
    let s = login
        .start(request("rp", KARI, "openid profile"))
        .await
        .unwrap();
    let on_phone = sim
        .wait_for_pending(KARI, Duration::from_secs(5))
        .await
        .unwrap();
    // Asked for the number even though the relying party did not ask for `phone`.
    assert!(on_phone.scopes.iter().any(|s| s == "phoneNumber"));
    sim.approve(&on_phone.auth_req_id).await.unwrap();
    assert!(matches!(
        until_final(&login, &s.handle, "rp").await,
        LoginCheck::Failed(LoginError::PhoneMismatch)
    ));
    assert_eq!(
        login.redeem(&s.handle, "rp").await.unwrap_err(),
        LoginError::NotApproved
    );
}

#[tokio::test]
async fn start_limits_and_pairwise_subjects() {
    let sim = sim().await;
    let login = VippsPhoneLogin::new(vipps_client(&sim))
        .subject_mapping(SubjectMapping::pairwise(&[42u8; 32]).unwrap());
    let limit = Some(StartLimit {
        max: 1,
        window_secs: 60,
    });
    let s = login
        .start(
            request("rp-a", KARI, "openid")
                .start_limit(limit)
                .subject_type(SubjectType::Pairwise),
        )
        .await
        .unwrap();
    let e = login
        .start(request("rp-a", OLA, "openid").start_limit(limit))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            LoginError::RateLimited {
                retry_after: Some(_)
            }
        ),
        "{e:?}"
    );
    approve(&sim, KARI).await;
    let LoginCheck::Approved(a) = until_final(&login, &s.handle, "rp-a").await else {
        panic!("not approved");
    };
    let vipps_sub = sim.sub_for(sim.client_id(), KARI);
    assert_ne!(a.subject, vipps_sub);
    assert_eq!(
        a.subject,
        SubjectMapping::pairwise(&[42u8; 32])
            .unwrap()
            .subject("rp-a", &vipps_sub)
    );
}
