//! The relying-party side of the staff sign-in, all of it done by `openidconnect`:
//! discovery (read again when older than an hour, so the provider's rotated keys are
//! picked up), the authorization URL with PKCE S256, `state` and `nonce`, the code
//! exchange, the ID token's verification; and the allowed-group check on its claims.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthenticationFlow, AuthorizationCode, Client, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    HttpRequest, HttpResponse, IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse as _,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq as _;
use tokio::sync::RwLock;
use url::Url;
use vipps_login_tower::StaffMember;

/// How long a read discovery document (and the keys it names) is used.
const DISCOVERY_LIFETIME: Duration = Duration::from_secs(3600);
/// An ID token that does not verify makes the discovery be read again (the provider may
/// have rotated its keys), at most this often.
const REREAD_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// The claims besides the standard ones: where the groups or roles are.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

type IdFields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<IdFields, CoreTokenType>;
type StaffClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// One sign-in under way, kept sealed in the browser's flow cookie.
#[derive(Serialize, Deserialize)]
pub(super) struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    return_to: String,
}

/// What came of a sign-in at the organisation.
#[derive(Debug)]
#[non_exhaustive]
pub enum SignInOutcome {
    /// A member of the allowed group, going on to `return_to`.
    Member {
        /// Who.
        member: StaffMember,
        /// Where they were going.
        return_to: String,
    },
    /// Signed in at the organisation, but not in the allowed group.
    NotInGroup {
        /// Who.
        member: StaffMember,
    },
    /// A refused or broken answer (a wrong state, a token that does not verify, an
    /// error from the provider): why, for the log.
    Failed(String),
    /// The provider did not answer.
    Unavailable(String),
}

pub(super) struct ProviderClient {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect: RedirectUrl,
    allowed_group: String,
    group_claim: String,
    http: Http,
    current: RwLock<Option<(Instant, Arc<StaffClient>)>>,
}

impl ProviderClient {
    /// A client of the provider at `issuer` as `client_id`, redirected back to
    /// `redirect`, letting in holders of `allowed_group` in the claim `group_claim`.
    pub(super) fn new(
        issuer: &Url,
        (client_id, client_secret): (&str, &vipps_login_core::Secret),
        (allowed_group, group_claim): (&str, &str),
        redirect: Url,
    ) -> Result<Self, String> {
        let issuer = IssuerUrl::new(issuer.as_str().trim_end_matches('/').to_owned())
            .map_err(|e| format!("--staff-oidc-issuer: {e}"))?;
        let http = reqwest::Client::builder()
            // No redirects: the token request carries the client secret (SSRF too).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("the staff sign-in's HTTP client: {e}"))?;
        Ok(Self {
            issuer,
            client_id: ClientId::new(client_id.to_owned()),
            client_secret: ClientSecret::new(client_secret.expose().to_owned()),
            redirect: RedirectUrl::from_url(redirect),
            allowed_group: allowed_group.trim_start_matches('/').to_owned(),
            group_claim: group_claim.to_owned(),
            http: Http(http),
            current: RwLock::new(None),
        })
    }

    /// Reads the provider's discovery now (the bridge tries at start-up).
    pub(super) async fn discover(&self) -> Result<(), String> {
        self.refresh_if_stale().await.map(|_| ())
    }

    /// The client on a discovery read within the last hour (reading it again if not).
    async fn refresh_if_stale(&self) -> Result<Arc<StaffClient>, String> {
        self.client_within(DISCOVERY_LIFETIME).await
    }

