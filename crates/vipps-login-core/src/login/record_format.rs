//! The bytes of a login record before sealing: a format marker and a CBOR array (this
//! release), or JSON (the release before, still read).
//!
//! Why not JSON any more: a waiting login is mostly its record, and JSON spent more than
//! half of it on field names, quotes and numbers as text (about 480 bytes against about
//! 220). The marker byte comes first, so a reader tells the formats apart before it
//! parses: JSON always begins with `{`, this format with [`COMPACT`]. A later format takes
//! another marker; a record in a format this release does not know is unreadable, never
//! misread.
//!
//! The array holds the fields in the order of [`CompactRef`] (the same order in
//! [`CompactOwned`]; a round-trip test holds them together). The nested values (state,
//! context, identity) keep their serde forms, which CBOR carries as it carries JSON.

use serde::{Deserialize, Serialize};

use super::policy::CoolDowns;
use super::record::LoginRecord;
use super::view::{LoginContext, LoginKind};
use crate::{Error, LoginStatus};

/// The first byte of a record in the compact format (CBOR array after it).
pub(crate) const COMPACT: u8 = 2;

/// The record's fields in their stored order, borrowed for writing.
#[derive(Serialize)]
struct CompactRef<'a>(
    u64,
    &'a LoginStatus,
    LoginKind,
    &'a str,
    &'a str,
    bool,
    u64,
    u64,
    &'a str,
    &'a str,
    Option<&'a str>,
    bool,
    u64,
    u64,
    Option<&'a str>,
    &'a str,
    &'a LoginContext,
);

/// The record's fields in their stored order, owned for reading.
#[derive(Deserialize)]
struct CompactOwned(
    u64,
    LoginStatus,
    LoginKind,
    String,
    String,
    bool,
    u64,
    u64,
    String,
    String,
    Option<String>,
    bool,
    u64,
    u64,
    Option<String>,
    String,
    LoginContext,
);

/// The plain bytes of `record`, in the compact format.
pub(crate) fn encode(record: &LoginRecord) -> Result<Vec<u8>, Error> {
    let r = record;
    let fields = CompactRef(
        r.version,
        &r.status,
        r.kind,
        &r.auth_req_id,
        &r.nonce,
        r.browser,
        r.expires_at,
        r.interval_ms,
        &r.poller,
        &r.number_key,
        r.number.as_deref(),
        r.checks_number,
        r.cool_downs.declined_ms,
        r.cool_downs.ignored_ms,
        r.binding_message.as_deref(),
        &r.masked_hint,
        &r.context,
    );
    let mut out = Vec::with_capacity(256);
    out.push(COMPACT);
    ciborium::into_writer(&fields, &mut out)
        .map_err(|_| Error::Store("a login record could not be serialized".into()))?;
    Ok(out)
}

/// The record in `plain`, written by this release (compact) or the one before (JSON).
pub(crate) fn decode(plain: &[u8]) -> Result<LoginRecord, Error> {
    let unreadable = || Error::Store("a stored login record is unreadable".into());
    match plain.split_first() {
        Some((&COMPACT, body)) => {
            let f: CompactOwned = ciborium::from_reader(body).map_err(|_| unreadable())?;
            Ok(LoginRecord {
                version: f.0,
                status: f.1,
                kind: f.2,
                auth_req_id: f.3,
                nonce: f.4,
                browser: f.5,
                expires_at: f.6,
                interval_ms: f.7,
                poller: f.8,
                number_key: f.9,
                number: f.10,
                checks_number: f.11,
                cool_downs: CoolDowns {
                    declined_ms: f.12,
                    ignored_ms: f.13,
                },
                binding_message: f.14,
                masked_hint: f.15,
                context: f.16,
            })
        }
        Some((b'{', _)) => serde_json::from_slice(plain).map_err(|_| unreadable()),
        _ => Err(unreadable()),
    }
}

#[cfg(test)]
#[path = "record_format_tests.rs"]
mod tests;
