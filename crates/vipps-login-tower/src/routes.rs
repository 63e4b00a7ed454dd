//! The layer's own routes: pages, JSON API, SSE, callback, logout, webhook, static files.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::json;
use vipps_login_core::{
    BindingMessage, Error, Flow, LoginHint, LoginId, LoginRequest, LoginStatus, Msisdn,
};

use crate::csrf::{random_token, tokens_match};
use crate::hooks::{CompletedLogin, FlowChoice, StartContext};
use crate::layer::Shared;
use crate::rate_limit::Refusal;
use crate::return_to::safe_return_to;
use crate::session::{Session, StoredUser, unix_now};
use crate::templates::{SCRIPT_JS, STYLE_CSS};

type St = State<Arc<Shared>>;

/// The header the JSON API's state-changing routes require (see the crate docs, "CSRF").
pub(crate) const API_CSRF_HEADER: &str = "x-requested-with";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let p = shared.prefix.clone();
    let mut router = Router::new()
        .route(&p, get(index))
        .route(&format!("{p}/"), get(index))
        .route(&format!("{p}/login"), get(login_page))
        .route(&format!("{p}/start"), post(start_form))
        .route(&format!("{p}/wait/{{login_id}}"), get(wait_page))
        .route(&format!("{p}/events/{{login_id}}"), get(events))
        .route(&format!("{p}/cancel/{{login_id}}"), post(cancel_form))
        .route(&format!("{p}/callback"), get(callback))
        .route(&format!("{p}/logout"), get(logout_page).post(logout_form))
        .route(&format!("{p}/api/start"), post(api_start))
        .route(&format!("{p}/api/status/{{login_id}}"), get(api_status))
        .route(&format!("{p}/api/cancel/{{login_id}}"), post(api_cancel))
        .route(&format!("{p}/api/me"), get(api_me))
        .route(&format!("{p}/api/logout"), post(api_logout))
        .route(&format!("{p}/static/style.css"), get(style))
        .route(&format!("{p}/static/vipps-login.js"), get(script));
    if shared.webhook {
        router = router.route(&format!("{p}/webhook"), post(webhook));
    }
    router.fallback(not_found).with_state(shared)
}

// ---------------------------------------------------------------------------------------
// Small helpers

fn security_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// A JSON error `{"error": code, "message": message}` with `status`.
pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut res = (
        status,
        axum::Json(json!({ "error": code, "message": message })),
    )
        .into_response();
    security_headers(res.headers_mut());
    res
}

fn json_ok(status: StatusCode, body: serde_json::Value) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    security_headers(res.headers_mut());
    res
}

fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn set_retry_after(res: &mut Response, d: Duration) {
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(d).max(1)),
    );
}

fn redirect(location: &str) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    security_headers(res.headers_mut());
    res
}

fn number_key(msisdn: &Msisdn) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("vipps-login-tower:{}", msisdn.as_str()).as_bytes(),
    );
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Shared {
    fn base_ctx(&self) -> minijinja::Value {
        context! {
            lang => "en",
            app_name => &self.app_name,
            prefix => &self.prefix,
            style_url => self.url("/static/style.css"),
            script_url => self.url("/static/vipps-login.js"),
            login_url => self.url("/login"),
        }
    }

    fn render(&self, name: &str, status: StatusCode, page: minijinja::Value) -> Response {
        let ctx = context! { ..page, ..self.base_ctx() };
        let html = self
            .templates
            .get_template(name)
            .and_then(|t| t.render(ctx));
        let mut res = match html {
            Ok(html) => (status, axum::response::Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "template rendering failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The page could not be rendered.",
                )
                    .into_response()
            }
        };
        let headers = res.headers_mut();
        security_headers(headers);
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            ),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        res
    }

    fn result_page(&self, outcome: &Outcome) -> Response {
        let mut res = self.render(
            "result.html",
            outcome.http,
            context! {
                status => outcome.status,
                heading => &outcome.heading,
                message => &outcome.message,
                retry_after => outcome.retry_after.map(retry_after_secs),
                again_text => if outcome.status == "logged_out" { "Log in again" } else { "Start a new login" },
            },
        );
        if let Some(d) = outcome.retry_after {
            set_retry_after(&mut res, d);
        }
        res
    }

    fn outcome_json(&self, outcome: &Outcome) -> Response {
        let mut res = json_error(outcome.http, outcome.status, &outcome.message);
        if let Some(d) = outcome.retry_after {
            set_retry_after(&mut res, d);
        }
        res
    }

    /// Adds the session cookie to `res` when the browser does not have this id yet.
    fn with_cookie(&self, mut res: Response, session: &Session, parts: &RequestInfo) -> Response {
        if session.is_new
            && let Some(v) = self
                .sessions
                .set_cookie(&session.id, &parts.headers, &parts.uri)
        {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        res
    }

    async fn save_session(&self, session: &Session) -> Result<(), Outcome> {
        self.sessions.save(session).await.map_err(|e| {
            tracing::error!(error = %e, "session store write failed");
            Outcome::error(&Error::Store(e))
        })
    }
}

