//! How a front end ends a login: it redeems the result once, or cancels a waiting login.

use std::sync::Arc;

use tracing::Instrument as _;

use super::engine::Engine;
use super::poller::Command;
use super::state::Event;
use crate::{Error, Identity, LoginId, LoginStatus, Msisdn};

/// A redeemed login: the verified identity and, for its owner only, the number the login
/// was started for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Redeemed {
    /// The verified identity (ID token claims and userinfo).
    pub identity: Arc<Identity>,
    /// The number the login was started for (`None` for a customer-token login). When
    /// the login asked for `phoneNumber`, the engine has checked that the verified number
    /// is this one.
    pub started_for: Option<Msisdn>,
}

impl Engine {
    /// Hands out an approved (or exchanged) login's result exactly once, to its owner;
    /// from the sealed record as the caller read it, when it did.
    pub(crate) async fn redeem(
        &self,
        id: &LoginId,
        owner: &str,
        read_as: Option<Vec<u8>>,
    ) -> Result<Redeemed, Error> {
        let loaded = match read_as {
            Some(bytes) => self.records.open_read(id, bytes)?,
            None => self.records.load(id).await?.ok_or(Error::LoginNotFound)?,
        };
        if loaded.record.context.owner() != owner {
            return Err(Error::LoginNotFound);
        }
        let span = self
            .records
            .span("vipps_login.redeem", id, Some(&loaded.record));
        let (before, _) = self
            .records
            .transition_from(id, Event::Redeem, Some(loaded))
            .instrument(span)
            .await?;
        let started_for = before.started_number();
        match before.status {
            LoginStatus::Approved(identity) | LoginStatus::Exchanged(identity) => Ok(Redeemed {
                started_for,
                identity,
            }),
            other => Err(other.refusal()),
        }
    }

    /// Cancels a waiting login; a decided one stays as it is ([`Error::AlreadyCompleted`]).
    pub(crate) async fn cancel(self: &Arc<Self>, id: &LoginId) -> Result<(), Error> {
        match self.records.transition(id, Event::Cancel).await {
            Ok(_) => {
                self.send(Command::Cancel { id: id.clone() });
                Ok(())
            }
            Err(Error::Cancelled) => Ok(()),
            Err(Error::Declined | Error::Expired) => Err(Error::AlreadyCompleted),
            Err(e) if matches!(e, Error::LoginNotFound | Error::Store(_)) => Err(e),
            Err(_) => Err(Error::AlreadyCompleted),
        }
    }
}
