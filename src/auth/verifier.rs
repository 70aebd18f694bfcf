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
        }))
    }

    /// Verifies a bearer token.
    pub async fn verify(&self, token: &str) -> Result<Arc<Principal>, Refusal> {
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
            }
        })
    }
}
