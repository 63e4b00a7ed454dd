//! Verification of signed Vipps webhooks (`login.merchant-initiated.ping.v1`).
//!
//! Headers `x-ms-date`, `x-ms-content-sha256` (base64 SHA-256 of the body) and
//! `Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=…`,
//! where the signature is base64 HMAC-SHA256 (keyed with the webhook secret) of
//! `POST\n{path and query}\n{x-ms-date};{host};{x-ms-content-sha256}`.

use std::time::{Duration, SystemTime};

use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, Method};
use subtle::ConstantTimeEq;

use crate::{Error, Secret};

const SIGNED_HEADERS: &str = "x-ms-date;host;x-ms-content-sha256";

fn reject(why: &str) -> Error {
    Error::WebhookRejected(why.to_owned())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Error> {
    headers
        .get(name)
        .ok_or_else(|| reject(&format!("the {name} header is missing")))?
        .to_str()
        .map_err(|_| reject(&format!("the {name} header is not text")))
}

/// Checks a webhook's signature, body hash and date; `Ok` only when all hold.
#[allow(clippy::too_many_arguments)]
pub(crate) fn verify_signature(
    secret: &Secret,
    max_age: Duration,
    now: SystemTime,
    method: &Method,
    path_and_query: &str,
    host: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Error> {
    if method != Method::POST {
        return Err(reject("only POST is accepted"));
    }
    let auth = header(headers, "authorization")?;
    let date = header(headers, "x-ms-date")?;
    let content_sha = header(headers, "x-ms-content-sha256")?;

    // Body hash.
    let digest = digest::digest(&digest::SHA256, body);
    let expected_sha = STANDARD.encode(digest.as_ref());
    if !bool::from(expected_sha.as_bytes().ct_eq(content_sha.trim().as_bytes())) {
        return Err(reject("the body does not match x-ms-content-sha256"));
    }

    // Authorization: HMAC-SHA256 SignedHeaders=...&Signature=...
    let params = auth
        .trim()
        .strip_prefix("HMAC-SHA256 ")
        .ok_or_else(|| reject("the Authorization header is not HMAC-SHA256"))?;
    let mut signed_headers = None;
    let mut signature = None;
    for part in params.trim().split('&') {
        if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    if signed_headers != Some(SIGNED_HEADERS) {
        return Err(reject(
            "the signed headers are not x-ms-date;host;x-ms-content-sha256",
        ));
    }
    let signature = STANDARD
        .decode(signature.ok_or_else(|| reject("the signature is missing"))?)
        .map_err(|_| reject("the signature is not base64"))?;
    let to_sign = format!("POST\n{path_and_query}\n{date};{host};{content_sha}");
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    // `hmac::verify` compares in constant time.
    hmac::verify(&key, to_sign.as_bytes(), &signature)
        .map_err(|_| reject("the signature is wrong"))?;

    // Date: signed, so checked after the signature.
    let at = parse_date(date).ok_or_else(|| reject("x-ms-date is not a date"))?;
    let age = match now.duration_since(at) {
        Ok(age) => age,
        // Allow a little clock difference into the future.
        Err(e) if e.duration() <= Duration::from_secs(60) => Duration::ZERO,
        Err(_) => return Err(reject("x-ms-date is in the future")),
    };
    if age > max_age {
        return Err(reject("the webhook is too old"));
    }
    Ok(())
}

/// RFC 7231 HTTP-date (what Vipps sends) or RFC 3339.
fn parse_date(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if let Ok(t) = httpdate::parse_http_date(s) {
        return Some(t);
    }
    parse_rfc3339(s)
}

/// A small RFC 3339 reader (`2024-05-01T12:00:00Z`, fractional seconds and offsets allowed).
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let m = mo;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

/// Signs a webhook the way Vipps does: the headers to send with `body`.
///
/// Meant for tests and simulators; returns `(x-ms-date, x-ms-content-sha256, authorization)`.
#[cfg(feature = "test-util")]
#[must_use]
pub fn sign_webhook(
    secret: &Secret,
    path_and_query: &str,
    host: &str,
    date: SystemTime,
    body: &[u8],
) -> (String, String, String) {
    let date = httpdate::fmt_http_date(date);
    let sha = STANDARD.encode(digest::digest(&digest::SHA256, body).as_ref());
    let to_sign = format!("POST\n{path_and_query}\n{date};{host};{sha}");
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    let sig = STANDARD.encode(hmac::sign(&key, to_sign.as_bytes()).as_ref());
    let auth = format!("HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature={sig}");
    (date, sha, auth)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(date: &str, sha: &str, auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-ms-date", HeaderValue::from_str(date).unwrap());
        h.insert("x-ms-content-sha256", HeaderValue::from_str(sha).unwrap());
        h.insert("authorization", HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn round_trip_and_tamper() {
        let secret = Secret::new("whsec");
        let now = SystemTime::now();
        let body = br#"{"auth_req_id":"abc"}"#;
        let (d, s, a) = sign_webhook(&secret, "/hook?x=1", "127.0.0.1:80", now, body);
        let h = headers(&d, &s, &a);
        let age = Duration::from_secs(300);
        let check = |secret: &Secret, path: &str, host: &str, body: &[u8], now: SystemTime| {
            verify_signature(secret, age, now, &Method::POST, path, host, &h, body)
        };
        assert!(check(&secret, "/hook?x=1", "127.0.0.1:80", body, now).is_ok());
        assert!(
            check(
                &Secret::new("other"),
                "/hook?x=1",
                "127.0.0.1:80",
                body,
                now
            )
            .is_err()
        );
        assert!(check(&secret, "/hook", "127.0.0.1:80", body, now).is_err());
        assert!(check(&secret, "/hook?x=1", "evil:80", body, now).is_err());
        assert!(check(&secret, "/hook?x=1", "127.0.0.1:80", b"{}", now).is_err());
        let late = now + Duration::from_secs(600);
        assert!(
            matches!(check(&secret, "/hook?x=1", "127.0.0.1:80", body, late), Err(Error::WebhookRejected(m)) if m.contains("too old"))
        );
        assert!(
            verify_signature(
                &secret,
                age,
                now,
                &Method::GET,
                "/hook?x=1",
                "127.0.0.1:80",
                &h,
                body
            )
            .is_err()
        );
        let unsigned = HeaderMap::new();
        assert!(
            verify_signature(
                &secret,
                age,
                now,
                &Method::POST,
                "/hook?x=1",
                "127.0.0.1:80",
                &unsigned,
                body
            )
            .is_err()
        );
    }

    #[test]
    fn rfc3339_dates() {
        let t = parse_date("1970-01-02T00:00:01Z").unwrap();
        assert_eq!(t, SystemTime::UNIX_EPOCH + Duration::from_secs(86_401));
        let t = parse_date("2000-03-01T01:00:00.123+01:00").unwrap();
        assert_eq!(t, SystemTime::UNIX_EPOCH + Duration::from_secs(951_868_800));
        assert!(parse_date("yesterday").is_none());
    }
}
