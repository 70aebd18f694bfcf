//! Sealed request state for multi-round-trip requests.
//!
//! The client echoes `requestState` back verbatim, so it is attacker-controlled: it is sealed with
//! HMAC-SHA256 under a server key, bound to the caller, the tool, a digest of the arguments and an
//! expiry, and accepted once only (a replayed state is refused).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// What a state is bound to and carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The caller (key id), empty before keys exist.
    pub principal: String,
    pub tool: String,
    /// SHA-256 of the canonical arguments, hex.
    pub args_digest: String,
    /// Which round of the exchange this state ends.
    pub round: u32,
    /// Free data for the tool (small).
    pub data: Value,
    /// Unix seconds.
    pub expires_at: u64,
    /// Random, makes each state single-use.
    pub nonce: String,
}

/// Why a state was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("requestState is malformed")]
    Malformed,
    #[error("requestState failed its integrity check")]
    Tampered,
    #[error("requestState has expired")]
    Expired,
    #[error("requestState was already used")]
    Replayed,
    #[error("requestState belongs to another call")]
    Mismatch,
}

/// Seals and opens states. One per process; the key is random unless configured.
pub struct Sealer {
    key: [u8; 32],
    ttl: Duration,
    used: Mutex<HashMap<String, u64>>,
}

impl Sealer {
    pub fn new(key: Option<[u8; 32]>, ttl: Duration) -> Self {
        let key = key.unwrap_or_else(|| {
            let mut k = [0u8; 32];
            rand::rng().fill_bytes(&mut k);
            k
        });
        Self {
            key,
            ttl,
            used: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, payload: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for 32 bytes.
        match HmacSha256::new_from_slice(&self.key) {
            Ok(mut m) => {
                m.update(payload);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }

    /// A new sealed state for `tool` called by `principal` with `args`.
    pub fn seal(
        &self,
        principal: &str,
        tool: &str,
        args: &Value,
        round: u32,
        data: Value,
    ) -> String {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let claims = Claims {
            principal: principal.to_string(),
            tool: tool.to_string(),
            args_digest: digest(args),
            round,
            data,
            expires_at: now() + self.ttl.as_secs(),
            nonce: hex::encode(nonce),
        };
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let tag = self.mac(&payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Opens a state presented for `tool` by `principal` with `args`, and uses it up.
    pub fn open(
        &self,
        token: &str,
        principal: &str,
        tool: &str,
        args: &Value,
    ) -> Result<Claims, StateError> {
        let (payload_b64, tag_b64) = token.split_once('.').ok_or(StateError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| StateError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| StateError::Tampered)?;
        let mut m = HmacSha256::new_from_slice(&self.key).map_err(|_| StateError::Tampered)?;
        m.update(&payload);
        m.verify_slice(&tag).map_err(|_| StateError::Tampered)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| StateError::Malformed)?;
        let now = now();
        if claims.expires_at < now {
            return Err(StateError::Expired);
        }
        if claims.principal != principal
            || claims.tool != tool
            || claims.args_digest != digest(args)
        {
            return Err(StateError::Mismatch);
        }
        let mut used = self.used.lock().map_err(|_| StateError::Replayed)?;
        used.retain(|_, exp| *exp >= now);
        if used
            .insert(claims.nonce.clone(), claims.expires_at)
            .is_some()
        {
            return Err(StateError::Replayed);
        }
        Ok(claims)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// SHA-256 of a JSON value's canonical form ([`crate::audit::canonical_json`]), hex.
pub fn digest(v: &Value) -> String {
    hex::encode(Sha256::digest(crate::audit::canonical_json(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_once() {
        let s = Sealer::new(None, Duration::from_secs(60));
        let args = json!({"b": 1, "a": [1, 2]});
        let t = s.seal("k1", "tool", &args, 1, json!({"x": 1}));
        let c = s
            .open(&t, "k1", "tool", &json!({"a": [1, 2], "b": 1}))
            .unwrap();
        assert_eq!((c.round, c.data), (1, json!({"x": 1})));
        assert_eq!(s.open(&t, "k1", "tool", &args), Err(StateError::Replayed));
    }

    #[test]
    fn refusals() {
        let s = Sealer::new(None, Duration::from_secs(60));
        let args = json!({});
        let t = s.seal("k1", "tool", &args, 1, json!(null));
        assert_eq!(
            s.open(&format!("{t}-TAMPERED"), "k1", "tool", &args),
            Err(StateError::Tampered)
        );
        assert_eq!(
            s.open("nodot", "k1", "tool", &args),
            Err(StateError::Malformed)
        );
        assert_eq!(s.open(&t, "k2", "tool", &args), Err(StateError::Mismatch));
        assert_eq!(s.open(&t, "k1", "other", &args), Err(StateError::Mismatch));
        assert_eq!(
            s.open(&t, "k1", "tool", &json!({"x": 1})),
            Err(StateError::Mismatch)
        );
        let other = Sealer::new(None, Duration::from_secs(60));
        assert_eq!(
            other.open(&t, "k1", "tool", &args),
            Err(StateError::Tampered)
        );
        let expired = Sealer::new(None, Duration::from_secs(0));
        let t = expired.seal("k1", "tool", &args, 1, json!(null));
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(
            expired.open(&t, "k1", "tool", &args),
            Err(StateError::Expired)
        );
    }

    #[test]
    fn digest_is_canonical() {
        assert_eq!(
            digest(&json!({"a": 1, "b": 2})),
            digest(&json!({"b": 2, "a": 1}))
        );
        assert_ne!(digest(&json!([1, 2])), digest(&json!([2, 1])));
    }
}
