//! Opaque tokens and PKCE.
//!
//! A token is a fixed prefix (`owa_` access, `owr_` refresh, `owc_` authorization code, so secret
//! scanners can find leaked ones) and 43 random characters of `[A-Za-z0-9]` (over 256 bits). The
//! store keeps only its SHA-256: with that much entropy a fast hash is enough, and a lookup is one
//! indexed read (argon2 is for keys people may choose or paste around for years).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use sha2::{Digest, Sha256};

/// What a token is for; its prefix says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Refresh,
    Code,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Access => "owa_",
            Kind::Refresh => "owr_",
            Kind::Code => "owc_",
        }
    }

    /// The kind a token's prefix names, if any.
    pub fn of(token: &str) -> Option<Kind> {
        [Kind::Access, Kind::Refresh, Kind::Code]
            .into_iter()
            .find(|k| token.starts_with(k.prefix()))
    }
}

const RANDOM_LEN: usize = 43;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A new token of `kind` and the hash the store keeps.
pub fn generate(kind: Kind) -> (String, String) {
    let mut rng = rand::rng();
    let random: String = (0..RANDOM_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    let token = format!("{}{random}", kind.prefix());
    let hash = hash(&token);
    (token, hash)
}

/// SHA-256 of a token, hex: how the store finds it.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a PKCE `code_verifier` is well formed (RFC 7636 §4.1: 43 to 128 characters of
/// `[A-Za-z0-9-._~]`).
pub fn verifier_is_valid(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether a `code_challenge` is a well-formed S256 challenge (43 characters of base64url).
pub fn challenge_is_valid(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// PKCE S256 (the only method offered): `BASE64URL(SHA256(verifier)) == challenge`, compared in
/// constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    if !verifier_is_valid(verifier) || !challenge_is_valid(challenge) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_kind_and_hash_stably() {
        let (t, h) = generate(Kind::Access);
        assert!(t.starts_with("owa_") && t.len() == 4 + RANDOM_LEN, "{t}");
        assert_eq!(Kind::of(&t), Some(Kind::Access));
        assert_eq!(hash(&t), h);
        assert_eq!(h.len(), 64);
        assert_ne!(generate(Kind::Access).0, t);
        assert_eq!(Kind::of(&generate(Kind::Refresh).0), Some(Kind::Refresh));
        assert_eq!(Kind::of("owk_abc_def"), None);
    }

    #[test]
    fn pkce_s256_follows_rfc_7636() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            challenge
        ));
        // A "plain" challenge (the verifier itself) never matches: S256 only.
        assert!(!pkce_matches(verifier, verifier));
        assert!(!pkce_matches("short", challenge));
        assert!(!verifier_is_valid(&"a".repeat(129)));
        assert!(!verifier_is_valid(&format!("{}!", "a".repeat(50))));
        assert!(!challenge_is_valid(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c="
        ));
    }
}
