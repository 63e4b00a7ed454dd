#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::audit::Actor;
use crate::login::failure::FailureReason;
use crate::{Identity, UserInfo};

fn pending() -> LoginRecord {
    LoginRecord {
        version: 0,
        status: LoginStatus::Pending,
        kind: LoginKind::Vipps,
        auth_req_id: "lPu7KXJ0gHuVj0mBqOCrAZJmc5kPvBvS".into(),
        nonce: "Q5t3w2mT2cEMbdF3E3qfBWNJ4Rf2JY1v8wM6vXb2fHk".into(),
        browser: false,
        expires_at: 1_765_100_000_123,
        interval_ms: 5_000,
        poller: "Hq2vJkLw0a9n0f3P0iB4vX4Vd0s7lS7Zf1mJv6qkRr0".into(),
        number_key: "dGhpcyBpcyBhIG51bWJlcl9r".into(),
        number: Some("4791234567".into()),
        checks_number: true,
        cool_downs: CoolDowns {
            declined_ms: 60_000,
            ignored_ms: 30_000,
        },
        binding_message: None,
        masked_hint: "47******67".into(),
        context: LoginContext::new(""),
    }
}

fn identity() -> Arc<Identity> {
    let claims = serde_json::json!({
        "sub": "c06c4afe-d9e1-4c5d-939a-177d752a0944",
        "auth_time": 1_765_100_000,
        "amr": ["pwd", "otp"],
        "acr": 0.5,
        "nested": {"a": null, "b": [1, -2, 3.25]},
    });
    let userinfo: UserInfo = serde_json::from_value(serde_json::json!({
        "sub": "c06c4afe-d9e1-4c5d-939a-177d752a0944",
        "name": "Kari Nordmann",
        "email_verified": true,
        "phone_number": "4791234567",
        "nin": "01017012345",
        "address": {"street_address": "Gate 1", "postal_code": "0150", "country": "NO"},
        "delegatedConsents": {"language": "nb", "consents": []},
        "something_new": {"x": 1},
    }))
    .unwrap();
    let claims = claims.as_object().cloned().unwrap();
    Arc::new(Identity::new(
        "c06c4afe-d9e1-4c5d-939a-177d752a0944".into(),
        claims,
        userinfo,
    ))
}

/// Everything a record can hold, in every state, reads back as written.
#[test]
fn compact_records_round_trip() {
    let mut full = pending();
    full.browser = true;
    full.kind = LoginKind::Decoy;
    full.binding_message = Some("AB12".into());
    full.number = None;
    full.context = LoginContext::new("session:3f9a")
        .return_to("/members")
        .extra(serde_json::json!({"till": 4, "why": ["a", 1.5]}))
        .client_address("192.0.2.7")
        .actor(Actor::staff("ole", Some("Ole".into())));
    full.context.set_trace_parent(Some(
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
    ));
    let statuses = [
        LoginStatus::Pending,
        LoginStatus::AwaitingBrowser,
        LoginStatus::Approved(identity()),
        LoginStatus::Exchanged(identity()),
        LoginStatus::Redeemed,
        LoginStatus::Denied,
        LoginStatus::Expired,
        LoginStatus::Cancelled,
        LoginStatus::Failed(FailureReason::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
        }),
        LoginStatus::Failed(FailureReason::InvalidScope("nin".into())),
    ];
    for base in [pending(), full] {
        for status in statuses.clone() {
            let mut record = base.clone();
            record.status = status;
            record.version = 7;
            let plain = encode(&record).unwrap();
            assert_eq!(plain[0], COMPACT);
            let back = decode(&plain).unwrap();
            // The JSON form names every field: equal JSON, equal records.
            assert_eq!(
                serde_json::to_value(&back).unwrap(),
                serde_json::to_value(&record).unwrap(),
                "{}",
                record.status.as_str()
            );
        }
    }
}

/// The point of the format: a waiting login's record is less than half its JSON.
#[test]
fn compact_is_less_than_half_of_json() {
    let record = pending();
    let compact = encode(&record).unwrap().len();
    let json = serde_json::to_vec(&record).unwrap().len();
    assert!(compact * 2 < json, "compact {compact} bytes, JSON {json}");
}

/// A record as the previous release wrote it (JSON, byte for byte as it serialised a
/// waiting login and an approved one) still reads: a rolling upgrade or a restart loses
/// no login that was waiting.
#[test]
fn records_of_the_previous_release_still_read() {
    let waiting = br#"{"version":3,"status":{"s":"pending"},"kind":"vipps","auth_req_id":"lPu7KXJ0gHuVj0mBqOCrAZJmc5kPvBvS","nonce":"Q5t3w2mT2cEMbdF3E3qfBWNJ4Rf2JY1v8wM6vXb2fHk","browser":false,"expires_at":1765100000123,"interval_ms":5000,"poller":"Hq2vJkLw0a9n0f3P0iB4vX4Vd0s7lS7Zf1mJv6qkRr0","number_key":"dGhpcyBpcyBhIG51bWJlcl9r","number":"4791234567","checks_number":true,"cool_downs":{"declined_ms":60000,"ignored_ms":30000},"binding_message":null,"masked_hint":"47******67","context":{"owner":""}}"#;
    let record = decode(waiting).unwrap();
    let mut expected = pending();
    expected.version = 3;
    assert_eq!(
        serde_json::to_value(&record).unwrap(),
        serde_json::to_value(&expected).unwrap()
    );
    let approved = br#"{"version":4,"status":{"s":"approved","v":{"sub":"s1","id_token_claims":{"sub":"s1","amr":["pwd"]},"userinfo":{"sub":"s1","name":"Kari Nordmann"}}},"kind":"vipps","auth_req_id":"a","nonce":"n","browser":false,"expires_at":1,"interval_ms":5000,"poller":"p","number_key":"","number":null,"checks_number":false,"cool_downs":{"declined_ms":0,"ignored_ms":0},"binding_message":"AB12","masked_hint":"ct:****","context":{"owner":"session:1","return_to":"/m"}}"#;
    let record = decode(approved).unwrap();
    let LoginStatus::Approved(identity) = &record.status else {
        panic!("{}", record.status.as_str());
    };
    assert_eq!(identity.userinfo.name.as_deref(), Some("Kari Nordmann"));
    assert_eq!(record.binding_message.as_deref(), Some("AB12"));
    assert_eq!(record.context.return_to_path(), Some("/m"));
    // And it is written back in the compact form.
    assert_eq!(encode(&record).unwrap()[0], COMPACT);
}

#[test]
fn anything_else_is_unreadable_not_misread() {
    assert!(decode(b"").is_err());
    assert!(decode(&[COMPACT]).is_err());
    assert!(decode(&[COMPACT, 0x80]).is_err(), "an empty array");
    assert!(decode(b"[1,2]").is_err());
    assert!(
        decode(&[9, 0x80]).is_err(),
        "a format this release does not know"
    );
    let mut cut = encode(&pending()).unwrap();
    cut.truncate(cut.len() - 3);
    assert!(decode(&cut).is_err());
}
