//! The simulated phone: server-rendered pages that act out the Vipps app.
//!
//! Element ids for browser tests: `approve`, `deny`, `consent` (buttons), `refresh`
//! (link), `done`, `denied`, `expired`, `continue` (result screens), `binding-message`,
//! `merchant`, `scopes`, and checkboxes `dc-{id}` for delegated consents.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::error::SimError;
use crate::login::PhoneView;
use crate::request::{RequestFlow, RequestStatus, SimRequest};
use crate::state::Sim;
use crate::users::{builtin_users, valid_msisdn};

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The requested information in plain words.
fn scope_words(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "name" => "Your name",
        "email" => "Your email address",
        "phoneNumber" => "Your phone number",
        "address" => "Your address",
        "birthDate" => "Your date of birth",
        "nin" => "Your national identity number",
        "delegatedConsents" => "Your answers to the merchant's consent questions",
        _ => return None,
    })
}

const STYLE: &str = r#"
body{margin:0;background:#e9e6f0;font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f1f2e}
.phone{width:360px;min-height:700px;margin:24px auto;background:#fff;border:12px solid #1f1f2e;border-radius:36px;box-shadow:0 10px 30px rgba(0,0,0,.25);overflow:hidden;display:flex;flex-direction:column}
.bar{display:flex;justify-content:space-between;padding:8px 18px;font-size:12px;background:#ff5b24;color:#fff}
.app{padding:18px;flex:1}
h1{font-size:20px;margin:8px 0 12px}
.push{background:#f4f1fa;border-radius:14px;padding:10px 12px;margin-bottom:14px;font-size:14px;border-left:4px solid #ff5b24}
.code{font-family:ui-monospace,Menlo,monospace;font-size:26px;letter-spacing:3px;text-align:center;background:#f4f1fa;border-radius:10px;padding:10px;margin:10px 0}
ul{padding-left:20px;margin:6px 0 14px}
li{margin:4px 0}
.muted{color:#6b6b80;font-size:13px}
button,.button{display:block;width:100%;box-sizing:border-box;font-size:17px;padding:13px;border-radius:12px;border:0;margin:8px 0;cursor:pointer;text-align:center;text-decoration:none}
.primary{background:#ff5b24;color:#fff}
.secondary{background:#ece9f3;color:#1f1f2e}
.ok{font-size:48px;text-align:center;margin:24px 0 0}
.list a{display:block;padding:10px;border-radius:10px;background:#f4f1fa;margin:6px 0;color:#1f1f2e;text-decoration:none}
label{display:flex;gap:8px;align-items:flex-start;margin:8px 0;font-size:15px}
.error{background:#fde8e8;color:#8a1f1f;border-radius:10px;padding:10px;margin:10px 0}
"#;

fn page(msisdn: &str, title: &str, refresh: Option<&str>, body: &str) -> String {
    let refresh = refresh
        .map(|u| format!(r#"<meta http-equiv="refresh" content="2;url={}">"#, esc(u)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
{refresh}<title>{title} · Vipps (simulated)</title><style>{STYLE}</style></head>
<body><div class="phone"><div class="bar"><span>Vipps · simulated</span><span>+{msisdn}</span></div>
<main class="app">{body}</main></div></body></html>"#,
        title = esc(title),
        msisdn = esc(msisdn),
    )
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, Html(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn phone_base(msisdn: &str) -> String {
    format!("/_sim/phone/{msisdn}")
}

fn request_url(msisdn: &str, id: &str) -> String {
    format!("/_sim/phone/{msisdn}/requests/{id}")
}

/// The confirmation screen (or result screen) of one request.
fn request_screen(msisdn: &str, v: &PhoneView, error: Option<&str>) -> String {
    let r = &v.req;
    let merchant = esc(&v.merchant);
    let base = request_url(msisdn, &r.auth_req_id);
    let mut b = String::new();
    if let Some(e) = error {
        let _ = write!(b, r#"<div class="error" id="error">{}</div>"#, esc(e));
    }
    match r.status {
        RequestStatus::Pending => {
            let _ = write!(
                b,
                r#"<h1>Log in to <span id="merchant">{merchant}</span>?</h1>"#
            );
            if let Some(m) = &r.binding_message {
                let _ = write!(
                    b,
                    r#"<p class="muted">Check that {merchant} shows the same code:</p><div class="code" id="binding-message">{}</div>"#,
                    esc(m)
                );
            }
            let items: Vec<&str> = r.scopes.iter().filter_map(|s| scope_words(s)).collect();
            if items.is_empty() {
                let _ = write!(
                    b,
                    r#"<p id="scopes">{merchant} only learns that it is you.</p>"#
                );
            } else {
                let _ = write!(
                    b,
                    r#"<p>{merchant} asks for:</p><ul id="scopes">{}</ul>"#,
                    items
                        .iter()
                        .map(|i| format!("<li>{}</li>", esc(i)))
                        .collect::<String>()
                );
            }
            let _ = write!(
                b,
                r#"<p class="muted">This request expires in {} s.</p>"#,
                v.expires_in.as_secs()
            );
            if !v.consent_given {
                let _ = write!(
                    b,
                    r#"<h2 style="font-size:16px">First time with {merchant}</h2>
<p>Do you agree that Vipps shares the information above with {merchant}? We remember your answer; you can withdraw it in the app at any time.</p>
<form method="post" action="{base}/consent"><button type="submit" class="primary" id="consent" name="consent" value="yes">I agree, share my information</button></form>
<form method="post" action="{base}/deny"><button type="submit" class="secondary" id="deny" name="action" value="deny">No thanks</button></form>"#,
                    base = esc(&base)
                );
            } else {
                let _ = write!(b, r#"<form method="post" action="{}/approve">"#, esc(&base));
                if r.scopes.iter().any(|s| s == "delegatedConsents") {
                    for q in &v.questions {
                        let _ = write!(
                            b,
                            r#"<label><input type="checkbox" id="dc-{id}" name="dc_{id}" value="on" checked> {text}{req}</label>"#,
                            id = esc(&q.id),
                            text = esc(&q.text),
                            req = if q.required { " (required)" } else { "" },
                        );
                    }
                }
                let _ = write!(
                    b,
                    r#"<button type="submit" class="primary" id="approve" name="action" value="approve">Confirm login</button></form>
<form method="post" action="{}/deny"><button type="submit" class="secondary" id="deny" name="action" value="deny">Deny</button></form>"#,
                    esc(&base)
                );
            }
        }
        RequestStatus::Approved | RequestStatus::Completed => match (&r.flow, &r.redirect_to) {
            (RequestFlow::LoginToWebpage, Some(to)) => {
                let _ = write!(
                    b,
                    r#"<div class="ok">✓</div><h1>Confirmed</h1><p>Continue at {merchant} in your browser.</p><a class="button primary" id="continue" href="{}">Continue to {merchant}</a>"#,
                    esc(to)
                );
            }
            _ => {
                let _ = write!(
                    b,
                    r#"<div class="ok">✓</div><h1 id="done">Done</h1><p>You are logged in at {merchant}. You can put the phone away.</p>"#
                );
            }
        },
        RequestStatus::Denied => {
            let _ = write!(
                b,
                r#"<div class="ok">✕</div><h1 id="denied">Login declined</h1><p>{merchant} was told that you said no.</p>"#
            );
        }
        RequestStatus::Expired => {
            let _ = write!(
                b,
                r#"<div class="ok">!</div><h1 id="expired">Request expired</h1><p>The login request from {merchant} timed out.</p>"#
            );
        }
    }
    let _ = write!(
        b,
        r#"<p><a class="muted" id="home" href="{}">Back to start</a></p>"#,
        esc(&phone_base(msisdn))
    );
    b
}

#[derive(Deserialize)]
struct HomeQuery {
    idle: Option<String>,
}

async fn home(
    State(sim): State<Arc<Sim>>,
    Path(msisdn): Path<String>,
    Query(q): Query<HomeQuery>,
) -> Response {
    if !valid_msisdn(&msisdn) {
        return html(
            StatusCode::NOT_FOUND,
            page(
                &msisdn,
                "Unknown number",
                None,
                "<h1>Not a phone number</h1><p>Use country code and number, digits only, e.g. 4712345678.</p>",
            ),
        );
    }
    let user = sim.users.get(&msisdn);
    let idle_url = format!("{}?idle=1", phone_base(&msisdn));
    let Some(user) = user else {
        return no_app_page(
            &msisdn,
            "<h1>No Vipps app</h1><p>This number has no Vipps or MobilePay account in the simulator.</p>",
        );
    };
    let opened = q.idle.is_none();
    let pending: Vec<SimRequest> = sim.pending_for(&msisdn, opened, false);
    let name = user.display_name().unwrap_or_else(|| "there".to_owned());
    if user.no_account || user.under_15 {
        return no_app_page(
            &msisdn,
            "<h1>Vipps Login not available</h1><p>This user cannot log in with Vipps (no account or under 15).</p>",
        );
    }
    let Some(newest) = pending.last() else {
        let mut b = format!("<h1>Hi {}</h1>", esc(&name));
        if user.push_disabled {
            let _ = write!(
                b,
                r#"<p>No login requests.</p><p class="muted">Push notifications are off: new requests appear when you open the app.</p><a class="button secondary" id="refresh" href="{}">Open the app / pull to refresh</a>"#,
                esc(&phone_base(&msisdn))
            );
        } else {
            let _ = write!(
                b,
                r#"<p>No login requests. Waiting for a push notification…</p><a class="button secondary" id="refresh" href="{}">Refresh</a>"#,
                esc(&phone_base(&msisdn))
            );
        }
        return html(StatusCode::OK, page(&msisdn, "Vipps", Some(&idle_url), &b));
    };
    let Some(view) = sim.phone_view(&msisdn, &newest.auth_req_id) else {
        return Redirect::to(&phone_base(&msisdn)).into_response();
    };
    let mut b = String::new();
    let _ = write!(
        b,
        r#"<div class="push" id="push"><b>Push notification</b><br>{} wants you to log in.</div>"#,
        esc(&view.merchant)
    );
    b.push_str(&request_screen(&msisdn, &view, None));
    if pending.len() > 1 {
        b.push_str(r#"<h2 style="font-size:15px">Other requests</h2><div class="list">"#);
        for r in pending.iter().rev().skip(1) {
            let _ = write!(
                b,
                r#"<a href="{}">{} {}</a>"#,
                esc(&request_url(&msisdn, &r.auth_req_id)),
                esc(&r.client_id),
                esc(r.binding_message.as_deref().unwrap_or("")),
            );
        }
        b.push_str("</div>");
    }
    html(StatusCode::OK, page(&msisdn, "Log in?", None, &b))
}

/// The "No app" screen (200): this number cannot log in with Vipps; `body` says why.
fn no_app_page(msisdn: &str, body: &str) -> Response {
    html(StatusCode::OK, page(msisdn, "No app", None, body))
}

fn not_found_page(msisdn: &str) -> Response {
    html(
        StatusCode::NOT_FOUND,
        page(
            msisdn,
            "Not found",
            None,
            &format!(
                r#"<h1>No such request</h1><p><a id="home" href="{}">Back</a></p>"#,
                esc(&phone_base(msisdn))
            ),
        ),
    )
}

async fn show(State(sim): State<Arc<Sim>>, Path((msisdn, id)): Path<(String, String)>) -> Response {
    match sim.phone_view(&msisdn, &id) {
        Some(v) => html(
            StatusCode::OK,
            page(&msisdn, "Log in?", None, &request_screen(&msisdn, &v, None)),
        ),
        None => not_found_page(&msisdn),
    }
}

async fn consent(
    State(sim): State<Arc<Sim>>,
    Path((msisdn, id)): Path<(String, String)>,
) -> Response {
    let v = match sim.phone_view(&msisdn, &id) {
        Some(v) => v,
        None => return not_found_page(&msisdn),
    };
    sim.give_consent(&v.req.client_id, &msisdn);
    Redirect::to(&request_url(&msisdn, &id)).into_response()
}

async fn approve(
    State(sim): State<Arc<Sim>>,
    Path((msisdn, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let v = match sim.phone_view(&msisdn, &id) {
        Some(v) => v,
        None => return not_found_page(&msisdn),
    };
    if v.req.status == RequestStatus::Pending && !v.consent_given {
        return html(
            StatusCode::CONFLICT,
            page(
                &msisdn,
                "Consent",
                None,
                &request_screen(&msisdn, &v, Some("Give your consent first.")),
            ),
        );
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let answers: BTreeMap<String, bool> = v
        .questions
        .iter()
        .map(|q| {
            let key = format!("dc_{}", q.id);
            (q.id.clone(), form.iter().any(|(k, _)| *k == key))
        })
        .collect();
    match sim.approve(&id, Some(answers)) {
        Ok(Some(to)) => Redirect::to(to.as_str()).into_response(),
        Ok(None) | Err(SimError::NotPending(_)) => {
            Redirect::to(&request_url(&msisdn, &id)).into_response()
        }
        Err(SimError::ConsentRequired(q)) => html(
            StatusCode::BAD_REQUEST,
            page(
                &msisdn,
                "Consent",
                None,
                &request_screen(&msisdn, &v, Some(&format!("“{q}” is required to log in."))),
            ),
        ),
        Err(e) => e.into_response(),
    }
}

async fn deny(State(sim): State<Arc<Sim>>, Path((msisdn, id)): Path<(String, String)>) -> Response {
    if sim.phone_view(&msisdn, &id).is_none() {
        return not_found_page(&msisdn);
    }
    let _ = sim.deny(&id);
    Redirect::to(&request_url(&msisdn, &id)).into_response()
}

async fn index(State(sim): State<Arc<Sim>>) -> Response {
    let mut b = String::from(
        "<h1>vipps-login-sim</h1><p>A simulated Vipps. Open a phone:</p><div class=\"list\">",
    );
    for u in builtin_users() {
        let label = u.display_name().unwrap_or_default();
        let _ = write!(
            b,
            r#"<a href="{}">{} · {}</a>"#,
            esc(&phone_base(&u.msisdn)),
            esc(&u.msisdn),
            esc(&label)
        );
    }
    let _ = write!(
        b,
        r#"</div><p class="muted">Issuer: {}<br>Client: demo-client / demo-secret<br>Requests: <a href="/_sim/requests">/_sim/requests</a></p>"#,
        esc(sim.issuer.as_str())
    );
    html(StatusCode::OK, page("sim", "vipps-login-sim", None, &b))
}

pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/", get(index))
        .route("/_sim/phone/{msisdn}", get(home))
        .route("/_sim/phone/{msisdn}/requests/{id}", get(show))
        .route("/_sim/phone/{msisdn}/requests/{id}/consent", post(consent))
        .route("/_sim/phone/{msisdn}/requests/{id}/approve", post(approve))
        .route("/_sim/phone/{msisdn}/requests/{id}/deny", post(deny))
}
