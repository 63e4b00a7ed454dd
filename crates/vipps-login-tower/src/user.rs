//! The identified customer as the app sees it: the [`VippsUser`] extractor.

use std::sync::Arc;
use std::time::SystemTime;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Extensions, StatusCode};
use vipps_login_core::UserInfo;
use vipps_login_core::clock::from_unix_secs;

use serde::{Deserialize, Serialize};

/// The identity kept in a session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredUser {
    pub sub: String,
    pub account_id: String,
    pub login_id: String,
    pub logged_in_at: u64,
    pub id_token_claims: serde_json::Map<String, serde_json::Value>,
    pub userinfo: UserInfo,
}

impl StoredUser {
    pub(crate) fn to_user(&self, csrf: &str) -> VippsUser {
        VippsUser::from_stored(self, csrf)
    }
}

/// Marks a request that went through a [`VippsLoginLayer`](crate::VippsLoginLayer);
/// carries what the guard needs (the login page's path).
#[derive(Clone, Debug)]
pub(crate) struct LayerMark {
    pub login_path: Arc<str>,
}

/// The customer logged in with Vipps in this browser session.
///
/// Set by [`VippsLoginLayer`](crate::VippsLoginLayer) in the request extensions. Use it as
/// an axum extractor (`VippsUser` requires a login, `Option<VippsUser>` allows anonymous
/// requests), or read it in any tower/hyper service with
/// [`VippsUser::from_request_extensions`]. Cloning is cheap (an `Arc` inside).
///
/// Its `Debug` output shows only `sub` and `account_id`, never personal data.
#[derive(Clone)]
pub struct VippsUser(Arc<Inner>);

struct Inner {
    sub: String,
    account_id: String,
    login_id: String,
    logged_in_at: SystemTime,
    id_token_claims: serde_json::Map<String, serde_json::Value>,
    userinfo: UserInfo,
    csrf_token: String,
}

impl std::fmt::Debug for VippsUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VippsUser")
            .field("sub", &self.0.sub)
            .field("account_id", &self.0.account_id)
            .finish_non_exhaustive()
    }
}

impl VippsUser {
    pub(crate) fn from_stored(stored: &StoredUser, csrf: &str) -> Self {
        Self(Arc::new(Inner {
            sub: stored.sub.clone(),
            account_id: stored.account_id.clone(),
            login_id: stored.login_id.clone(),
            logged_in_at: from_unix_secs(stored.logged_in_at),
            id_token_claims: stored.id_token_claims.clone(),
            userinfo: stored.userinfo.clone(),
            csrf_token: csrf.to_owned(),
        }))
    }

    /// Vipps' stable subject identifier of this customer (per merchant).
    #[must_use]
    pub fn sub(&self) -> &str {
        &self.0.sub
    }

    /// The app's own account id, as returned by the [`LoginHook`](crate::LoginHook)
    /// (the `sub` with the default hook).
    #[must_use]
    pub fn account_id(&self) -> &str {
        &self.0.account_id
    }

    /// The claims of the verified ID token.
    #[must_use]
    pub fn id_token_claims(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0.id_token_claims
    }

    /// The userinfo Vipps returned for the requested scopes.
    #[must_use]
    pub fn userinfo(&self) -> &UserInfo {
        &self.0.userinfo
    }

    /// The id of the login that created this session.
    #[must_use]
    pub fn login_id(&self) -> &str {
        &self.0.login_id
    }

    /// When the login completed.
    #[must_use]
    pub fn logged_in_at(&self) -> SystemTime {
        self.0.logged_in_at
    }

    /// The session's CSRF token, for the app's own logout form
    /// (`<input type="hidden" name="csrf_token" value="…">` posted to `{prefix}/logout`).
    #[must_use]
    pub fn csrf_token(&self) -> &str {
        &self.0.csrf_token
    }

    /// The logged-in user of a request that went through the layer.
    ///
    /// Works in any tower or hyper service:
    ///
    /// ```
    /// use vipps_login_tower::{VippsUser, VippsUserRejection};
    /// fn who(req: &http::Request<()>) -> String {
    ///     match VippsUser::from_request_extensions(req.extensions()) {
    ///         Ok(user) => format!("hello {}", user.account_id()),
    ///         Err(VippsUserRejection::NotLoggedIn) => "please log in".to_owned(),
    ///         Err(other) => other.to_string(),
    ///     }
    /// }
    /// assert_eq!(who(&http::Request::new(())), "The Vipps login layer is not installed in front of this route.");
    /// ```
    ///
    /// # Errors
    /// [`VippsUserRejection::NotLoggedIn`] when the session has no login,
    /// [`VippsUserRejection::MissingLayer`] when the request did not pass the layer.
    pub fn from_request_extensions(extensions: &Extensions) -> Result<Self, VippsUserRejection> {
        if let Some(user) = extensions.get::<VippsUser>() {
            Ok(user.clone())
        } else if extensions.get::<LayerMark>().is_some() {
            Err(VippsUserRejection::NotLoggedIn)
        } else {
            Err(VippsUserRejection::MissingLayer)
        }
    }
}

/// Why a [`VippsUser`] could not be extracted. Each variant answers with a fixed status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VippsUserRejection {
    /// The session is not logged in: `401 Unauthorized`.
    #[error("You are not logged in.")]
    NotLoggedIn,
    /// The request did not pass through a `VippsLoginLayer` (an app wiring bug):
    /// `500 Internal Server Error`.
    #[error("The Vipps login layer is not installed in front of this route.")]
    MissingLayer,
}

impl VippsUserRejection {
    /// The HTTP status of this rejection.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotLoggedIn => StatusCode::UNAUTHORIZED,
            Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable error code used in JSON answers.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotLoggedIn => "not_logged_in",
            Self::MissingLayer => "missing_layer",
        }
    }
}

impl IntoResponse for VippsUserRejection {
    fn into_response(self) -> Response {
        crate::response::json_error(self.status(), self.code(), &self.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VippsUser {
    type Rejection = VippsUserRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_request_extensions(&parts.extensions)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for VippsUser {
    type Rejection = VippsUserRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match Self::from_request_extensions(&parts.extensions) {
            Ok(user) => Ok(Some(user)),
            Err(VippsUserRejection::NotLoggedIn) => Ok(None),
            Err(other) => Err(other),
        }
    }
}
