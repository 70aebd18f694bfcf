//! The real binary, as the process tests and the hostile-input corpus run it: a config in a
//! directory (SQLite store, one profile `sales` as `mcp_writer`, a small policy), a key made by
//! the real CLI, `serve` with its logs captured and its two URLs read from its output.

#![allow(dead_code)]

use crate::emulator::api_key;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_odoo-warden");

pub struct Running {
    pub child: Child,
    pub logs: Arc<Mutex<String>>,
    pub mcp_url: String,
    pub admin_url: String,
}

pub fn config(dir: &std::path::Path, odoo_url: &str) -> std::path::PathBuf {
    config_with(
        dir,
        odoo_url,
        "[defaults]\nconfirm = \"none\"\n[models.\"res.partner\"]\nread = true\nupdate = { fields = [\"comment\"], confirm = \"user\" }\ncreate = { fields = [\"name\", \"comment\"] }\n",
    )
}

/// As [`config`], with this policy.
pub fn config_with(dir: &std::path::Path, odoo_url: &str, policy: &str) -> std::path::PathBuf {
    let store = format!("sqlite://{}/store.db", dir.display());
    config_on(dir, odoo_url, policy, &store)
}

/// As [`config_with`], on this store.
pub fn config_on(
    dir: &std::path::Path,
    odoo_url: &str,
    policy: &str,
    store: &str,
) -> std::path::PathBuf {
    std::fs::write(dir.join("policy.toml"), policy).unwrap();
    let path = dir.join("odoo-warden.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nshutdown_grace_secs = 10\n[store]\nurl = \"{store}\"\n[odoo]\nurl = \"{odoo_url}\"\ndatabase = \"lab\"\n[confirm]\nelicitation_timeout_secs = 2\n[profiles.sales]\nodoo_login = \"mcp_writer\"\nodoo_api_key_env = \"PROC_ODOO_KEY\"\npolicy = \"policy.toml\"\n"
        ),
    )
    .unwrap();
    path
}

pub fn key(config: &std::path::Path) -> String {
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

/// A key of `scope` (no profile: audit, approve, admin), made by the real CLI.
pub fn key_with_scope(config: &std::path::Path, scope: &str) -> String {
    let out = Command::new(BIN)
        .args([
            "--config",
            config.to_str().unwrap(),
            "keys",
            "create",
            "--name",
            scope,
            "--scope",
            scope,
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

/// Lifts the rate limits of a config made by [`config_with`] (one client sends a great deal).
pub fn unlimited(config: &std::path::Path) {
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str("[profiles.sales.rate_limit]\nper_minute = 100000\nburst = 100000\nwrites_per_minute = 100000\n[limits]\nper_ip_per_minute = 100000\nper_ip_burst = 100000\n");
    std::fs::write(config, text).unwrap();
}

pub fn serve(config: &std::path::Path) -> Running {
    serve_with(config, None)
}

/// Runs the binary, with its descriptor limit lowered to `nofile` when given.
pub fn serve_with(config: &std::path::Path, nofile: Option<u32>) -> Running {
    let mut command = match nofile {
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    let mut child = command
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
            if let Some(url) = line.strip_prefix("odoo-warden admin listening on ") {
                let _ = tx.send(("admin", url.to_string()));
            } else if let Some(url) = line.strip_prefix("odoo-warden listening on ") {
                let _ = tx.send(("mcp", url.to_string()));
            }
        }
    });
    let (mut mcp_url, mut admin_url) = (String::new(), String::new());
    while mcp_url.is_empty() || admin_url.is_empty() {
        let (which, url) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("odoo-warden did not start");
        if which == "mcp" {
            mcp_url = url;
        } else {
            admin_url = url;
        }
    }
    Running {
        child,
        logs,
        mcp_url,
        admin_url,
    }
}

pub fn post(
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
pub fn answer(r: reqwest::blocking::Response) -> Value {
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

pub fn session(url: &str, token: &str) -> String {
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

/// What a process holds, from `/proc`: to check that a fault leaves nothing behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holds {
    pub rss_kib: u64,
    pub threads: u64,
    pub fds: usize,
}

pub fn holds(pid: u32) -> Holds {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Holds {
        rss_kib: field("VmRSS:"),
        threads: field("Threads:"),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0),
    }
}

/// A metric's value (the sum of its series) from the admin listener's `/metrics`.
pub fn metric(admin_url: &str, name: &str) -> f64 {
    reqwest::blocking::get(format!("{admin_url}/metrics"))
        .ok()
        .and_then(|r| r.text().ok())
        .map(|t| {
            t.lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
                .sum()
        })
        .unwrap_or(0.0)
}
