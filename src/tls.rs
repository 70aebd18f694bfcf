//! TLS on both listeners, without a sidecar: `[server] tls_cert_file` and `tls_key_file` (PEM),
//! read and checked at start-up, served through rustls with the ring provider (installed here,
//! never taken from a process default), ALPN `http/1.1`, and read again on SIGHUP.
//!
//! The certificate in force sits behind a lock in [`CertResolver`]; a reload that cannot read,
//! parse or match the files changes nothing. The handshake itself runs in the listener's accept
//! loop (`crate::listener`), under its header timeout and connection cap.
//!
//! Errors name the config key and the path, never the content of a file: key material is not
//! printed, not even a fragment of a malformed PEM line.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The certificate chain and key files (`[server] tls_cert_file`, `tls_key_file`), resolved
/// against the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

const CERT_KEY: &str = "tls_cert_file";
const KEY_KEY: &str = "tls_key_file";

/// Why a certificate or key cannot be used, for the operator who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("[server] {key} = \"{}\": cannot read the file: {source}", path.display())]
    Read {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("[server] {key} = \"{}\" is not a valid PEM file: {why}", path.display())]
    Pem {
        key: &'static str,
        path: PathBuf,
        why: &'static str,
    },
    #[error("[server] tls_cert_file = \"{}\" holds no certificate (an empty chain): it needs at least one \"-----BEGIN CERTIFICATE-----\" block, the server's own certificate first, then its intermediates{hint}", path.display())]
    NoCertificate { path: PathBuf, hint: &'static str },
    #[error("[server] tls_cert_file = \"{}\": the first certificate of the chain cannot be parsed ({why})", path.display())]
    BadCertificate { path: PathBuf, why: String },
    #[error("[server] tls_key_file = \"{}\" holds no private key: it needs one \"-----BEGIN PRIVATE KEY-----\" (or RSA / EC PRIVATE KEY) block{hint}", path.display())]
    NoKey { path: PathBuf, hint: &'static str },
    #[error("[server] tls_key_file = \"{}\": the private key cannot be used (RSA, ECDSA P-256/P-384 and Ed25519 keys are supported)", path.display())]
    UnusableKey { path: PathBuf },
    #[error("[server] tls_key_file = \"{}\" does not match the certificate in tls_cert_file = \"{}\": the first certificate of the chain must be the one issued for this key", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("TLS settings: {0}")]
    Settings(String),
}

/// The ring provider, made here (a process-wide default may be missing or ambiguous).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What a PEM error was, in words that quote nothing of the file.
fn pem_problem(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a \"-----BEGIN\" block has no \"-----END\" line",
        pem::Error::IllegalSectionStart { .. } => "a \"-----BEGIN\" line is malformed",
        pem::Error::Base64Decode(_) => "a block's content is not valid base64",
        pem::Error::SectionTooLarge => "a block is too large",
        _ => "it cannot be read as PEM",
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_path_buf(),
        source,
    })
}

/// Whether a PEM file has a block whose label contains `label` (e.g. "PRIVATE KEY"): used for
/// hints only, nothing of the file is shown.
fn has_label(bytes: &[u8], label: &str) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.contains(label))
}

/// Reads and checks the chain and key: both parse, the chain is not empty, the key is usable
/// and belongs to the chain's first certificate.
pub fn load_certified_key(
    files: &TlsFiles,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let cert_bytes = read(CERT_KEY, &files.cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            key: CERT_KEY,
            path: files.cert.clone(),
            why: pem_problem(&e),
        })?;
    if chain.is_empty() {
        let hint = if has_label(&cert_bytes, "PRIVATE KEY") {
            " (this file holds a private key: are tls_cert_file and tls_key_file swapped?)"
        } else {
            ""
        };
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
            hint,
        });
    }
    let key_bytes = read(KEY_KEY, &files.key)?;
    let key = match PrivateKeyDer::from_pem_slice(&key_bytes) {
        Ok(k) => k,
        Err(pem::Error::NoItemsFound) => {
            let hint = if has_label(&key_bytes, "ENCRYPTED") {
                " (an encrypted key cannot be used: decrypt it, e.g. `openssl pkey -in KEY -out PLAIN`, and keep the file readable by this process only)"
            } else if has_label(&key_bytes, "CERTIFICATE") {
                " (this file holds a certificate: are tls_cert_file and tls_key_file swapped?)"
            } else {
                ""
            };
            return Err(TlsError::NoKey {
                path: files.key.clone(),
                hint,
            });
        }
        Err(e) => {
            return Err(TlsError::Pem {
                key: KEY_KEY,
                path: files.key.clone(),
                why: pem_problem(&e),
            });
        }
    };
    let signing =
        provider
            .key_provider
            .load_private_key(key)
            .map_err(|_| TlsError::UnusableKey {
                path: files.key.clone(),
            })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        // The key cannot tell its public half: nothing to compare (rustls accepts it too).
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
        }),
        Err(e) => Err(TlsError::BadCertificate {
            path: files.cert.clone(),
            why: e.to_string(),
        }),
    }
}

