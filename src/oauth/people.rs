//! People acting as their own Odoo user: verifying a sign-in against Odoo, choosing the person's
//! profile (`[[oauth.profile_rules]]`, first match wins, else `default_profile`, else refusal;
//! an administrator only where the profile allows one), and the per-person [`ProfileState`]s
//! tool calls run through, built once per person and instance from their sealed Odoo key.
//!
//! Transport-free: the sign-in page (`crate::signin`) and the MCP core call in here.

use crate::config::{OauthConfig, RuleMatch};
use crate::oauth::grants::PersonAccess;
use crate::odoo::{Credentials, ErrorKind, Identity, OdooClient, OdooError, OdooUser};
use crate::profile::ProfileState;
use crate::secret::Secret;
use crate::store::{PersonRow, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// Why a sign-in, or a person's call, is refused. The message is for the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonRefusal {
    /// Odoo refused the login or API key: a failed sign-in (rate limited, audited).
    #[error("{0}")]
    Credentials(String),
    /// The credential is good, but this person may not act here (no profile, an administrator,
    /// blocked by an operator).
    #[error("{0}")]
    NotAllowed(String),
    /// Odoo or the store could not be asked; nothing is decided.
    #[error("{0}")]
    Unavailable(String),
}

/// A verified sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub uid: i64,
    pub login: String,
    pub name: String,
    pub profile: String,
}

/// Sessions kept at most per instance; past that, all are dropped (rebuilt on the next call).
const MAX_SESSIONS: usize = 10_000;

