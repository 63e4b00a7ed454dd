//! The wire: what Vipps' endpoints send and answer, and how each answer maps to an
//! [`Error`] or a poll result. The engine and the poller only interpret these.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use serde::Deserialize;

use crate::Error;
use crate::http::{Response, SendError, retry_after};

/// The CIBA grant (variant 1: polling).
pub(crate) const CIBA_GRANT: &str = "urn:openid:params:grant-type:ciba";
/// Vipps' grant for the code of the redirect variant (variant 2).
pub(crate) const REDIRECT_GRANT: &str = "urn:vipps:params:grant-type:ciba-redirect";

#[derive(Deserialize)]
struct StartResponse {
    auth_req_id: String,
    expires_in: f64,
    #[serde(default)]
    interval: Option<f64>,
}

/// Token endpoint success. No `Debug`: it holds tokens.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub id_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub interval: Option<f64>,
}

impl ErrorBody {
    pub(crate) fn parse(body: &[u8]) -> Option<ErrorBody> {
        let b: ErrorBody = serde_json::from_slice(body).ok()?;
        (b.error.is_some() || b.error_code.is_some()).then_some(b)
    }

    /// `error_code` when present (Vipps puts the precise reason there), else `error`.
    pub(crate) fn code(&self) -> &str {
        self.error_code
            .as_deref()
            .filter(|c| !c.is_empty())
            .or(self.error.as_deref())
            .unwrap_or("")
    }

    fn description(&self) -> String {
        sanitize(self.error_description.as_deref().unwrap_or(""))
    }
}

/// Upstream text can end up in logs: cut it short and mask long digit runs (phone numbers,
/// national identity numbers).
pub(crate) fn sanitize(text: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 6 {
            out.push_str(&crate::msisdn::mask_digits(digits, 2));
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars().take(200) {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            if !c.is_control() {
                out.push(c);
            }
        }
    }
    flush(&mut digits, &mut out);
    let trimmed = out.trim().trim_end_matches('.').to_owned();
    if trimmed.is_empty() {
        "no details given".to_owned()
    } else {
        trimmed
    }
}

/// Where an error answer came from, for the few codes whose meaning depends on it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Start,
    Poll,
    Exchange,
    UserExists,
}

/// Maps a non-success answer to the precise error.
pub(crate) fn error_from_response(resp: &Response, stage: Stage, now: SystemTime) -> Error {
    let status = resp.status;
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Error::RateLimited {
            retry_after: retry_after(&resp.headers, now),
        };
    }
    if status.is_server_error() {
        return Error::Upstream {
            status: status.as_u16(),
        };
    }
    let Some(body) = ErrorBody::parse(&resp.body) else {
        return if status == StatusCode::UNAUTHORIZED {
            Error::InvalidClient
        } else {
            Error::Protocol(format!("HTTP {} without a readable error", status.as_u16()))
        };
    };
    match body.code() {
        "invalid_user" | "unknown_user_id" => Error::InvalidUser,
        "old_app" => Error::OldApp,
        "invalid_client" => Error::InvalidClient,
        "unauthorized_client" => Error::UnauthorizedClient,
        "invalid_scope" => Error::InvalidScope(body.description()),
        "invalid_binding_message" => Error::InvalidBindingMessage(body.description()),
        "access_denied" => Error::Declined,
        "expired_token" => Error::Expired,
        "slow_down" => Error::RateLimited {
            retry_after: retry_after(&resp.headers, now),
        },
        "invalid_grant" if stage == Stage::Exchange => Error::InvalidCode,
        "invalid_grant" => Error::Protocol("Vipps no longer knows this login".into()),
        "invalid_request" => Error::InvalidRequest(body.description()),
        other => Error::Protocol(format!("HTTP {} {}", status.as_u16(), sanitize(other))),
    }
}

/// Seconds as a duration (finite, non-negative, at most a day).
pub(crate) fn secs(s: f64) -> Option<Duration> {
    (s.is_finite() && (0.0..=86_400.0).contains(&s)).then(|| Duration::from_secs_f64(s))
}

pub(crate) fn parse_tokens(body: &[u8]) -> Result<TokenResponse, Error> {
    let t: TokenResponse = serde_json::from_slice(body)
        .map_err(|_| Error::Protocol("the token answer is not understood".into()))?;
    if let Some(tt) = &t.token_type
        && !tt.eq_ignore_ascii_case("bearer")
    {
        return Err(Error::Protocol("the token type is not Bearer".into()));
    }
    if t.access_token.is_empty() || t.id_token.is_empty() {
        return Err(Error::Protocol("the token answer lacks a token".into()));
    }
    Ok(t)
}

/// A successful start, checked.
pub(crate) struct Started {
    pub auth_req_id: String,
    pub expires_in: Duration,
    pub interval: Duration,
}

