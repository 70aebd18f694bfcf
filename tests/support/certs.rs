//! Certificates for the TLS tests, made at test time with rcgen: a CA, and server certificates
//! it signs for `localhost` and `127.0.0.1`. Also a TLS client that trusts the CA and tells which
//! certificate a server presented. Included by `#[path]` (integration tests, `tests/process.rs`).

#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SerialNumber,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Serials of the leaves this process made: each one distinct.
static SERIAL: AtomicU64 = AtomicU64::new(1000);

pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    /// The certificate, DER: what a client sees as the peer's first certificate.
    pub der: Vec<u8>,
    /// Its serial number and subject common name.
    pub serial: u64,
    pub common_name: String,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "odoo-warden test CA");
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn der(&self) -> Vec<u8> {
        self.issuer.der().to_vec()
    }

    /// A new server certificate for localhost and 127.0.0.1 (a new key, serial and subject each
    /// time).
    pub fn leaf(&self) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let serial = SERIAL.fetch_add(1, Ordering::SeqCst);
        let common_name = format!("odoo-warden test server {serial}");
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name.as_str());
        params.serial_number = Some(SerialNumber::from(serial));
        let issuer: &rcgen::Issuer<'_, KeyPair> = &self.issuer;
        let cert = params.signed_by(&key, issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
            serial,
            common_name,
        }
    }

    /// reqwest trusting this CA (and nothing else).
    pub fn reqwest(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.pem().as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    /// A TLS client trusting this CA, offering ALPN http/1.1.
    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der().into()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    /// The certificate (DER) a server at `addr` presents to a new connection, after a full
    /// handshake verified against this CA for the name `localhost`; with the ALPN it chose.
    pub async fn peer_certificate(
        &self,
        addr: std::net::SocketAddr,
    ) -> std::io::Result<(Vec<u8>, Option<Vec<u8>>)> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = self.connector().connect(name, tcp).await?;
        let (_, conn) = tls.get_ref();
        let first = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
            .unwrap_or_default();
        Ok((first, conn.alpn_protocol().map(<[u8]>::to_vec)))
    }
}

/// The serial number and subject common name of a certificate (DER), as a client reads them.
pub fn serial_and_subject(der: &[u8]) -> (u64, String) {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    let serial = cert
        .raw_serial()
        .iter()
        .fold(0u64, |n, b| (n << 8) | u64::from(*b));
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_string();
    (serial, cn)
}

impl Leaf {
    /// Writes `cert.pem` and `key.pem` into `dir`; their paths.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

/// The `[server]` lines naming a certificate and key.
pub fn server_lines(cert: &Path, key: &Path) -> String {
    format!(
        "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
        cert.display(),
        key.display()
    )
}
