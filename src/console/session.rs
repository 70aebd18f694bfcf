//! Console sessions: a random id in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` on
//! HTTPS), kept in this instance's memory with the key it was opened with (never the key's
//! secret), or with the person who signed in with their Odoo login (their API key kept in memory
//! only, to verify it with Odoo again every few minutes), an idle and an absolute expiry, and a
//! CSRF token every form carries. Signing out ends a session; so does the key's revocation or
//! expiry, or the person's (checked on every page).

use crate::auth::Scope;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in, used or not.
pub const ABSOLUTE: Duration = Duration::from_secs(8 * 3600);
const MAX_SESSIONS: usize = 10_000;

/// A person signed in with their Odoo login.
#[derive(Debug, Clone)]
pub struct Person {
    pub login: String,
    pub uid: i64,
    /// Their Odoo API key, to verify it again ([`crate::auth::person::RECHECK`]); never shown.
    pub api_key: crate::secret::Secret,
    /// When Odoo last accepted it.
    pub checked: Instant,
}

/// Who is signed in.
#[derive(Debug, Clone)]
pub struct Session {
    /// The key's id, or `console-person:<login>` for a person.
    pub key_id: String,
    /// The key's name, or the person's name and login.
    pub key_name: String,
    pub scopes: Vec<Scope>,
    /// Set when a person signed in (not a key).
    pub person: Option<Person>,
    pub csrf: String,
    created: Instant,
    seen: Instant,
}

impl Session {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Who, as decisions and the kill switch name them: `name (key id)`, or a person's
    /// `person LOGIN (uid N)` (by what Odoo verified, not the name they can edit).
    pub fn who(&self) -> String {
        match &self.person {
            Some(p) => format!("person {} (uid {})", p.login, p.uid),
            None => format!("{} ({})", self.key_name, self.key_id),
        }
    }
}

fn random() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session; its id (the cookie's value).
    pub fn open(
        &self,
        key_id: String,
        key_name: String,
        scopes: Vec<Scope>,
        person: Option<Person>,
    ) -> String {
        let id = random();
        let now = Instant::now();
        if let Ok(mut m) = self.by_id.lock() {
            if m.len() >= MAX_SESSIONS {
                m.retain(|_, s| live(s));
                if m.len() >= MAX_SESSIONS {
                    m.clear();
                }
            }
            m.insert(
                id.clone(),
                Session {
                    key_id,
                    key_name,
                    scopes,
                    person,
                    csrf: random(),
                    created: now,
                    seen: now,
                },
            );
        }
        id
    }

    /// The live session with this id (its idle clock restarted).
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut m = self.by_id.lock().ok()?;
        let s = m.get_mut(id)?;
        if !live(s) {
            m.remove(id);
            return None;
        }
        s.seen = Instant::now();
        Some(s.clone())
    }

    /// A person's session verified again: their roles now, and when.
    pub fn rechecked(&self, id: &str, scopes: Vec<Scope>) {
        if let Ok(mut m) = self.by_id.lock()
            && let Some(s) = m.get_mut(id)
        {
            s.scopes = scopes;
            if let Some(p) = &mut s.person {
                p.checked = Instant::now();
            }
        }
    }

    pub fn close(&self, id: &str) {
        if let Ok(mut m) = self.by_id.lock() {
            m.remove(id);
        }
    }

    /// Ends every session opened with this key.
    pub fn close_key(&self, key_id: &str) {
        if let Ok(mut m) = self.by_id.lock() {
            m.retain(|_, s| s.key_id != key_id);
        }
    }
}

fn live(s: &Session) -> bool {
    s.seen.elapsed() < IDLE && s.created.elapsed() < ABSOLUTE
}

/// Constant-time comparison of two tokens.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
