//! Way 2 (the authorization-code provider) with a bare operator desk in front of the Vipps
//! simulator: what `cargo xtask keycloak` lets Keycloak broker to, until the identity
//! bridge serves way 2 with the tower layer's operator pages.
//!
//! ```text
//! cargo run -p vipps-login-provider --example way2_desk -- \
//!     --listen 127.0.0.1:0 --config tests/keycloak/bridge.toml
//! ```
//!
//! Prints `issuer: URL` (the provider: discovery, `/authorize`, `/token`, `/jwks`,
//! `/userinfo`) and `sim: URL`. `/authorize` sends the browser to `/desk`, where the
//! operator types the customer's number (`#phone`, `#start`); the desk shows the
//! confirmation code (`#binding-message`) until the phone answers, then completes the
//! authorization request and sends the browser back to the client.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use vipps_login_core::{ClientAuth, Config, Issuer, Msisdn, Secret, VippsClient};
use vipps_login_provider::{
    ClientRegistry, LoginCheck, LoginHandle, PhoneLogin, Provider, StartRequest, VippsPhoneLogin,
};
use vipps_login_sim::{SimConfig, Simulator};

#[derive(Clone)]
struct Desk {
    provider: Provider,
    login: Arc<VippsPhoneLogin>,
    /// Authorization request id → (client, the login started for it).
    started: Arc<Mutex<HashMap<String, (String, LoginHandle)>>>,
}

#[derive(Deserialize)]
struct AuthzQuery {
    authorization: String,
}

#[derive(Deserialize)]
struct StartForm {
    authorization: String,
    phone: String,
}

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '&' => "&amp;".into(),
            '"' => "&quot;".into(),
            c => c.to_string(),
        })
        .collect()
}

fn page(title: &str, body: &str, refresh: Option<&str>) -> Response {
    let meta = refresh
        .map(|to| {
            format!(
                "<meta http-equiv=\"refresh\" content=\"1;url={}\">",
                escape(to)
            )
        })
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{meta}<title>{t}</title></head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    ))
    .into_response()
}

async fn desk(State(d): State<Desk>, Query(q): Query<AuthzQuery>) -> Response {
    let Some(pending) = d.provider.authorization(&q.authorization).await else {
        return page(
            "Unknown sign-in request",
            "<p id=\"error\">Start again.</p>",
            None,
        );
    };
    page(
        "Log the customer in with Vipps",
        &format!(
            "<p>For <span id=\"client\">{client}</span>.</p>\
             <form method=\"post\" action=\"/desk\">\
             <input type=\"hidden\" name=\"authorization\" value=\"{id}\">\
             <label>Customer's phone number <input id=\"phone\" name=\"phone\" autocomplete=\"off\"></label>\
             <button id=\"start\" type=\"submit\">Send to the Vipps app</button></form>",
            client = escape(&pending.client_id),
            id = escape(&q.authorization)
        ),
        None,
    )
}

async fn start(State(d): State<Desk>, Form(f): Form<StartForm>) -> Response {
    let Some(pending) = d.provider.authorization(&f.authorization).await else {
        return page(
            "Unknown sign-in request",
            "<p id=\"error\">Start again.</p>",
            None,
        );
    };
    let msisdn = match Msisdn::parse(&f.phone) {
        Ok(m) => m,
        Err(e) => {
            return page(
                "Not a phone number",
                &format!("<p id=\"error\">{}</p>", escape(&e.to_string())),
                None,
            );
        }
    };
    let request = StartRequest::new(&pending.client_id, msisdn, pending.scopes.clone())
        .nonce(pending.nonce.clone())
        .subject_type(pending.subject_type);
    let started = match d.login.start(request).await {
        Ok(s) => s,
        Err(e) => {
            return page(
                "The login could not start",
                &format!("<p id=\"error\">{}</p>", escape(&e.to_string())),
                None,
            );
        }
    };
    let code = started.binding_message.as_str().to_owned();
    lock(&d.started).insert(f.authorization.clone(), (pending.client_id, started.handle));
    let wait = format!("/desk/wait?authorization={}", f.authorization);
    page(
        "Waiting for the customer",
        &format!(
            "<p>Code: <strong id=\"binding-message\">{}</strong></p>",
            escape(&code)
        ),
        Some(&wait),
    )
}

