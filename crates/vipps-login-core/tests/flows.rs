//! Both login variants and their outcomes against the in-process simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use url::Url;
use vipps_login_core::{
    BindingMessage, ClientAuth, Error, Flow, LoginHint, LoginId, LoginRequest, LoginStatus,
    MemoryStore, Msisdn, Scope, VippsClient,
};
use vipps_login_sim::{AuthMethod, ErrorStyle, Policy, RequestFlow, SigningAlg, SimClient};

fn browser(req: LoginRequest) -> LoginRequest {
    req.flow(Flow::ContinueInBrowser {
        redirect_uri: Url::parse("http://127.0.0.1:9/continue").unwrap(),
    })
}

#[tokio::test]
async fn finish_in_app_approved() {
    let sim = sim(fast_sim()).await;
    let client = client_for(&sim);
    let code = BindingMessage::generate();
    let started = client
        .start(
            kari()
                .scopes(
                    "name phoneNumber email address birthDate nin"
                        .parse()
                        .unwrap(),
                )
                .binding_message(code.clone())
                .requested_expiry(Duration::from_secs(120))
                .state("till-7"),
        )
        .await
        .unwrap();
    assert_eq!(started.binding_message.as_ref(), Some(&code));
    assert!(matches!(
        client.status(&started.id).await.unwrap(),
        LoginStatus::Pending
    ));

    let req = pending(&sim, KARI).await;
    assert_eq!(req.binding_message.as_deref(), Some(code.as_str()));
    assert_eq!(req.flow, RequestFlow::FinishInApp);
    assert!(req.scopes.iter().any(|s| s == "phoneNumber"));
    assert!((110..=120).contains(&req.expires_in), "{}", req.expires_in);
    // The id we hand out is never the upstream one.
    assert_ne!(started.id.as_str(), req.auth_req_id);

    let mut rx = client.watch(&started.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    sim.approve(&req.auth_req_id).await.unwrap();
    let identity = client.wait(&started.id).await.unwrap();
    assert_eq!(identity.sub, sim.sub_for(sim.client_id(), KARI));
    let u = &identity.userinfo;
    assert_eq!(u.sub, identity.sub);
    assert_eq!(u.given_name.as_deref(), Some("Kari"));
    assert_eq!(u.phone_number.as_deref(), Some(KARI));
    assert!(u.nin.is_some() && u.birthdate.is_some() && u.email.is_some());
    assert!(u.address.is_some());
    assert!(identity.id_token_claims.contains_key("nonce"));

    rx.changed().await.unwrap();
    assert!(matches!(&*rx.borrow(), LoginStatus::Approved(_)));
    assert!(matches!(
        client.status(&started.id).await.unwrap(),
        LoginStatus::Approved(_)
    ));

    let stats = sim.stats();
    assert_eq!(stats.backchannel, 1);
    assert_eq!(stats.userinfo, 1);
    assert_eq!(stats.discovery, 1);
    assert_eq!(stats.jwks, 1);
    assert_eq!(stats.token, client.poller_stats().polls);
    assert!(stats.token >= 2, "polled while pending");
    assert_eq!(client.poller_stats().scheduled, 0);
}

#[tokio::test]
async fn declined() {
    let sim = sim(fast_sim().policy(Policy::AutoDeny {
        after: Duration::from_millis(250),
    }))
    .await;
    let client = client_for(&sim);
    let started = client.start(kari()).await.unwrap();
    let err = client.wait(&started.id).await.unwrap_err();
    assert_eq!(err, Error::Declined);
    assert_eq!(err.code(), "declined");
    assert!(matches!(
        client.status(&started.id).await.unwrap(),
        LoginStatus::Denied
    ));
    assert_eq!(sim.stats().userinfo, 0);
}

#[tokio::test]
async fn expires_when_nobody_confirms() {
    let sim = sim(fast_sim().expires_in(Duration::from_secs(1))).await;
    let client = client_for(&sim);
    let started = client.start(kari()).await.unwrap();
    let t = std::time::Instant::now();
    let err = client.wait(&started.id).await.unwrap_err();
    assert_eq!(err, Error::Expired);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(matches!(
        client.status(&started.id).await.unwrap(),
        LoginStatus::Expired
    ));
}

#[tokio::test]
async fn users_who_cannot_log_in() {
    for style in [ErrorStyle::ErrorCode, ErrorStyle::Error] {
        let sim = sim(fast_sim().error_style(style)).await;
        let client = client_for(&sim);
        for number in ["4711111111", "4722222222", "4790000001"] {
            let err = client
                .start(LoginRequest::new(Msisdn::parse(number).unwrap()))
                .await
                .unwrap_err();
            assert_eq!(err, Error::InvalidUser, "{number} {style:?}");
        }
        let err = client
            .start(LoginRequest::new(Msisdn::parse("4733333333").unwrap()))
            .await
            .unwrap_err();
        assert_eq!(err, Error::OldApp);
        assert_eq!(
            err.to_string(),
            "The customer's Vipps app is too old; ask them to update it and try again."
        );
        assert_eq!(sim.stats().token, 0);
    }
}

#[tokio::test]
async fn rate_limited_start_is_not_retried() {
    let sim = sim(fast_sim().max_pending_per_user(1)).await;
    let client = client_for(&sim);
    client.start(kari()).await.unwrap();
    let err = client.start(kari()).await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    assert!(err.retry_after().is_some());
    assert_eq!(err.status(), http::StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(sim.stats().backchannel, 2);
}

#[tokio::test]
async fn bad_input_never_reaches_the_network() {
    let sim = sim(fast_sim()).await;
    let client = client_for(&sim);
    assert!(matches!(
        "12".parse::<Msisdn>(),
        Err(Error::InvalidPhoneNumber(_))
    ));
    assert!(matches!(
        "bad code".parse::<BindingMessage>(),
        Err(Error::InvalidBindingMessage(_))
    ));
    assert!(matches!(
        "openid nnin".parse::<vipps_login_core::Scopes>(),
        Err(Error::InvalidScope(_))
    ));
    let err = client
        .start(kari().requested_expiry(Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    let err = client
        .start(kari().flow(Flow::ContinueInBrowser {
            redirect_uri: Url::parse("http://example.com/cb").unwrap(),
        }))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    let err = client.start(kari().state("")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    assert!(matches!(
        client.complete_browser("some-state", "").await,
        Err(Error::InvalidCode)
    ));
    assert!(matches!(
        client.complete_browser("", "some-code").await,
        Err(Error::UnknownCallback)
    ));
    let s = sim.stats();
    assert_eq!((s.discovery, s.backchannel, s.token), (0, 0, 0));
}

#[tokio::test]
async fn continue_in_browser_exchange() {
    let sim = sim(fast_sim()).await;
    let client = client_for(&sim);
    let started = client
        .start(browser(kari()).scopes("name".parse().unwrap()))
        .await
        .unwrap();
    assert!(matches!(
        client.status(&started.id).await.unwrap(),
        LoginStatus::AwaitingBrowser
    ));
    let req = pending(&sim, KARI).await;
    assert_eq!(req.flow, RequestFlow::LoginToWebpage);
    // This variant is never polled: Vipps answers its token endpoint once per
    // authentication, and that answer belongs to the phone's code.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.stats().token, 0, "no CIBA poll of a browser login");
    let redirect = sim.approve(&req.auth_req_id).await.unwrap().unwrap();
    assert_eq!(redirect.path(), "/continue");
    let cb = code_of(&redirect);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(matches!(
        client.status(&started.id).await.unwrap(),
        LoginStatus::AwaitingBrowser
    ));

    // A forged state costs nothing upstream and leaves the genuine link working.
    let before = sim.stats().code_exchanges;
    let forged = Callback {
        state: "forged-state".into(),
        code: cb.code.clone(),
    };
    assert_eq!(
        exchange(&client, &forged).await.unwrap_err(),
        Error::UnknownCallback
    );
    assert_eq!(sim.stats().code_exchanges, before);

    let (id, identity) = exchange(&client, &cb).await.unwrap();
    assert_eq!(id, started.id);
    assert_eq!(identity.userinfo.name.as_deref(), Some("Kari Nordmann"));
    assert!(matches!(
        client.status(&id).await.unwrap(),
        LoginStatus::Exchanged(_)
    ));
    assert!(matches!(client.wait(&id).await, Ok(i) if i.sub == identity.sub));

    // Single use: a replay is refused before any call upstream.
    let before = sim.stats().code_exchanges;
    let err = exchange(&client, &cb).await.unwrap_err();
    assert_eq!(err, Error::AlreadyCompleted);
    assert_eq!(sim.stats().code_exchanges, before);

    // Redeemed exactly once, by its owner only.
    assert_eq!(
        client.redeem(&id, "someone else").await.unwrap_err(),
        Error::LoginNotFound
    );
    assert_eq!(client.redeem(&id, "").await.unwrap().sub, identity.sub);
    assert_eq!(
        client.redeem(&id, "").await.unwrap_err(),
        Error::AlreadyCompleted
    );
    assert!(matches!(
        client.status(&id).await.unwrap(),
        LoginStatus::Redeemed
    ));
}

#[tokio::test]
async fn continue_in_browser_es256_camel_case() {
    let sim = sim(fast_sim()
        .redirect_signing_alg(SigningAlg::ES256)
        .camel_case_auth_req_id(true))
    .await;
    let client = client_for(&sim);
    let started = client.start(browser(kari())).await.unwrap();
    let code = approve_for_code(&sim, KARI).await;
    let (id, identity) = exchange(&client, &code).await.unwrap();
    assert_eq!(id, started.id);
    assert!(identity.id_token_claims.contains_key("authReqId"));
}

#[tokio::test]
async fn code_for_a_login_started_elsewhere_is_refused() {
    let sim = sim(fast_sim()).await;
    let a = client_for(&sim);
    let b = client_for(&sim); // same credentials, its own store: it did not start the login
    let started = a.start(browser(kari())).await.unwrap();
    let code = approve_for_code(&sim, KARI).await;
    let before = sim.stats().code_exchanges;
    let err = exchange(&b, &code).await.unwrap_err();
    assert_eq!(err, Error::UnknownCallback);
    assert_eq!(sim.stats().code_exchanges, before, "no call upstream");
    assert!(matches!(
        a.status(&started.id).await.unwrap(),
        LoginStatus::AwaitingBrowser
    ));
}

#[tokio::test]
async fn browser_login_expires() {
    let sim = sim(fast_sim().expires_in(Duration::from_millis(600))).await;
    let client = client_for(&sim);
    let started = client.start(browser(kari())).await.unwrap();
    assert_eq!(client.wait(&started.id).await.unwrap_err(), Error::Expired);
}

#[tokio::test]
async fn cancel_stops_polling() {
    let sim = sim(fast_sim()).await;
    let client = client_for(&sim);
    let started = client.start(kari()).await.unwrap();
    let waiter = {
        let client = client.clone();
        let id = started.id.clone();
        tokio::spawn(async move { client.wait(&id).await })
    };
    tokio::time::sleep(Duration::from_millis(250)).await;
    client.cancel(&started.id).await.unwrap();
    assert_eq!(waiter.await.unwrap().unwrap_err(), Error::Cancelled);
    assert!(matches!(
        client.status(&started.id).await.unwrap(),
        LoginStatus::Cancelled
    ));
    client.cancel(&started.id).await.unwrap();
    let polls = sim.stats().token;
    let req = sim.pending_for(KARI).pop().unwrap();
    sim.approve(&req.auth_req_id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sim.stats().token, polls);
    assert!(matches!(
        client.status(&started.id).await.unwrap(),
        LoginStatus::Cancelled
    ));
    assert_eq!(client.poller_stats().scheduled, 0);
}

#[tokio::test]
async fn cancel_after_completion_is_refused() {
    let sim = sim(fast_sim().policy(Policy::AutoApprove {
        after: Duration::from_millis(150),
    }))
    .await;
    let client = client_for(&sim);
    let started = client.start(kari()).await.unwrap();
    client.wait(&started.id).await.unwrap();
    assert_eq!(
        client.cancel(&started.id).await.unwrap_err(),
        Error::AlreadyCompleted
    );
}

#[tokio::test]
async fn unknown_login_id() {
    let sim = sim(fast_sim()).await;
    let client = client_for(&sim);
    let id = LoginId::generate();
    assert_eq!(client.status(&id).await.unwrap_err(), Error::LoginNotFound);
    assert_eq!(client.wait(&id).await.unwrap_err(), Error::LoginNotFound);
    assert_eq!(client.cancel(&id).await.unwrap_err(), Error::LoginNotFound);
}

#[tokio::test]
async fn user_exists_is_cached() {
    let sim = sim(fast_sim()).await;
    let client = client_for(&sim);
    let kari = Msisdn::parse(KARI).unwrap();
    assert!(client.user_exists(&kari).await.unwrap());
    assert!(client.user_exists(&kari).await.unwrap());
    assert!(
        !client
            .user_exists(&Msisdn::parse("4711111111").unwrap())
            .await
            .unwrap()
    );
    assert_eq!(sim.stats().user_exists, 2);
}

#[tokio::test]
async fn client_secret_post() {
    let sim = sim(fast_sim()
        .builtin_users(true)
        .client(
            SimClient::new("post-client", "post-secret")
                .auth_method(AuthMethod::ClientSecretPost)
                .allow_loopback_redirects(true),
        )
        .policy(Policy::AutoApprove {
            after: Duration::from_millis(150),
        }))
    .await;
    let config = vipps_login_core::Config::builder(
        vipps_login_core::Issuer::Custom(sim.issuer()),
        "post-client",
        vipps_login_core::Secret::new("post-secret"),
    )
    .client_auth(ClientAuth::Post)
    .build()
    .unwrap();
    let client = VippsClient::new(config.clone()).unwrap();
    let started = client.start(kari()).await.unwrap();
    client.wait(&started.id).await.unwrap();
    // Basic is refused by this client: the precise error, not a generic one.
    let basic = vipps_login_core::Config::builder(
        vipps_login_core::Issuer::Custom(sim.issuer()),
        "post-client",
        vipps_login_core::Secret::new("post-secret"),
    )
    .build()
    .unwrap();
    let err = VippsClient::new(basic)
        .unwrap()
        .start(kari())
        .await
        .unwrap_err();
    assert_eq!(err, Error::InvalidClient);
    // Wrong secret.
    let wrong = vipps_login_core::Config::builder(
        vipps_login_core::Issuer::Custom(sim.issuer()),
        "demo-client",
        vipps_login_core::Secret::new("wrong"),
    )
    .build()
    .unwrap();
    let err = VippsClient::new(wrong)
        .unwrap()
        .start(kari())
        .await
        .unwrap_err();
    assert_eq!(err, Error::InvalidClient);
}

#[tokio::test]
async fn customer_token_and_other_markets() {
    let sim = sim(fast_sim().policy(Policy::AutoApprove {
        after: Duration::from_millis(100),
    }))
    .await;
    let client = client_for(&sim);
    let token = sim.customer_token(KARI).unwrap();
    let started = client
        .start(LoginRequest::new(LoginHint::customer_token(token).unwrap()))
        .await
        .unwrap();
    let identity = client.wait(&started.id).await.unwrap();
    assert_eq!(identity.sub, sim.sub_for(sim.client_id(), KARI));

    for number in ["+45 87 65 43 21", "+358 40 123 4567"] {
        let m: Msisdn = number.parse().unwrap();
        let started = client
            .start(
                LoginRequest::new(m.clone())
                    .scopes(vipps_login_core::Scopes::openid().with(Scope::PhoneNumber)),
            )
            .await
            .unwrap();
        let identity = client.wait(&started.id).await.unwrap();
        assert_eq!(identity.userinfo.phone_number.as_deref(), Some(m.as_str()));
    }
}

#[tokio::test]
async fn many_concurrent_logins_share_one_poller() {
    let sim = sim(fast_sim()
        .auto_users(true)
        .max_pending_per_user(1000)
        .policy(Policy::AutoApprove {
            after: Duration::from_millis(300),
        }))
    .await;
    let store = Arc::new(MemoryStore::new());
    let client = VippsClient::with_store(config_for(&sim).build().unwrap(), store.clone()).unwrap();
    let mut ids = Vec::new();
    for i in 0..200u32 {
        let m = Msisdn::parse(&format!("479{:07}", i)).unwrap();
        ids.push(client.start(LoginRequest::new(m)).await.unwrap().id);
    }
    let waits = ids.iter().map(|id| {
        let client = client.clone();
        let id = id.clone();
        tokio::spawn(async move { client.wait(&id).await })
    });
    for w in waits.collect::<Vec<_>>() {
        w.await.unwrap().unwrap();
    }
    let s = sim.stats();
    assert_eq!(s.backchannel, 200);
    assert_eq!(s.userinfo, 200);
    assert_eq!((s.discovery, s.jwks), (1, 1));
    let stats = client.poller_stats();
    assert_eq!(stats.scheduled, 0);
    assert_eq!(stats.polls, s.token);
    // Results stay readable from the store.
    assert!(matches!(
        client.status(&ids[0]).await.unwrap(),
        LoginStatus::Approved(_)
    ));
}

#[tokio::test]
async fn poller_stops_when_the_client_is_dropped() {
    let sim = sim(fast_sim()).await;
    let client = client_for(&sim);
    client.start(kari()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    drop(client);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let polls = sim.stats().token;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sim.stats().token, polls);
}

#[tokio::test]
async fn instances_sharing_a_store() {
    // Two instances behind a load balancer, one shared store (as Redis would be).
    let sim = sim(fast_sim()).await;
    let store = Arc::new(MemoryStore::new());
    let a = VippsClient::with_store(config_for(&sim).build().unwrap(), store.clone()).unwrap();
    let b = VippsClient::with_store(config_for(&sim).build().unwrap(), store.clone()).unwrap();

    // The browser comes back to the other instance.
    let started = a.start(browser(kari())).await.unwrap();
    assert!(matches!(
        b.status(&started.id).await.unwrap(),
        LoginStatus::AwaitingBrowser
    ));
    let code = approve_for_code(&sim, KARI).await;
    let mut on_a = a.watch(&started.id).await.unwrap();
    let (id, _) = exchange(&b, &code).await.unwrap();
    assert_eq!(id, started.id);
    assert!(matches!(
        a.status(&id).await.unwrap(),
        LoginStatus::Exchanged(_)
    ));
    // `a` is told through the store and stops following the login.
    tokio::time::timeout(Duration::from_secs(2), on_a.changed())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(&*on_a.borrow(), LoginStatus::Exchanged(_)));
    assert!(eventually(Duration::from_secs(1), || a.poller_stats().scheduled == 0).await);

    // A finish-in-app login polled by `a` can be awaited through `b`.
    let started = a
        .start(LoginRequest::new(Msisdn::parse(OLA).unwrap()))
        .await
        .unwrap();
    let waiter = {
        let b = b.clone();
        let id = started.id.clone();
        tokio::spawn(async move { b.wait(&id).await })
    };
    let req = pending(&sim, OLA).await;
    sim.approve(&req.auth_req_id).await.unwrap();
    let identity = waiter.await.unwrap().unwrap();
    assert_eq!(identity.sub, sim.sub_for(sim.client_id(), OLA));
    assert_eq!(
        b.poller_stats().polls,
        0,
        "only the starting instance polls"
    );
}
