//! What a login leaves for the operator: the metrics of its start, end and redemption,
//! and its events in the audit trail (see [`audit`](crate::audit)), recorded once, by the
//! instance that made the move.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::end::LoginEnd;
use super::record::LoginRecord;
use crate::audit::{Audit, AuditAction, AuditEvent};
use crate::{LoginId, LoginStatus};

/// The engine's side of the metrics and the audit trail.
pub(crate) struct Trail {
    audit: Audit,
    /// Keys the hash that names a login in the audit trail.
    id_key: hmac::Key,
}

impl Trail {
    pub(crate) fn new(audit: Audit, id_key: hmac::Key) -> Trail {
        Trail { audit, id_key }
    }

    /// A login was started (its record is written).
    pub(crate) fn started(&self, id: &LoginId, record: &LoginRecord, now: std::time::SystemTime) {
        crate::metrics::login_started(record.flow(), record.kind);
        if self.audit.is_on() {
            let event = self.event(id, record, AuditAction::LoginStarted, "started", now);
            self.audit.record(&event);
        }
    }

    /// A login moved from `before` to `after`: it ended (cancelled ones as such), or its
    /// result was handed out; other moves leave no trace here.
    pub(crate) fn moved(
        &self,
        id: &LoginId,
        before: &LoginRecord,
        after: &LoginRecord,
        now: std::time::SystemTime,
    ) {
        let flow = after.flow();
        let action = if before.status.is_waiting() && after.status.is_final() {
            if let Some(end) = LoginEnd::of(&after.status) {
                crate::metrics::login_ended(flow, &end);
            }
            match after.status {
                LoginStatus::Cancelled => AuditAction::LoginCancelled,
                _ => AuditAction::LoginEnded,
            }
        } else if matches!(after.status, LoginStatus::Redeemed) {
            crate::metrics::login_redeemed(flow);
            AuditAction::LoginRedeemed
        } else {
            return;
        };
        if self.audit.is_on() {
            let outcome = LoginEnd::of(&after.status).map_or("waiting", |e| e.as_str());
            self.audit
                .record(&self.event(id, after, action, outcome, now));
        }
    }

    /// The keyed hash that names the login `id` in the audit trail and in traces (never
    /// the id itself: it is the handle a browser or a relying party holds).
    pub(crate) fn tag(&self, id: &LoginId) -> String {
        let tag = hmac::sign(&self.id_key, id.as_str().as_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
    }

    /// The span one `step` of work on the login `id` runs in: named by the login's keyed
    /// hash, and, when `record` kept the trace its start was in, a child of that span,
    /// whichever instance does the work.
    pub(crate) fn span(
        &self,
        step: &'static str,
        id: &LoginId,
        record: Option<&LoginRecord>,
    ) -> tracing::Span {
        let span = tracing::info_span!("vipps_login", otel.name = step, login = %self.tag(id));
        if let Some(traceparent) = record.and_then(|r| r.context.trace_parent_value()) {
            crate::trace::adopt(&span, traceparent);
        }
        span
    }

    /// An audit event about the login `id` as `record` has it.
    fn event(
        &self,
        id: &LoginId,
        record: &LoginRecord,
        action: AuditAction,
        outcome: &str,
        now: std::time::SystemTime,
    ) -> AuditEvent {
        let mut event = AuditEvent::at(now, action, outcome);
        event.login = Some(self.tag(id));
        event.actor = record.context.actor_value().cloned();
        event.client_address = record.context.client_address_value().map(str::to_owned);
        event.masked_number = Some(record.masked_hint.clone());
        event.binding_message.clone_from(&record.binding_message);
        event.flow = Some(crate::metrics::flow_label(record.flow()).to_owned());
        event
    }
}
