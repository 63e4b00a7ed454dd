#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::authcode::PendingAuthorization;
use vipps_login_core::{Config, Issuer, Secret, UserInfo};

fn extra() -> LoginExtra {
    LoginExtra {
        scopes: OidcScopes::parse("openid phone").unwrap(),
        nonce: None,
        subject_type: SubjectType::Public,
    }
}

fn identity(phone: Option<&str>) -> Identity {
    let mut info: UserInfo = serde_json::from_value(serde_json::json!({"sub": "s"})).unwrap();
    info.phone_number = phone.map(str::to_owned);
    let mut claims = serde_json::Map::new();
    claims.insert("auth_time".into(), 1_700_000_000u64.into());
    Identity::new("s".into(), claims, info)
}

fn login() -> VippsPhoneLogin {
    let issuer = Issuer::Custom("http://127.0.0.1:9/access/".parse().unwrap());
    let config = Config::builder(issuer, "c", Secret::new("secret"))
        .build()
        .unwrap();
    VippsPhoneLogin::new(VippsClient::new(config).unwrap())
}

#[tokio::test]
async fn approved_identities_are_mapped_for_their_owner() {
    let ok = login().approved("rp", &extra(), &identity(Some("4712345678")));
    assert_eq!(ok.claims["phone_number"], "+4712345678");
    assert_eq!(ok.auth_time, 1_700_000_000);
    assert_eq!(ok.subject, "s");
}

#[tokio::test]
async fn every_login_end_has_one_check() {
    let login = login();
    let approve = |i: &Identity| login.approved("rp", &extra(), i);
    assert!(matches!(
        login_check(None, approve),
        Ok(LoginCheck::Pending)
    ));
    let approved = LoginEnd::Approved(Arc::new(identity(Some("4712345678"))));
    assert!(matches!(
        login_check(Some(approved), approve),
        Ok(LoginCheck::Approved(a)) if a.subject == "s"
    ));
    assert_eq!(
        login_check(Some(LoginEnd::Redeemed), approve).unwrap_err(),
        LoginError::NotFound
    );
    let ends = [
        (CoreError::Declined, "Denied"),
        (CoreError::Expired, "Expired"),
        (CoreError::Cancelled, "Failed(Cancelled)"),
        (CoreError::InvalidUser, "Failed(UnknownUser)"),
        (CoreError::OldApp, "Failed(UnknownUser)"),
        // The engine's started-number check failed: Vipps verified another number.
        (
            CoreError::TokenVerification(TokenError::PhoneNumber),
            "Failed(PhoneMismatch)",
        ),
        (
            CoreError::TokenVerification(TokenError::Nonce),
            "Failed(Upstream(",
        ),
    ];
    for (error, check) in ends {
        let got = login_check(Some(LoginEnd::from_error(&error)), approve).unwrap();
        assert!(format!("{got:?}").starts_with(check), "{error:?}: {got:?}");
    }
}

#[tokio::test]
async fn way_2_approvals_get_the_same_mapping() {
    let login = login().subject_mapping(SubjectMapping::pairwise(&[1u8; 32]).unwrap());
    let pending: PendingAuthorization = serde_json::from_value(serde_json::json!({
        "client_id": "rp", "redirect_uri": "https://rp.example/cb", "scopes": ["openid", "phone"],
        "state": null, "nonce": "n", "code_challenge": null, "subject_type": "pairwise"
    }))
    .unwrap();
    let a = login.approve_identity(&pending, &identity(Some("4712345678")));
    assert_eq!(a.nonce.as_deref(), Some("n"));
    assert_eq!(
        a.subject,
        SubjectMapping::pairwise(&[1u8; 32])
            .unwrap()
            .subject("rp", "s")
    );
    assert_eq!(a.claims["phone_number"], "+4712345678");
}
