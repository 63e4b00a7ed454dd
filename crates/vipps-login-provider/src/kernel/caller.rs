//! Who called an endpoint that authenticates clients.

use std::sync::Arc;

use crate::registry::Client;

/// Who is calling the token or backchannel endpoint.
pub(crate) enum Caller {
    /// A confidential client that proved its secret.
    Confidential(Arc<Client>),
    /// A public client (no secret); only the authorization-code grant with PKCE accepts it.
    Public(Arc<Client>),
}

impl Caller {
    pub(crate) fn client(&self) -> &Client {
        match self {
            Caller::Confidential(c) | Caller::Public(c) => c,
        }
    }
}
