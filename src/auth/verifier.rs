//! Key verification with a short-lived cache.
//!
//! A valid key costs one argon2id verification per cache period, not one per request: successes
//! are cached by a SHA-256 digest of the whole token (so a wrong secret for a cached id misses).
//! argon2 runs on the blocking pool behind a semaphore, never on the async executor. Unknown key
//! ids cost a verification against a dummy hash too, so timing does not tell which keys exist.
//! Revocation evicts at once on this instance ([`Verifier::evict`]) and, through
//! [`Verifier::watch_revocations`], within about a second on every instance sharing the store.

use super::Principal;
use super::key::{Scope, hash_secret, parse_token, verify_secret};
use crate::store::Store;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

/// Why a token was refused. Callers answer every variant but `StoreUnavailable` with the same 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Malformed,
    Unknown,
    BadSecret,
    Expired,
    Revoked,
    /// An OAuth access token issued for another resource (RFC 8707 audience).
    WrongAudience,
    /// The key store could not be asked: refuse (fail closed), but say it is not the key's fault.
    StoreUnavailable,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Malformed => "malformed",
            Refusal::Unknown => "unknown",
            Refusal::BadSecret => "bad_secret",
            Refusal::Expired => "expired",
            Refusal::Revoked => "revoked",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::StoreUnavailable => "store_unavailable",
        }
    }
}

struct Cached {
    principal: Arc<Principal>,
    verified_at: Instant,
    expires_at: Option<OffsetDateTime>,
    touched_at: Instant,
}

/// How often a key's `last_used_at` is written at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Cache entries kept at most; past that, expired ones go, then all.
const MAX_CACHED: usize = 10_000;

pub struct Verifier {
    store: Arc<Store>,
    ttl: Duration,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
    permits: Semaphore,
    dummy_hash: String,
    /// With OAuth on: the resource (`/mcp` URL) access tokens must be issued for.
    oauth_resource: std::sync::OnceLock<String>,
    /// Checked access tokens, by token digest, until [`Verifier::ttl`] or their expiry.
    access_cache: Mutex<HashMap<[u8; 32], CachedAccess>>,
}

