//! Every rule of the protocol endpoints, driven over HTTP with a plain client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use vipps_login_sim::{AuthMethod, ErrorStyle, SimClient};

#[tokio::test]
async fn discovery_and_jwks() {
    let env = start(fast()).await;
    let issuer = env.sim.issuer();
    assert!(issuer.as_str().ends_with("/access-management-1.0/access/"));
    assert_eq!(issuer.path(), "/access-management-1.0/access/");
    let r = env
        .get(issuer.join(".well-known/openid-configuration").unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "max-age=3600");
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["issuer"], issuer.as_str());
    assert_eq!(
        d["backchannel_authentication_endpoint"],
        env.backchannel_url().as_str()
    );
    assert_eq!(d["token_endpoint"], env.token_url().as_str());
    assert_eq!(d["userinfo_endpoint"], env.userinfo_url().as_str());
    assert_eq!(
        d["jwks_uri"],
        issuer.join(".well-known/jwks.json").unwrap().as_str()
    );
    let r = env.get(d["jwks_uri"].as_str().unwrap()).await;
    assert_eq!(r.headers()["cache-control"], "max-age=3600");
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["RS256", "ES256"]);
    for k in keys {
        let kid = k["kid"].as_str().unwrap();
        let uuid = kid.strip_prefix("public:").unwrap();
        assert_eq!(uuid.len(), 36, "{kid}");
    }
    assert_eq!(keys[1]["crv"], "P-256");
}

#[tokio::test]
async fn start_answers_auth_req_id_expires_in_and_interval() {
    let env = start(fast()).await;
    let r = env
        .start_raw(&[
            ("scope", "openid name"),
            ("login_hint", "urn:msisdn:4712345678"),
            ("binding_message", "ABC-123"),
            ("requested_expiry", "120"),
            ("state", "s1"),
            ("nonce", "n1"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert!(v["auth_req_id"].as_str().unwrap().len() >= 32);
    assert_eq!(v["expires_in"], 120);
    assert_eq!(v["interval"], 0.1);
    let list = env.sim.requests();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].binding_message.as_deref(), Some("ABC-123"));
    assert_eq!(list[0].scopes, ["openid", "name"]);

    // Defaults match Vipps.
    let env = start(vipps_login_sim::SimConfig::default()).await;
    let r = env
        .start_raw(&[("scope", "openid"), ("login_hint", "urn:msisdn:4712345678")])
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["expires_in"], 600);
    assert_eq!(v["interval"], 5);
}

#[tokio::test]
async fn client_authentication() {
    let env =
        start(fast().client(
            SimClient::new("basic-only", "s3cret").auth_method(AuthMethod::ClientSecretBasic),
        ))
        .await;
    let form = [("scope", "openid"), ("login_hint", "urn:msisdn:4712345678")];
    // client_secret_basic
    let r = env.start_raw(&form).await;
    assert_eq!(r.status(), StatusCode::OK);
    // client_secret_post
    let mut post = form.to_vec();
    post.extend([
        ("client_id", "demo-client"),
        ("client_secret", "demo-secret"),
    ]);
    let r = env.post_form_as(env.backchannel_url(), None, &post).await;
    assert_eq!(r.status(), StatusCode::OK);
    // wrong secret, both ways
    let r = env
        .post_form_as(env.backchannel_url(), Some(("demo-client", "nope")), &form)
        .await;
    assert!(r.headers().contains_key("www-authenticate"));
    assert_error(r, 401, "invalid_client").await;
    let mut bad = form.to_vec();
    bad.extend([("client_id", "demo-client"), ("client_secret", "nope")]);
    let r = env.post_form_as(env.backchannel_url(), None, &bad).await;
    assert_error(r, 401, "invalid_client").await;
    // unknown client, missing credentials
    let r = env
        .post_form_as(env.backchannel_url(), Some(("who", "demo-secret")), &form)
        .await;
    assert_error(r, 401, "invalid_client").await;
    let r = env.post_form_as(env.backchannel_url(), None, &form).await;
    assert_error(r, 401, "invalid_client").await;
    // both methods at once
    let r = env.post_basic(env.backchannel_url(), &post).await;
    assert_error(r, 400, "invalid_request").await;
    // a client restricted to basic may not use post
    let mut restricted = form.to_vec();
    restricted.extend([("client_id", "basic-only"), ("client_secret", "s3cret")]);
    let r = env
        .post_form_as(env.backchannel_url(), None, &restricted)
        .await;
    assert_error(r, 401, "invalid_client").await;
    // ... but basic works; the token endpoint authenticates the same way
    let r = env
        .post_form_as(env.backchannel_url(), Some(("basic-only", "s3cret")), &form)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = env
        .post_form_as(
            env.token_url(),
            Some(("demo-client", "wrong")),
            &[("grant_type", CIBA), ("auth_req_id", "x")],
        )
        .await;
    assert_error(r, 401, "invalid_client").await;
}

