//! Client ID metadata documents fetched for real over HTTPS (a test CA, a small TLS server):
//! a good document is read and cached; an oversized one, a redirect, a document that names
//! another client id, and one that never answers are refused with a reason the person can read;
//! internal addresses are refused unless allowed.

use crate::certs::TestCa;
use odoo_warden::signin::cimd::{Document, Fetcher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A one-route-per-path HTTPS server: `/client.json` (good), `/big.json`, `/moved`,
/// `/other.json` (names another client), `/silent` (never answers). Counts requests.
async fn document_server(ca: &TestCa) -> (u16, Arc<AtomicUsize>) {
    let dir = std::env::temp_dir().join(format!("ow-cimd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = ca.leaf().write(&dir);
    let tls = odoo_warden::tls::Tls::load(&odoo_warden::tls::TlsFiles { cert, key }).unwrap();
    let acceptor = tls.acceptor();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let head = String::from_utf8_lossy(&got);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let me = format!("https://localhost:{port}{path}");
                let doc = |id: &str| {
                    format!(
                        r#"{{"client_id":"{id}","client_name":"Doc Client","redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}}"#
                    )
                };
                let (status, body) = match path.as_str() {
                    "/client.json" => ("200 OK", doc(&me)),
                    "/other.json" => ("200 OK", doc("https://evil.example/client.json")),
                    "/big.json" => ("200 OK", format!("{{\"pad\":\"{}\"}}", "x".repeat(40_000))),
                    "/moved" => ("302 Found", String::new()),
                    "/silent" => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                    _ => ("404 Not Found", String::new()),
                };
                let extra = if status.starts_with("302") {
                    format!("Location: https://localhost:{port}/client.json\r\n")
                } else {
                    String::new()
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (port, hits)
}

#[tokio::test]
async fn documents_are_fetched_checked_and_cached() {
    let ca = TestCa::new();
    let (port, hits) = document_server(&ca).await;
    let root = reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap();
    let f = Fetcher::new(true).unwrap().trusting(root.clone());
    let url = format!("https://localhost:{port}/client.json");
    let doc = f.get(&url).await.unwrap();
    assert_eq!(
        doc,
        Document {
            client_name: "Doc Client".into(),
            redirect_uris: vec!["https://app.example/cb".into()]
        }
    );
    assert_eq!(f.get(&url).await.unwrap(), doc);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the second lookup is served from the cache"
    );

    for (path, why) in [
        ("/big.json", "larger than 16384 bytes"),
        ("/moved", "HTTP 302 (redirects are not followed)"),
        ("/other.json", "its client_id is not its own URL"),
        ("/nothing", "HTTP 404"),
    ] {
        let e = f
            .get(&format!("https://localhost:{port}{path}"))
            .await
            .unwrap_err();
        assert!(e.contains(why), "{path}: {e}");
    }
    let started = Instant::now();
    let e = f
        .get(&format!("https://localhost:{port}/silent"))
        .await
        .unwrap_err();
    assert!(e.contains("no answer within 5 s"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(8));

    // The same server is internal: refused when internal addresses are not allowed, before any
    // request is made.
    let before = hits.load(Ordering::SeqCst);
    let strict = Fetcher::new(false).unwrap().trusting(root);
    let e = strict
        .get(&format!("https://localhost:{port}/client.json"))
        .await
        .unwrap_err();
    assert!(e.contains("internal address"), "{e}");
    assert_eq!(hits.load(Ordering::SeqCst), before);
}