struct CachedAccess {
    principal: Arc<Principal>,
    checked_at: Instant,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Verifier {
    /// `ttl`: how long a successful verification is reused.
    pub async fn new(
        store: Arc<Store>,
        ttl: Duration,
    ) -> Result<Arc<Self>, crate::auth::key::KeyError> {
        let dummy_hash = tokio::task::spawn_blocking(|| hash_secret("odoo-warden-dummy-secret"))
            .await
            .map_err(|e| crate::auth::key::KeyError::Worker(e.to_string()))??;
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Ok(Arc::new(Self {
            store,
            ttl,
            cache: Mutex::new(HashMap::new()),
            permits: Semaphore::new(workers),
            dummy_hash,
            oauth_resource: std::sync::OnceLock::new(),
            access_cache: Mutex::new(HashMap::new()),
        }))
    }

    /// Accepts OAuth access tokens (`owa_`) issued for `resource`; without this they are unknown.
    pub fn accept_oauth(&self, resource: String) {
        let _ = self.oauth_resource.set(resource);
    }

    /// Checks an OAuth access token: one store read per token per cache period; revoked grants
    /// are evicted by [`Verifier::watch_revocations`].
    async fn verify_access(&self, token: &str) -> Result<Arc<Principal>, Refusal> {
        use crate::oauth::grants::{AccessRefusal, check_access};
        let Some(resource) = self.oauth_resource.get() else {
            return Err(Refusal::Unknown);
        };
        let d = digest(token);
        if let Ok(mut cache) = self.access_cache.lock()
            && let Some(c) = cache.get(&d)
        {
            let live = c.checked_at.elapsed() < self.ttl
                && c.principal
                    .person
                    .as_ref()
                    .is_some_and(|p| p.expires_at > OffsetDateTime::now_utc());
            if live {
                return Ok(c.principal.clone());
            }
            cache.remove(&d);
        }
        let access = check_access(&self.store, token, resource)
            .await
            .map_err(|r| match r {
                AccessRefusal::Unknown => Refusal::Unknown,
                AccessRefusal::Expired => Refusal::Expired,
                AccessRefusal::Revoked | AccessRefusal::Blocked => Refusal::Revoked,
                AccessRefusal::WrongAudience => Refusal::WrongAudience,
                AccessRefusal::StoreUnavailable => Refusal::StoreUnavailable,
            })?;
        let principal = Arc::new(Principal::of_person(access));
        if let Ok(mut cache) = self.access_cache.lock() {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(
                d,
                CachedAccess {
                    principal: principal.clone(),
                    checked_at: Instant::now(),
                },
            );
        }
        Ok(principal)
    }

    /// Forgets cached access tokens of these grants (revoked).
    pub fn evict_grants(&self, grant_ids: &[String]) {
        if grant_ids.is_empty() {
            return;
        }
        if let Ok(mut cache) = self.access_cache.lock() {
            cache.retain(|_, c| {
                c.principal
                    .person
                    .as_ref()
                    .is_none_or(|p| !grant_ids.contains(&p.grant_id))
            });
        }
    }

    /// Forgets one cached access token (revoked by its client, RFC 7009).
    pub fn evict_token(&self, token: &str) {
        if let Ok(mut cache) = self.access_cache.lock() {
            cache.remove(&digest(token));
        }
    }

    /// Verifies a bearer token.
    pub async fn verify(&self, token: &str) -> Result<Arc<Principal>, Refusal> {
        if token.starts_with(crate::oauth::token::Kind::Access.prefix()) {
            return self.verify_access(token).await;
        }
        let d = digest(token);
        if let Some(p) = self.cached(&d) {
            return Ok(p);
        }
        let parsed = parse_token(token).ok_or(Refusal::Malformed)?;
        let record = self
            .store
            .get_key(&parsed.id)
            .await
            .map_err(|_| Refusal::StoreUnavailable)?;
        let (hash, record) = match record {
            Some(r) => (r.secret_hash.clone(), Some(r)),
            None => (self.dummy_hash.clone(), None),
        };
        let secret = parsed.secret.clone();
        let ok = {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| Refusal::StoreUnavailable)?;
            tokio::task::spawn_blocking(move || verify_secret(secret.expose(), &hash))
                .await
                .unwrap_or(false)
        };
        let record = record.ok_or(Refusal::Unknown)?;
        if !ok {
            return Err(Refusal::BadSecret);
        }
        let now = OffsetDateTime::now_utc();
        if record.revoked_at.is_some() {
            return Err(Refusal::Revoked);
        }
        if record.expires_at.is_some_and(|e| e <= now) {
            return Err(Refusal::Expired);
        }
        let scopes: Vec<Scope> = record
            .scopes
            .iter()
            .filter_map(|s| Scope::parse(s))
            .collect();
        let principal = Arc::new(Principal {
            key_id: record.id.clone(),
            name: record.name.clone(),
            scopes,
            profile: record.profile.clone(),
            person: None,
        });
        self.touch(&record.id);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                let ttl = self.ttl;
                cache.retain(|_, c| c.verified_at.elapsed() < ttl);
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
            }
            cache.insert(
                d,
                Cached {
                    principal: principal.clone(),
                    verified_at: Instant::now(),
                    expires_at: record.expires_at,
                    touched_at: Instant::now(),
                },
            );
        }
        Ok(principal)
    }

    fn cached(&self, d: &[u8; 32]) -> Option<Arc<Principal>> {
        let mut cache = self.cache.lock().ok()?;
        let entry = cache.get_mut(d)?;
        let fresh = entry.verified_at.elapsed() < self.ttl
            && entry
                .expires_at
                .is_none_or(|e| e > OffsetDateTime::now_utc());
        if !fresh {
            cache.remove(d);
            return None;
        }
        let principal = entry.principal.clone();
        if entry.touched_at.elapsed() >= TOUCH_EVERY {
            entry.touched_at = Instant::now();
            drop(cache);
            self.touch(&principal.key_id);
        }
        Some(principal)
    }

    /// Records the key's last use, off the request path.
    fn touch(&self, key_id: &str) {
        let store = self.store.clone();
        let id = key_id.to_string();
        tokio::spawn(async move {
            if let Err(e) = store.touch_key(&id, OffsetDateTime::now_utc()).await {
                tracing::warn!(key.id = %id, error = %e, "cannot record the key's last use");
            }
        });
    }

    /// Forgets every cached verification of a key (after revoking it).
    pub fn evict(&self, key_id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, c| c.principal.key_id != key_id);
        }
    }

    pub fn cached_len(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Polls the store every `every` for keys revoked elsewhere (another instance, the CLI) and
    /// evicts them here. Runs until the verifier is dropped.
    pub fn watch_revocations(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            // Overlap the windows so a revocation committed during a poll is not missed.
            let mut since = OffsetDateTime::now_utc() - time::Duration::seconds(5);
            let mut grants_since = since;
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(me) = weak.upgrade() else { return };
                let started = OffsetDateTime::now_utc();
                match me.store.revoked_since(since).await {
                    Ok(revoked) => {
                        for (id, _) in revoked {
                            me.evict(&id);
                        }
                        since = started - time::Duration::seconds(5);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot poll the store for revoked keys"),
                }
                if me.oauth_resource.get().is_some() {
                    match me.store.oauth_revoked_since(grants_since).await {
                        Ok(revoked) => {
                            let ids: Vec<String> = revoked.into_iter().map(|(g, _)| g).collect();
                            me.evict_grants(&ids);
                            grants_since = started - time::Duration::seconds(5);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot poll the store for revoked grants")
                        }
                    }
                }
            }
        })
    }
}
