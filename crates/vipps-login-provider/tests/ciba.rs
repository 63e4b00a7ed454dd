//! Way 1, the CIBA provider, over HTTP with the simulator behind it. Refusals first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde_json::Value;

#[tokio::test]
async fn client_authentication_is_refused_without_the_right_secret() {
    let b = bridge().await;
    let form = start_form(KARI_HINT, &[]);
    // A client without the CIBA grant (first: after the failures below, this source
    // waits before any secret is checked again; see tests/cheap.rs).
    let r = b
        .post_basic("/bc-authorize", ("code-only", "code-only-secret"), &form)
        .await;
    oauth_error(r, 400, "unauthorized_client").await;
    for creds in [
        ("rp-1", "wrong"),
        ("rp-1", ""),
        ("nobody", "rp-1-secret"),
        ("rp-1", "rp-2-secret"),
    ] {
        let r = b.post_basic("/bc-authorize", creds, &form).await;
        assert!(r.headers().contains_key("www-authenticate"));
        oauth_error(r, 401, "invalid_client").await;
    }
    // client_secret_post with a wrong secret, and without any credentials.
    let mut post = form.clone();
    post.extend([("client_id", "rp-1"), ("client_secret", "nope")]);
    let r = b
        .http
        .post(b.url("/bc-authorize"))
        .form(&post)
        .send()
        .await
        .unwrap();
    oauth_error(r, 401, "invalid_client").await;
    let r = b
        .http
        .post(b.url("/bc-authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    oauth_error(r, 401, "invalid_client").await;
    // Two methods at once.
    let mut both = form.clone();
    both.push(("client_secret", "rp-1-secret"));
    let r = b.post_basic("/bc-authorize", RP1, &both).await;
    oauth_error(r, 400, "invalid_request").await;
    // The token endpoint refuses the same way.
    let r = b.poll(("rp-1", "wrong"), "x").await;
    oauth_error(r, 401, "invalid_client").await;
    assert!(b.sim.requests().is_empty(), "nothing reached Vipps");
}

/// A start form, the expected error and a word of its description.
type Case = (
    Vec<(&'static str, &'static str)>,
    &'static str,
    &'static str,
);

#[tokio::test]
async fn bad_start_requests_get_the_right_error() {
    let b = bridge().await;
    let cases: Vec<Case> = vec![
        (
            start_form(KARI_HINT, &[("binding_message", "hello there")]),
            "invalid_binding_message",
            "not valid",
        ),
        (
            start_form(KARI_HINT, &[("binding_message", "AB")]),
            "invalid_binding_message",
            "not valid",
        ),
        (
            start_form("kari@example.com", &[]),
            "unknown_user_id",
            "phone number",
        ),
        (
            start_form("12345678", &[]),
            "unknown_user_id",
            "country code",
        ),
        (
            start_form("+4711111111", &[]),
            "unknown_user_id",
            "cannot log in",
        ),
        (
            start_form("urn:msisdn:4733333333", &[]),
            "unknown_user_id",
            "cannot log in",
        ),
        (vec![("scope", "openid")], "invalid_request", "login_hint"),
        (vec![("login_hint", KARI_HINT)], "invalid_request", "scope"),
        (
            vec![("scope", "phone"), ("login_hint", KARI_HINT)],
            "invalid_scope",
            "openid",
        ),
        (
            vec![
                ("scope", "openid offline_access"),
                ("login_hint", KARI_HINT),
            ],
            "invalid_scope",
            "offline_access",
        ),
        (
            start_form(KARI_HINT, &[("requested_expiry", "30")]),
            "invalid_request",
            "60 to 900",
        ),
        (
            start_form(KARI_HINT, &[("requested_expiry", "soon")]),
            "invalid_request",
            "60 to 900",
        ),
        (
            start_form(KARI_HINT, &[("login_hint_token", "x")]),
            "invalid_request",
            "login_hint",
        ),
    ];
    for (form, error, needle) in cases {
        let (status, body) = b.bc_authorize(RP1, &form).await;
        assert_eq!(
            (status, body["error"].as_str().unwrap()),
            (400, error),
            "{form:?}: {body}"
        );
        let d = body["error_description"].as_str().unwrap();
        assert!(d.contains(needle), "{form:?}: {d}");
    }
    // A scope this client is not allowed.
    let (status, body) = b
        .bc_authorize(RP2, &[("scope", "openid email"), ("login_hint", KARI_HINT)])
        .await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "invalid_scope"),
        "{body}"
    );
    // Not a form.
    let r = b
        .http
        .post(b.url("/bc-authorize"))
        .basic_auth("rp-1", Some("rp-1-secret"))
        .json(&serde_json::json!({"scope": "openid"}))
        .send()
        .await
        .unwrap();
    oauth_error(r, 400, "invalid_request").await;
    // A repeated parameter.
    let r = b
        .post_basic(
            "/bc-authorize",
            RP1,
            &[
                ("scope", "openid"),
                ("scope", "openid"),
                ("login_hint", KARI_HINT),
            ],
        )
        .await;
    oauth_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn polls_are_refused_for_unknown_grants_foreign_or_reused_ids_and_too_fast_polling() {
    let b = bridge().await;
    let (status, started) = b.bc_authorize(RP1, &start_form(KARI_HINT, &[])).await;
    assert_eq!(status, 200, "{started}");
    let id = started["auth_req_id"].as_str().unwrap();
    assert!(id.len() >= 27, "at least 160 bits");
    assert_eq!(started["interval"], 1);
    assert_eq!(
        started["binding_message"].as_str().unwrap().len(),
        7,
        "generated"
    );

    let r = b
        .post_basic(
            "/token",
            RP1,
            &[("grant_type", "password"), ("username", "x")],
        )
        .await;
    oauth_error(r, 400, "unsupported_grant_type").await;
    let r = b
        .post_basic(
            "/token",
            RP1,
            &[("grant_type", "authorization_code"), ("code", "x")],
        )
        .await;
    oauth_error(r, 400, "unsupported_grant_type").await;
    let r = b
        .post_basic(
            "/token",
            RP1,
            &[("grant_type", "urn:openid:params:grant-type:ciba")],
        )
        .await;
    oauth_error(r, 400, "invalid_request").await;

    // Another client cannot use it; a made-up one is unknown.
    oauth_error(b.poll(RP2, id).await, 400, "invalid_grant").await;
    oauth_error(b.poll(RP1, "not-an-id").await, 400, "invalid_grant").await;
    oauth_error(b.poll(RP1, &"A".repeat(43)).await, 400, "invalid_grant").await;

    let first = b.poll(RP1, id).await;
    assert_eq!(first.headers()["cache-control"], "no-store");
    oauth_error(first, 400, "authorization_pending").await;
    let d = oauth_error(b.poll(RP1, id).await, 400, "slow_down").await;
    assert!(
        d.contains("6 seconds"),
        "the interval grew by the step: {d}"
    );

    // Approve, wait out the grown interval, get the tokens once.
    approve(&b.sim, "4712345678").await;
    tokio::time::sleep(Duration::from_millis(6000)).await;
    let r = b.poll(RP1, id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    oauth_error(b.poll(RP1, id).await, 400, "invalid_grant").await;
}

async fn verify_id_token(b: &Bridge, token: &str, aud: &str) -> Value {
    let jwks: JwkSet = serde_json::from_value(b.get_json("/jwks", None).await).unwrap();
    let header = decode_header(token).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid in the JWKS");
    let mut v = Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[b.provider.issuer()]);
    decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .unwrap()
        .claims
}

#[tokio::test]
async fn an_approved_login_yields_verified_tokens_and_userinfo() {
    let b = bridge().await;
    let disco: Value = b.get_json("/.well-known/openid-configuration", None).await;
    assert_eq!(disco["issuer"], b.base);
    assert_eq!(
        disco["backchannel_authentication_endpoint"],
        b.url("/bc-authorize")
    );
    assert_eq!(
        disco["backchannel_token_delivery_modes_supported"],
        serde_json::json!(["poll"])
    );
    assert_eq!(disco["backchannel_user_code_parameter_supported"], false);
    assert!(
        disco["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "urn:openid:params:grant-type:ciba")
    );

    for (client, alg) in [(RP1, "RS256"), (RP2, "ES256")] {
        let (_, started) = b
            .bc_authorize(
                client,
                &start_form(
                    KARI_HINT,
                    &[("binding_message", "DESK-42"), ("nonce", "n-1")],
                ),
            )
            .await;
        assert_eq!(started["binding_message"], "DESK-42");
        let on_phone = b
            .sim
            .wait_for_pending("4712345678", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(on_phone.binding_message.as_deref(), Some("DESK-42"));
        b.sim.approve(&on_phone.auth_req_id).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = b
            .poll(client, started["auth_req_id"].as_str().unwrap())
            .await;
        assert_eq!(r.status(), 200);
        let tokens: Value = r.json().await.unwrap();
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["scope"], "openid phone");
        let id_token = tokens["id_token"].as_str().unwrap();
        assert_eq!(format!("{:?}", decode_header(id_token).unwrap().alg), alg);
        let claims = verify_id_token(&b, id_token, client.0).await;
        assert_eq!(
            claims["sub"],
            b.sim.sub_for(b.sim.client_id(), "4712345678")
        );
        assert_eq!(claims["phone_number"], "+4712345678");
        assert_eq!(claims["phone_number_verified"], true);
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["amr"], serde_json::json!(["mfa", "swk"]));
        assert!(
            claims["acr"].is_string()
                && claims["auth_time"].is_u64()
                && claims["at_hash"].is_string()
        );
        assert!(claims.get("name").is_none(), "no profile scope");

        let at = tokens["access_token"].as_str().unwrap();
        let info: Value = b.get_json("/userinfo", Some(at)).await;
        assert_eq!(info["sub"], claims["sub"]);
        assert_eq!(info["phone_number"], "+4712345678");
    }
    let r = b
        .http
        .get(b.url("/userinfo"))
        .bearer_auth("made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert_eq!(
        b.http
            .get(b.url("/userinfo"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}
