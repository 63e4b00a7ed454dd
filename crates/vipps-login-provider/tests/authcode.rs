//! Way 2, the authorization-code provider: /authorize validation, the code store and the
//! token endpoint. Refusals first. (The operator's pages are the tower layer's; here the
//! test plays that page: it logs the customer in through the SPI and completes.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::way2::*;
use common::*;
use serde_json::{Value, json};
use url::Url;
use vipps_login_provider::{LoginCheck, PhoneLogin, StartRequest, parse_login_hint};

#[tokio::test]
async fn a_doubtful_client_or_redirect_uri_is_an_error_page_never_a_redirect() {
    let b = way2().await;
    let ch = challenge(VERIFIER);
    let good = "http://127.0.0.1/callback";
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("response_type", "code"), ("redirect_uri", good)],
        good_params("nobody", good, &ch),
        good_params("rp-1", "http://127.0.0.1/elsewhere", &ch),
        good_params("rp-1", "http://127.0.0.1/callback/", &ch),
        good_params("rp-1", "http://127.0.0.1/callback?x=1", &ch),
        good_params("rp-1", "http://localhost.evil.example/callback", &ch),
        good_params("rp-1", "https://127.0.0.1/callback", &ch),
        good_params("code-only", "https://rp.example/cb#frag", &ch),
        good_params("rp-2", good, &ch),
        good_params("rp-1", "", &ch),
    ];
    for params in cases {
        let r = b.http.get(authorize_url(&b, &params)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{params:?}");
        assert!(r.headers().get("location").is_none(), "{params:?}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(r.text().await.unwrap().contains("cannot be used"));
    }
    // Markup in the request is not echoed as markup.
    let r = b
        .http
        .get(authorize_url(&b, &[("client_id", "<script>x</script>")]))
        .send()
        .await
        .unwrap();
    assert!(!r.text().await.unwrap().contains("<script>"));
}

#[tokio::test]
async fn other_bad_requests_go_back_to_the_client_with_the_error_and_state() {
    let b = way2().await;
    let ch = challenge(VERIFIER);
    let cb = "http://127.0.0.1:5555/cb";
    let mut cases: Vec<(Vec<(&str, &str)>, &str)> = Vec::new();
    let with = |k: &'static str, v: &'static str, base: Vec<(&'static str, &'static str)>| {
        let mut p: Vec<(&str, &str)> = base.into_iter().filter(|(n, _)| *n != k).collect();
        if !v.is_empty() {
            p.push((k, v));
        }
        p
    };
    let base: Vec<(&'static str, &'static str)> =
        good_params("spa", cb, Box::leak(ch.clone().into_boxed_str()));
    cases.push((
        with("response_type", "token", base.clone()),
        "unsupported_response_type",
    ));
    cases.push((with("response_type", "", base.clone()), "invalid_request"));
    cases.push((with("code_challenge", "", base.clone()), "invalid_request"));
    cases.push((
        with("code_challenge_method", "plain", base.clone()),
        "invalid_request",
    ));
    cases.push((
        with("code_challenge", "too-short", base.clone()),
        "invalid_request",
    ));
    cases.push((
        with("scope", "openid offline_access", base.clone()),
        "invalid_scope",
    ));
    cases.push((with("scope", "profile", base.clone()), "invalid_scope"));
    cases.push((with("prompt", "none", base.clone()), "login_required"));
    cases.push((
        with("request", "eyJ.x.y", base.clone()),
        "request_not_supported",
    ));
    for (params, error) in cases {
        let r = b.http.get(authorize_url(&b, &params)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{params:?}");
        let to = location(&r);
        assert!(to.as_str().starts_with(cb), "{to}");
        assert_eq!(param(&to, "error").as_deref(), Some(error), "{params:?}");
        assert_eq!(param(&to, "state").as_deref(), Some("st-1"));
        assert_eq!(param(&to, "iss").as_deref(), Some(b.provider.issuer()));
    }
    // The same request as a POSTed form is treated alike.
    let mut form = with("response_type", "token", base.clone());
    form.retain(|(k, _)| *k != "prompt");
    let r = b
        .http
        .post(b.url("/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        param(&location(&r), "error").as_deref(),
        Some("unsupported_response_type")
    );
    let r = b
        .http
        .post(b.url("/authorize"))
        .form(&good_params("spa", cb, &ch))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).as_str().starts_with(OPERATOR));
}

#[tokio::test]
async fn the_operator_logs_the_customer_in_and_the_client_redeems_the_code_once() {
    let b = way2().await;
    let disco: Value = b.get_json("/.well-known/openid-configuration", None).await;
    assert_eq!(disco["authorization_endpoint"], b.url("/authorize"));
    assert_eq!(disco["code_challenge_methods_supported"], json!(["S256"]));

    let ch = challenge(VERIFIER);
    let cb = "http://127.0.0.1:4321/callback";
    let id = authorization_id(&b, &good_params("rp-1", cb, &ch)).await;

    // The operator page: what the request asks for, a phone login with it, completion.
    let pending = b.provider.authorization(&id).await.expect("pending");
    assert_eq!(pending.client_id, "rp-1");
    assert_eq!(pending.scopes.to_string(), "openid profile phone");
    let started = b
        .login
        .start(
            StartRequest::new(
                &pending.client_id,
                parse_login_hint("+4712345678").unwrap(),
                pending.scopes.clone(),
            )
            .nonce(pending.nonce.clone())
            .subject_type(pending.subject_type),
        )
        .await
        .unwrap();
    approve(&b.sim, "4712345678").await;
    loop {
        match b.login.check(&started.handle, "rp-1").await.unwrap() {
            LoginCheck::Pending => tokio::time::sleep(Duration::from_millis(25)).await,
            LoginCheck::Approved(_) => break,
            other => panic!("{other:?}"),
        }
    }
    let approved = b.login.redeem(&started.handle, "rp-1").await.unwrap();
    let back = b
        .provider
        .complete_authorization(&id, approved)
        .await
        .unwrap();
    assert!(back.as_str().starts_with(cb));
    assert_eq!(param(&back, "state").as_deref(), Some("st-1"));
    assert!(
        b.provider
            .complete_authorization(&id, any_approved())
            .await
            .is_err(),
        "completes once"
    );
    assert!(b.provider.authorization(&id).await.is_none());
    let code = param(&back, "code").unwrap();

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", cb),
        ("code_verifier", VERIFIER),
    ];
    let r = redeem(&b, Some(RP1), &form).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let tokens: Value = r.json().await.unwrap();
    let claims: Value = {
        let payload = tokens["id_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    assert_eq!(claims["nonce"], "no-1");
    assert_eq!(claims["aud"], "rp-1");
    assert_eq!(claims["given_name"], "Kari");
    let info: Value = b
        .get_json("/userinfo", Some(tokens["access_token"].as_str().unwrap()))
        .await;
    assert_eq!(info["phone_number"], "+4712345678");
    // Reuse (RFC 6749 §4.1.2): refused, and the token issued from the first use revoked.
    oauth_error(redeem(&b, Some(RP1), &form).await, 400, "invalid_grant").await;
    let r = b
        .http
        .get(b.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the first token is revoked by the reuse");
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    oauth_error(redeem(&b, Some(RP1), &form).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn codes_are_bound_to_client_redirect_uri_and_verifier_and_expire() {
    let b = way2_with(Duration::from_secs(1)).await;
    let cb = "http://127.0.0.1/callback";
    let form = |code: &str, verifier: Option<&str>, redirect: &str| {
        let mut f = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect.to_owned()),
        ];
        if let Some(v) = verifier {
            f.push(("code_verifier", v.to_owned()));
        }
        f
    };
    let as_refs = |f: &Vec<(&'static str, String)>| {
        f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()
    };
    let send = |client: Option<(&'static str, &'static str)>, f: Vec<(&'static str, String)>| {
        let b = &b;
        async move {
            let mut req = b.http.post(b.url("/token"));
            if let Some((id, secret)) = client {
                req = req.basic_auth(id, Some(secret));
            }
            req.form(&f).send().await.unwrap()
        }
    };
    let wrong = "wrong-verifier-wrong-verifier-wrong-verifier-0123";
    for (client, verifier, redirect, what) in [
        (Some(RP1), Some(wrong), cb, "wrong verifier"),
        (Some(RP1), None, cb, "missing verifier"),
        (
            Some(RP1),
            Some(VERIFIER),
            "http://127.0.0.1/other",
            "other redirect_uri",
        ),
        (
            Some(("code-only", "code-only-secret")),
            Some(VERIFIER),
            cb,
            "another client",
        ),
    ] {
        let code = code_for(&b, "rp-1", cb).await;
        let d = oauth_error(
            send(client, as_refs(&form(&code, verifier, redirect))).await,
            400,
            "invalid_grant",
        )
        .await;
        assert!(!d.is_empty(), "{what}");
        // The refused code is gone, even with everything right now.
        oauth_error(
            send(Some(RP1), as_refs(&form(&code, Some(VERIFIER), cb))).await,
            400,
            "invalid_grant",
        )
        .await;
    }
    // Expired.
    let code = code_for(&b, "rp-1", cb).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    oauth_error(
        send(Some(RP1), as_refs(&form(&code, Some(VERIFIER), cb))).await,
        400,
        "invalid_grant",
    )
    .await;
    // A public client redeems with its verifier and client_id only; with a wrong secret nobody does.
    let code = code_for(&b, "spa", "http://127.0.0.1:7777/cb").await;
    let mut f = form(&code, Some(VERIFIER), "http://127.0.0.1:7777/cb");
    f.push(("client_id", "spa".to_owned()));
    let r = send(None, as_refs(&f)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let code = code_for(&b, "rp-1", cb).await;
    oauth_error(
        send(
            Some(("rp-1", "nope")),
            as_refs(&form(&code, Some(VERIFIER), cb)),
        )
        .await,
        401,
        "invalid_client",
    )
    .await;
    // A public client cannot use CIBA, and a CIBA-only client cannot redeem codes.
    let r = send(
        None,
        vec![
            ("grant_type", "urn:openid:params:grant-type:ciba".into()),
            ("auth_req_id", "x".into()),
            ("client_id", "spa".into()),
        ],
    )
    .await;
    oauth_error(r, 400, "unauthorized_client").await;
    let r = send(Some(RP2), as_refs(&form(&code, Some(VERIFIER), cb))).await;
    oauth_error(r, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn the_operator_redirect_can_carry_the_request_to_the_layers_login_page() {
    // As with the tower layer: its login page, with a same-origin return_to holding the id.
    let b = bridge_with(
        sim_config(),
        |l| l,
        |p| {
            p.ways(true, true).operator_redirect(|id| {
                let mut u = Url::parse("http://127.0.0.1:9/auth/vipps/login").unwrap();
                u.query_pairs_mut().append_pair(
                    "return_to",
                    &format!("/authorize/resume?authorization={id}"),
                );
                u
            })
        },
    )
    .await;
    let ch = challenge(VERIFIER);
    let r = b
        .http
        .get(authorize_url(
            &b,
            &good_params("rp-1", "http://127.0.0.1/callback", &ch),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert_eq!(to.path(), "/auth/vipps/login");
    let back = Url::parse("http://x")
        .unwrap()
        .join(&param(&to, "return_to").unwrap())
        .unwrap();
    let id = param(&back, "authorization").unwrap();
    assert_eq!(
        b.provider.authorization(&id).await.unwrap().client_id,
        "rp-1"
    );
}

#[tokio::test]
async fn concurrent_redemptions_of_one_code_leave_no_usable_token() {
    let b = way2().await;
    let cb = "http://127.0.0.1/callback";
    for _ in 0..10 {
        let code = code_for(&b, "rp-1", cb).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", cb),
            ("code_verifier", VERIFIER),
        ];
        let (one, two) = tokio::join!(redeem(&b, Some(RP1), &form), redeem(&b, Some(RP1), &form));
        let mut issued = Vec::new();
        for r in [one, two] {
            match r.status().as_u16() {
                200 => issued.push(r.json::<Value>().await.unwrap()),
                400 => {}
                other => panic!("{other}"),
            }
        }
        assert!(issued.len() <= 1, "one code, one token at most");
        for tokens in issued {
            let r = b
                .http
                .get(b.url("/userinfo"))
                .bearer_auth(tokens["access_token"].as_str().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "the token of a code used twice is revoked");
        }
    }
}
