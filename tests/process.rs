//! The real binary as an operator runs it: its logs never hold a key, an Odoo API key or a record
//! value, and SIGTERM stops accepting, lets an in-flight call finish, flushes the audit trail and
//! exits 0; with TLS, it says https, SIGHUP swaps the certificate, and a bad pair stops the start.

#[path = "support/binary.rs"]
mod binary;
#[path = "support/certs.rs"]
mod certs;
mod emulator;

use binary::{BIN, Running, answer, config, key, post, serve, serve_with, session};

use emulator::{Emulator, EmulatorConfig, api_key};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn logs_hold_no_secret_and_shutdown_is_graceful() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt.block_on(Emulator::start(EmulatorConfig::odoo19()));
    let dir = std::env::temp_dir().join(format!("ow-proc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = config(&dir, &emu.url());
    let token = key(&cfg);
    let mut w = serve(&cfg);

    // A run with values worth leaking: a record written, a wrong key, a refused field.
    let secret_value = "VALUE-THAT-MUST-NOT-BE-LOGGED-7731";
    let sid = session(&w.mcp_url, &token);
    let call = |id: u64, name: &str, args: Value| {
        post(
            &w.mcp_url,
            &token,
            Some(&sid),
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": args}}),
        )
    };
    let created = answer(call(
        2,
        "create_records",
        json!({"model": "res.partner", "records": [{"name": secret_value, "comment": secret_value}]}),
    ));
    assert_eq!(created["result"]["isError"], false, "{created}");
    call(
        3,
        "search_records",
        json!({"model": "res.partner", "domain": [["name", "=", secret_value]], "fields": ["name", "comment"]}),
    );
    post(
        &w.mcp_url,
        &format!("{}x", &token[..token.len() - 1]),
        None,
        &json!({"jsonrpc": "2.0", "id": 4, "method": "ping"}),
    );

    // An in-flight call: an update that waits for the user's answer (which never comes; the
    // elicitation times out after 2 s and counts as a decline).
    let url = w.mcp_url.clone();
    let tok = token.clone();
    let sid2 = sid.clone();
    let in_flight = std::thread::spawn(move || {
        let r = post(
            &url,
            &tok,
            Some(&sid2),
            &json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
            "params": {"name": "update_records", "arguments": {"model": "res.partner", "ids": [1], "values": {"comment": "never"}}}}),
        );
        r.text().unwrap()
    });
    std::thread::sleep(Duration::from_millis(500));
    let stopped_at = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &w.child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );

    // New connections are refused soon after the signal...
    let addr = w
        .mcp_url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    let mut refused = false;
    for _ in 0..40 {
        if std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_millis(100))
            .is_err()
        {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(refused, "still accepting connections after SIGTERM");
    // ...the in-flight call still gets its answer...
    let answer = in_flight.join().unwrap();
    assert!(answer.contains("declined"), "{answer}");
    // ...and the process exits 0, well within the grace period.
    let status = loop {
        if let Some(s) = w.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(10),
            "did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");

    // Every record made it to the store, chain intact, the in-flight call's included.
    rt.block_on(async {
        let store =
            odoo_warden::store::Store::connect(&format!("sqlite://{}/store.db", dir.display()))
                .await
                .unwrap();
        // The head logged at exit is the trail's last record.
        let logs = w.logs.lock().unwrap().clone();
        let kept: odoo_warden::audit::KeptHead = logs
            .lines()
            .rev()
            .find(|l| l.contains("audit head"))
            .and_then(|l| l.split("head=").nth(1))
            .and_then(|h| h.split_whitespace().next())
            .unwrap_or_else(|| panic!("no audit head logged:\n{logs}"))
            .parse()
            .unwrap();
        let report = odoo_warden::audit::verify(&store, Some(&kept))
            .await
            .unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.head_seq, Some(kept.seq));
        let f = odoo_warden::store::AuditFilter {
            kind: Some("confirmation".into()),
            ..Default::default()
        };
        let steps = store.query_audit(&f, None, 100).await.unwrap();
        assert!(
            steps.iter().any(|r| r.record["reason"]
                .as_str()
                .unwrap_or("")
                .contains("timeout")),
            "{steps:?}"
        );
    });

    let logs = w.logs.lock().unwrap().clone();
    assert!(
        logs.contains("tool call") && logs.contains("request"),
        "one line per request is logged:\n{logs}"
    );
    for (what, secret) in [
        ("the MCP key", token.as_str()),
        ("the MCP key's secret", &token[token.len() - 32..]),
        ("the Odoo API key", &api_key("mcp_writer")),
        ("a record value", secret_value),
    ] {
        assert!(
            !logs.contains(secret),
            "{what} appears in the logs:\n{logs}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Half-sent requests cannot starve the server: with its descriptor limit lowered to 256, 300
/// clients that send part of their headers and stop hold no descriptor past the header timeout
/// (past the connection cap, a new client takes the place of the one waiting longest), a new
/// client is served meanwhile, and `/metrics` counts the dropped connections.
#[test]
fn slow_clients_are_dropped_and_others_served() {
    use std::io::{Read, Write};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt.block_on(Emulator::start(EmulatorConfig::odoo19()));
    let dir = std::env::temp_dir().join(format!("ow-slow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = config(&dir, &emu.url());
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[server]\n",
        "[server]\nheader_read_timeout_secs = 4\nidle_timeout_secs = 5\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let token = key(&cfg);
    let mut w = serve_with(&cfg, Some(256));
    let addr = w
        .mcp_url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    let started = Instant::now();
    let mut half_sent = Vec::new();
    for _ in 0..300 {
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        c.write_all(format!("POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Ty").as_bytes())
            .unwrap();
        half_sent.push(c);
    }
    // A new client is served while the half-sent ones are held (before the header timeout,
    // 4 s, would free any: room for a busy machine running other tests beside this one).
    let sid = session(&w.mcp_url, &token);
    assert_eq!(sid.len(), 64);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "served only after the timeout"
    );
    // The server closes every half-sent connection within the timeout (plus slack).
    for c in &mut half_sent {
        c.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
        let mut buf = [0u8; 64];
        match c.read(&mut buf) {
            Ok(0) => {}
            Ok(_) => {}
            Err(e) => assert!(
                e.kind() == std::io::ErrorKind::ConnectionReset,
                "a half-sent request was not closed: {e}"
            ),
        }
    }
    let closed_after = started.elapsed();
    assert!(
        closed_after < Duration::from_secs(9),
        "closed after {closed_after:?}"
    );
    // A connection that sends nothing at all is closed too; an idle keep-alive one after its
    // idle timeout.
    let mut silent = std::net::TcpStream::connect(&addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    assert!(matches!(silent.read(&mut [0u8; 8]), Ok(0) | Err(_)));
    let metrics = reqwest::blocking::get(format!("{}/metrics", w.admin_url))
        .unwrap()
        .text()
        .unwrap();
    let dropped: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("odoo_warden_connections_dropped_total")
                && l.contains("listener=\"mcp\"")
                && (l.contains("reason=\"header_timeout\"") || l.contains("reason=\"evicted\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(dropped >= 301.0, "dropped {dropped}: {metrics}");
    // Still serving.
    let r = post(
        &w.mcp_url,
        &token,
        Some(&sid),
        &json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
    );
    assert_eq!(r.status(), 200);
    let _ = w.child.kill();
    let _ = w.child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    drop(emu);
}

/// `doctor` shows a least-privilege user's groups by name (internal users may read `res.groups`)
/// and says plainly that their XML ids are not readable (`ir.model.data`).
#[test]
fn doctor_names_the_groups_of_a_least_privilege_user() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt.block_on(Emulator::start(EmulatorConfig::odoo18()));
    let dir = std::env::temp_dir().join(format!("ow-doctor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = config(&dir, &emu.url());
    let out = Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap(), "doctor", "--json"])
        .env("PROC_ODOO_KEY", api_key("mcp_writer"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let p = &report["profiles"][0];
    let names: Vec<&str> = p["group_names"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!names.is_empty(), "{report}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("groups: {}", names.join(", "))),
        "{detail}"
    );
    assert!(
        detail.contains("XML ids: not readable by this user (ir.model.data)"),
        "{detail}"
    );
    assert!(!detail.contains("groups: not readable"), "{detail}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With `[server] tls_cert_file`/`tls_key_file` the binary announces https on both listeners,
/// serves both over TLS, and SIGHUP swaps the certificate (a broken file keeps the one in force);
/// a key of another certificate or a lone file stops the start with a message naming it.
#[test]
fn tls_is_announced_served_and_reloaded_on_sighup() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt.block_on(Emulator::start(EmulatorConfig::odoo19()));
    let dir = std::env::temp_dir().join(format!("ow-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = certs::TestCa::new();
    let leaf = ca.leaf();
    let (cert, key_file) = leaf.write(&dir);
    let cfg = config(&dir, &emu.url());
    let plain = std::fs::read_to_string(&cfg).unwrap();
    let with_server = |lines: &str| plain.replacen("[server]\n", &format!("[server]\n{lines}"), 1);
    std::fs::write(&cfg, with_server(&certs::server_lines(&cert, &key_file))).unwrap();
    let token = key(&cfg);

    let mut w = serve(&cfg);
    assert!(
        w.mcp_url.starts_with("https://127.0.0.1:") && w.mcp_url.ends_with("/mcp"),
        "{}",
        w.mcp_url
    );
    assert!(
        w.admin_url.starts_with("https://127.0.0.1:"),
        "{}",
        w.admin_url
    );
    let addr = |url: &str| -> std::net::SocketAddr {
        url.trim_start_matches("https://")
            .trim_end_matches("/mcp")
            .parse()
            .unwrap()
    };
    let (mcp, admin) = (addr(&w.mcp_url), addr(&w.admin_url));
    let served = |a| {
        let (der, _) = rt.block_on(ca.peer_certificate(a)).unwrap();
        certs::serial_and_subject(&der)
    };
    let first = (leaf.serial, leaf.common_name.clone());
    assert_eq!(served(mcp), first);
    assert_eq!(served(admin), first);
    let http = ca.reqwest();
    let r = rt
        .block_on(
            http.post(&w.mcp_url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(
                    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                        "protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"}}})
                    .to_string(),
                )
                .send(),
        )
        .unwrap();
    assert_eq!(r.status(), 200);
    let health = format!("{}/healthz", w.admin_url);
    assert_eq!(rt.block_on(http.get(&health).send()).unwrap().status(), 200);

    let hup = |w: &Running| {
        assert!(
            Command::new("kill")
                .args(["-HUP", &w.child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    let wait_for_log = |w: &Running, needle: &str, count: usize| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.logs.lock().unwrap().matches(needle).count() < count {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the logs: {}",
                w.logs.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // A new pair in the same files, then SIGHUP: both listeners serve it.
    let next = ca.leaf();
    next.write(&dir);
    hup(&w);
    wait_for_log(&w, "TLS certificate reloaded (SIGHUP)", 1);
    let second = (next.serial, next.common_name.clone());
    assert_ne!(second, first);
    assert_eq!(served(mcp), second);
    assert_eq!(served(admin), second);
    // A broken certificate file, then SIGHUP: refused, logged, the certificate in force stays.
    std::fs::write(&cert, "garbage").unwrap();
    hup(&w);
    wait_for_log(&w, "TLS certificate reload refused (SIGHUP)", 1);
    assert_eq!(served(mcp), second);
    assert_eq!(served(admin), second);
    assert_eq!(rt.block_on(http.get(&health).send()).unwrap().status(), 200);
    // The policies were reloaded by the same signals, and the process lives on.
    wait_for_log(&w, "policies reloaded (SIGHUP)", 2);
    assert!(w.child.try_wait().unwrap().is_none(), "odoo-warden exited");
    let logs = w.logs.lock().unwrap().clone();
    assert!(!logs.contains("panicked"), "{logs}");
    for pem in [&leaf.key_pem, &next.key_pem] {
        assert!(
            !logs.contains(pem.lines().nth(1).unwrap()),
            "key material logged"
        );
    }
    let _ = w.child.kill();
    let _ = w.child.wait();

    // A key of another certificate, or one file of the pair: no start, a message naming it.
    let other = ca.leaf();
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key_file, &other.key_pem).unwrap();
    let refused = |text: String| {
        std::fs::write(&cfg, text).unwrap();
        let out = Command::new(BIN)
            .args(["--config", cfg.to_str().unwrap(), "serve"])
            .env("PROC_ODOO_KEY", api_key("mcp_writer"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(!stdout.contains("listening"), "{stdout}");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    };
    let e = refused(with_server(&certs::server_lines(&cert, &key_file)));
    assert!(
        e.contains("does not match") && e.contains(&key_file.display().to_string()),
        "{e}"
    );
    assert!(!e.contains(other.key_pem.lines().nth(1).unwrap()), "{e}");
    // `doctor` says the same about the pair, and passes with a matching one.
    let doctor = || {
        let out = Command::new(BIN)
            .args(["--config", cfg.to_str().unwrap(), "doctor", "--json"])
            .env("PROC_ODOO_KEY", api_key("mcp_writer"))
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let tls = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "tls")
            .cloned()
            .unwrap_or_else(|| panic!("no tls check: {report}"));
        (out.status.success(), tls)
    };
    let (ok, tls) = doctor();
    assert!(!ok && tls["ok"] == false, "{tls}");
    assert!(
        tls["detail"].as_str().unwrap().contains("does not match"),
        "{tls}"
    );
    std::fs::write(&key_file, &leaf.key_pem).unwrap();
    let (_, tls) = doctor();
    assert_eq!(tls["ok"], true, "{tls}");
    assert!(tls["detail"].as_str().unwrap().contains("sha256 "), "{tls}");
    let e = refused(with_server(&format!(
        "tls_cert_file = \"{}\"\n",
        cert.display()
    )));
    assert!(
        e.contains("tls_cert_file is set without tls_key_file"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(emu);
}
