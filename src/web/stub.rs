//! Stand-ins for `manage::{Actor, Role}` and `manage::operators::authenticate` until
//! the management layer lands; replaced by `pub use` of the real ones.

/// An operator's role.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Role {
    /// The provider.
    Gestore,
    /// A Local Registration Authority.
    Lra,
    /// A regional aggregator.
    Aggregator,
}

/// Who acts.
#[derive(Clone, Debug)]
pub struct Actor {
    /// Username.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Ente.
    pub ente: Option<String>,
    /// Domains.
    pub domains: Vec<String>,
}

impl Actor {
    /// The gestore.
    pub fn gestore(username: &str) -> Actor {
        Actor {
            username: username.to_string(),
            role: Role::Gestore,
            ente: None,
            domains: Vec::new(),
        }
    }
}

/// Nobody logs in yet.
pub fn authenticate(
    _store: &crate::store::Store,
    _username: &str,
    _password: &str,
) -> Option<Actor> {
    None
}