/// The SHA-256 fingerprint of a chain's first certificate (hex, as `openssl x509 -fingerprint
/// -sha256` shows it without colons): names the certificate in force in logs and the trail.
pub fn fingerprint(key: &CertifiedKey) -> String {
    key.cert
        .first()
        .map(|c| hex::encode(sha2::Sha256::digest(c.as_ref())))
        .unwrap_or_default()
}

/// Hands every handshake the certificate in force; [`Tls::reload`] swaps it.
#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertResolver {
    fn new(key: CertifiedKey) -> Self {
        CertResolver {
            current: RwLock::new(Arc::new(key)),
        }
    }

    /// The certificate in force.
    pub fn current(&self) -> Arc<CertifiedKey> {
        // A poisoned lock still holds a whole Arc (it is only ever replaced at once).
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, key: CertifiedKey) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// TLS for the listeners: the files, the certificate in force, and the acceptor using it.
#[derive(Clone)]
pub struct Tls {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    resolver: Arc<CertResolver>,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("files", &self.files).finish()
    }
}

impl Tls {
    /// Reads and checks the files, and builds the server settings (TLS 1.2 and 1.3, ALPN
    /// `http/1.1`: the listeners speak HTTP/1.1 only).
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let provider = provider();
        let key = load_certified_key(files, &provider)?;
        let resolver = Arc::new(CertResolver::new(key));
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Settings(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            files: files.clone(),
            provider,
            resolver,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// What the listeners accept connections with.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        self.acceptor.clone()
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The fingerprint of the certificate in force.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.resolver.current())
    }

    /// Reads the files again; on success new connections get the new certificate (open ones
    /// keep theirs) and its fingerprint is returned. On failure the certificate in force stays.
    pub fn reload(&self) -> Result<String, TlsError> {
        let key = load_certified_key(&self.files, &self.provider)?;
        let fp = fingerprint(&key);
        self.resolver.set(key);
        Ok(fp)
    }

    /// [`reload`](Self::reload) on SIGHUP: logged (info on success, error when the certificate in
    /// force stays) and recorded in the audit trail (`tls_reload`).
    pub async fn reload_on_signal(&self, audit: &crate::audit::AuditLog) {
        let cert = self.files.cert.display().to_string();
        let (reason, outcome) = match self.reload() {
            Ok(fp) => {
                tracing::info!(cert_file = %cert, sha256 = %fp, "TLS certificate reloaded (SIGHUP)");
                (
                    format!("TLS certificate reloaded by SIGHUP from {cert}: sha256 {fp}"),
                    crate::audit::Outcome::Ok,
                )
            }
            Err(e) => {
                let kept = self.fingerprint();
                tracing::error!(error = %e, sha256 = %kept, "TLS certificate reload refused (SIGHUP): the certificate in force stays");
                (
                    format!(
                        "TLS certificate reload by SIGHUP refused, the certificate in force (sha256 {kept}) stays: {e}"
                    ),
                    crate::audit::Outcome::Error,
                )
            }
        };
        let mut e = audit.event(crate::audit::kind::TLS_RELOAD);
        e.reason = Some(reason);
        e.decision = Some(crate::audit::Decision::Allow);
        e.outcome = Some(outcome);
        if let Err(err) = audit.record(e).await {
            tracing::error!(error = %err, "the audit trail did not take a TLS certificate reload");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate and its key, PEM.
    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("ow-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn files(d: &Dir, cert: &str, key: &str) -> TlsFiles {
        let f = TlsFiles {
            cert: d.0.join("cert.pem"),
            key: d.0.join("key.pem"),
        };
        std::fs::write(&f.cert, cert).unwrap();
        std::fs::write(&f.key, key).unwrap();
        f
    }

    fn error(f: &TlsFiles) -> String {
        Tls::load(f).unwrap_err().to_string()
    }

    #[test]
    fn loads_a_matching_pair() {
        let d = dir("ok");
        let (cert, key) = pair("localhost");
        let tls = Tls::load(&files(&d, &cert, &key)).unwrap();
        assert_eq!(tls.fingerprint().len(), 64);
    }

    #[test]
    fn errors_name_the_key_and_the_path_and_show_no_key_material() {
        let d = dir("errors");
        let (cert, key) = pair("localhost");
        let (_, other_key) = pair("localhost");
        let f = files(&d, &cert, &key);
        let cert_path = f.cert.display().to_string();
        let key_path = f.key.display().to_string();

        // Missing files.
        let missing = TlsFiles {
            cert: d.0.join("nope.pem"),
            key: f.key.clone(),
        };
        let e = error(&missing);
        assert!(
            e.contains("[server] tls_cert_file") && e.contains("nope.pem"),
            "{e}"
        );
        assert!(e.contains("cannot read"), "{e}");
        let missing = TlsFiles {
            cert: f.cert.clone(),
            key: d.0.join("nokey.pem"),
        };
        let e = error(&missing);
        assert!(
            e.contains("[server] tls_key_file") && e.contains("nokey.pem"),
            "{e}"
        );

        // An empty chain; a key in the certificate's place.
        let e = error(&files(&d, "", &key));
        assert!(e.contains("tls_cert_file") && e.contains(&cert_path), "{e}");
        assert!(e.contains("empty chain"), "{e}");
        let e = error(&files(&d, &key, &key));
        assert!(e.contains("empty chain") && e.contains("swapped"), "{e}");

        // No key; a certificate in the key's place; an encrypted key.
        let e = error(&files(&d, &cert, "not a key\n"));
        assert!(e.contains("tls_key_file") && e.contains(&key_path), "{e}");
        assert!(e.contains("no private key"), "{e}");
        let e = error(&files(&d, &cert, &cert));
        assert!(e.contains("swapped"), "{e}");
        let e = error(&files(
            &d,
            &cert,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        ));
        assert!(e.contains("encrypted"), "{e}");

        // Unparsable PEM: the file's content is not quoted.
        let body: String = key.lines().nth(1).unwrap().to_string();
        let truncated = key.lines().take(3).collect::<Vec<_>>().join("\n");
        let e = error(&files(&d, &cert, &truncated));
        assert!(
            e.contains("tls_key_file") && e.contains("not a valid PEM"),
            "{e}"
        );
        assert!(!e.contains(&body[..20]), "key material in {e}");
        let bad = key.replacen(&body, &format!("!!{}", &body[2..]), 1);
        let e = error(&files(&d, &cert, &bad));
        assert!(e.contains("base64"), "{e}");
        assert!(!e.contains(&body[2..22]), "key material in {e}");

        // A key that parses but is not one (PEM of garbage).
        let e = error(&files(
            &d,
            &cert,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ));
        assert!(e.contains("cannot be used") && e.contains(&key_path), "{e}");

        // A certificate that is not one.
        let e = error(&files(
            &d,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            &key,
        ));
        assert!(
            e.contains("tls_cert_file") && e.contains("cannot be parsed"),
            "{e}"
        );

        // A key of another certificate.
        let e = error(&files(&d, &cert, &other_key));
        assert!(
            e.contains("does not match") && e.contains(&cert_path) && e.contains(&key_path),
            "{e}"
        );
    }

    #[test]
    fn a_failed_reload_keeps_the_certificate_in_force() {
        let d = dir("reload");
        let (cert, key) = pair("localhost");
        let f = files(&d, &cert, &key);
        let tls = Tls::load(&f).unwrap();
        let first = tls.fingerprint();
        // A bad file: refused, the old certificate stays.
        std::fs::write(&f.cert, "garbage").unwrap();
        assert!(tls.reload().is_err());
        assert_eq!(tls.fingerprint(), first);
        // A new pair: taken.
        let (cert2, key2) = pair("localhost");
        files(&d, &cert2, &key2);
        let second = tls.reload().unwrap();
        assert_ne!(second, first);
        assert_eq!(tls.fingerprint(), second);
    }
}
