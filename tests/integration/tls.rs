//! HTTPS on both listeners (`[server] tls_cert_file`/`tls_key_file`): served to a client that
//! trusts the test CA, `/mcp` initialize over TLS, plain HTTP to a TLS port not served and the
//! failed handshake counted, the https origins accepted, and the handshake held to the listener's
//! header timeout and connection cap.

use crate::certs::{self, TestCa};
use crate::emulator::{Emulator, EmulatorConfig};
use crate::warden;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

struct Tls {
    w: warden::Warden,
    ca: TestCa,
    leaf: certs::Leaf,
    dir: std::path::PathBuf,
    _emulator: Emulator,
}

impl Drop for Tls {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start(name: &str, server_extra: &str) -> Tls {
    let emulator = Emulator::start(EmulatorConfig::odoo19()).await;
    let dir = std::env::temp_dir().join(format!("ow-it-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = TestCa::new();
    let leaf = ca.leaf();
    let (cert, key) = leaf.write(&dir);
    let text = warden::config_text(
        &emulator.url(),
        "sqlite::memory:",
        &[("assistant", "mcp_reader")],
        "",
    )
    .replacen(
        "[server]\n",
        &format!(
            "[server]\n{}{server_extra}",
            certs::server_lines(&cert, &key)
        ),
        1,
    );
    let w = warden::start(&text, warden::env_for(&["mcp_reader"]))
        .await
        .unwrap();
    Tls {
        w,
        ca,
        leaf,
        dir,
        _emulator: emulator,
    }
}

fn metric(text: &str, name: &str, listener: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(&format!("listener=\"{listener}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
}

#[tokio::test]
async fn both_listeners_speak_https_and_plain_http_is_not_served() {
    let t = start("https", "").await;
    let w = &t.w;
    let listen = w.config.server.listen;
    let admin = w.config.server.admin_listen;
    assert_eq!(w.mcp_url, format!("https://{listen}/mcp"));
    assert_eq!(w.admin_url, format!("https://{admin}"));
    let http = t.ca.reqwest();

    // The admin listener over HTTPS.
    let r = http
        .get(format!("{}/healthz", w.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The handshake presents our certificate and picks http/1.1 (hyper serves HTTP/1.1 only).
    for addr in [listen, admin] {
        let (cert, alpn) = t.ca.peer_certificate(addr).await.unwrap();
        assert_eq!(cert, t.leaf.der, "{addr}");
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]), "{addr}");
    }

    // MCP initialize over TLS, with the https loopback origin a browser page would send.
    let (_, token) = w.key(&["mcp"], Some("assistant"), None).await;
    let post = |origin: Option<String>| {
        let mut r = http
            .post(&w.mcp_url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.body(initialize().to_string()).send()
    };
    let r = post(Some(format!("https://localhost:{}", listen.port())))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    assert_eq!(sid.len(), 64);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25", "{body}");
    // An http:// origin names no page that could talk to this port: refused.
    let r = post(Some(format!("http://localhost:{}", listen.port())))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Plain HTTP to the TLS ports is not served: no HTTP answer, and the failed handshakes are
    // counted per listener.
    let before = http
        .get(format!("{}/metrics", w.admin_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (addr, path) in [(listen, "/mcp"), (admin, "/healthz")] {
        let plain = reqwest::Client::new()
            .get(format!("http://{addr}{path}"))
            .send()
            .await;
        assert!(plain.is_err(), "plain HTTP served on {addr}: {plain:?}");
        let answer = tokio::task::spawn_blocking(move || {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
                .unwrap();
            let mut got = Vec::new();
            let _ = c.read_to_end(&mut got);
            got
        })
        .await
        .unwrap();
        assert!(
            !answer.starts_with(b"HTTP/"),
            "{addr} answered plain HTTP: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let after = http
        .get(format!("{}/metrics", w.admin_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let failures = "odoo_warden_tls_handshake_failures_total";
    for listener in ["mcp", "admin"] {
        assert!(
            metric(&after, failures, listener) >= metric(&before, failures, listener) + 2.0,
            "{listener}: {after}"
        );
    }
}

/// A client that opens a connection and never says hello holds no place for ever: the handshake
/// is bounded by the header timeout, and a full listener evicts a stalled handshake for a new
/// client.
#[tokio::test]
async fn a_stalled_handshake_is_bounded_by_the_header_timeout_and_the_cap() {
    let t = start(
        "stalled",
        "header_read_timeout_secs = 2\nmax_connections = 8\n",
    )
    .await;
    let listen = t.w.config.server.listen;
    let (_, token) = t.w.key(&["mcp"], Some("assistant"), None).await;
    let started = Instant::now();
    let silent: Vec<std::net::TcpStream> = (0..8)
        .map(|_| {
            let c = std::net::TcpStream::connect(listen).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
            c
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Every place is held by a handshake that does not start; a new client is still served.
    let r =
        t.ca.reqwest()
            .post(&t.w.mcp_url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize().to_string())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "served only after the header timeout: {:?}",
        started.elapsed()
    );
    // Each silent connection is closed: one evicted for the client, the others at the timeout.
    let closed = tokio::task::spawn_blocking(move || {
        silent
            .into_iter()
            .map(|mut c| {
                let mut buf = [0u8; 16];
                match c.read(&mut buf) {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(closed.iter().all(|c| *c), "{closed:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "stalled handshakes closed after {elapsed:?}"
    );
}

/// The certificate of a new connection to `addr`, by serial and subject.
async fn served(ca: &TestCa, addr: std::net::SocketAddr) -> (Vec<u8>, (u64, String)) {
    let (der, _) = ca.peer_certificate(addr).await.unwrap();
    let named = certs::serial_and_subject(&der);
    (der, named)
}

/// What SIGHUP does to the certificate (`Tls::reload_on_signal`, which the signal handler calls):
/// new connections on both listeners get the new one, open ones keep theirs; a broken or
/// mismatched file keeps the certificate in force; each attempt is in the audit trail.
#[tokio::test]
async fn a_reload_swaps_the_certificate_and_a_bad_file_keeps_the_one_in_force() {
    let t = start("reload", "").await;
    let tls = t.w.tls.as_ref().expect("TLS on");
    let (listen, admin) = (t.w.config.server.listen, t.w.config.server.admin_listen);
    let http = t.ca.reqwest();
    let first = (t.leaf.serial, t.leaf.common_name.clone());
    for addr in [listen, admin] {
        assert_eq!(
            served(&t.ca, addr).await,
            (t.leaf.der.clone(), first.clone())
        );
    }
    // A keep-alive connection opened before the reload.
    let health = format!("{}/healthz", t.w.admin_url);
    assert_eq!(http.get(&health).send().await.unwrap().status(), 200);

    // A new certificate and key in the same files: taken.
    let next = t.ca.leaf();
    let (cert, key) = next.write(&t.dir);
    tls.reload_on_signal(&t.w.rt.audit).await;
    let second = (next.serial, next.common_name.clone());
    assert_ne!(second, first);
    for addr in [listen, admin] {
        assert_eq!(
            served(&t.ca, addr).await,
            (next.der.clone(), second.clone()),
            "{addr}"
        );
    }
    assert_eq!(http.get(&health).send().await.unwrap().status(), 200);
    let (_, token) = t.w.key(&["mcp"], Some("assistant"), None).await;
    let r = http
        .post(&t.w.mcp_url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A broken certificate file: refused, the certificate in force stays.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    assert!(tls.reload().is_err());
    tls.reload_on_signal(&t.w.rt.audit).await;
    // A key that belongs to another certificate: refused too.
    let other = t.ca.leaf();
    std::fs::write(&cert, &next.cert_pem).unwrap();
    std::fs::write(&key, &other.key_pem).unwrap();
    let e = tls.reload().unwrap_err().to_string();
    assert!(e.contains("does not match"), "{e}");
    tls.reload_on_signal(&t.w.rt.audit).await;
    // A file gone: refused.
    std::fs::remove_file(&key).unwrap();
    tls.reload_on_signal(&t.w.rt.audit).await;
    for addr in [listen, admin] {
        assert_eq!(
            served(&t.ca, addr).await,
            (next.der.clone(), second.clone()),
            "{addr}"
        );
    }
    assert_eq!(http.get(&health).send().await.unwrap().status(), 200);

    // The trail: one record per attempt, naming the certificate by fingerprint, never the key.
    assert!(t.w.rt.audit.flush(Duration::from_secs(5)).await);
    let filter = odoo_warden::store::AuditFilter {
        kind: Some("tls_reload".into()),
        ..Default::default()
    };
    let rows = t.w.rt.store.query_audit(&filter, None, 100).await.unwrap();
    let outcomes: Vec<_> = rows
        .iter()
        .map(|r| r.record["outcome"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(outcomes, ["ok", "error", "error", "error"], "{rows:?}");
    let reasons: Vec<String> = rows
        .iter()
        .map(|r| r.record["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    let fp = |der: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(der))
    };
    assert!(reasons[0].contains(&fp(&next.der)), "{}", reasons[0]);
    for r in &reasons[1..] {
        assert!(r.contains("stays") && r.contains(&fp(&next.der)), "{r}");
    }
    assert!(reasons[2].contains("does not match"), "{}", reasons[2]);
    assert!(reasons[3].contains("cannot read"), "{}", reasons[3]);
    let key_body = other.key_pem.lines().nth(1).unwrap();
    assert!(reasons.iter().all(|r| !r.contains(key_body)), "{reasons:?}");
}

/// Start-up (`app::serve`, what `odoo-warden serve` runs) refuses a key of another certificate,
/// an unreadable file and one file of the pair, each with the key and the file named, before it
/// binds a port.
#[tokio::test]
async fn startup_refuses_a_bad_pair_naming_what_is_wrong() {
    let emulator = Emulator::start(EmulatorConfig::odoo19()).await;
    let dir = std::env::temp_dir().join(format!("ow-it-tls-startup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = TestCa::new();
    let (leaf, other) = (ca.leaf(), ca.leaf());
    let (cert, key) = leaf.write(&dir);
    let other_key = dir.join("other-key.pem");
    std::fs::write(&other_key, &other.key_pem).unwrap();
    let config = |server: &str| {
        warden::config_text(
            &emulator.url(),
            "sqlite::memory:",
            &[("assistant", "mcp_reader")],
            "",
        )
        .replacen(
            "[server]\n",
            &format!("[server]\nadmin_listen = \"127.0.0.1:0\"\n{server}"),
            1,
        )
    };
    let env = warden::env_for(&["mcp_reader"]);
    let serve = |text: String| {
        let env = env.clone();
        async move {
            let config = odoo_warden::config::Config::parse_with_env(&text, None, &move |v| {
                env.get(v).cloned()
            })
            .map_err(|e| e.to_string())?;
            let run = odoo_warden::app::serve(config, std::future::pending());
            match tokio::time::timeout(Duration::from_secs(20), run).await {
                Ok(Err(e)) => Err(format!("{e:#}")),
                Ok(Ok(())) => Ok(()),
                Err(_) => Ok(()),
            }
        }
    };

    let mut said = Vec::new();
    let e = serve(config(&certs::server_lines(&cert, &other_key)))
        .await
        .unwrap_err();
    said.push(e.clone());
    assert!(
        e.contains("does not match")
            && e.contains(&other_key.display().to_string())
            && e.contains(&cert.display().to_string()),
        "{e}"
    );
    let missing = dir.join("missing.pem");
    let e = serve(config(&certs::server_lines(&missing, &key)))
        .await
        .unwrap_err();
    said.push(e.clone());
    assert!(
        e.contains("tls_cert_file") && e.contains(&missing.display().to_string()),
        "{e}"
    );
    let e = serve(config(&format!("tls_cert_file = \"{}\"\n", cert.display())))
        .await
        .unwrap_err();
    assert!(
        e.contains("tls_cert_file is set without tls_key_file"),
        "{e}"
    );
    let e = serve(config(&format!("tls_key_file = \"{}\"\n", key.display())))
        .await
        .unwrap_err();
    assert!(
        e.contains("tls_key_file is set without tls_cert_file"),
        "{e}"
    );
    // Nothing of a key in any message.
    for key_pem in [&leaf.key_pem, &other.key_pem] {
        let body = key_pem.lines().nth(1).unwrap();
        assert!(said.iter().all(|e| !e.contains(body)), "{said:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
