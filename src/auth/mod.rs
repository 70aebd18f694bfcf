//! Identity of callers. API keys (argon2id, scopes) arrive with their own issue; the type that the
//! authentication layer puts into request extensions exists already so that sessions and the audit
//! trail are bound to it from the start.

/// Who is calling, as verified by the authentication layer. Travels in request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub name: String,
    pub profile: String,
}
