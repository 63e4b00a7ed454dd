//! Signing keys kept sealed in the shared store: created once (the first instance wins),
//! rotated by one instance at a time (a lease in the store), announced on the store's
//! notifications so every instance serves the same JWKS within moments, re-read every
//! minute in case a notification was lost.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use vipps_login_core::clock::duration_ms;
use vipps_login_core::token::random_token;

use super::alg::{KeyError, SigningAlg};
use super::material::{SigningKey, fresh_pair};
use super::state::{Retired, State};
use crate::records::Records;

/// The records' kind and id of the key set.
const KIND: &str = "keys";
const ID: &str = "signing";
/// The store key of the rotation lease (its value is the holder's random token).
const LEASE: &str = "vlp:keys:rotation-lease";
/// How long a rotation lease is held at most (a rotation takes well under a second).
const LEASE_TTL: Duration = Duration::from_secs(30);
/// Where rotations are announced.
pub(crate) const CHANNEL: &str = "vlp:keys";
/// How long the key set is kept in the store: renewed by every rotation, and far longer
/// than any rotation period.
const STORED_TTL: Duration = Duration::from_secs(10 * 365 * 86_400);
/// How often every instance re-reads the keys, notifications or not.
const REREAD: Duration = Duration::from_secs(60);

/// One key as stored (sealed with the provider's records).
#[derive(Serialize, Deserialize)]
struct StoredKey {
    alg: SigningAlg,
    kid: String,
    /// PKCS#8 DER, base64url.
    pkcs8: String,
    /// `None`: current; else published until this Unix millisecond.
    published_until_ms: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct StoredKeys {
    keys: Vec<StoredKey>,
    rotated_at_ms: u64,
}

impl StoredKeys {
    /// Fresh current keys (made at `records`' now, after generating them: a slow RSA
    /// generation does not make them look older) and the `retired` ones.
    fn fresh(records: &Records, retired: Vec<StoredKey>) -> Result<StoredKeys, KeyError> {
        let mut keys: Vec<StoredKey> = fresh_pair()?.iter().map(|k| stored(k, None)).collect();
        keys.extend(retired);
        Ok(StoredKeys {
            keys,
            rotated_at_ms: records.now_ms(),
        })
    }

    fn state(&self, now_ms: u64) -> Result<State, KeyError> {
        let mut current = Vec::new();
        let mut retired: Vec<Retired> = Vec::new();
        for k in &self.keys {
            if k.published_until_ms.is_some_and(|u| u <= now_ms) {
                continue;
            }
            let der = URL_SAFE_NO_PAD
                .decode(&k.pkcs8)
                .map_err(|_| KeyError("a stored signing key is damaged".into()))?;
            let key = Arc::new(SigningKey::from_pkcs8(k.alg, &der, Some(k.kid.clone()))?);
            match k.published_until_ms {
                None => current.push(key),
                Some(until) => retired.push((key, until)),
            }
        }
        Ok(State::new(current, retired, self.rotated_at_ms))
    }
}

fn stored(k: &SigningKey, published_until_ms: Option<u64>) -> StoredKey {
    StoredKey {
        alg: k.alg,
        kid: k.kid.clone(),
        pkcs8: URL_SAFE_NO_PAD.encode(&k.pkcs8),
        published_until_ms,
    }
}

fn store_failed(what: &str) -> KeyError {
    KeyError(format!("the shared store failed ({what})"))
}

/// The stored keys, or fresh ones stored when none are there yet (of several instances
/// starting at once, the first one's win).
pub(super) async fn load_or_create(records: &Records) -> Result<State, KeyError> {
    for _ in 0..3 {
        if let Some(keys) = records
            .get::<StoredKeys>(KIND, ID)
            .await
            .map_err(|_| store_failed("reading the signing keys"))?
        {
            return keys.state(records.now_ms());
        }
        let fresh = StoredKeys::fresh(records, Vec::new())?;
        if records
            .insert_if_absent(KIND, ID, &fresh, STORED_TTL)
            .await
            .map_err(|_| store_failed("storing the signing keys"))?
        {
            tracing::info!("signing keys generated and kept sealed in the shared store");
        }
        // Written by this instance or another one first: read what is there.
    }
    Err(KeyError(
        "the signing keys in the shared store do not open (sealed with another Vipps client secret, or damaged); \
         delete them there to have new ones generated, or configure keys"
            .into(),
    ))
}

/// The stored keys now, when they can be read (else a warning, and `None`).
async fn reread(records: &Records) -> Option<State> {
    match records.get::<StoredKeys>(KIND, ID).await {
        Ok(Some(keys)) => match keys.state(records.now_ms()) {
            Ok(state) => Some(state),
            Err(e) => {
                tracing::warn!(error = %e, "the stored signing keys could not be used");
                None
            }
        },
        Ok(None) => {
            tracing::warn!("the signing keys are gone from the shared store");
            None
        }
        Err(_) => {
            tracing::warn!("the shared store failed re-reading the signing keys");
            None
        }
    }
}

/// Hands the stored keys to `apply` on every notification (and on a reported loss), and
/// every minute regardless, until `apply` answers `false` (its key set is gone).
/// Subscribed before it returns, so no rotation after it is missed.
pub(super) async fn follow(records: &Records, apply: impl Fn(State) -> bool + Send + 'static) {
    let records = records.clone();
    let mut rx = records.store().subscribe(CHANNEL).await.ok();
    tokio::spawn(async move {
        loop {
            if rx.is_none() {
                rx = records.store().subscribe(CHANNEL).await.ok();
            }
            let woke = match rx.as_mut() {
                Some(r) => tokio::time::timeout(REREAD, r.recv()).await,
                None => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(Err(RecvError::Lagged(0)))
                }
            };
            if let Ok(Err(RecvError::Closed)) = woke {
                rx = None;
            }
            if let Some(state) = reread(&records).await
                && !apply(state)
            {
                return;
            }
        }
    });
}