/// People's sessions on this instance and what is needed to make them.
pub struct People {
    odoo: OdooClient,
    store: Arc<Store>,
    config: OauthConfig,
    /// The configured profiles' own states: their policies are shared with the people using them.
    profiles: HashMap<String, Arc<ProfileState>>,
    /// Per profile: whether an Odoo administrator may act through it.
    allow_privileged: HashMap<String, bool>,
    /// Per person id: the key version the session was built from, and the session.
    sessions: Mutex<HashMap<String, (i64, Arc<ProfileState>)>>,
    /// Serialises the building of one person's session (concurrent first calls log in once).
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl People {
    pub fn new(
        odoo: OdooClient,
        store: Arc<Store>,
        config: OauthConfig,
        profiles: HashMap<String, Arc<ProfileState>>,
        allow_privileged: HashMap<String, bool>,
    ) -> Self {
        Self {
            odoo,
            store,
            config,
            profiles,
            allow_privileged,
            sessions: Mutex::new(HashMap::new()),
            building: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &OauthConfig {
        &self.config
    }

    /// Verifies a login and API key against Odoo and chooses the person's profile. On success
    /// the key is sealed and the person stored; the caller then issues the code.
    pub async fn sign_in(&self, login: &str, api_key: Secret) -> Result<PersonRow, PersonRefusal> {
        let login = login.trim();
        if login.is_empty() || api_key.expose().trim().is_empty() {
            return Err(PersonRefusal::Credentials(
                "enter your Odoo login and an Odoo API key".into(),
            ));
        }
        let credentials = Credentials::new(login, api_key.clone());
        let user = self.odoo.login(&credentials).await.map_err(odoo_refusal)?;
        let identity = user.whoami().await.map_err(odoo_refusal)?;
        let profile = self.choose_profile(&user, &identity).await?;
        let existing = self
            .store
            .oauth_person_by_login(&identity.login)
            .await
            .map_err(|_| unavailable())?;
        if let Some(p) = &existing
            && p.blocked_at.is_some()
        {
            return Err(PersonRefusal::NotAllowed(format!(
                "your access was revoked by an operator ({}); ask them to restore it",
                p.blocked_reason.as_deref().unwrap_or("no reason given")
            )));
        }
        let sealed = self
            .config
            .seal
            .seal(&api_key, &identity.login)
            .map_err(|e| PersonRefusal::Unavailable(e.to_string()))?;
        let now = OffsetDateTime::now_utc();
        let row = PersonRow {
            id: existing
                .as_ref()
                .map(|p| p.id.clone())
                .unwrap_or_else(|| format!("p_{}", &crate::oauth::token::hash(&sealed)[..20])),
            login: identity.login.clone(),
            uid: identity.uid,
            name: identity.name.clone(),
            profile,
            sealed_key: sealed,
            key_version: existing.as_ref().map(|p| p.key_version + 1).unwrap_or(1),
            created_at: existing.as_ref().map(|p| p.created_at).unwrap_or(now),
            signed_in_at: now,
            blocked_at: None,
            blocked_reason: None,
        };
        self.store
            .oauth_save_person(&row)
            .await
            .map_err(|_| unavailable())?;
        self.forget(&row.id);
        Ok(row)
    }

    /// The profile for this person: the first rule that matches, else the default; refused
    /// when none, or when the person is an administrator and the profile does not allow one.
    async fn choose_profile(
        &self,
        user: &OdooUser,
        identity: &Identity,
    ) -> Result<String, PersonRefusal> {
        let mut chosen = None;
        for rule in &self.config.rules {
            let hit = match &rule.matcher {
                RuleMatch::Login(l) => *l == identity.login,
                RuleMatch::Group(g) => match &identity.groups {
                    Some(groups) => groups.iter().any(|x| x == g),
                    None => user.has_group(g).await.map_err(odoo_refusal)?,
                },
            };
            if hit {
                chosen = Some(rule.profile.clone());
                break;
            }
        }
        let Some(profile) = chosen.or_else(|| self.config.default_profile.clone()) else {
            return Err(PersonRefusal::NotAllowed(format!(
                "Odoo user \"{}\" is not given any odoo-warden profile (no [[oauth.profile_rules]] matches and there is no default_profile); ask the operator",
                identity.login
            )));
        };
        let why = crate::app::privileged(user, identity)
            .await
            .map_err(odoo_refusal)?;
        if let Some(why) = why
            && !self
                .allow_privileged
                .get(&profile)
                .copied()
                .unwrap_or(false)
        {
            return Err(PersonRefusal::NotAllowed(format!(
                "Odoo user \"{}\" is an administrator ({why}); administrators may not sign in to assistants here. Sign in with your everyday Odoo user.",
                identity.login
            )));
        }
        Ok(profile)
    }

    /// The session a person's calls run through: built from their sealed key on first use (a
    /// login and a `whoami`), kept until their key changes.
    pub async fn session(&self, access: &PersonAccess) -> Result<Arc<ProfileState>, PersonRefusal> {
        if let Some(s) = self.cached(access) {
            if s.user.key_refused() {
                self.key_refused(access).await;
                return Err(PersonRefusal::Credentials(
                    "Odoo no longer accepts your API key: sign in to odoo-warden again with a current Odoo API key".into(),
                ));
            }
            return Ok(s);
        }
        let lock = {
            let mut building = self.building.lock().map_err(|_| unavailable())?;
            building
                .entry(access.person_id.clone())
                .or_default()
                .clone()
        };
        let _guard = lock.lock().await;
        if let Some(s) = self.cached(access) {
            return Ok(s);
        }
        let built = self.build(access).await;
        if let Ok(mut building) = self.building.lock() {
            building.remove(&access.person_id);
        }
        let state = built?;
        if let Ok(mut sessions) = self.sessions.lock() {
            if sessions.len() >= MAX_SESSIONS {
                sessions.clear();
            }
            sessions.insert(
                access.person_id.clone(),
                (access.key_version, state.clone()),
            );
        }
        Ok(state)
    }

    fn cached(&self, access: &PersonAccess) -> Option<Arc<ProfileState>> {
        let sessions = self.sessions.lock().ok()?;
        let (version, state) = sessions.get(&access.person_id)?;
        (*version == access.key_version && state.name == access.profile).then(|| state.clone())
    }

    async fn build(&self, access: &PersonAccess) -> Result<Arc<ProfileState>, PersonRefusal> {
        let sign_in_again =
            |why: &str| PersonRefusal::Credentials(format!("{why}: sign in to odoo-warden again"));
        let person = self
            .store
            .oauth_get_person(&access.person_id)
            .await
            .map_err(|_| unavailable())?
            .ok_or_else(|| sign_in_again("your sign-in is no longer on record"))?;
        let key = self
            .config
            .seal
            .open(&person.sealed_key, &person.login)
            .map_err(|_| sign_in_again("your stored Odoo key cannot be opened"))?;
        let Some(base) = self.profiles.get(&access.profile) else {
            return Err(PersonRefusal::NotAllowed(format!(
                "your profile \"{}\" is no longer configured: sign in again",
                access.profile
            )));
        };
        let user = self
            .odoo
            .login(&Credentials::new(&person.login, key))
            .await
            .map_err(odoo_refusal)?;
        let state = base.for_person(user).await.map_err(odoo_refusal)?;
        if state.identity.uid != access.uid {
            return Err(sign_in_again("your Odoo key now belongs to another user"));
        }
        // The rules may have changed since the sign-in: they are asked again.
        let profile = self.choose_profile(&state.user, &state.identity).await?;
        if profile != access.profile {
            return Err(sign_in_again(&format!(
                "the operator's rules now give you profile \"{profile}\", not \"{}\"",
                access.profile
            )));
        }
        Ok(Arc::new(state))
    }

    /// Drops a person's session on this instance (a new key, a revocation).
    pub fn forget(&self, person_id: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(person_id);
        }
    }

    /// Odoo refused a person's stored key: every grant of theirs ends (the next request is a
    /// 401 and their client signs them in again) and the session is dropped.
    pub async fn key_refused(&self, access: &PersonAccess) {
        self.forget(&access.person_id);
        // Only if the refused key is still the person's: after a new sign-in (a new key) a
        // stale session elsewhere must not end the new grants.
        match self.store.oauth_get_person(&access.person_id).await {
            Ok(Some(p)) if p.key_version != access.key_version => return,
            _ => {}
        }
        let now = OffsetDateTime::now_utc();
        if let Err(e) = self
            .store
            .oauth_revoke_person_grants(&access.person_id, now, "Odoo refused the person's API key")
            .await
        {
            tracing::error!(person = %access.login, error = %e, "cannot revoke the grants of a person whose Odoo key was refused");
        }
    }
}

pub(crate) fn unavailable() -> PersonRefusal {
    PersonRefusal::Unavailable(
        "odoo-warden cannot reach its store right now; try again in a moment".into(),
    )
}

/// An Odoo error met while signing a person in, in words for that person.
pub(crate) fn odoo_refusal(e: OdooError) -> PersonRefusal {
    match e.kind {
        ErrorKind::Credentials => PersonRefusal::Credentials(
            "Odoo did not accept this login and API key. Check the login, and make an API key in Odoo under Preferences > Account Security > New API Key".into(),
        ),
        ErrorKind::Transport | ErrorKind::Timeout | ErrorKind::Server => PersonRefusal::Unavailable(
            "Odoo cannot be reached right now; try again in a moment".into(),
        ),
        _ => PersonRefusal::Unavailable(format!("Odoo refused the sign-in: {}", e.message)),
    }
}
