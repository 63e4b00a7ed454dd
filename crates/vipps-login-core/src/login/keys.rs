//! Every store key the engine writes, in one place. All begin with `vipps-login:`.
//! Values that come from outside (phone numbers, `auth_req_id`, `state`) appear only as
//! hashes.

use crate::LoginId;

/// The notification channel of transitions and webhook wake-ups.
pub(crate) const EVENTS: &str = "vipps-login:events";
/// The index of instances, each with the deadline of its heartbeat.
pub(crate) const INSTANCES: &str = "vipps-login:instances";

pub(crate) fn login(id: &LoginId) -> String {
    format!("vipps-login:login:{id}")
}

pub(crate) fn owned_by(instance: &str) -> String {
    format!("vipps-login:owned:{instance}")
}

/// SHA-256 of `value`, base64url: a short, uniform key part.
pub(crate) fn digest(value: &str) -> String {
    crate::token::sha256_b64url(value.as_bytes())
}

pub(crate) fn auth_req(auth_req_id: &str) -> String {
    format!("vipps-login:areq:{}", digest(auth_req_id))
}

pub(crate) fn browser_state(state: &str) -> String {
    format!("vipps-login:state:{}", digest(state))
}

/// A browser code on its way to Vipps (each is exchanged once, on every instance).
pub(crate) fn code(code: &str) -> String {
    format!("vipps-login:code:{}", digest(code))
}

pub(crate) fn exchanging(id: &LoginId) -> String {
    format!("vipps-login:exchanging:{id}")
}

pub(crate) fn pending_number(number_key: &str) -> String {
    format!("vipps-login:pending:{number_key}")
}

pub(crate) fn cool_down(number_key: &str) -> String {
    format!("vipps-login:cool:{number_key}")
}

pub(crate) fn count_number(number_key: &str) -> String {
    format!("vipps-login:count:n:{number_key}")
}

pub(crate) fn count_client(client_key: &str) -> String {
    format!("vipps-login:count:c:{}", digest(client_key))
}

pub(crate) fn count_callback(client_key: &str) -> String {
    format!("vipps-login:count:cb:{}", digest(client_key))
}

/// User-exists questions of a client key.
pub(crate) fn count_user_exists(client_key: &str) -> String {
    format!("vipps-login:count:ue:{}", digest(client_key))
}
