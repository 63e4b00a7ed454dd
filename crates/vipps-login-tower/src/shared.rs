//! What the layer's routes and its pass-through path share, and where the client IP
//! comes from.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::{HeaderMap, HeaderName, Request};
use url::Url;
use vipps_login_core::{Scopes, VippsClient};

use crate::hooks::{CompletionStep, FlowChooser, LoginHook};
use crate::passthrough::{Pending, SessionCheck};
use crate::session::Sessions;
use crate::user::{LayerMark, VippsUser};

/// Where the client IP used for the per-IP limit comes from.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum ClientIp {
    /// The peer address in axum's `ConnectInfo<SocketAddr>` extension (set by
    /// `into_make_service_with_connect_info`, or inserted by a hyper app). Without it the
    /// per-IP limit does not apply.
    #[default]
    ConnectInfo,
    /// The rightmost address of `X-Forwarded-For` (the one your own reverse proxy added),
    /// falling back to `ConnectInfo`. Only behind a proxy that always sets it.
    RightmostForwardedFor,
    /// The address in this header (e.g. `X-Real-IP` from your proxy), falling back to
    /// `ConnectInfo`.
    Header(HeaderName),
}

impl ClientIp {
    pub(crate) fn get(&self, headers: &HeaderMap, extensions: &http::Extensions) -> Option<IpAddr> {
        let from_header = |name: &HeaderName, rightmost: bool| {
            let mut values = headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim);
            let candidate = if rightmost {
                values.next_back()
            } else {
                values.next()
            };
            candidate.and_then(|c| c.parse::<IpAddr>().ok())
        };
        let header_ip = match self {
            Self::ConnectInfo => None,
            Self::RightmostForwardedFor => {
                from_header(&HeaderName::from_static("x-forwarded-for"), true)
            }
            Self::Header(name) => from_header(name, false),
        };
        header_ip.or_else(|| {
            extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        })
    }
}

/// Everything the routes and the pass-through path share.
pub(crate) struct Shared {
    pub client: VippsClient,
    pub sessions: Sessions,
    /// The pass-through path's session check (it keeps decodings by cookie value).
    pub session_check: SessionCheck,
    pub prefix: String,
    pub templates: minijinja::Environment<'static>,
    pub texts: crate::i18n::Texts,
    pub hook: Arc<dyn LoginHook>,
    pub completion: Arc<dyn CompletionStep>,
    pub flow_chooser: Arc<dyn FlowChooser>,
    pub public_base_url: Option<Url>,
    /// Whether the continue-in-browser callback is mounted: only with a public base URL
    /// (the `redirect_uri` is built from it) and a flow that can choose the browser.
    pub callback: bool,
    pub continue_url: String,
    pub scopes: Option<Scopes>,
    pub requested_expiry: Option<vipps_login_core::RequestedExpiry>,
    pub client_ip: ClientIp,
    pub app_name: String,
    pub webhook: bool,
    /// Whether `POST {prefix}/api/user-exists` is served.
    pub user_exists_route: bool,
    /// Whether a start asks Vipps' user-exists first (and stops at "no Vipps").
    pub check_user_exists: bool,
    pub refresh_seconds: u32,
    pub mark: LayerMark,
    pub streams: Arc<crate::streams::Streams>,
    /// Set once the missing client address has been reported.
    pub no_client_ip_reported: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VippsLoginLayer")
            .field("prefix", &self.prefix)
            .field("sessions", &self.sessions)
            .field("public_base_url", &self.public_base_url)
            .field("continue_url", &self.continue_url)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn url(&self, tail: &str) -> String {
        format!("{}{tail}", self.prefix)
    }

    pub(crate) fn is_own_path(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// Attaches what the app sees, when the session can be told without waiting (no
    /// session cookie, or an in-process store): the [`VippsUser`] of a logged-in session,
    /// else the layer mark. `Err` when the store must be waited for: finish with
    /// [`Shared::attach_later`].
    pub(crate) fn attach_now<B>(&self, req: &mut Request<B>) -> Result<(), Pending> {
        let user = self.session_check.user_now(&self.sessions, req.headers())?;
        self.mark(req, user);
        Ok(())
    }

    /// Finishes what [`Shared::attach_now`] could not.
    pub(crate) async fn attach_later<B>(&self, req: &mut Request<B>, pending: Pending) {
        let user = self.session_check.user_later(&self.sessions, pending).await;
        self.mark(req, user);
    }

    /// One extension: the user (which also says the layer is installed), or the mark.
    fn mark<B>(&self, req: &mut Request<B>, user: Option<VippsUser>) {
        match user {
            Some(user) => req.extensions_mut().insert(user).map(drop),
            None => req.extensions_mut().insert(self.mark.clone()).map(drop),
        };
    }
}
