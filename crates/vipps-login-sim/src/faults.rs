//! Fault injection.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A protocol endpoint of the simulator (faults may be scoped to one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Endpoint {
    /// `{issuer}.well-known/openid-configuration`
    Discovery,
    /// `{issuer}.well-known/jwks.json`
    Jwks,
    /// `/vipps-login-ciba/api/backchannel/authentication`
    Backchannel,
    /// `{issuer}oauth2/token`
    Token,
    /// `/vipps-userinfo-api/userinfo`
    Userinfo,
    /// `/vipps-login-ciba/api/v1/user-exists`
    UserExists,
}

/// A fault the simulator acts out until cleared (or until its `count` is used up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Every affected response is delayed by this much.
    Latency(Duration),
    /// The next `count` affected requests answer `status` (e.g. 500, 503) with a JSON
    /// `server_error` body.
    ServerError {
        /// HTTP status to answer.
        status: u16,
        /// How many requests it affects.
        count: u32,
    },
    /// The next `count` affected responses keep their status but carry a truncated,
    /// unparseable JSON body.
    MalformedBody {
        /// How many responses it affects.
        count: u32,
    },
    /// The next `count` affected requests get their connection closed without a response.
    DropConnection {
        /// How many requests it affects.
        count: u32,
    },
    /// ID tokens are signed with a key that is not in the JWKS, under the current `kid`.
    WrongSigningKey,
    /// ID tokens' `iat`, `exp` and `auth_time` are shifted by this many seconds.
    ClockSkew(i64),
}

/// The wire form of a fault for `POST /_sim/faults`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub(crate) enum FaultSpec {
    Latency {
        ms: u64,
        #[serde(default)]
        endpoint: Option<Endpoint>,
    },
    ServerError {
        #[serde(default = "default_status")]
        status: u16,
        #[serde(default = "one")]
        count: u32,
        #[serde(default)]
        endpoint: Option<Endpoint>,
    },
    MalformedBody {
        #[serde(default = "one")]
        count: u32,
        #[serde(default)]
        endpoint: Option<Endpoint>,
    },
    DropConnection {
        #[serde(default = "one")]
        count: u32,
        #[serde(default)]
        endpoint: Option<Endpoint>,
    },
    WrongSigningKey,
    ClockSkew {
        seconds: i64,
    },
    RotateKeys,
}

fn default_status() -> u16 {
    500
}

fn one() -> u32 {
    1
}

impl FaultSpec {
    /// The fault and its endpoint scope; `None` for key rotation (an action, not a fault).
    pub(crate) fn into_fault(self) -> Option<(Fault, Option<Endpoint>)> {
        Some(match self {
            FaultSpec::Latency { ms, endpoint } => {
                (Fault::Latency(Duration::from_millis(ms)), endpoint)
            }
            FaultSpec::ServerError {
                status,
                count,
                endpoint,
            } => (Fault::ServerError { status, count }, endpoint),
            FaultSpec::MalformedBody { count, endpoint } => {
                (Fault::MalformedBody { count }, endpoint)
            }
            FaultSpec::DropConnection { count, endpoint } => {
                (Fault::DropConnection { count }, endpoint)
            }
            FaultSpec::WrongSigningKey => (Fault::WrongSigningKey, Some(Endpoint::Token)),
            FaultSpec::ClockSkew { seconds } => (Fault::ClockSkew(seconds), Some(Endpoint::Token)),
            FaultSpec::RotateKeys => return None,
        })
    }
}

#[derive(Debug, Clone)]
struct Rule {
    fault: Fault,
    endpoint: Option<Endpoint>,
}

impl Rule {
    fn applies(&self, ep: Endpoint) -> bool {
        self.endpoint.is_none_or(|e| e == ep)
    }
}

/// What to do to one request.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) latency: Duration,
    pub(crate) drop: bool,
    pub(crate) error: Option<u16>,
    pub(crate) malformed: bool,
}

/// The active faults.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Vec<Rule>,
}

fn take(count: &mut u32) -> bool {
    if *count > 0 {
        *count -= 1;
        true
    } else {
        false
    }
}

impl Faults {
    pub(crate) fn add(&mut self, fault: Fault, endpoint: Option<Endpoint>) {
        self.rules.push(Rule { fault, endpoint });
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Decides the faults of one request to `ep`, using up counted faults.
    pub(crate) fn plan(&mut self, ep: Endpoint) -> Plan {
        let mut plan = Plan::default();
        for r in self.rules.iter().filter(|r| r.applies(ep)) {
            if let Fault::Latency(d) = r.fault {
                plan.latency += d;
            }
        }
        let mut fired = false;
        for r in self.rules.iter_mut().filter(|r| r.applies(ep)) {
            if let Fault::DropConnection { count } = &mut r.fault
                && take(count)
            {
                plan.drop = true;
                fired = true;
                break;
            }
        }
        if !fired {
            for r in self.rules.iter_mut().filter(|r| r.applies(ep)) {
                if let Fault::ServerError { status, count } = &mut r.fault
                    && take(count)
                {
                    plan.error = Some(*status);
                    fired = true;
                    break;
                }
            }
        }
        if !fired {
            for r in self.rules.iter_mut().filter(|r| r.applies(ep)) {
                if let Fault::MalformedBody { count } = &mut r.fault
                    && take(count)
                {
                    plan.malformed = true;
                    break;
                }
            }
        }
        self.rules.retain(|r| {
            !matches!(
                r.fault,
                Fault::DropConnection { count: 0 }
                    | Fault::ServerError { count: 0, .. }
                    | Fault::MalformedBody { count: 0 }
            )
        });
        plan
    }

    /// Whether ID tokens are to be signed with a wrong key.
    pub(crate) fn wrong_key(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.applies(Endpoint::Token) && r.fault == Fault::WrongSigningKey)
    }

    /// The total clock skew for ID tokens, seconds.
    pub(crate) fn skew(&self) -> i64 {
        self.rules
            .iter()
            .filter(|r| r.applies(Endpoint::Token))
            .map(|r| match r.fault {
                Fault::ClockSkew(s) => s,
                _ => 0,
            })
            .sum()
    }

    pub(crate) fn describe(&self) -> Vec<serde_json::Value> {
        self.rules
            .iter()
            .map(|r| {
                let mut v = match r.fault {
                    Fault::Latency(d) => {
                        serde_json::json!({"fault": "latency", "ms": d.as_millis() as u64})
                    }
                    Fault::ServerError { status, count } => {
                        serde_json::json!({"fault": "server_error", "status": status, "count": count})
                    }
                    Fault::MalformedBody { count } => {
                        serde_json::json!({"fault": "malformed_body", "count": count})
                    }
                    Fault::DropConnection { count } => {
                        serde_json::json!({"fault": "drop_connection", "count": count})
                    }
                    Fault::WrongSigningKey => serde_json::json!({"fault": "wrong_signing_key"}),
                    Fault::ClockSkew(s) => serde_json::json!({"fault": "clock_skew", "seconds": s}),
                };
                if let (Some(ep), Some(obj)) = (r.endpoint, v.as_object_mut()) {
                    obj.insert("endpoint".into(), serde_json::to_value(ep).unwrap_or_default());
                }
                v
            })
            .collect()
    }
}
