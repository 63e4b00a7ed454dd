//! Validation of an authorization request (`GET /authorize`).
//!
//! RFC 6749 §4.1.2.1: while the client or its `redirect_uri` is in doubt, the error is
//! shown on a page and never redirected to; after that, errors go back to the client as
//! `redirect_uri?error=...&state=...`.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::kernel::form::Form;
use crate::registry::{AUTHORIZATION_CODE_GRANT, ClientRegistry, SubjectType};
use crate::{OAuthError, OidcScopes};

/// A validated authorization request, waiting for the operator's login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingAuthorization {
    /// The relying party.
    pub client_id: String,
    /// The exact redirect URI it gave (registered).
    pub redirect_uri: String,
    /// The scopes it asked for.
    pub scopes: OidcScopes,
    /// Its `state`, echoed back.
    pub state: Option<String>,
    /// Its `nonce`, put into the ID token.
    pub nonce: Option<String>,
    /// The PKCE `code_challenge` (S256), when given.
    pub code_challenge: Option<String>,
    /// Which `sub` this client sees.
    pub subject_type: SubjectType,
}

/// Why an authorization request was refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Shown on an error page (unknown client, bad redirect URI).
    Page(String),
    /// Sent back to the client's redirect URI.
    Redirect(Box<RedirectRefusal>),
}

/// An error for the client's redirect URI.
#[derive(Debug)]
pub(crate) struct RedirectRefusal {
    pub(crate) redirect_uri: Url,
    pub(crate) error: OAuthError,
    pub(crate) state: Option<String>,
}

/// Whether `s` is a PKCE verifier or challenge: 43–128 unreserved characters (RFC 7636).
pub(crate) fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn printable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

pub(crate) fn validate(
    registry: &ClientRegistry,
    query: &Form,
) -> Result<PendingAuthorization, Refusal> {
    let client_id = query.get("client_id").ok_or_else(|| {
        Refusal::Page("the request names no client (client_id is missing)".into())
    })?;
    let client = registry
        .get(client_id)
        .ok_or_else(|| Refusal::Page("the client is not registered here".into()))?;
    let redirect = query
        .get("redirect_uri")
        .ok_or_else(|| Refusal::Page("redirect_uri is missing".into()))?;
    if !client.redirect_uri_matches(redirect) {
        return Err(Refusal::Page(
            "the redirect_uri is not registered for this client".into(),
        ));
    }
    let redirect_uri =
        Url::parse(redirect).map_err(|_| Refusal::Page("the redirect_uri is not a URL".into()))?;
    let state = query.get("state").map(str::to_owned);
    let back = |error: OAuthError| {
        Refusal::Redirect(Box::new(RedirectRefusal {
            redirect_uri: redirect_uri.clone(),
            error,
            state: state.clone(),
        }))
    };
    if state.as_deref().is_some_and(|s| !printable(s, 512)) {
        return Err(back(OAuthError::invalid_request(
            "state is too long or not printable",
        )));
    }
    if query.get("request").is_some() {
        return Err(back(OAuthError::bad(
            "request_not_supported",
            "request objects are not supported",
        )));
    }
    if query.get("request_uri").is_some() {
        return Err(back(OAuthError::bad(
            "request_uri_not_supported",
            "request_uri is not supported",
        )));
    }
    match query.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(back(OAuthError::bad(
                "unsupported_response_type",
                "only response_type=code is supported",
            )));
        }
        None => {
            return Err(back(OAuthError::invalid_request(
                "response_type is missing",
            )));
        }
    }
    if query.get("response_mode").is_some_and(|m| m != "query") {
        return Err(back(OAuthError::invalid_request(
            "only response_mode=query is supported",
        )));
    }
    if !client.allows_grant(AUTHORIZATION_CODE_GRANT) {
        return Err(back(OAuthError::bad(
            "unauthorized_client",
            "this client may not use the authorization code grant",
        )));
    }
    if query
        .get("prompt")
        .is_some_and(|p| p.split(' ').any(|v| v == "none"))
    {
        return Err(back(OAuthError::bad(
            "login_required",
            "a phone login always needs the operator and the customer",
        )));
    }
    let scopes = client
        .granted_scopes(query.get("scope").unwrap_or(""))
        .map_err(back)?;
    let nonce = query.get("nonce").map(str::to_owned);
    if nonce.as_deref().is_some_and(|n| !printable(n, 256)) {
        return Err(back(OAuthError::invalid_request(
            "nonce is too long or not printable",
        )));
    }
    let code_challenge = match (
        query.get("code_challenge"),
        query.get("code_challenge_method"),
    ) {
        // RFC 9700 §2.1.1: from every client, unless the registry exempts this
        // confidential one (`require_pkce = false`).
        (None, None) if !client.require_pkce => None,
        (None, _) => {
            return Err(back(OAuthError::invalid_request(
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            )));
        }
        (Some(c), Some("S256")) if is_pkce_value(c) => Some(c.to_owned()),
        (Some(_), Some("S256")) => {
            return Err(back(OAuthError::invalid_request(
                "code_challenge is malformed",
            )));
        }
        (Some(_), _) => {
            return Err(back(OAuthError::invalid_request(
                "code_challenge_method must be S256",
            )));
        }
    };
    Ok(PendingAuthorization {
        client_id: client.client_id.clone(),
        redirect_uri: redirect.to_owned(),
        scopes,
        state,
        nonce,
        code_challenge,
        subject_type: client.subject_type,
    })
}

/// `redirect_uri` with `pairs` added to its query.
pub(crate) fn with_query(redirect_uri: &Url, pairs: &[(&str, Option<&str>)]) -> Url {
    let mut u = redirect_uri.clone();
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    u
}