async fn wait(State(d): State<Desk>, Query(q): Query<AuthzQuery>) -> Response {
    let Some((owner, handle)) = lock(&d.started).get(&q.authorization).cloned() else {
        return page(
            "Unknown sign-in request",
            "<p id=\"error\">Start again.</p>",
            None,
        );
    };
    let again = format!("/desk/wait?authorization={}", q.authorization);
    let back = match d.login.check(&handle, &owner).await {
        Ok(LoginCheck::Pending) => {
            return page(
                "Waiting for the customer",
                "<p id=\"status\">pending</p>",
                Some(&again),
            );
        }
        Ok(LoginCheck::Approved(_)) => match d.login.redeem(&handle, &owner).await {
            Ok(approved) => {
                d.provider
                    .complete_authorization(&q.authorization, approved)
                    .await
            }
            Err(e) => {
                d.provider
                    .deny_authorization(&q.authorization, &e.to_string())
                    .await
            }
        },
        Ok(LoginCheck::Denied) => {
            d.provider
                .deny_authorization(&q.authorization, "the customer declined in the Vipps app")
                .await
        }
        Ok(other) => {
            d.provider
                .deny_authorization(&q.authorization, &format!("the login ended: {other:?}"))
                .await
        }
        Err(e) => {
            d.provider
                .deny_authorization(&q.authorization, &e.to_string())
                .await
        }
    };
    lock(&d.started).remove(&q.authorization);
    match back {
        Ok(url) => Redirect::to(url.as_str()).into_response(),
        Err(e) => page(
            "The sign-in request failed",
            &format!("<p id=\"error\">{e:?}</p>"),
            None,
        ),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn args() -> Result<(String, Option<String>), String> {
    let (mut listen, mut config) = ("127.0.0.1:0".to_owned(), None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = value,
            "--config" => config = Some(value),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok((listen, config))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let (listen, config) = args()?;
    // The bridge's config file: its [[clients]] (a [bridge] table is ignored here).
    let mut table: toml::Table = match config {
        Some(path) => toml::from_str(&std::fs::read_to_string(path)?)?,
        None => return Err("--config FILE is required (e.g. tests/keycloak/bridge.toml)".into()),
    };
    table.remove("bridge");
    let registry = ClientRegistry::from_toml(&toml::to_string(&table)?)?;

    let sim = Simulator::start(SimConfig::default().interval(Duration::from_millis(200))).await?;
    let client = VippsClient::new(
        Config::builder(
            Issuer::Custom(sim.issuer()),
            sim.client_id(),
            Secret::new(sim.client_secret()),
        )
        .client_auth(ClientAuth::Basic)
        .build()?,
    )?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let issuer: url::Url = format!("http://{}", listener.local_addr()?).parse()?;
    let login = Arc::new(VippsPhoneLogin::new(client));
    let records = login.records();
    let provider = Provider::builder(issuer.clone(), registry, login.clone(), records)
        .ways(false, true)
        .operator_page(issuer.join("/desk")?)
        .build()?;
    let desk = Desk {
        provider: provider.clone(),
        login,
        started: Arc::default(),
    };
    let app = Router::new()
        .route("/desk", get(desk_page).post(start_login))
        .route("/desk/wait", get(wait))
        .with_state(desk)
        .merge(provider.router());
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "issuer: {}", provider.issuer())?;
        writeln!(out, "sim: {}", sim.base_url())?;
        out.flush()?;
    }
    tracing::warn!("no Vipps credentials: running against the in-process Vipps simulator");
    axum::serve(listener, app).await?;
    Ok(())
}

async fn desk_page(s: State<Desk>, q: Query<AuthzQuery>) -> Response {
    desk(s, q).await
}

async fn start_login(s: State<Desk>, f: Form<StartForm>) -> Response {
    start(s, f).await
}
