//! Identity of callers: API keys (`owk_<id>_<secret>`, argon2id-hashed), scopes, and the verified
//! [`Principal`] that the authentication layer puts into request extensions.

pub mod key;
pub mod keys;
pub mod verifier;

pub use key::{Scope, parse_scopes};
pub use verifier::{Refusal, Verifier};

/// Who is calling, as verified by the authentication layer. Travels in request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The profile an `mcp` key acts as.
    pub profile: Option<String>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}
