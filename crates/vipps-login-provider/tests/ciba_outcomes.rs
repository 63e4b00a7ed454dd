//! Way 1, the CIBA provider: how logins end (denial, expiry, enumeration resistance),
//! and client_secret_post.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn client_secret_post_works_and_denial_is_access_denied() {
    let b = bridge().await;
    let mut form = start_form("4798765432", &[]);
    form.extend([("client_id", "rp-1"), ("client_secret", "rp-1-secret")]);
    let r = b
        .http
        .post(b.url("/bc-authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let started: Value = r.json().await.unwrap();
    deny(&b.sim, "4798765432").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = started["auth_req_id"].as_str().unwrap();
    let r = b
        .http
        .post(b.url("/token"))
        .form(&[
            ("grant_type", "urn:openid:params:grant-type:ciba"),
            ("auth_req_id", id),
            ("client_id", "rp-1"),
            ("client_secret", "rp-1-secret"),
        ])
        .send()
        .await
        .unwrap();
    oauth_error(r, 400, "access_denied").await;
}

#[tokio::test]
async fn expiry_ends_as_expired_token() {
    let b = bridge_with(
        sim_config().expires_in(Duration::from_secs(1)),
        |l| l,
        |p| p,
    )
    .await;
    let (_, started) = b.bc_authorize(RP1, &start_form(KARI_HINT, &[])).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    oauth_error(
        b.poll(RP1, started["auth_req_id"].as_str().unwrap()).await,
        400,
        "expired_token",
    )
    .await;
}

#[tokio::test]
async fn enumeration_resistant_mode_answers_unknown_numbers_like_any_other() {
    let b = bridge_with(sim_config(), |l| l.enumeration_resistant(true), |p| p).await;
    let (status, started) = b.bc_authorize(RP1, &start_form("+4711111111", &[])).await;
    assert_eq!(status, 200, "{started}");
    let id = started["auth_req_id"].as_str().unwrap();
    oauth_error(b.poll(RP1, id).await, 400, "authorization_pending").await;
    // The decoy's deadline (Vipps' default expiry: no real login has told this instance
    // Vipps' usual one yet), on the engine's timer; then a poll no sooner than `interval`.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(601)).await;
    tokio::time::resume();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    oauth_error(b.poll(RP1, id).await, 400, "expired_token").await;
}

#[tokio::test]
async fn a_number_vipps_verified_for_someone_else_is_access_denied() {
    let sim = proxy::sim_verifying(sim_config(), "+4798765432").await;
    let b = bridge_on(sim, |l| l, |p| p).await;
    let (_, started) = b.bc_authorize(RP1, &start_form(KARI_HINT, &[])).await;
    approve(&b.sim, "4712345678").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let why = oauth_error(
        b.poll(RP1, started["auth_req_id"].as_str().unwrap()).await,
        400,
        "access_denied",
    )
    .await;
    assert!(why.contains("phone number"), "{why}");
}

#[tokio::test]
async fn of_two_concurrent_polls_after_approval_exactly_one_gets_tokens() {
    let b = bridge().await;
    let (_, started) = b.bc_authorize(RP1, &start_form(KARI_HINT, &[])).await;
    let id = started["auth_req_id"].as_str().unwrap();
    approve(&b.sim, "4712345678").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (x, y) = tokio::join!(b.poll(RP1, id), b.poll(RP1, id));
    let mut statuses = [x.status().as_u16(), y.status().as_u16()];
    statuses.sort_unstable();
    // One wins; the other is refused (already used, or polled too fast), never a second token.
    assert_eq!(statuses[0], 200, "{statuses:?}");
    assert_eq!(statuses[1], 400, "{statuses:?}");
}

#[tokio::test]
async fn after_key_rotation_the_jwks_keeps_the_old_keys_and_new_tokens_use_new_ones() {
    let b = bridge().await;
    let jwks = |b: &Bridge| {
        let http = b.http.clone();
        let url = b.url("/jwks");
        async move {
            let v: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            v["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let before = jwks(&b).await;
    assert_eq!(before.len(), 2);
    b.provider.keys().rotate(Duration::from_secs(600)).unwrap();
    let after = jwks(&b).await;
    assert_eq!(after.len(), 4);
    assert!(
        before.iter().all(|k| after.contains(k)),
        "old keys still published"
    );
    let (_, started) = b.bc_authorize(RP1, &start_form(KARI_HINT, &[])).await;
    approve(&b.sim, "4712345678").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tokens: Value = b
        .poll(RP1, started["auth_req_id"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let kid = jsonwebtoken::decode_header(tokens["id_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    assert!(
        after.contains(&kid) && !before.contains(&kid),
        "signed with a new key"
    );
}
