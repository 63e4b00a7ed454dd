//! Rust's `openidconnect` crate as a relying party of way 2 (authorization code with PKCE
//! and nonce), validating the ID token (signature against the JWKS, claims, at_hash) with
//! its own code. The operator page is played by the test, as in authcode.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl,
    Scope, TokenResponse as _,
};
use url::Url;

/// openidconnect's HTTP client: reqwest, no redirects followed.
async fn send(req: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let (parts, body) = req.into_parts();
    let resp = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut out = http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    Ok(out.body(resp.bytes().await?.to_vec()).unwrap())
}

#[tokio::test]
async fn openidconnect_logs_in_with_pkce_and_validates_the_id_token() {
    let b = bridge_with(
        sim_config(),
        |l| l,
        |p| {
            p.ways(true, true)
                .operator_page("http://127.0.0.1:9/desk".parse().unwrap())
        },
    )
    .await;
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(b.base.clone()).unwrap(), &send)
            .await
            .unwrap();
    let callback = "http://127.0.0.1:8123/callback";
    for (id, secret) in [RP1, ("code-only", "code-only-secret")] {
        let redirect = if id == "rp-1" {
            callback
        } else {
            "https://rp.example/cb"
        };
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(id.into()),
            Some(ClientSecret::new(secret.into())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, csrf, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("phone".into()))
            .set_pkce_challenge(challenge)
            .url();

        // The browser goes to /authorize and on to the operator page.
        let r = b.http.get(auth_url).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let to = Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        let back = operator_logs_in(&b, &to, "4712345678").await;
        let param = |k: &str| {
            back.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(param("state").as_deref(), Some(csrf.secret().as_str()));

        let token = client
            .exchange_code(AuthorizationCode::new(param("code").unwrap()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&send)
            .await
            .unwrap();
        let id_token = token.id_token().expect("an ID token");
        let verifier = client.id_token_verifier();
        let claims = id_token.claims(&verifier, &nonce).unwrap();
        assert_eq!(
            claims.phone_number().map(|p| p.as_str()),
            Some("+4712345678")
        );
        assert_eq!(claims.phone_number_verified(), Some(true));
        assert_eq!(
            claims
                .given_name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str()),
            Some("Kari")
        );
        let expected_hash = AccessTokenHash::from_token(
            token.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(claims.access_token_hash(), Some(&expected_hash));
        let info: CoreUserInfoClaims = client
            .user_info(token.access_token().clone(), Some(claims.subject().clone()))
            .unwrap()
            .request_async(&send)
            .await
            .unwrap();
        assert_eq!(info.phone_number().map(|p| p.as_str()), Some("+4712345678"));
    }
}