/// Rotates the stored keys under the lease: always when `period` is `None`, else when
/// the current keys are `period` old. Whether this call rotated, and the keys to serve
/// now (none when the lease was another instance's).
pub(super) async fn rotate(
    records: &Records,
    period: Option<Duration>,
    grace: Duration,
) -> Result<(bool, Option<State>), KeyError> {
    let store = records.store();
    let holder = random_token();
    if !store
        .insert_if_absent(LEASE, holder.clone().into_bytes(), LEASE_TTL)
        .await
        .map_err(|_| store_failed("taking the rotation lease"))?
    {
        return Ok((false, None));
    }
    let rotated = rotate_holding_lease(records, period, grace).await;
    let _ = store
        .compare_and_swap(LEASE, holder.as_bytes(), None, LEASE_TTL)
        .await;
    rotated
}

async fn rotate_holding_lease(
    records: &Records,
    period: Option<Duration>,
    grace: Duration,
) -> Result<(bool, Option<State>), KeyError> {
    let Some((keys, read)) = records
        .get_versioned::<StoredKeys>(KIND, ID)
        .await
        .map_err(|_| store_failed("reading the signing keys"))?
    else {
        return Err(KeyError(
            "the signing keys are gone from the shared store".into(),
        ));
    };
    let now = records.now_ms();
    if period.is_some_and(|p| keys.rotated_at_ms.saturating_add(duration_ms(p)) > now) {
        // Rotated already, possibly by another instance: serve what is there.
        return Ok((false, Some(keys.state(now)?)));
    }
    let until = now.saturating_add(duration_ms(grace));
    let retired: Vec<StoredKey> = keys
        .keys
        .into_iter()
        .filter(|k| k.published_until_ms.is_none_or(|u| u > now))
        .map(|mut k| {
            k.published_until_ms = Some(k.published_until_ms.unwrap_or(until));
            k
        })
        .collect();
    let next = StoredKeys::fresh(records, retired)?;
    let swapped = records
        .replace(KIND, ID, &read, &next, STORED_TTL)
        .await
        .map_err(|_| store_failed("storing the rotated keys"))?;
    if !swapped {
        return Ok((false, reread(records).await));
    }
    let state = next.state(records.now_ms())?;
    if records
        .store()
        .publish(CHANNEL, b"rotated".to_vec())
        .await
        .is_err()
    {
        tracing::warn!(
            "signing keys rotated, but the announcement failed; other instances see it within a minute"
        );
    }
    tracing::info!("signing keys rotated; the previous ones stay published for the grace period");
    Ok((true, Some(state)))
}