/// Reads the backchannel answer; anything unusable is [`Error::Protocol`].
pub(crate) fn parse_start(body: &[u8]) -> Result<Started, Error> {
    let started: StartResponse = serde_json::from_slice(body)
        .map_err(|_| Error::Protocol("the start answer is not understood".into()))?;
    if started.auth_req_id.is_empty() || started.auth_req_id.len() > 1024 {
        return Err(Error::Protocol(
            "the start answer has no usable auth_req_id".into(),
        ));
    }
    let expires_in = secs(started.expires_in)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Error::Protocol("the start answer has an invalid expires_in".into()))?;
    let interval = match started.interval {
        None => Duration::from_secs(5),
        Some(i) => secs(i)
            .ok_or_else(|| Error::Protocol("the start answer has an invalid interval".into()))?,
    }
    .max(Duration::from_millis(10));
    Ok(Started {
        auth_req_id: started.auth_req_id,
        expires_in,
        interval,
    })
}

/// What one token-endpoint poll answered.
pub(crate) enum PollAnswer {
    /// Tokens: the customer approved (variant 1).
    Tokens(TokenResponse),
    /// `authorization_pending`.
    Pending,
    /// `slow_down`, with the new interval when Vipps gave one.
    SlowDown(Option<Duration>),
    /// HTTP 429, with its `Retry-After`.
    RetryAfter(Option<Duration>),
    /// Worth another poll: 5xx, connection failure, an unreadable answer.
    Transient(Error),
    /// `access_denied`.
    Denied,
    /// `expired_token`.
    Expired,
    /// Any other refusal: the login cannot succeed.
    Failed(Error),
}

/// Classifies a poll's answer.
pub(crate) fn classify_poll(resp: Result<Response, SendError>, now: SystemTime) -> PollAnswer {
    let resp = match resp {
        Ok(r) => r,
        Err(SendError::Connection(m)) => return PollAnswer::Transient(Error::Transport(m)),
        Err(e @ (SendError::TooLarge | SendError::Invalid(_))) => {
            return PollAnswer::Transient(e.into_error());
        }
    };
    if resp.status.is_success() {
        return match parse_tokens(&resp.body) {
            Ok(t) => PollAnswer::Tokens(t),
            // A garbled 200: the next poll may bring a readable answer.
            Err(e) => PollAnswer::Transient(e),
        };
    }
    if resp.status == StatusCode::TOO_MANY_REQUESTS {
        return PollAnswer::RetryAfter(retry_after(&resp.headers, now));
    }
    if resp.status.is_server_error() {
        return PollAnswer::Transient(Error::Upstream {
            status: resp.status.as_u16(),
        });
    }
    let Some(body) = ErrorBody::parse(&resp.body) else {
        return PollAnswer::Transient(Error::Protocol(format!(
            "HTTP {} without a readable error",
            resp.status.as_u16()
        )));
    };
    match body.code() {
        "authorization_pending" => PollAnswer::Pending,
        "slow_down" => PollAnswer::SlowDown(
            body.interval
                .filter(|i| i.is_finite() && *i > 0.0 && *i <= 3600.0)
                .map(Duration::from_secs_f64)
                .or_else(|| retry_after(&resp.headers, now)),
        ),
        "access_denied" => PollAnswer::Denied,
        "expired_token" => PollAnswer::Expired,
        _ => PollAnswer::Failed(error_from_response(&resp, Stage::Poll, now)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use http::HeaderMap;

    #[test]
    fn sanitize_masks_numbers() {
        assert_eq!(
            sanitize("User 4712345678 unknown."),
            "User 47******78 unknown"
        );
        assert_eq!(sanitize(""), "no details given");
        assert_eq!(sanitize("code 12345"), "code 12345");
    }

    #[test]
    fn error_mapping_reads_error_code_first() {
        let resp = |status: u16, body: &str| Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: bytes::Bytes::from(body.to_owned()),
        };
        let now = SystemTime::now();
        let e = error_from_response(
            &resp(400, r#"{"error":"invalid_request","error_code":"old_app"}"#),
            Stage::Start,
            now,
        );
        assert_eq!(e, Error::OldApp);
        let e = error_from_response(
            &resp(400, r#"{"error":"unknown_user_id"}"#),
            Stage::Start,
            now,
        );
        assert_eq!(e, Error::InvalidUser);
        let e = error_from_response(&resp(401, "garbage"), Stage::Start, now);
        assert_eq!(e, Error::InvalidClient);
        let e = error_from_response(&resp(503, ""), Stage::Start, now);
        assert_eq!(e, Error::Upstream { status: 503 });
        let e = error_from_response(
            &resp(400, r#"{"error":"invalid_grant"}"#),
            Stage::Exchange,
            now,
        );
        assert_eq!(e, Error::InvalidCode);
    }
}