#[tokio::test]
async fn scope_rules() {
    let env = start(fast()).await;
    let hint = ("login_hint", "urn:msisdn:4712345678");
    for (scope, error) in [
        ("name email", "invalid_scope"),
        ("openid nnin", "invalid_scope"),
        ("openid shoeSize", "invalid_scope"),
        ("openid phone_number", "invalid_scope"),
    ] {
        let r = env.start_raw(&[("scope", scope), hint]).await;
        assert_error(r, 400, error).await;
    }
    let r = env.start_raw(&[hint]).await;
    assert_error(r, 400, "invalid_request").await;
    let all = "openid name address birthDate email phoneNumber nin delegatedConsents";
    let r = env.start_raw(&[("scope", all), hint]).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn gender_and_custom_flow_scopes_in_both_modes() {
    for config in [fast(), fast().as_documented(true)] {
        let env = start(config).await;
        let d = env
            .get_json("access-management-1.0/access/.well-known/openid-configuration")
            .await;
        let supported: Vec<&str> = d["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert!(supported.contains(&"gender") && supported.contains(&"customFlow"));
        assert!(!supported.contains(&"nnin"));
        let hint = ("login_hint", "urn:msisdn:4712345678");
        let r = env
            .start_raw(&[("scope", "openid nnin gender"), hint])
            .await;
        assert_error(r, 400, "invalid_scope").await;
        // gender: the claim, for users who have one
        for (who, gender) in [
            (KARI, Some("female")),
            (OLA, Some("male")),
            (PUSH_OFF, None),
        ] {
            let t = env.login(who, "openid gender").await;
            let u = env.userinfo_json(t["access_token"].as_str().unwrap()).await;
            assert_eq!(
                u.get("gender").and_then(Value::as_str),
                gender,
                "{who}: {u}"
            );
            assert!(u.get("name").is_none());
            assert_eq!(t["scope"], "openid gender");
        }
        // customFlow: accepted, nothing the simulator can know comes back
        let t = env.login(KARI, "openid customFlow name").await;
        let u = env.userinfo_json(t["access_token"].as_str().unwrap()).await;
        assert_eq!(u["name"], "Kari Nordmann");
        for absent in ["gender", "delegatedConsents", "customFlow", "email"] {
            assert!(u.get(absent).is_none(), "{absent} in {u}");
        }
        // the phone names both
        env.start_login(KARI, "openid gender customFlow").await;
        let r = env.get(env.sim.phone_url(KARI)).await;
        let html = r.text().await.unwrap();
        assert!(html.contains("Your gender"), "{html}");
        assert!(html.contains("consent screens"), "{html}");
    }
}

#[tokio::test]
async fn login_hint_rules() {
    let env = start(fast().auto_users(true).max_pending_per_user(100)).await;
    let ok = [
        "urn:msisdn:4712345678",
        "urn:msisdn:4587654321",
        "urn:msisdn:35812345",
        "urn:msisdn:3581234567890",
        "urn:customer-token:kari-customer-token",
    ];
    for hint in ok {
        let r = env
            .start_raw(&[("scope", "openid"), ("login_hint", hint)])
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{hint}");
    }
    let bad = [
        "urn:msisdn:+4712345678",
        "urn:msisdn:471234567",
        "urn:msisdn:47123456789",
        "urn:msisdn:458765432",
        "urn:msisdn:3581234",
        "urn:msisdn:35812345678901",
        "urn:msisdn:4612345678",
        "urn:msisdn:",
        "urn:mobilenumber:4712345678",
        "4712345678",
        "urn:customer-token:",
    ];
    for hint in bad {
        let r = env
            .start_raw(&[("scope", "openid"), ("login_hint", hint)])
            .await;
        let v = assert_error(r, 400, "invalid_request").await;
        if hint.starts_with("urn:mobilenumber:") {
            assert!(
                v["error_description"]
                    .as_str()
                    .unwrap()
                    .contains("urn:msisdn:")
            );
        }
    }
    // an unknown customer token is an unknown user
    let r = env
        .start_raw(&[
            ("scope", "openid"),
            ("login_hint", "urn:customer-token:nope"),
        ])
        .await;
    let v = assert_error(r, 400, "invalid_request").await;
    assert_eq!(v["error_code"], "invalid_user");
}

#[tokio::test]
async fn other_parameters() {
    let env = start(fast()).await;
    let base = [("scope", "openid"), ("login_hint", "urn:msisdn:4712345678")];
    let with = |k: &'static str, v: &'static str| {
        let mut f = base.to_vec();
        f.push((k, v));
        f
    };
    for m in ["ABCDE", "ABC-1234", "12345", "A-B-C-D"] {
        let r = env.start_raw(&with("binding_message", m)).await;
        assert_eq!(r.status(), StatusCode::OK, "{m}");
        // keep below the pending limit
        let id: Value = r.json().await.unwrap();
        env.sim
            .deny(id["auth_req_id"].as_str().unwrap())
            .await
            .unwrap();
    }
    for m in [
        "ABCD",
        "ABCDEFGHI",
        "abc-123",
        "ABC 123",
        "ÆØÅ-12",
        "ABC_123",
    ] {
        let r = env.start_raw(&with("binding_message", m)).await;
        assert_error(r, 400, "invalid_binding_message").await;
    }
    for e in ["59", "901", "abc", "-1", "60.5"] {
        let r = env.start_raw(&with("requested_expiry", e)).await;
        assert_error(r, 400, "invalid_request").await;
    }
    for e in ["60", "900"] {
        let r = env.start_raw(&with("requested_expiry", e)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["expires_in"].to_string(), e);
        env.sim
            .deny(v["auth_req_id"].as_str().unwrap())
            .await
            .unwrap();
    }
    // requested_flow
    let r = env
        .start_raw(&with("requested_flow", "login_to_webpage"))
        .await;
    assert_error(r, 400, "invalid_request").await;
    let r = env.start_raw(&with("requested_flow", "something")).await;
    assert_error(r, 400, "invalid_request").await;
    let mut f = with("requested_flow", "login_to_webpage");
    f.push(("redirect_uri", "https://evil.example/cb"));
    let r = env.start_raw(&f).await;
    assert_error(r, 400, "invalid_request").await;
    let mut f = with("requested_flow", "login_to_webpage");
    f.push(("redirect_uri", "http://localhost:3000/continue"));
    let r = env.start_raw(&f).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Vipps' wire format only: form-encoded snake_case, no repeats.
    let r = env
        .http
        .post(env.backchannel_url())
        .basic_auth("demo-client", Some("demo-secret"))
        .json(&serde_json::json!({"scope": "openid", "login_hint": "urn:msisdn:4712345678"}))
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_request").await;
    let r = env
        .start_raw(&[("scope", "openid"), ("loginHint", "urn:msisdn:4712345678")])
        .await;
    assert_error(r, 400, "invalid_request").await;
    let r = env
        .start_raw(&[
            ("scope", "openid"),
            ("login_hint", "urn:msisdn:4712345678"),
            ("login_hint", "urn:msisdn:4798765432"),
        ])
        .await;
    assert_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn registered_redirect_uris_of_other_clients() {
    let env = start(
        fast()
            .client(SimClient::new("shop", "shop-secret").redirect_uri("https://shop.example/cb")),
    )
    .await;
    let start = |uri: &'static str| {
        let env = &env;
        async move {
            env.post_form_as(
                env.backchannel_url(),
                Some(("shop", "shop-secret")),
                &[
                    ("scope", "openid"),
                    ("login_hint", "urn:msisdn:4712345678"),
                    ("requested_flow", "login_to_webpage"),
                    ("redirect_uri", uri),
                ],
            )
            .await
        }
    };
    assert_eq!(
        start("https://shop.example/cb").await.status(),
        StatusCode::OK
    );
    assert_error(
        start("http://127.0.0.1:8080/cb").await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        start("https://shop.example/other").await,
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn user_errors_use_error_code() {
    let env = start(fast()).await;
    for (msisdn, code) in [
        (NO_ACCOUNT, "invalid_user"),
        (UNDER_15, "invalid_user"),
        (OLD_APP, "old_app"),
        ("4790909090", "invalid_user"),
    ] {
        let hint = format!("urn:msisdn:{msisdn}");
        let r = env
            .start_raw(&[("scope", "openid"), ("login_hint", &hint)])
            .await;
        let v = assert_error(r, 400, "invalid_request").await;
        assert_eq!(v["error_code"], code, "{msisdn}");
    }
    // The other style Vipps has been seen to use.
    let env = start(fast().error_style(ErrorStyle::Error)).await;
    let r = env
        .start_raw(&[("scope", "openid"), ("login_hint", "urn:msisdn:4733333333")])
        .await;
    let v = assert_error(r, 400, "old_app").await;
    assert!(v.get("error_code").is_none());
    // auto_users makes unknown numbers users, but not the flagged demo users
    let env = start(fast().auto_users(true)).await;
    let r = env
        .start_raw(&[("scope", "openid"), ("login_hint", "urn:msisdn:4790909090")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = env
        .start_raw(&[("scope", "openid"), ("login_hint", "urn:msisdn:4711111111")])
        .await;
    assert_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn too_many_pending_logins_is_429_with_retry_after() {
    let env = start(fast().max_pending_per_user(2)).await;
    let a = env.start_login(KARI, "openid").await;
    let _b = env.start_login(KARI, "openid").await;
    let r = env
        .start_raw(&[("scope", "openid"), ("login_hint", "urn:msisdn:4712345678")])
        .await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_error(r, 429, "too_many_requests").await;
    // other users are not affected; a finished login frees a slot
    env.start_login(OLA, "openid").await;
    env.sim.deny(&a).await.unwrap();
    env.start_login(KARI, "openid").await;
}

#[tokio::test]
async fn polling_rules() {
    let env = start(fast()).await;
    let id = env.start_login(KARI, "openid name").await;
    let (s, v) = env.poll(&id).await;
    assert_eq!(
        (s.as_u16(), v["error"].as_str().unwrap()),
        (400, "authorization_pending")
    );
    // too fast: slow_down, and the interval grows by the step (100 ms here)
    let (_, v) = env.poll(&id).await;
    assert_eq!(v["error"], "slow_down");
    assert_eq!(v["interval"], 0.2);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let (_, v) = env.poll(&id).await;
    assert_eq!(v["error"], "slow_down", "120 ms is too fast for 200 ms");
    assert_eq!(v["interval"], 0.3);
    tokio::time::sleep(Duration::from_millis(320)).await;
    let (_, v) = env.poll(&id).await;
    assert_eq!(v["error"], "authorization_pending");
    // approved: tokens once, then invalid_grant
    env.approve(&id).await;
    tokio::time::sleep(Duration::from_millis(320)).await;
    let (s, v) = env.poll(&id).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 600);
    assert!(v["id_token"].is_string() && v["access_token"].is_string());
    assert!(v.get("refresh_token").is_none());
    tokio::time::sleep(Duration::from_millis(320)).await;
    let (_, v) = env.poll(&id).await;
    assert_eq!(v["error"], "invalid_grant");
    // unknown ids, other clients' ids, bad grants
    let (_, v) = env.poll("no-such-id").await;
    assert_eq!(v["error"], "invalid_grant");
    let r = env
        .post_basic(env.token_url(), &[("grant_type", "password")])
        .await;
    assert_error(r, 400, "unsupported_grant_type").await;
    let r = env
        .post_basic(env.token_url(), &[("grant_type", CIBA)])
        .await;
    assert_error(r, 400, "invalid_request").await;
    let r = env
        .post_basic(env.token_url(), &[("auth_req_id", "x")])
        .await;
    assert_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn other_clients_cannot_poll_a_login() {
    let env = start(fast().client(SimClient::new("other", "other-secret"))).await;
    let id = env.start_login(KARI, "openid").await;
    env.approve(&id).await;
    let r = env
        .post_form_as(
            env.token_url(),
            Some(("other", "other-secret")),
            &[("grant_type", CIBA), ("auth_req_id", id.as_str())],
        )
        .await;
    assert_error(r, 400, "invalid_grant").await;
    let (s, _) = env.poll_until_done(&id).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn deny_and_expiry() {
    let env = start(fast().expires_in(Duration::from_millis(400))).await;
    let denied = env.start_login(KARI, "openid").await;
    let expired = env.start_login(OLA, "openid").await;
    let r = env
        .post_empty(&format!("_sim/requests/{denied}/deny"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (s, v) = env.poll(&denied).await;
    assert_eq!(
        (s.as_u16(), v["error"].as_str().unwrap()),
        (400, "access_denied")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, v) = env.poll(&expired).await;
    assert_eq!(v["error"], "expired_token");
    // an expired request can no longer be approved
    let r = env
        .post_empty(&format!("_sim/requests/{expired}/approve"))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(env.sim.approve(&expired).await.is_err());
    let req = env.sim.request(&expired).unwrap();
    assert_eq!(req.status, vipps_login_sim::RequestStatus::Expired);
}

#[tokio::test]
async fn approved_but_uncollected_logins_expire_too() {
    let env = start(fast().expires_in(Duration::from_millis(300))).await;
    let id = env.start_login(KARI, "openid").await;
    env.sim.approve(&id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, v) = env.poll(&id).await;
    assert_eq!(v["error"], "expired_token");
}

#[tokio::test]
async fn continue_in_browser_code_is_single_use() {
    let env = start(fast()).await;
    let r = env
        .start_raw(&[
            ("scope", "openid name"),
            ("login_hint", "urn:msisdn:4712345678"),
            ("requested_flow", "login_to_webpage"),
            ("redirect_uri", "http://127.0.0.1:9/continue?x=1"),
            ("state", "st-1"),
        ])
        .await;
    let id = auth_req_id(r).await;
    let v = env.approve(&id).await;
    let to = url::Url::parse(v["redirect_to"].as_str().unwrap()).unwrap();
    assert_eq!(to.path(), "/continue");
    let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["x"], "1");
    let code = q["code"].clone();
    // polling never yields the tokens in this variant
    let (_, p) = env.poll(&id).await;
    assert_eq!(p["error"], "authorization_pending");
    let exchange = |code: String| {
        let env = &env;
        async move { env.exchange_code(code.as_str()).await }
    };
    let r = exchange("wrong".into()).await;
    assert_error(r, 400, "invalid_grant").await;
    let r = exchange(code.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await.unwrap();
    assert!(tokens["id_token"].is_string());
    let r = exchange(code).await;
    assert_error(r, 400, "invalid_grant").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (_, p) = env.poll(&id).await;
    assert_eq!(p["error"], "invalid_grant");
    let r = env
        .post_basic(env.token_url(), &[("grant_type", REDIRECT)])
        .await;
    assert_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn userinfo_per_scope() {
    let env = start(fast()).await;
    let cases: [(&str, &[&str], &[&str]); 8] = [
        (
            "openid",
            &["sub", "sid"],
            &["name", "email", "address", "nin"],
        ),
        (
            "openid name",
            &["name", "given_name", "family_name"],
            &["email", "phone_number"],
        ),
        ("openid email", &["email", "email_verified"], &["name"]),
        ("openid phoneNumber", &["phone_number"], &["email"]),
        ("openid birthDate", &["birthdate"], &["nin"]),
        ("openid nin", &["nin"], &["birthdate"]),
        ("openid address", &["address", "other_addresses"], &["name"]),
        (
            "openid delegatedConsents",
            &["delegatedConsents"],
            &["name"],
        ),
    ];
    for (scope, present, absent) in cases {
        let t = env.login(KARI, scope).await;
        let r = env
            .userinfo(Some(t["access_token"].as_str().unwrap()))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let u: Value = r.json().await.unwrap();
        for k in present {
            assert!(u.get(*k).is_some(), "{scope}: {k} missing in {u}");
        }
        for k in absent {
            assert!(u.get(*k).is_none(), "{scope}: {k} present in {u}");
        }
        if scope.ends_with("phoneNumber") {
            assert_eq!(u["phone_number"], KARI);
        }
        if scope.ends_with("address") {
            assert_eq!(u["address"]["postal_code"], "0154");
            assert_eq!(u["address"]["country"], "NO");
            assert!(u["address"]["formatted"].as_str().unwrap().contains("Oslo"));
            assert_eq!(u["other_addresses"][0]["address_type"], "work");
        }
        if scope.ends_with("delegatedConsents") {
            let dc = &u["delegatedConsents"];
            assert!(dc["heading"].is_string() && dc["language"].is_string());
            assert!(dc["termsDescription"].is_string());
            assert!(dc["confirmConsentButtonText"].is_string());
            let c = &dc["consents"][0];
            assert_eq!(c["id"], "terms");
            assert_eq!(c["accepted"], true);
            assert_eq!(c["required"], true);
            assert!(c["textDisplayedToUser"].is_string());
        }
    }
    // An unset address comes back as empty strings.
    let t = env.login(PUSH_OFF, "openid address").await;
    let u: Value = env.userinfo_json(t["access_token"].as_str().unwrap()).await;
    assert_eq!(u["address"]["street_address"], "");
    assert_eq!(u["address"]["postal_code"], "");
    // bad or missing tokens
    let r = env.userinfo(Some("nope")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let r = env.userinfo(None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn access_tokens_expire() {
    let env = start(fast().access_token_ttl(Duration::from_millis(300))).await;
    let t = env.login(KARI, "openid").await;
    let at = t["access_token"].as_str().unwrap().to_owned();
    let r = env.userinfo(Some(&at)).await;
    assert_eq!(r.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = env.userinfo(Some(&at)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn user_exists() {
    let env = start(fast()).await;
    let url = env.url("vipps-login-ciba/api/v1/user-exists");
    for (msisdn, exists) in [
        (KARI, true),
        (DANE, true),
        (FINN, true),
        (OLD_APP, true),
        (NO_ACCOUNT, false),
        (UNDER_15, false),
        ("4790909090", false),
    ] {
        let hint = format!("urn:msisdn:{msisdn}");
        let r = env.post_basic(url.clone(), &[("login_hint", &hint)]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["exists"], exists, "{msisdn}");
    }
    let r = env
        .post_basic(url.clone(), &[("login_hint", "urn:msisdn:12")])
        .await;
    assert_error(r, 400, "invalid_request").await;
    let r = env
        .post_form_as(url, None, &[("login_hint", "urn:msisdn:4712345678")])
        .await;
    assert_error(r, 401, "invalid_client").await;
    assert_eq!(env.sim.stats().user_exists, 9);
}

#[tokio::test]
async fn customer_token_login_and_danish_and_finnish_users() {
    let env = start(fast()).await;
    let token = env.sim.customer_token(OLA).unwrap();
    let hint = format!("urn:customer-token:{token}");
    let r = env
        .start_raw(&[("scope", "openid phoneNumber"), ("login_hint", &hint)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let id = auth_req_id(r).await;
    assert_eq!(env.sim.request(&id).unwrap().msisdn, OLA);
    for m in [DANE, FINN] {
        let t = env.login(m, "openid name").await;
        assert!(t["id_token"].is_string());
    }
}

#[tokio::test]
async fn finished_requests_are_purged_after_retention() {
    let env = start(
        fast()
            .expires_in(Duration::from_millis(200))
            .retention(Duration::from_millis(50)),
    )
    .await;
    let expired = env.start_login(KARI, "openid").await;
    let env2 = start(fast().retention(Duration::from_millis(50))).await;
    let approved = env2.start_login(KARI, "openid").await;
    env2.approve(&approved).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // gone: the poll no longer knows it
    assert!(env.sim.request(&expired).is_none());
    assert_eq!(env.get_json("_sim/requests").await, serde_json::json!([]));
    let (_, v) = env.poll(&expired).await;
    assert_eq!(v["error"], "invalid_grant");
    assert_eq!(env.sim.stats().pending, 0);
    // approved but not yet collected, and not expired: kept
    let (s, _) = env2.poll(&approved).await;
    assert_eq!(s, StatusCode::OK);
}
