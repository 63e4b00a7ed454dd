//! Readiness: whether an instance can serve logins now, as named checks. The management
//! listener of the reference binaries answers `/health/ready` from it; an app serving its
//! own health endpoint calls [`VippsClient::readiness`](crate::VippsClient::readiness)
//! (or the tower layer's and the provider's, which add their own checks).

use std::time::Duration;

use serde::Serialize;

/// How long a readiness check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// One check that failed, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// The check's name: `store`, `vipps_discovery`, `vipps_jwks`, `signing_keys`, …
    pub check: &'static str,
    /// What is wrong, in a sentence an operator can act on.
    pub reason: String,
}

/// The outcome of the readiness checks.
///
/// ```
/// use vipps_login_core::health::Readiness;
/// let mut r = Readiness::default();
/// assert!(r.is_ready());
/// r.check("store", Err("the store did not answer within 2 s".into()));
/// assert!(!r.is_ready());
/// assert_eq!(r.to_json()["missing"][0]["check"], "store");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct Readiness {
    missing: Vec<Missing>,
}

impl Readiness {
    /// Adds the outcome of the check `name`.
    pub fn check(&mut self, name: &'static str, outcome: Result<(), String>) {
        if let Err(reason) = outcome {
            self.missing.push(Missing {
                check: name,
                reason,
            });
        }
    }

    /// Adds every check of `other`.
    pub fn merge(mut self, other: Readiness) -> Readiness {
        self.missing.extend(other.missing);
        self
    }

    /// Whether every check passed.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.missing.is_empty()
    }

    /// The checks that failed.
    #[must_use]
    pub fn missing(&self) -> &[Missing] {
        &self.missing
    }

    /// The body `/health/ready` answers: `{"status":"ready"|"not_ready","missing":[…]}`.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "status": if self.is_ready() { "ready" } else { "not_ready" },
            "missing": self.missing,
        })
    }
}

/// Runs `check` with the [`CHECK_TIMEOUT`], turning a time-out into a reason.
pub(crate) async fn within<F, E>(what: &str, check: F) -> Result<(), String>
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!(
            "{what}: no answer within {} s",
            CHECK_TIMEOUT.as_secs()
        )),
    }
}
