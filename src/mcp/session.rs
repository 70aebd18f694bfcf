//! Sessions of the handshake era (2025-06-18 / 2025-11-25).
//!
//! A session id is 256 random bits, hex-encoded (visible ASCII as the spec requires). A session is
//! bound to the principal that created it: presented by anyone else it is unknown (404), exactly as
//! if it did not exist. Sessions idle for too long are dropped, and their number is capped, so
//! memory stays bounded whatever clients do.

use rand::RngCore;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// One client session.
pub struct Session {
    pub id: String,
    /// Who created it (the API key id once keys exist; `None` before).
    pub principal: Option<String>,
    pub protocol_version: &'static str,
    pub client_capabilities: Value,
    pub client_info: Value,
    created: Instant,
    last_seen_ms: AtomicU64,
    /// Answers awaited from the client (elicitation), by request id.
    pending: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    /// In-flight requests from the client, by request id, for `notifications/cancelled` (no
    /// handle yet between the id's reservation and the start of its task).
    inflight: Mutex<HashMap<String, Option<tokio::task::AbortHandle>>>,
    next_request_id: AtomicU64,
    /// The standalone stream (`GET /mcp`), for messages outside any request.
    stream: Mutex<Option<tokio::sync::mpsc::Sender<Value>>>,
}

impl Session {
    fn touch(&self) {
        let ms = self.created.elapsed().as_millis() as u64;
        self.last_seen_ms.store(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_seen_ms.load(Ordering::Relaxed));
        self.created.elapsed().saturating_sub(last)
    }

    /// Whether the client declared a capability in `initialize` (`"elicitation"`).
    pub fn client_supports(&self, capability: &str) -> bool {
        self.client_capabilities
            .get(capability)
            .is_some_and(|c| !c.is_null())
    }

    /// Registers a server-to-client request; returns its id and the receiver of the answer.
    pub fn expect_answer(&self) -> (String, oneshot::Receiver<Value>) {
        let id = format!(
            "ow-{}",
            self.next_request_id.fetch_add(1, Ordering::Relaxed)
        );
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(id.clone(), tx);
        }
        (id, rx)
    }

    /// Forgets a server-to-client request that will not be answered (timeout, stream closed).
    pub fn forget_answer(&self, id: &str) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(id);
        }
    }

    /// Routes a client's response to the request waiting for it. False when nobody waits.
    pub fn deliver_answer(&self, id: &Value, body: Value) -> bool {
        let key = match id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let tx = self.pending.lock().ok().and_then(|mut p| p.remove(&key));
        match tx {
            Some(tx) => tx.send(body).is_ok(),
            None => false,
        }
    }

    /// Reserves a request id for a call about to start. False when a request with this id is
    /// still in flight in this session (the client must not reuse it).
    pub fn reserve(&self, id: &Value) -> bool {
        match self.inflight.lock() {
            Ok(mut m) => match m.entry(id.to_string()) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(None);
                    true
                }
            },
            Err(_) => false,
        }
    }

    /// Attaches the running task to a reserved id.
    pub fn track(&self, id: &Value, handle: tokio::task::AbortHandle) {
        if let Ok(mut m) = self.inflight.lock() {
            m.insert(id.to_string(), Some(handle));
        }
    }

    pub fn untrack(&self, id: &Value) {
        if let Ok(mut m) = self.inflight.lock() {
            m.remove(&id.to_string());
        }
    }

    /// `notifications/cancelled`: stops the request if it is still running.
    pub fn cancel(&self, id: &Value) -> bool {
        let handle = self
            .inflight
            .lock()
            .ok()
            .and_then(|m| m.get(&id.to_string()).cloned().flatten());
        match handle {
            Some(h) => {
                h.abort();
                true
            }
            None => false,
        }
    }

    /// Opens the session's standalone stream (a later one replaces it).
    pub fn open_stream(&self) -> tokio::sync::mpsc::Receiver<Value> {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        if let Ok(mut s) = self.stream.lock() {
            *s = Some(tx);
        }
        rx
    }

    /// Sends a message on the standalone stream, if one is open; false otherwise (or when the
    /// client does not keep up: a notification is never worth blocking for).
    pub fn push(&self, message: Value) -> bool {
        let Ok(mut stream) = self.stream.lock() else {
            return false;
        };
        match stream.as_ref().map(|tx| tx.try_send(message)) {
            Some(Ok(())) => true,
            Some(Err(tokio::sync::mpsc::error::TrySendError::Closed(_))) => {
                *stream = None;
                false
            }
            _ => false,
        }
    }
}

/// Why a session lookup failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Unknown,
}

/// All live sessions.
pub struct SessionStore {
    sessions: RwLock<HashMap<String, Arc<Session>>>,
    max_sessions: usize,
    /// Sessions one principal may hold: past it, its own oldest session goes, so one key
    /// cannot push other keys' sessions out.
    per_principal: usize,
    idle_timeout: Duration,
}

impl SessionStore {
    pub fn new(max_sessions: usize, idle_timeout: Duration) -> Self {
        Self {
            sessions: RwLock::new(HashMap::new()),
            max_sessions,
            per_principal: (max_sessions / 10).max(1),
            idle_timeout,
        }
    }