    /// The client on a discovery read within `max_age` (reading it again if not).
    async fn client_within(&self, max_age: Duration) -> Result<Arc<StaffClient>, String> {
        if let Some((at, client)) = self.current.read().await.as_ref()
            && at.elapsed() < max_age
        {
            return Ok(client.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| format!("discovery of {}: {}", self.issuer.as_str(), error_chain(&e)))?;
        let client = Arc::new(
            StaffClient::from_provider_metadata(
                metadata,
                self.client_id.clone(),
                Some(self.client_secret.clone()),
            )
            .set_redirect_uri(self.redirect.clone()),
        );
        *self.current.write().await = Some((Instant::now(), client.clone()));
        Ok(client)
    }

    /// The provider's authorization URL for a new sign-in, and the flow to keep.
    pub(super) async fn authorize(&self, return_to: String) -> Result<(Url, Flow), String> {
        let client = self.refresh_if_stale().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        let flow = Flow {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            return_to,
        };
        Ok((url, flow))
    }

    /// The callback's answer for `flow`: the state compared, the code exchanged with the
    /// PKCE verifier, the ID token verified with the nonce, the group checked.
    pub(super) async fn finish(
        &self,
        flow: Flow,
        state: &str,
        code: Option<&str>,
        error: Option<&str>,
    ) -> SignInOutcome {
        if !bool::from(state.as_bytes().ct_eq(flow.state.as_bytes())) {
            return SignInOutcome::Failed("the state does not match this browser's sign-in".into());
        }
        if let Some(error) = error {
            return SignInOutcome::Failed(format!("the provider answered {error}"));
        }
        let Some(code) = code else {
            return SignInOutcome::Failed("no code in the callback".into());
        };
        let client = match self.refresh_if_stale().await {
            Ok(c) => c,
            Err(e) => return SignInOutcome::Unavailable(e),
        };
        let request = match client.exchange_code(AuthorizationCode::new(code.to_owned())) {
            Ok(r) => r,
            Err(e) => return SignInOutcome::Unavailable(format!("no token endpoint: {e}")),
        };
        let tokens = match request
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier))
            .request_async(&self.http)
            .await
        {
            Ok(t) => t,
            Err(openidconnect::RequestTokenError::Request(e)) => {
                return SignInOutcome::Unavailable(format!("token endpoint: {}", error_chain(&e)));
            }
            Err(e) => return SignInOutcome::Failed(format!("token endpoint: {}", error_chain(&e))),
        };
        let nonce = Nonce::new(flow.nonce);
        let mut verified = self.verify(&client, &tokens, &nonce);
        if verified.is_err()
            && let Ok(fresh) = self.client_within(REREAD_AFTER_FAILURE).await
            && !Arc::ptr_eq(&fresh, &client)
        {
            // Signed with a key the provider added since the discovery was read.
            verified = self.verify(&fresh, &tokens, &nonce);
        }
        match verified {
            Ok((member, true)) => SignInOutcome::Member {
                member,
                return_to: flow.return_to,
            },
            Ok((member, false)) => SignInOutcome::NotInGroup { member },
            Err(e) => SignInOutcome::Failed(e),
        }
    }

    /// The ID token verified in full; who it names and whether they are in the group.
    fn verify(
        &self,
        client: &StaffClient,
        tokens: &Tokens,
        nonce: &Nonce,
    ) -> Result<(StaffMember, bool), String> {
        let id_token = tokens
            .id_token()
            .ok_or("the token response has no ID token")?;
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, nonce)
            .map_err(|e| format!("the ID token: {}", error_chain(&e)))?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|e| format!("the ID token: {}", error_chain(&e)))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| format!("the ID token: {}", error_chain(&e)))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
                .map_err(|e| format!("the ID token's at_hash: {}", error_chain(&e)))?;
            if actual != *expected {
                return Err("the ID token's at_hash does not match the access token".into());
            }
        }
        let name = claims
            .preferred_username()
            .map(|u| u.as_str().to_owned())
            .or_else(|| {
                claims
                    .name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.as_str().to_owned())
            });
        let member = StaffMember {
            id: claims.subject().as_str().to_owned(),
            name,
        };
        let in_group = has_group(
            &claims.additional_claims().claims,
            &self.group_claim,
            &self.allowed_group,
        );
        Ok((member, in_group))
    }
}

/// Whether the claim at the dotted `path` is `group` or a list holding it (a leading `/`,
/// Keycloak's full group path, is ignored on both sides).
fn has_group(claims: &serde_json::Map<String, Value>, path: &str, group: &str) -> bool {
    let mut parts = path.split('.');
    let Some(first) = parts.next() else {
        return false;
    };
    let mut value = claims.get(first);
    for part in parts {
        value = value.and_then(|v| v.get(part));
    }
    let is_it = |v: &Value| {
        v.as_str()
            .is_some_and(|s| s.trim_start_matches('/') == group)
    };
    match value {
        Some(Value::Array(items)) => items.iter().any(is_it),
        Some(v) => is_it(v),
        None => false,
    }
}

/// An error with its sources, for the log.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// `openidconnect`'s HTTP client: reqwest.
struct Http(reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = reqwest::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, reqwest::Error>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

/// One of `openidconnect`'s HTTP requests, sent with reqwest.
async fn send(
    http: &reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    let mut out = http::Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn groups_are_found_as_lists_strings_and_nested_roles() {
        let claims: serde_json::Map<String, Value> = serde_json::from_str(
            r#"{"groups": ["/operators", "/other"], "role": "desk", "realm_access": {"roles": ["bridge-operator"]}}"#,
        )
        .unwrap();
        assert!(has_group(&claims, "groups", "operators"));
        assert!(!has_group(&claims, "groups", "admins"));
        assert!(has_group(&claims, "role", "desk"));
        assert!(has_group(&claims, "realm_access.roles", "bridge-operator"));
        assert!(!has_group(
            &claims,
            "realm_access.groups",
            "bridge-operator"
        ));
        assert!(!has_group(&claims, "missing", "operators"));
    }
}
