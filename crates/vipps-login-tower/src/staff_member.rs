//! Who is signed in at a staff page: put into the request's extensions by the app's staff gate (a password
//! gate, an OpenID sign-in), read by the layer to record who started each login.

/// The signed-in staff member of a request, as the app's staff gate names them.
///
/// Insert it as a request extension before the layer; the layer records it with every login started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffMember {
    /// A stable identifier: the staff provider's `sub`, or the gate's own name for a shared password.
    pub id: String,
    /// A display name, if the gate knows one.
    pub name: Option<String>,
}