/// The parts of a request the handlers need besides the body.
struct RequestInfo {
    headers: HeaderMap,
    uri: Uri,
    extensions: http::Extensions,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestInfo {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self {
            headers: parts.headers.clone(),
            uri: parts.uri.clone(),
            extensions: parts.extensions.clone(),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Outcomes (result pages and JSON errors)

/// A final answer: the `data-status` of `#result` (and the JSON `error`/`status` code),
/// a heading, a sentence, an HTTP status.
#[derive(Debug, Clone)]
struct Outcome {
    status: &'static str,
    heading: String,
    message: String,
    http: StatusCode,
    retry_after: Option<Duration>,
}

impl Outcome {
    fn new(
        status: &'static str,
        heading: &str,
        message: impl Into<String>,
        http: StatusCode,
    ) -> Self {
        Self {
            status,
            heading: heading.to_owned(),
            message: message.into(),
            http,
            retry_after: None,
        }
    }

    fn declined() -> Self {
        Self::new(
            "declined",
            "Login declined",
            Error::Declined.to_string(),
            StatusCode::OK,
        )
    }

    fn expired() -> Self {
        Self::new(
            "expired",
            "Login expired",
            Error::Expired.to_string(),
            StatusCode::OK,
        )
    }

    fn cancelled() -> Self {
        Self::new(
            "cancelled",
            "Login cancelled",
            "The login was cancelled. Nothing was shared.",
            StatusCode::OK,
        )
    }

    fn continued_in_browser() -> Self {
        Self::new(
            "continued_in_browser",
            "The customer continues on their phone",
            "The customer confirmed in Vipps and continues in their phone's browser.",
            StatusCode::OK,
        )
    }

    fn rate_limited(retry_after: Duration, message: impl Into<String>) -> Self {
        let mut o = Self::new(
            "rate_limited",
            "Please wait",
            message,
            StatusCode::TOO_MANY_REQUESTS,
        );
        o.retry_after = Some(retry_after.max(Duration::from_secs(1)));
        o
    }

    fn csrf() -> Self {
        Self::new(
            "csrf",
            "This form has expired",
            "The request could not be verified. Go back, reload the page and try again.",
            StatusCode::FORBIDDEN,
        )
    }

    fn not_found() -> Self {
        Self::new(
            "not_found",
            "Login not found",
            Error::LoginNotFound.to_string(),
            StatusCode::NOT_FOUND,
        )
    }

    fn rejected(e: &crate::HookError) -> Self {
        Self::new("rejected", "Login not accepted", e.message(), e.status())
    }

    fn error(e: &Error) -> Self {
        match e {
            Error::Declined => return Self::declined(),
            Error::Expired => return Self::expired(),
            Error::Cancelled => return Self::cancelled(),
            Error::LoginNotFound => return Self::not_found(),
            Error::RateLimited { retry_after } => {
                return Self::rate_limited(
                    retry_after.unwrap_or(Duration::from_secs(60)),
                    e.to_string(),
                );
            }
            _ => {}
        }
        let (status, heading) = match e.code() {
            "invalid_user" => ("invalid_user", "This customer cannot use Vipps login"),
            "old_app" => ("old_app", "The customer's Vipps app is too old"),
            _ => ("error", "Something went wrong"),
        };
        let http = e.status();
        Self::new(status, heading, e.to_string(), http)
    }

    fn from_status(status: &LoginStatus) -> Option<Self> {
        match status {
            LoginStatus::Pending | LoginStatus::AwaitingBrowser | LoginStatus::Approved(_) => None,
            LoginStatus::Denied => Some(Self::declined()),
            LoginStatus::Expired => Some(Self::expired()),
            LoginStatus::Cancelled => Some(Self::cancelled()),
            LoginStatus::Failed(e) => Some(Self::error(e)),
            _ => Some(Self::new(
                "error",
                "Something went wrong",
                "The login ended unexpectedly.",
                StatusCode::OK,
            )),
        }
    }
}

fn status_text(status: &LoginStatus) -> &'static str {
    match status {
        LoginStatus::Pending => "Waiting for the customer to confirm in Vipps…",
        LoginStatus::AwaitingBrowser => {
            "Waiting for the customer to confirm in Vipps; their phone then opens our page."
        }
        LoginStatus::Approved(_) => "Confirmed. Logging in…",
        LoginStatus::Denied => "The customer declined the login.",
        LoginStatus::Expired => "The login expired.",
        LoginStatus::Cancelled => "The login was cancelled.",
        _ => "The login ended.",
    }
}

// ---------------------------------------------------------------------------------------
// Per-login record kept by the layer

/// What the layer remembers about a login it started (in the `Store`, until expiry).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LoginRecord {
    /// Hash of the phone number (rate-limit key); the number itself is not kept.
    number_key: String,
    masked: String,
    binding_message: Option<String>,
    return_to: Option<String>,
    flow: FlowChoice,
    state: String,
    expires_at: u64,
    /// Set once the continue-in-browser code was used (the record stays for the clerk).
    #[serde(default)]
    used: bool,
}

fn record_key(id: &str) -> String {
    format!("vipps-login-tower:login:{id}")
}

impl Shared {
    async fn load_record(&self, id: &str) -> Option<LoginRecord> {
        let bytes = self.sessions.store.get(&record_key(id)).await.ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    async fn take_record(&self, id: &str) -> Option<LoginRecord> {
        let bytes = self.sessions.store.take(&record_key(id)).await.ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    /// Notes the end of a login in the abuse limits (idempotent).
    fn note_final(&self, number_key: &str, login_id: &str, status: &LoginStatus) {
        if !status.is_final() {
            return;
        }
        self.limiter.clear_pending(number_key, login_id);
        match status {
            LoginStatus::Denied => self.limiter.declined(number_key),
            LoginStatus::Expired => self.limiter.ignored(number_key),
            _ => {}
        }
    }
}

/// Follows a login in the background until it ends, to lift the pending mark and start
/// cool-downs even when nobody watches the waiting page.
fn spawn_watcher(shared: Arc<Shared>, id: LoginId, number_key: String, deadline: Instant) {
    tokio::spawn(async move {
        let Ok(mut rx) = shared.client.watch(&id).await else {
            return;
        };
        let deadline = tokio::time::Instant::from_std(deadline + Duration::from_secs(60));
        loop {
            let status = rx.borrow_and_update().clone();
            if status.is_final() {
                shared.note_final(&number_key, id.as_str(), &status);
                return;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => {
                    shared.limiter.clear_pending(&number_key, id.as_str());
                    return;
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// Starting a login (shared by the form and the JSON API)

#[derive(Debug, Default, Deserialize)]
struct StartInput {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    return_to: Option<String>,
    #[serde(default)]
    flow: Option<FlowChoice>,
    #[serde(default)]
    csrf_token: Option<String>,
}

enum StartFailure {
    InvalidPhone(Error),
    Outcome(Outcome),
}

struct Started {
    id: LoginId,
    binding_message: Option<String>,
    expires_at: u64,
}

async fn do_start(
    shared: &Arc<Shared>,
    session: &mut Session,
    input: &StartInput,
    info: &RequestInfo,
) -> Result<Started, StartFailure> {
    let msisdn: Msisdn = input.phone.parse().map_err(StartFailure::InvalidPhone)?;
    let return_to = input.return_to.as_deref().and_then(safe_return_to);
    let key = number_key(&msisdn);
    let ip = shared.client_ip.get(&info.headers, &info.extensions);

    let mut attempt = shared.limiter.try_start(&key, ip);
    if let Err(Refusal::Pending { login_id, .. }) = &attempt {
        // The mark may be stale (the login ended while nobody watched): check.
        let still_pending = match login_id.parse::<LoginId>() {
            Ok(id) => matches!(shared.client.status(&id).await, Ok(LoginStatus::Pending)),
            Err(_) => false,
        };
        if !still_pending {
            shared.limiter.clear_pending(&key, login_id);
            attempt = shared.limiter.try_start(&key, ip);
        }
    }
    match attempt {
        Ok(()) => {}
        Err(Refusal::Pending { retry_after, .. }) => {
            tracing::info!(phone = %msisdn.masked(), "start refused: a login is already pending for this number");
            return Err(StartFailure::Outcome(Outcome::rate_limited(
                retry_after,
                "A login is already waiting for this customer. Cancel it or wait until it ends.",
            )));
        }
        Err(Refusal::Limited { retry_after }) => {
            tracing::info!(phone = %msisdn.masked(), ip = ?ip, "start refused by rate limit");
            return Err(StartFailure::Outcome(Outcome::rate_limited(
                retry_after,
                "Too many login requests for this number or from this device. Wait a little and try again.",
            )));
        }
    }

    let ctx = StartContext {
        msisdn: msisdn.clone(),
        requested_flow: input.flow,
        return_to: return_to.clone(),
        client_ip: ip,
        headers: info.headers.clone(),
    };
    let flow = shared.flow_chooser.choose(&ctx).await;
    let state = random_token();
    let binding = BindingMessage::generate();
    let mut request = LoginRequest::new(LoginHint::Msisdn(msisdn.clone()))
        .binding_message(binding)
        .state(state.clone());
    if let Some(scopes) = &shared.scopes {
        request = request.scopes(scopes.clone());
    }
    if let Some(expiry) = shared.requested_expiry {
        request = request.requested_expiry(expiry);
    }
    if flow == FlowChoice::ContinueInBrowser {
        let Some(redirect_uri) = shared.callback_url() else {
            tracing::error!("continue-in-browser chosen but no public_base_url is configured");
            return Err(StartFailure::Outcome(Outcome::error(&Error::Config(
                "continue-in-browser needs a public base URL".into(),
            ))));
        };
        request = request.flow(Flow::ContinueInBrowser { redirect_uri });
    }

    let started = match shared.client.start(request).await {
        Ok(started) => started,
        Err(e) => {
            tracing::info!(phone = %msisdn.masked(), code = e.code(), "login start failed");
            return Err(match e {
                Error::InvalidPhoneNumber(_) => StartFailure::InvalidPhone(e),
                other => StartFailure::Outcome(Outcome::error(&other)),
            });
        }
    };
    let id = started.id.clone();
    let expires_at = unix(started.expires_at);
    let left = started
        .expires_at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let record = LoginRecord {
        number_key: key.clone(),
        masked: msisdn.masked(),
        binding_message: started
            .binding_message
            .as_ref()
            .map(|b| b.as_str().to_owned()),
        return_to,
        flow,
        state,
        expires_at,
        used: false,
    };
    if let Ok(bytes) = serde_json::to_vec(&record)
        && let Err(e) = shared
            .sessions
            .store
            .set(
                &record_key(id.as_str()),
                bytes,
                left + Duration::from_secs(600),
            )
            .await
    {
        tracing::error!(error = %e, "login store write failed");
    }
    let deadline = Instant::now() + left;
    shared.limiter.set_pending(&key, id.to_string(), deadline);
    session.data.add_login(id.to_string());
    shared
        .save_session(session)
        .await
        .map_err(StartFailure::Outcome)?;
    spawn_watcher(Arc::clone(shared), id.clone(), key, deadline);
    tracing::info!(phone = %msisdn.masked(), login_id = %id, flow = ?flow, "login started");
    Ok(Started {
        id,
        binding_message: record.binding_message,
        expires_at,
    })
}

impl Shared {
    fn callback_url(&self) -> Option<url::Url> {
        let mut base = self.public_base_url.clone()?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.join(&format!("{}/callback", self.prefix.trim_start_matches('/')))
            .ok()
    }
}

// ---------------------------------------------------------------------------------------
// Checking and completing a login (finish-in-app)

enum View {
    Pending(LoginRecord, LoginStatus),
    Done(Outcome),
    LoggedIn {
        redirect: String,
        user: Box<StoredUser>,
    },
}

async fn check_login(shared: &Arc<Shared>, session: &mut Session, id: &str) -> View {
    if !session.data.owns(id) {
        return View::Done(Outcome::not_found());
    }
    let Ok(login_id) = id.parse::<LoginId>() else {
        return View::Done(Outcome::not_found());
    };
    let Some(record) = shared.load_record(id).await else {
        if let Some(user) = session.data.user.as_ref().filter(|u| u.login_id == id) {
            return View::LoggedIn {
                redirect: shared.continue_url.clone(),
                user: Box::new(user.clone()),
            };
        }
        return View::Done(Outcome::not_found());
    };
    let status = match shared.client.status(&login_id).await {
        Ok(status) => status,
        Err(e) => return View::Done(Outcome::error(&e)),
    };
    shared.note_final(&record.number_key, id, &status);
    match status {
        LoginStatus::Pending => View::Pending(record, status),
        // Continue in browser: still waiting until the phone's browser brings the code,
        // so the clerk keeps seeing the confirmation code.
        LoginStatus::AwaitingBrowser => View::Pending(record, status),
        LoginStatus::Approved(identity) => {
            if record.flow == FlowChoice::ContinueInBrowser {
                return View::Done(Outcome::continued_in_browser());
            }
            // Single use: whoever takes the record completes the login.
            let Some(record) = shared.take_record(id).await else {
                return View::Done(Outcome::not_found());
            };
            let completed = CompletedLogin {
                login_id: login_id.clone(),
                identity: Arc::clone(&identity),
                flow: FlowChoice::FinishInApp,
            };
            let account_id = match shared.hook.on_login(&completed).await {
                Ok(account) => account,
                Err(e) => {
                    tracing::info!(login_id = %login_id, "login refused by the app's hook");
                    return View::Done(Outcome::rejected(&e));
                }
            };
            let user = StoredUser {
                sub: identity.sub.clone(),
                account_id,
                login_id: id.to_owned(),
                logged_in_at: unix_now(),
                id_token_claims: identity.id_token_claims.clone(),
                userinfo: identity.userinfo.clone(),
            };
            session.data.logins.retain(|l| l != id);
            shared.sessions.rotate(session).await;
            session.data.user = Some(user.clone());
            if let Err(o) = shared.save_session(session).await {
                return View::Done(o);
            }
            tracing::info!(login_id = %login_id, "logged in (finish in app)");
            View::LoggedIn {
                redirect: record
                    .return_to
                    .unwrap_or_else(|| shared.continue_url.clone()),
                user: Box::new(user),
            }
        }
        other => View::Done(Outcome::from_status(&other).unwrap_or_else(Outcome::not_found)),
    }
}

fn user_json(user: &StoredUser) -> serde_json::Value {
    json!({
        "sub": user.sub,
        "account_id": user.account_id,
        "logged_in_at": user.logged_in_at,
        "userinfo": user.userinfo,
    })
}

// ---------------------------------------------------------------------------------------
// Pages

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
}

async fn index(State(shared): St) -> Response {
    redirect(&shared.url("/login"))
}

async fn login_page(State(shared): St, info: RequestInfo, Query(q): Query<LoginQuery>) -> Response {
    let session = shared.sessions.load_or_new(&info.headers).await;
    if session.is_new
        && let Err(o) = shared.save_session(&session).await
    {
        return shared.result_page(&o);
    }
    let return_to = q.return_to.as_deref().and_then(safe_return_to);
    let res = render_login(
        &shared,
        &session,
        StatusCode::OK,
        "",
        return_to.as_deref(),
        None,
    );
    shared.with_cookie(res, &session, &info)
}

fn render_login(
    shared: &Shared,
    session: &Session,
    status: StatusCode,
    phone: &str,
    return_to: Option<&str>,
    error: Option<(&str, String)>,
) -> Response {
    shared.render(
        "login.html",
        status,
        context! {
            csrf_token => &session.data.csrf,
            start_url => shared.url("/start"),
            phone => phone,
            return_to => return_to,
            error => error.as_ref().map(|e| e.1.clone()),
            error_code => error.as_ref().map(|e| e.0),
        },
    )
}

fn parse_form<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Option<T> {
    serde_urlencoded::from_bytes(body).ok()
}

async fn start_form(State(shared): St, info: RequestInfo, body: Bytes) -> Response {
    let Some(input) = parse_form::<StartInput>(&body) else {
        return shared.result_page(&Outcome::new(
            "error",
            "Something went wrong",
            "The form could not be read.",
            StatusCode::BAD_REQUEST,
        ));
    };
    let Some(mut session) = shared.sessions.load(&info.headers).await else {
        return shared.result_page(&Outcome::csrf());
    };
    if !tokens_match(&session.data.csrf, input.csrf_token.as_deref()) {
        tracing::info!("start refused: CSRF token missing or wrong");
        return shared.result_page(&Outcome::csrf());
    }
    let return_to = input.return_to.as_deref().and_then(safe_return_to);
    match do_start(&shared, &mut session, &input, &info).await {
        Ok(started) => redirect(&shared.url(&format!("/wait/{}", started.id))),
        Err(StartFailure::InvalidPhone(e)) => render_login(
            &shared,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &input.phone,
            return_to.as_deref(),
            Some((e.code(), e.to_string())),
        ),
        Err(StartFailure::Outcome(o)) => shared.result_page(&o),
    }
}

async fn wait_page(State(shared): St, info: RequestInfo, Path(id): Path<String>) -> Response {
    let Some(mut session) = shared.sessions.load(&info.headers).await else {
        return shared.result_page(&Outcome::not_found());
    };
    match check_login(&shared, &mut session, &id).await {
        View::Pending(record, status) => shared.render(
            "wait.html",
            StatusCode::OK,
            context! {
                login_id => &id,
                binding_message => record.binding_message,
                masked_phone => record.masked,
                status => status.as_str(),
                status_text => status_text(&status),
                events_url => shared.url(&format!("/events/{id}")),
                status_url => shared.url(&format!("/api/status/{id}")),
                wait_url => shared.url(&format!("/wait/{id}")),
                cancel_url => shared.url(&format!("/cancel/{id}")),
                csrf_token => &session.data.csrf,
                refresh_seconds => shared.refresh_seconds,
                expires_at => record.expires_at,
            },
        ),
        View::Done(outcome) => shared.result_page(&outcome),
        View::LoggedIn { redirect: to, .. } => {
            let res = redirect(&to);
            shared.with_cookie(res, &session, &info)
        }
    }
}

async fn events(State(shared): St, info: RequestInfo, Path(id): Path<String>) -> Response {
    let owned = match shared.sessions.load(&info.headers).await {
        Some(session) => session.data.owns(&id),
        None => false,
    };
    let login_id = match id.parse::<LoginId>() {
        Ok(login_id) if owned => login_id,
        _ => {
            return json_error(
                StatusCode::NOT_FOUND,
                "login_not_found",
                &Error::LoginNotFound.to_string(),
            );
        }
    };
    let rx = match shared.client.watch(&login_id).await {
        Ok(rx) => rx,
        Err(e) => return json_error(e.status(), e.code(), &e.to_string()),
    };
    let next = shared.url(&format!("/wait/{id}"));
    let stream = futures_util::stream::unfold((rx, false, true), move |(mut rx, done, first)| {
        let next = next.clone();
        async move {
            if done {
                return None;
            }
            if !first && rx.changed().await.is_err() {
                return None;
            }
            let status = rx.borrow_and_update().clone();
            let over = status.is_final();
            let mut payload = json!({
                "status": status.as_str(),
                "message": status_text(&status),
            });
            if over {
                payload["next"] = json!(next);
            }
            let event = Event::default().event("status").data(payload.to_string());
            Some((Ok::<_, Infallible>(event), (rx, over, false)))
        }
    });
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[derive(Debug, Default, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf_token: Option<String>,
}

async fn cancel_form(
    State(shared): St,
    info: RequestInfo,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = parse_form::<CsrfForm>(&body).unwrap_or_default();
    let Some(session) = shared.sessions.load(&info.headers).await else {
        return shared.result_page(&Outcome::csrf());
    };
    if !tokens_match(&session.data.csrf, form.csrf_token.as_deref()) {
        return shared.result_page(&Outcome::csrf());
    }
    match do_cancel(&shared, &session, &id).await {
        Ok(()) => shared.result_page(&Outcome::cancelled()),
        Err(o) => shared.result_page(&o),
    }
}

async fn do_cancel(shared: &Shared, session: &Session, id: &str) -> Result<(), Outcome> {
    if !session.data.owns(id) {
        return Err(Outcome::not_found());
    }
    let login_id = id.parse::<LoginId>().map_err(|_| Outcome::not_found())?;
    shared
        .client
        .cancel(&login_id)
        .await
        .map_err(|e| Outcome::error(&e))?;
    if let Some(record) = shared.load_record(id).await {
        shared.limiter.clear_pending(&record.number_key, id);
    }
    tracing::info!(login_id = %login_id, "login cancelled");
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(shared): St,
    info: RequestInfo,
    Query(q): Query<CallbackQuery>,
) -> Response {
    if let Some(error) = q.error.as_deref() {
        let outcome = if error == "access_denied" {
            Outcome::declined()
        } else {
            Outcome::new(
                "error",
                "Something went wrong",
                "Vipps did not complete the login.",
                StatusCode::BAD_REQUEST,
            )
        };
        return shared.result_page(&outcome);
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
        return shared.result_page(&Outcome::new(
            "error",
            "Something went wrong",
            "The link is incomplete (no code). Start a new login.",
            StatusCode::BAD_REQUEST,
        ));
    };
    let (login_id, identity) = match shared.client.exchange_code(code).await {
        Ok(pair) => pair,
        Err(e) => {
            tracing::info!(code = e.code(), "code exchange failed");
            return shared.result_page(&Outcome::error(&e));
        }
    };
    let refused = || {
        Outcome::new(
            "rejected",
            "Login not accepted",
            "This login was not started here or was already used. Start a new login.",
            StatusCode::FORBIDDEN,
        )
    };
    let Some(mut record) = shared.take_record(login_id.as_str()).await else {
        return shared.result_page(&refused());
    };
    if record.flow != FlowChoice::ContinueInBrowser || record.used {
        return shared.result_page(&refused());
    }
    // Keep the record (marked used) so the clerk's waiting page can still show the outcome.
    record.used = true;
    if let Ok(bytes) = serde_json::to_vec(&record) {
        let _ = shared
            .sessions
            .store
            .set(
                &record_key(login_id.as_str()),
                bytes,
                Duration::from_secs(600),
            )
            .await;
    }
    if let Some(state) = q.state.as_deref()
        && !tokens_match(&record.state, Some(state))
    {
        tracing::warn!(login_id = %login_id, "callback state does not match the login");
        return shared.result_page(&refused());
    }
    shared
        .limiter
        .clear_pending(&record.number_key, login_id.as_str());
    let completed = CompletedLogin {
        login_id: login_id.clone(),
        identity: Arc::clone(&identity),
        flow: FlowChoice::ContinueInBrowser,
    };
    let account_id = match shared.hook.on_login(&completed).await {
        Ok(account) => account,
        Err(e) => return shared.result_page(&Outcome::rejected(&e)),
    };
    // A fresh session for the phone's browser; whatever it had before is dropped.
    if let Some(old) = shared.sessions.id_from_headers(&info.headers) {
        shared.sessions.remove(&old).await;
    }
    let mut session = shared.sessions.new_session();
    session.data.user = Some(StoredUser {
        sub: identity.sub.clone(),
        account_id,
        login_id: login_id.to_string(),
        logged_in_at: unix_now(),
        id_token_claims: identity.id_token_claims.clone(),
        userinfo: identity.userinfo.clone(),
    });
    if let Err(o) = shared.save_session(&session).await {
        return shared.result_page(&o);
    }
    tracing::info!(login_id = %login_id, "logged in (continue in browser)");
    let res = redirect(&shared.continue_url);
    shared.with_cookie(res, &session, &info)
}

async fn logout_page(State(shared): St, info: RequestInfo) -> Response {
    let session = shared.sessions.load_or_new(&info.headers).await;
    if session.is_new
        && let Err(o) = shared.save_session(&session).await
    {
        return shared.result_page(&o);
    }
    let user_name = session.data.user.as_ref().map(|u| {
        u.userinfo
            .name
            .clone()
            .unwrap_or_else(|| u.account_id.clone())
    });
    let res = shared.render(
        "logout.html",
        StatusCode::OK,
        context! {
            csrf_token => &session.data.csrf,
            logout_url => shared.url("/logout"),
            user_name => user_name,
        },
    );
    shared.with_cookie(res, &session, &info)
}

fn has_api_header(headers: &HeaderMap) -> bool {
    headers
        .get(API_CSRF_HEADER)
        .is_some_and(|v| !v.as_bytes().is_empty())
}

async fn end_session(shared: &Shared, info: &RequestInfo, mut res: Response) -> Response {
    if let Some(id) = shared.sessions.id_from_headers(&info.headers) {
        shared.sessions.remove(&id).await;
    }
    if let Some(v) = shared.sessions.clear_cookie(&info.headers, &info.uri) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

async fn logout_form(State(shared): St, info: RequestInfo, body: Bytes) -> Response {
    let form = parse_form::<CsrfForm>(&body).unwrap_or_default();
    let Some(session) = shared.sessions.load(&info.headers).await else {
        // No session: nothing to end. Still clear a stale cookie.
        let res = shared.result_page(&logged_out());
        return end_session(&shared, &info, res).await;
    };
    if !tokens_match(&session.data.csrf, form.csrf_token.as_deref())
        && !has_api_header(&info.headers)
    {
        return shared.result_page(&Outcome::csrf());
    }
    tracing::info!("logged out");
    let res = shared.result_page(&logged_out());
    end_session(&shared, &info, res).await
}

fn logged_out() -> Outcome {
    Outcome::new(
        "logged_out",
        "Logged out",
        "You are logged out.",
        StatusCode::OK,
    )
}

async fn not_found(State(shared): St, method: Method) -> Response {
    if method == Method::GET || method == Method::HEAD {
        shared.result_page(&Outcome::new(
            "not_found",
            "Page not found",
            "There is no such page.",
            StatusCode::NOT_FOUND,
        ))
    } else {
        json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is no such route.",
        )
    }
}

async fn style() -> Response {
    static_file(STYLE_CSS, "text/css; charset=utf-8")
}

async fn script() -> Response {
    static_file(SCRIPT_JS, "text/javascript; charset=utf-8")
}

fn static_file(body: &'static str, content_type: &'static str) -> Response {
    let mut res = Response::new(Body::from(body));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

// ---------------------------------------------------------------------------------------
// JSON API

fn api_csrf_failure() -> Response {
    json_error(
        StatusCode::FORBIDDEN,
        "csrf",
        "Missing X-Requested-With header: the JSON API only accepts requests from scripts.",
    )
}

async fn api_start(State(shared): St, info: RequestInfo, body: Bytes) -> Response {
    if !has_api_header(&info.headers) {
        return api_csrf_failure();
    }
    let is_json = info
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !is_json {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as application/json.",
        );
    }
    let input: StartInput = match serde_json::from_slice(&body) {
        Ok(input) => input,
        Err(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "The body must be a JSON object like {\"phone\": \"+47 123 45 678\"}.",
            );
        }
    };
    let mut session = shared.sessions.load_or_new(&info.headers).await;
    let res = match do_start(&shared, &mut session, &input, &info).await {
        Ok(started) => {
            let id = started.id.to_string();
            json_ok(
                StatusCode::CREATED,
                json!({
                    "login_id": id,
                    "status": "pending",
                    "binding_message": started.binding_message,
                    "expires_at": started.expires_at,
                    "wait_url": shared.url(&format!("/wait/{id}")),
                    "events_url": shared.url(&format!("/events/{id}")),
                    "status_url": shared.url(&format!("/api/status/{id}")),
                    "cancel_url": shared.url(&format!("/api/cancel/{id}")),
                }),
            )
        }
        Err(StartFailure::InvalidPhone(e)) => {
            json_error(StatusCode::BAD_REQUEST, e.code(), &e.to_string())
        }
        Err(StartFailure::Outcome(o)) => shared.outcome_json(&o),
    };
    shared.with_cookie(res, &session, &info)
}

async fn api_status(State(shared): St, info: RequestInfo, Path(id): Path<String>) -> Response {
    let Some(mut session) = shared.sessions.load(&info.headers).await else {
        return shared.outcome_json(&Outcome::not_found());
    };
    match check_login(&shared, &mut session, &id).await {
        View::Pending(record, status) => json_ok(
            StatusCode::OK,
            json!({
                "login_id": id,
                "status": status.as_str(),
                "message": status_text(&status),
                "binding_message": record.binding_message,
                "expires_at": record.expires_at,
            }),
        ),
        View::Done(outcome) if outcome.http.is_success() => json_ok(
            StatusCode::OK,
            json!({ "login_id": id, "status": outcome.status, "message": outcome.message }),
        ),
        View::Done(outcome) => shared.outcome_json(&outcome),
        View::LoggedIn { redirect, user } => {
            let res = json_ok(
                StatusCode::OK,
                json!({
                    "login_id": id,
                    "status": "approved",
                    "message": "Logged in.",
                    "redirect": redirect,
                    "user": user_json(&user),
                }),
            );
            shared.with_cookie(res, &session, &info)
        }
    }
}

async fn api_cancel(State(shared): St, info: RequestInfo, Path(id): Path<String>) -> Response {
    if !has_api_header(&info.headers) {
        return api_csrf_failure();
    }
    let Some(session) = shared.sessions.load(&info.headers).await else {
        return shared.outcome_json(&Outcome::not_found());
    };
    match do_cancel(&shared, &session, &id).await {
        Ok(()) => json_ok(
            StatusCode::OK,
            json!({ "login_id": id, "status": "cancelled", "message": "The login was cancelled." }),
        ),
        Err(o) => shared.outcome_json(&o),
    }
}

async fn api_me(State(shared): St, info: RequestInfo) -> Response {
    let session = shared.sessions.load_or_new(&info.headers).await;
    if session.is_new
        && let Err(o) = shared.save_session(&session).await
    {
        return shared.outcome_json(&o);
    }
    let body = match &session.data.user {
        Some(user) => {
            json!({ "logged_in": true, "user": user_json(user), "csrf_token": session.data.csrf })
        }
        None => json!({ "logged_in": false, "csrf_token": session.data.csrf }),
    };
    let res = json_ok(StatusCode::OK, body);
    shared.with_cookie(res, &session, &info)
}

async fn api_logout(State(shared): St, info: RequestInfo) -> Response {
    if !has_api_header(&info.headers) {
        return api_csrf_failure();
    }
    let res = json_ok(StatusCode::OK, json!({ "status": "logged_out" }));
    end_session(&shared, &info, res).await
}

async fn webhook(State(shared): St, info: RequestInfo, method: Method, body: Bytes) -> Response {
    let host = info
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| info.uri.authority().map(http::uri::Authority::as_str))
        .unwrap_or("")
        .to_owned();
    let path_and_query = info
        .uri
        .path_and_query()
        .map_or_else(|| info.uri.path().to_owned(), |p| p.as_str().to_owned());
    match shared
        .client
        .handle_webhook(&method, &path_and_query, &host, &info.headers, &body)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::info!(code = e.code(), "webhook refused");
            json_error(e.status(), e.code(), &e.to_string())
        }
    }
}
