//! Sealing people's Odoo API keys at rest: AES-256-GCM under the operator's key (`[oauth] key_env`
//! or `key_file`, 32 random bytes in base64), a fresh 96-bit nonce per seal, and the person's login
//! as associated data, so a sealed key copied onto another person's row does not open.
//!
//! The sealed form is `v1.<base64url(nonce || ciphertext || tag)>`; the version leaves room for a
//! key rotation that keeps opening `v1` values while sealing new ones under a new key.

use crate::secret::Secret;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::Digest;

/// Why a sealing key or a sealed value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "the OAuth sealing key must be 32 random bytes in base64 (for example the output of `openssl rand -base64 32`); this one decodes to {0} bytes"
    )]
    KeyLength(usize),
    #[error("the OAuth sealing key is not base64 (make one with `openssl rand -base64 32`)")]
    KeyEncoding,
    /// Encryption failed (never expected with a valid key): nothing is stored.
    #[error("cannot seal the Odoo key; nothing was stored")]
    Seal,
    /// The value was not sealed by this key (or was changed since): the person must sign in again.
    #[error(
        "a sealed Odoo key does not open with this OAuth key (was [oauth] key_env/key_file changed?); the person must sign in again"
    )]
    Open,
}

/// The operator's sealing key.
#[derive(Clone)]
pub struct KeySeal {
    cipher: Aes256Gcm,
    /// HMAC-SHA256 key for the sign-in form's hidden fields, derived from the sealing key (so
    /// every instance sharing the key accepts a form another instance served).
    form_key: [u8; 32],
}

impl std::fmt::Debug for KeySeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySeal([redacted])")
    }
}

const PREFIX: &str = "v1.";

impl KeySeal {
    /// From the base64 text of 32 bytes (standard or URL-safe alphabet, padded or not).
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let t = text.trim();
        let bytes = STANDARD
            .decode(t)
            .or_else(|_| URL_SAFE.decode(t))
            .or_else(|_| URL_SAFE_NO_PAD.decode(t))
            .map_err(|_| SealError::KeyEncoding)?;
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealError::KeyLength(bytes.len()))?;
        Ok(Self::from_bytes(&key))
    }

    pub fn from_bytes(key: &[u8; 32]) -> Self {
        use hmac::Mac;
        let form_key = match <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(b"odoo-warden sign-in form v1");
                mac.finalize().into_bytes().into()
            }
            // HMAC takes keys of any length; never reached.
            Err(_) => sha2::Sha256::digest(key).into(),
        };
        Self {
            cipher: Aes256Gcm::new(key.into()),
            form_key,
        }
    }

    /// The key that authenticates the sign-in form's hidden fields (never the sealing key).
    pub fn form_key(&self) -> &[u8; 32] {
        &self.form_key
    }

    /// A random key (tests, and the key `init` writes).
    pub fn generate_base64() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    fn aad(login: &str) -> Vec<u8> {
        format!("odoo-warden person key\n{login}").into_bytes()
    }

    /// Seals `secret` for the person `login`.
    pub fn seal(&self, secret: &Secret, login: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = Self::aad(login);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens what [`seal`](Self::seal) made for `login`.
    pub fn open(&self, sealed: &str, login: &str) -> Result<Secret, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::Open)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| SealError::Open)?;
        if bytes.len() < 12 + 16 {
            return Err(SealError::Open);
        }
        let (nonce, ct) = bytes.split_at(12);
        let aad = Self::aad(login);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_for_the_same_person_and_key() {
        let k = KeySeal::from_base64(&KeySeal::generate_base64()).unwrap();
        let s = k.seal(&Secret::new("odoo-api-key-123"), "alice").unwrap();
        assert!(s.starts_with("v1."));
        assert!(!s.contains("odoo-api-key"));
        assert_eq!(k.open(&s, "alice").unwrap().expose(), "odoo-api-key-123");
        assert_eq!(k.open(&s, "bob"), Err(SealError::Open));
        let other = KeySeal::from_base64(&KeySeal::generate_base64()).unwrap();
        assert_eq!(other.open(&s, "alice"), Err(SealError::Open));
        // Two seals of the same key differ (fresh nonce).
        assert_ne!(
            s,
            k.seal(&Secret::new("odoo-api-key-123"), "alice").unwrap()
        );
        let mut tampered = s.clone();
        tampered.pop();
        tampered.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(k.open(&tampered, "alice"), Err(SealError::Open));
    }

    #[test]
    fn key_errors_are_precise() {
        assert_eq!(
            KeySeal::from_base64("c2hvcnQ=").unwrap_err(),
            SealError::KeyLength(5)
        );
        assert_eq!(
            KeySeal::from_base64("not base64 !!").unwrap_err(),
            SealError::KeyEncoding
        );
        assert!(format!("{:?}", KeySeal::from_bytes(&[7; 32])).contains("redacted"));
    }
}
