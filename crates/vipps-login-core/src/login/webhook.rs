//! A verified webhook ping: find the login it names and have its poller poll now,
//! wherever it runs. The ping itself is never taken as a result.

use std::sync::Arc;

use tracing::Instrument as _;

use super::engine::Engine;
use super::keys;
use super::poller::Command;
use super::record::Message;
use crate::Error;

impl Engine {
    /// Wakes the poller of the login whose `auth_req_id` a verified ping names.
    /// [`Error::LoginNotFound`] when no instance follows it (unknown, or finished).
    pub(crate) async fn wake_for_ping(self: &Arc<Self>, auth_req_id: &str) -> Result<(), Error> {
        let store = self.store();
        let id = self
            .records
            .login_named_by(&keys::auth_req(auth_req_id))
            .await?
            .ok_or(Error::LoginNotFound)?;
        let Some(loaded) = self
            .records
            .load(&id)
            .await?
            .filter(|l| l.record.status.is_waiting())
        else {
            return Err(Error::LoginNotFound);
        };
        let span = self
            .records
            .span("vipps_login.webhook", &id, Some(&loaded.record));
        async {
            tracing::debug!(login_id = %id, "webhook ping: polling now");
            self.send(Command::Wake { id: id.clone() });
            let msg = serde_json::to_vec(&Message::Wake { id }).unwrap_or_default();
            store.publish(keys::EVENTS, msg).await?;
            Ok(())
        }
        .instrument(span)
        .await
    }
}
