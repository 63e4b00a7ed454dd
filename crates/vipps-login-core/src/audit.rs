//! The audit trail, apart from debug logs: one structured event per login started,
//! ended, redeemed and cancelled, and per staff sign-in, answering "who sent a push to
//! this customer, and when?".
//!
//! An event names who acted (the staff member, or the relying party), from which client
//! address, the masked number, the binding message, the outcome and the time. It never
//! holds a secret, a token, an `auth_req_id` or a full phone number; the login is named by
//! a keyed hash of its id, enough to tie a login's events together.
//!
//! Sinks: [`JsonLinesFile`] (one JSON object per line, appended) and [`TracingAudit`]
//! (events at the `tracing` target `vipps_login::audit`); implement [`AuditSink`] for
//! another. Give the engine one with
//! [`ConfigBuilder::audit`](crate::ConfigBuilder::audit).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditAction {
    /// A push was sent (or, in the enumeration-resistant mode, a decoy recorded).
    LoginStarted,
    /// The customer's part ended: `outcome` says how (approved, declined, expired, …).
    LoginEnded,
    /// An approved login's result was handed out.
    LoginRedeemed,
    /// A waiting login was cancelled by whoever started it.
    LoginCancelled,
    /// A staff member signed in at a staff page (`outcome`: `signed_in` or `refused`).
    StaffSignIn,
}

/// Who acted: the staff member signed in at the page that started the login, or the
/// relying party (an OpenID client, a Keycloak client) that asked for it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Actor {
    /// What kind of actor: `staff` or `relying_party`.
    pub kind: String,
    /// A stable identifier: the staff member's id, or the client id.
    pub id: String,
    /// A display name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Actor {
    /// A staff member, as the staff gate names them.
    #[must_use]
    pub fn staff(id: impl Into<String>, name: Option<String>) -> Actor {
        Actor {
            kind: "staff".into(),
            id: id.into(),
            name,
        }
    }

    /// A relying party (an OpenID or Keycloak client) by its client id.
    #[must_use]
    pub fn relying_party(client_id: impl Into<String>) -> Actor {
        Actor {
            kind: "relying_party".into(),
            id: client_id.into(),
            name: None,
        }
    }
}

/// One audit event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// When, in RFC 3339 (UTC).
    pub time: String,
    /// What happened.
    pub action: AuditAction,
    /// A keyed hash of the login's id (the same for every event of one login); none for
    /// a staff sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// Who acted, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// The client address of the till or caller, when the front end gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
    /// The masked phone number (`+47 *** ** 678`), or the hint's masked form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked_number: Option<String>,
    /// The binding message shown on the till and in the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding_message: Option<String>,
    /// `finish_in_app` or `continue_in_browser`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// How it went: for a login end its [`LoginEnd::as_str`](crate::LoginEnd::as_str);
    /// for a start `started`; for a sign-in `signed_in` or `refused`.
    pub outcome: String,
}

impl AuditEvent {
    /// An event of `action` with `outcome` now, naming nothing else yet.
    #[must_use]
    pub fn new(action: AuditAction, outcome: impl Into<String>) -> AuditEvent {
        AuditEvent::at(SystemTime::now(), action, outcome)
    }

    /// An event of `action` with `outcome` at `time`.
    #[must_use]
    pub fn at(time: SystemTime, action: AuditAction, outcome: impl Into<String>) -> AuditEvent {
        AuditEvent {
            time: rfc3339(time),
            action,
            login: None,
            actor: None,
            client_address: None,
            masked_number: None,
            binding_message: None,
            flow: None,
            outcome: outcome.into(),
        }
    }

    /// A staff member's sign-in at a staff page, from `client_address`; `signed_in`
    /// tells whether the gate let them in.
    #[must_use]
    pub fn staff_sign_in(actor: Actor, client_address: Option<String>, signed_in: bool) -> Self {
        let mut event = AuditEvent::new(
            AuditAction::StaffSignIn,
            if signed_in { "signed_in" } else { "refused" },
        );
        event.actor = Some(actor);
        event.client_address = client_address;
        event
    }
}

fn rfc3339(time: SystemTime) -> String {
    let t = time::OffsetDateTime::from(time);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Where audit events go. Recording must not fail the login: a sink that cannot write
/// says so in the logs.
pub trait AuditSink: Send + Sync + 'static {
    /// Records one event.
    fn record(&self, event: &AuditEvent);
}

/// The engine's sink, if any (what [`ConfigBuilder::audit`](crate::ConfigBuilder::audit) set).
#[derive(Clone, Default)]
pub(crate) struct Audit(Option<std::sync::Arc<dyn AuditSink>>);

impl Audit {
    pub(crate) fn new(sink: std::sync::Arc<dyn AuditSink>) -> Audit {
        Audit(Some(sink))
    }

    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    pub(crate) fn record(&self, event: &AuditEvent) {
        if let Some(sink) = &self.0 {
            sink.record(event);
        }
    }
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_on() {
            "Audit(on)"
        } else {
            "Audit(off)"
        })
    }
}

/// Appends each event as one JSON object per line to a file.
pub struct JsonLinesFile {
    file: Mutex<File>,
}

impl JsonLinesFile {
    /// Opens `path` for appending (created when absent).
    ///
    /// # Errors
    /// When the file cannot be opened for appending.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<JsonLinesFile> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(JsonLinesFile {
            file: Mutex::new(file),
        })
    }
}

impl AuditSink for JsonLinesFile {
    fn record(&self, event: &AuditEvent) {
        let Ok(mut line) = serde_json::to_vec(event) else {
            return;
        };
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // One write per line: concurrent events never interleave within a line.
        if let Err(e) = file.write_all(&line).and_then(|()| file.flush()) {
            tracing::error!(error = %e, "could not write to the audit log");
        }
    }
}

/// Emits each event at the `tracing` target `vipps_login::audit` (level INFO), for a
/// subscriber that routes audit apart from other logs.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingAudit;

impl AuditSink for TracingAudit {
    fn record(&self, event: &AuditEvent) {
        let json = serde_json::to_string(event).unwrap_or_default();
        tracing::info!(target: "vipps_login::audit", action = ?event.action, outcome = %event.outcome, event = %json, "audit");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_file_sink_writes_one_json_object_per_line() {
        let dir = std::env::temp_dir().join(format!("audit-{}", crate::token::random_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        let sink = JsonLinesFile::open(&path).unwrap();
        sink.record(&AuditEvent::staff_sign_in(
            Actor::staff("desk-1", Some("Kari".into())),
            Some("192.0.2.7".into()),
            true,
        ));
        sink.record(&AuditEvent::new(AuditAction::LoginStarted, "started"));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<AuditEvent> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].action, AuditAction::StaffSignIn);
        assert_eq!(lines[0].actor.as_ref().unwrap().id, "desk-1");
        assert_eq!(lines[0].outcome, "signed_in");
        assert!(lines[0].time.ends_with('Z'), "{}", lines[0].time);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
