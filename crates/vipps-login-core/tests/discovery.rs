//! Discovery may not send the client's credentials (and the customer's number) to another
//! host than the issuer's: an endpoint on a foreign origin is refused before anything is
//! sent there, unless the configuration trusts that origin.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::Router;
use axum::routing::get;
use common::*;
use serde_json::Value;
use url::Url;
use vipps_login_core::{ClientAuth, Config, Error, Issuer, Secret, VippsClient};

/// An issuer on 127.0.0.1 whose discovery document names the simulator's endpoints under
/// `localhost` (the same server, another origin).
async fn issuer_pointing_elsewhere(sim: &vipps_login_sim::SimHandle) -> (Url, Url) {
    let doc: Value = reqwest::get(
        sim.issuer()
            .join(".well-known/openid-configuration")
            .unwrap(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = Url::parse(&format!(
        "http://{}/issuer/",
        listener.local_addr().unwrap()
    ))
    .unwrap();
    let mut doc = serde_json::to_string(&doc)
        .unwrap()
        .replace("127.0.0.1", "localhost");
    let mut v: Value = serde_json::from_str(&doc).unwrap();
    v["issuer"] = Value::String(issuer.to_string());
    doc = v.to_string();
    let app = Router::new().route(
        "/issuer/.well-known/openid-configuration",
        get(move || {
            let doc = doc.clone();
            async move { ([("content-type", "application/json")], doc) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut elsewhere = sim.issuer();
    elsewhere.set_host(Some("localhost")).unwrap();
    elsewhere.set_path("/");
    (issuer, elsewhere)
}

fn client(sim: &vipps_login_sim::SimHandle, issuer: &Url, trust: Option<Url>) -> VippsClient {
    let mut b = Config::builder(
        Issuer::Custom(issuer.clone()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
    .client_auth(ClientAuth::Basic);
    if let Some(t) = trust {
        b = b.trust_endpoint_origin(t);
    }
    VippsClient::new(b.build().unwrap()).unwrap()
}

#[tokio::test]
async fn endpoints_on_another_host_are_refused_before_anything_is_sent() {
    let sim = sim(fast_sim()).await;
    let (issuer, elsewhere) = issuer_pointing_elsewhere(&sim).await;
    let err = client(&sim, &issuer, None).start(kari()).await.unwrap_err();
    match &err {
        Error::Protocol(why) => {
            assert!(why.contains("on localhost, not the issuer's host"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        sim.stats().backchannel,
        0,
        "no credentials went to the other host"
    );

    // Trusted on purpose: then it is used.
    let started = client(&sim, &issuer, Some(elsewhere))
        .start(kari())
        .await
        .unwrap();
    assert_eq!(sim.stats().backchannel, 1);
    drop(started);
}
