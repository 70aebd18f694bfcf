//! Identity of callers: API keys (`owk_<id>_<secret>`, argon2id-hashed), scopes, and the verified
//! [`Principal`] that the authentication layer puts into request extensions.

pub mod failures;
pub mod key;
pub mod keys;
pub mod person;
pub mod verifier;

pub use key::{Scope, parse_scopes};
pub use verifier::{Refusal, Verifier};

/// Who is calling, as verified by the authentication layer. Travels in request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The profile an `mcp` key acts as (for a person: the profile chosen at sign-in).
    pub profile: Option<String>,
    /// Set when the caller is a person signed in with OAuth (an `owa_` access token): they act
    /// as their own Odoo user. `key_id` is then `person:<id>`, which no key has.
    pub person: Option<std::sync::Arc<crate::oauth::grants::PersonAccess>>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// A signed-in person's principal: `mcp` only.
    pub fn of_person(access: crate::oauth::grants::PersonAccess) -> Self {
        Self {
            key_id: format!("person:{}", access.person_id),
            name: access.login.clone(),
            scopes: vec![Scope::Mcp],
            profile: Some(access.profile.clone()),
            person: Some(std::sync::Arc::new(access)),
        }
    }

    /// The API key's id, `None` for a person.
    pub fn api_key_id(&self) -> Option<&str> {
        self.person.is_none().then_some(self.key_id.as_str())
    }
}
