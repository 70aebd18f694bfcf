//! The real binary as an operator runs it: its logs never hold a key, an Odoo API key or a record
//! value, and SIGTERM stops accepting, lets an in-flight call finish, flushes the audit trail and
//! exits 0.

mod emulator;

use emulator::{Emulator, EmulatorConfig, api_key};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_odoo-warden");

struct Running {
    child: Child,
    logs: Arc<Mutex<String>>,
    mcp_url: String,
}

fn config(dir: &std::path::Path, odoo_url: &str) -> std::path::PathBuf {
    std::fs::write(
        dir.join("policy.toml"),
        "[defaults]\nconfirm = \"none\"\n[models.\"res.partner\"]\nread = true\nupdate = { fields = [\"comment\"], confirm = \"user\" }\ncreate = { fields = [\"name\", \"comment\"] }\n",
    )
    .unwrap();
    let path = dir.join("odoo-warden.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nshutdown_grace_secs = 10\n[store]\nurl = \"sqlite://{}/store.db\"\n[odoo]\nurl = \"{odoo_url}\"\ndatabase = \"lab\"\n[confirm]\nelicitation_timeout_secs = 2\n[profiles.sales]\nodoo_login = \"mcp_writer\"\nodoo_api_key_env = \"PROC_ODOO_KEY\"\npolicy = \"policy.toml\"\n",
            dir.display()
        ),
    )
    .unwrap();
    path
}

fn key(config: &std::path::Path) -> String {
    let out = Command::new(BIN)
        .args([
            "--config",
            config.to_str().unwrap(),
            "keys",
            "create",
            "--name",
            "proc",
            "--scope",
            "mcp",
            "--profile",
            "sales",
            "--json",
        ])
        .env("PROC_ODOO_KEY", api_key("mcp_writer"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["token"].as_str().unwrap().to_string()
}

fn serve(config: &std::path::Path) -> Running {
    let mut child = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("PROC_ODOO_KEY", api_key("mcp_writer"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    let l = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            l.lock().unwrap().push_str(&line);
            l.lock().unwrap().push('\n');
        }
    });
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("odoo-warden listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let mcp_url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("odoo-warden did not start");
    Running {
        child,
        logs,
        mcp_url,
    }
}

fn post(
    url: &str,
    token: &str,
    session: Option<&str>,
    body: &Value,
) -> reqwest::blocking::Response {
    let mut r = reqwest::blocking::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(s) = session {
        r = r
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    r.body(body.to_string()).send().unwrap()
}

/// The JSON-RPC answer of a response, JSON or SSE (the last `data:` event).
fn answer(r: reqwest::blocking::Response) -> Value {
    let text = r.text().unwrap();
    let last = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .next_back()
        .map(str::trim)
        .unwrap_or(text.as_str())
        .to_string();
    serde_json::from_str(&last).unwrap_or(json!({"raw": text}))
}

fn session(url: &str, token: &str) -> String {
    let r = post(
        url,
        token,
        None,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}}, "clientInfo": {"name": "t", "version": "1"}}}),
    );
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    post(
        url,
        token,
        Some(&sid),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    sid
}

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
