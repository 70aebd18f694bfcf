//! API keys: `owk_<key id>_<secret>`.
//!
//! - `owk_` lets secret scanners find leaked keys;
//! - the key id (16 characters of `[A-Za-z0-9]`, about 95 bits) is public and finds the key in O(1);
//! - the secret (32 characters of `[A-Za-z0-9]`, about 190 bits) is shown once and only its
//!   argon2id hash is stored.
//!
//! Only `[A-Za-z0-9]` inside the parts, so a token splits cleanly on `_` and survives copy-paste.

use crate::secret::Secret;
use argon2::password_hash::{
    self, Decimal, Ident, Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier,
    Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::Rng;
use std::fmt;

pub const PREFIX: &str = "owk_";
pub const ID_LEN: usize = 16;
pub const SECRET_LEN: usize = 32;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// What a key may do. A key with [`Scope::Mcp`] holds no other scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Call tools on `/mcp`.
    Mcp,
    /// Read the audit trail.
    Audit,
    /// Decide pending approvals.
    Approve,
    /// Keys, kill switch, policy reload.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Mcp, Scope::Audit, Scope::Approve, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Mcp => "mcp",
            Scope::Audit => "audit",
            Scope::Approve => "approve",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks a set of scopes: not empty, known, and `mcp` alone.
pub fn parse_scopes<S: AsRef<str>>(scopes: &[S]) -> Result<Vec<Scope>, String> {
    let mut out = Vec::new();
    for s in scopes {
        for part in s.as_ref().split(',').filter(|p| !p.trim().is_empty()) {
            let scope = Scope::parse(part).ok_or_else(|| {
                format!(
                    "unknown scope \"{}\" (use mcp, audit, approve or admin)",
                    part.trim()
                )
            })?;
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
    }
    if out.is_empty() {
        return Err("a key needs a scope: mcp, audit, approve or admin".into());
    }
    if out.contains(&Scope::Mcp) && out.len() > 1 {
        return Err(
            "a key with the mcp scope holds no other scope: an assistant's key must never approve, audit or administer".into(),
        );
    }
    out.sort();
    Ok(out)
}

/// A token split into its parts. The secret stays a [`Secret`].
#[derive(Debug, Clone)]
pub struct ParsedToken {
    pub id: String,
    pub secret: Secret,
}

/// Splits `owk_<id>_<secret>`; `None` for anything else.
pub fn parse_token(token: &str) -> Option<ParsedToken> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let alnum = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !alnum(id, ID_LEN) || !alnum(secret, SECRET_LEN) {
        return None;
    }
    Some(ParsedToken {
        id: id.to_string(),
        secret: Secret::new(secret),
    })
}

fn random_string(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A freshly generated key: the token (shown once) and what the store keeps.
pub struct GeneratedKey {
    pub id: String,
    pub token: Secret,
    pub secret_hash: String,
}

/// Why a key could not be made or hashed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("argon2 parameters: {0}")]
    Params(argon2::Error),
    #[error("argon2: {0}")]
    Hash(argon2::password_hash::Error),
    #[error("key generation did not finish: {0}")]
    Worker(String),
}

/// argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
fn hasher() -> Result<Hasher, KeyError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(KeyError::Params)?;
    Ok(Hasher {
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        params,
    })
}

/// argon2 whose working memory goes back to the system after every hash, so an idle process does
/// not keep 19 MiB it used once. The allocation is one object larger than 16 MiB: mimalloc (the
/// global allocator) takes those straight from the OS and returns them on drop (see
/// `.cargo/config.toml`). Reserving 33 MiB of address space keeps that true under glibc's malloc
/// too (above its largest mmap threshold, 32 MiB); only the blocks argon2 uses are ever touched.
struct Hasher {
    algorithm: Algorithm,
    version: Version,
    params: Params,
}

const RESERVED_BLOCKS: usize = 33 * 1024;

impl PasswordHasher for Hasher {
    type Params = Params;

