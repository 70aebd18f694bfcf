//! A person signing in to the web console with their own Odoo login and API key: the credential
//! is verified against Odoo (never stored), and the person's console roles are every role of
//! every `[[console.role_rules]]` rule that matches them (Odoo group XML id or login). A person
//! an operator revoked (`people revoke`) is refused. Transport-free: the console calls in here
//! at sign-in and again every [`RECHECK`] while the session lives, so a key deleted in Odoo, a
//! user archived or a group taken away ends the session or its roles.

use super::Scope;
use crate::config::{RoleRule, RuleMatch};
use crate::oauth::people::{PersonRefusal, odoo_refusal, unavailable};
use crate::odoo::{Credentials, OdooClient};
use crate::secret::Secret;
use crate::store::Store;
use std::time::Duration;

/// How often a live person session is verified with Odoo again, by default (`[console]
/// recheck_secs`).
pub const RECHECK: Duration = Duration::from_secs(5 * 60);

/// A verified person and their console roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsolePerson {
    pub login: String,
    pub uid: i64,
    pub name: String,
    pub roles: Vec<Scope>,
}

/// Verifies `login` and `api_key` with Odoo and gives the person's roles; refused when Odoo
/// does not accept them, when no rule gives a role, or when an operator revoked the person.
pub async fn verify(
    odoo: &OdooClient,
    store: &Store,
    rules: &[RoleRule],
    login: &str,
    api_key: &Secret,
) -> Result<ConsolePerson, PersonRefusal> {
    let login = login.trim();
    if login.is_empty() || api_key.expose().trim().is_empty() {
        return Err(PersonRefusal::Credentials(
            "enter your Odoo login and an Odoo API key".into(),
        ));
    }
    let user = odoo
        .login(&Credentials::new(login, api_key.clone()))
        .await
        .map_err(odoo_refusal)?;
    let identity = user.whoami().await.map_err(odoo_refusal)?;
    let mut roles = Vec::new();
    for rule in rules {
        if rule.roles.iter().all(|r| roles.contains(r)) {
            continue;
        }
        let hit = match &rule.matcher {
            RuleMatch::Login(l) => *l == identity.login,
            RuleMatch::Group(g) => match &identity.groups {
                Some(groups) => groups.iter().any(|x| x == g),
                None => user.has_group(g).await.map_err(odoo_refusal)?,
            },
        };
        if hit {
            for r in &rule.roles {
                if !roles.contains(r) {
                    roles.push(*r);
                }
            }
        }
    }
    if roles.is_empty() {
        return Err(PersonRefusal::NotAllowed(format!(
            "Odoo user \"{}\" has no console role (no [[console.role_rules]] matches); ask the operator",
            identity.login
        )));
    }
    let known = store
        .oauth_person_by_login(&identity.login)
        .await
        .map_err(|_| unavailable())?;
    if let Some(p) = &known
        && p.blocked_at.is_some()
    {
        return Err(PersonRefusal::NotAllowed(format!(
            "your access was revoked by an operator ({}); ask them to restore it",
            p.blocked_reason.as_deref().unwrap_or("no reason given")
        )));
    }
    roles.sort_by_key(|r| r.as_str());
    if known.is_none() {
        // Known from now on, so that `people revoke` reaches them too.
        let mut raw = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
        let id = format!("p_{}", &crate::oauth::token::hash(&hex::encode(raw))[..20]);
        store
            .oauth_note_person(
                &id,
                &identity.login,
                identity.uid,
                &identity.name,
                time::OffsetDateTime::now_utc(),
            )
            .await
            .map_err(|_| unavailable())?;
    }
    Ok(ConsolePerson {
        login: identity.login,
        uid: identity.uid,
        name: identity.name,
        roles,
    })
}
