#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use vipps_login_core::{Config, Issuer, Secret, UserInfo};

fn record(msisdn: &str) -> LoginRecord {
    LoginRecord {
        owner: "rp".into(),
        msisdn: msisdn.into(),
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

#[tokio::test]
async fn success_needs_the_number_the_login_was_started_for() {
    let issuer = Issuer::Custom("http://127.0.0.1:9/access/".parse().unwrap());
    let config = Config::builder(issuer, "c", Secret::new("secret"))
        .build()
        .unwrap();
    let login = VippsPhoneLogin::new(VippsClient::new(config).unwrap());
    let ok = login
        .approved(&record("4712345678"), &identity(Some("4712345678")))
        .unwrap();
    assert_eq!(ok.claims["phone_number"], "+4712345678");
    assert_eq!(ok.auth_time, 1_700_000_000);
    for other in [Some("4798765432"), None] {
        let e = login
            .approved(&record("4712345678"), &identity(other))
            .unwrap_err();
        assert_eq!(e, LoginError::PhoneMismatch);
    }
}

#[tokio::test]
async fn way_2_approvals_get_the_same_mapping_and_phone_check() {
    let issuer = Issuer::Custom("http://127.0.0.1:9/access/".parse().unwrap());
    let config = Config::builder(issuer, "c", Secret::new("secret"))
        .build()
        .unwrap();
    let login = VippsPhoneLogin::new(VippsClient::new(config).unwrap())
        .subject_mapping(SubjectMapping::pairwise(&[1u8; 32]).unwrap());
    let pending: PendingAuthorization = serde_json::from_value(serde_json::json!({
        "client_id": "rp", "redirect_uri": "https://rp.example/cb", "scopes": ["openid", "phone"],
        "state": null, "nonce": "n", "code_challenge": null, "subject_type": "pairwise"
    }))
    .unwrap();
    let kari: Msisdn = "4712345678".parse().unwrap();
    let a = login
        .approve_identity(&pending, &kari, &identity(Some("4712345678")))
        .unwrap();
    assert_eq!(a.nonce.as_deref(), Some("n"));
    assert_eq!(
        a.subject,
        SubjectMapping::pairwise(&[1u8; 32])
            .unwrap()
            .subject("rp", "s")
    );
    assert_eq!(a.claims["phone_number"], "+4712345678");
    let ola: Msisdn = "4798765432".parse().unwrap();
    let e = login
        .approve_identity(&pending, &ola, &identity(Some("4712345678")))
        .unwrap_err();
    assert_eq!(e, LoginError::PhoneMismatch);
}