    fn hash_password<'a>(
        &self,
        password: &[u8],
        salt: impl Into<Salt<'a>>,
    ) -> password_hash::Result<PasswordHash<'a>> {
        let salt = salt.into();
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buf)?;
        let argon = Argon2::new(self.algorithm, self.version, self.params.clone());
        let blocks = self.params.block_count();
        let len = self
            .params
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = Output::init_with(len, |out| {
            let mut memory: Vec<Block> = Vec::with_capacity(blocks.max(RESERVED_BLOCKS));
            memory.resize(blocks, Block::default());
            Ok(argon.hash_password_into_with_memory(password, salt_bytes, out, memory)?)
        })?;
        Ok(PasswordHash {
            algorithm: self.algorithm.ident(),
            version: Some(self.version.into()),
            params: ParamsString::try_from(&self.params)?,
            salt: Some(salt),
            hash: Some(output),
        })
    }

    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        algorithm: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> password_hash::Result<PasswordHash<'a>> {
        Hasher {
            algorithm: algorithm
                .map(Algorithm::try_from)
                .transpose()?
                .unwrap_or_default(),
            version: version
                .map(Version::try_from)
                .transpose()?
                .unwrap_or_default(),
            params,
        }
        .hash_password(password, salt)
    }
}

/// The argon2id PHC string of a secret.
pub fn hash_secret(secret: &str) -> Result<String, KeyError> {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(KeyError::Hash)?;
    hasher()?
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(KeyError::Hash)
}

/// Checks a secret against a PHC string (constant time in the secret; parameters from the hash).
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    match (PasswordHash::new(phc), hasher()) {
        (Ok(parsed), Ok(h)) => h.verify_password(secret.as_bytes(), &parsed).is_ok(),
        _ => false,
    }
}

/// Generates a new key. The only moment its secret exists in clear.
pub fn generate() -> Result<GeneratedKey, KeyError> {
    let id = random_string(ID_LEN);
    let secret = random_string(SECRET_LEN);
    let secret_hash = hash_secret(&secret)?;
    Ok(GeneratedKey {
        token: Secret::new(format!("{PREFIX}{id}_{secret}")),
        id,
        secret_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_verify() {
        let k = generate().unwrap();
        let p = parse_token(k.token.expose()).unwrap();
        assert_eq!(p.id, k.id);
        assert!(k.secret_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_secret(p.secret.expose(), &k.secret_hash));
        assert!(!verify_secret("x", &k.secret_hash));
        assert!(!verify_secret(p.secret.expose(), "not a phc string"));
        let other = generate().unwrap();
        assert_ne!(other.id, k.id);
        assert_ne!(other.token, k.token);
    }

    #[test]
    fn hashes_agree_with_the_argon2_crate_both_ways() {
        // Ours, checked by the crate's own hasher (with its own memory handling).
        let ours = hash_secret("correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", &parsed)
                .is_err()
        );
        // The crate's, at other parameters and another variant, checked by ours.
        let params = Params::new(8 * 1024, 3, 1, Some(24)).unwrap();
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        for algorithm in [Algorithm::Argon2id, Algorithm::Argon2i] {
            let theirs = Argon2::new(algorithm, Version::V0x13, params.clone())
                .hash_password(b"battery staple", &salt)
                .unwrap()
                .to_string();
            assert!(verify_secret("battery staple", &theirs), "{theirs}");
            assert!(!verify_secret("battery stapler", &theirs), "{theirs}");
        }
    }

    #[test]
    fn malformed_tokens() {
        let id = "A".repeat(ID_LEN);
        let secret = "b".repeat(SECRET_LEN);
        assert!(parse_token(&format!("owk_{id}_{secret}")).is_some());
        for bad in [
            String::new(),
            format!("owk_{id}{secret}"),
            format!("owk_{id}_{secret}x"),
            format!("owk_{id}_{}", "b".repeat(SECRET_LEN - 1)),
            format!("OWK_{id}_{secret}"),
            format!("owk_{}_{secret}", "A-".repeat(ID_LEN / 2)),
            format!("owk_{id}_{}", "é".repeat(SECRET_LEN / 2)),
            format!("owk_{id}_{secret}_extra"),
            "Bearer something".into(),
        ] {
            assert!(parse_token(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn scopes() {
        assert_eq!(parse_scopes(&["mcp"]).unwrap(), vec![Scope::Mcp]);
        assert_eq!(
            parse_scopes(&["admin,audit"]).unwrap(),
            vec![Scope::Audit, Scope::Admin]
        );
        assert_eq!(
            parse_scopes(&["approve", "approve"]).unwrap(),
            vec![Scope::Approve]
        );
        assert!(
            parse_scopes(&["mcp", "audit"])
                .unwrap_err()
                .contains("no other scope")
        );
        assert!(parse_scopes(&["mcp,admin"]).is_err());
        assert!(
            parse_scopes(&["root"])
                .unwrap_err()
                .contains("unknown scope")
        );
        assert!(parse_scopes::<&str>(&[]).is_err());
    }
}