    /// Creates a session. A principal at its own cap loses its least recently used session.
    /// When the store is full, idle sessions are dropped first; if still full, the least recently
    /// used one goes.
    pub fn create(
        &self,
        principal: Option<String>,
        protocol_version: &'static str,
        client_capabilities: Value,
        client_info: Value,
    ) -> Arc<Session> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let session = Arc::new(Session {
            id: hex::encode(bytes),
            principal,
            protocol_version,
            client_capabilities,
            client_info,
            created: Instant::now(),
            last_seen_ms: AtomicU64::new(0),
            pending: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            next_request_id: AtomicU64::new(1),
            stream: Mutex::new(None),
        });
        if let Ok(mut map) = self.sessions.write() {
            let own: Vec<(&String, Duration)> = map
                .iter()
                .filter(|(_, s)| s.principal == session.principal)
                .map(|(k, s)| (k, s.idle()))
                .collect();
            if own.len() >= self.per_principal {
                if let Some(oldest) = own
                    .iter()
                    .max_by_key(|(_, idle)| *idle)
                    .map(|(k, _)| (*k).clone())
                {
                    map.remove(&oldest);
                }
            }
            if map.len() >= self.max_sessions {
                let idle = self.idle_timeout;
                map.retain(|_, s| s.idle() < idle);
            }
            if map.len() >= self.max_sessions {
                if let Some(oldest) = map
                    .iter()
                    .max_by_key(|(_, s)| s.idle())
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
            map.insert(session.id.clone(), session.clone());
        }
        session
    }

    /// The session with this id, if it exists, is not idle-expired, and belongs to `principal`.
    pub fn get(&self, id: &str, principal: Option<&str>) -> Result<Arc<Session>, Lookup> {
        let session = self
            .sessions
            .read()
            .ok()
            .and_then(|m| m.get(id).cloned())
            .ok_or(Lookup::Unknown)?;
        if session.idle() >= self.idle_timeout {
            self.remove(id);
            return Err(Lookup::Unknown);
        }
        // Bound to its creator: to anyone else it does not exist.
        if session.principal.as_deref() != principal {
            return Err(Lookup::Unknown);
        }
        session.touch();
        Ok(session)
    }

    pub fn remove(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.write().ok().and_then(|mut m| m.remove(id))
    }

    /// Every live session.
    pub fn all(&self) -> Vec<Arc<Session>> {
        self.sessions
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.sessions.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sessions_are_bound_to_their_principal() {
        let store = SessionStore::new(10, Duration::from_secs(60));
        let s = store.create(Some("key-a".into()), "2025-11-25", json!({}), json!({}));
        assert_eq!(s.id.len(), 64);
        assert!(s.id.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(store.get(&s.id, Some("key-a")).is_ok());
        assert_eq!(store.get(&s.id, Some("key-b")).err(), Some(Lookup::Unknown));
        assert_eq!(store.get(&s.id, None).err(), Some(Lookup::Unknown));
        assert_eq!(
            store.get("nope", Some("key-a")).err(),
            Some(Lookup::Unknown)
        );
        store.remove(&s.id);
        assert_eq!(store.get(&s.id, Some("key-a")).err(), Some(Lookup::Unknown));
    }

    #[test]
    fn the_store_is_bounded() {
        let store = SessionStore::new(3, Duration::from_secs(60));
        let first = store.create(Some("key-0".into()), "2025-11-25", json!({}), json!({}));
        for i in 1..6 {
            store.create(Some(format!("key-{i}")), "2025-11-25", json!({}), json!({}));
        }
        assert_eq!(store.len(), 3);
        assert!(store.get(&first.id, Some("key-0")).is_err());
    }

    #[test]
    fn one_principal_cannot_push_out_anothers_sessions() {
        let store = SessionStore::new(20, Duration::from_secs(60));
        let b = store.create(Some("key-b".into()), "2025-11-25", json!({}), json!({}));
        let first_a = store.create(Some("key-a".into()), "2025-11-25", json!({}), json!({}));
        for _ in 0..50 {
            store.create(Some("key-a".into()), "2025-11-25", json!({}), json!({}));
        }
        // key-a holds its cap (20 / 10) and no more; key-b's session survives.
        assert_eq!(store.len(), 3);
        assert!(store.get(&b.id, Some("key-b")).is_ok());
        assert!(store.get(&first_a.id, Some("key-a")).is_err());
    }

    #[test]
    fn a_request_id_in_flight_cannot_be_reused() {
        let store = SessionStore::new(3, Duration::from_secs(60));
        let s = store.create(None, "2025-11-25", json!({}), json!({}));
        assert!(s.reserve(&json!(1)));
        assert!(!s.reserve(&json!(1)));
        // A string id "1" is another id than the number 1.
        assert!(s.reserve(&json!("1")));
        s.untrack(&json!(1));
        assert!(s.reserve(&json!(1)));
    }

    #[tokio::test]
    async fn the_standalone_stream_carries_pushed_messages() {
        let store = SessionStore::new(3, Duration::from_secs(60));
        let s = store.create(None, "2025-11-25", json!({}), json!({}));
        assert!(!s.push(json!({"n": 0})), "no stream open yet");
        let mut rx = s.open_stream();
        assert!(s.push(json!({"n": 1})));
        assert_eq!(rx.recv().await.unwrap()["n"], 1);
        drop(rx);
        assert!(!s.push(json!({"n": 2})));
    }

    #[test]
    fn answers_reach_their_waiter() {
        let store = SessionStore::new(3, Duration::from_secs(60));
        let s = store.create(None, "2025-11-25", json!({}), json!({}));
        let (id, mut rx) = s.expect_answer();
        assert!(!s.deliver_answer(&json!("other"), json!({})));
        assert!(s.deliver_answer(&json!(id), json!({"result": {"action": "accept"}})));
        assert_eq!(rx.try_recv().unwrap()["result"]["action"], "accept");
    }
}
