//! The hostile-input corpus (`tests/hostile/corpus.jsonl`, written by `generate.py` there):
//! every request is sent to the real binary, in front of the emulator, and must be answered
//! within [`BOUND`] with a precise refusal (or, where marked, an answer), never a 5xx, never
//! a hang, never a secret; the server stays up and its audit chain verifies at the end.

#[path = "support/binary.rs"]
mod binary;
mod emulator;

use base64::Engine;
use emulator::{Emulator, EmulatorConfig, api_key};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Every answer comes within this.
const BOUND: Duration = Duration::from_secs(5);

const POLICY: &str = r#"
[defaults]
confirm = "none"
[models."res.partner"]
read = { domain = [["is_company", "=", true]] }
hidden_fields = ["email", "phone"]
create = { fields = ["name", "is_company", "comment"] }
update = { fields = ["comment"] }
[models."res.partner".methods]
action_archive = {}
[models."res.country"]
read = true
"#;

/// The body a corpus entry sends.
fn body_of(entry: &Value, era: &str, session: &str) -> Vec<u8> {
    if let Some(t) = entry.get("tool") {
        let mut params = json!({"name": t["name"], "arguments": t["arguments"]});
        if era == "2026" {
            params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
        }
        let _ = session;
        return json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
            .to_string()
            .into_bytes();
    }
    if let Some(b) = entry.get("body").and_then(Value::as_str) {
        return b.as_bytes().to_vec();
    }
    if let Some(b) = entry.get("body_b64").and_then(Value::as_str) {
        return base64::engine::general_purpose::STANDARD.decode(b).unwrap();
    }
    let r = &entry["body_repeat"];
    let mut out = r["head"].as_str().unwrap().as_bytes().to_vec();
    let chunk = r["chunk"].as_str().unwrap().as_bytes();
    for _ in 0..r["times"].as_u64().unwrap() {
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(r["tail"].as_str().unwrap().as_bytes());
    out
}

/// What came back: the status, the body, how long it took.
struct Answer {
    status: u16,
    body: String,
    took: Duration,
}

fn send(
    client: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    session: &str,
    entry: &Value,
) -> Answer {
    let era = entry["era"].as_str().unwrap();
    let body = body_of(entry, era, session);
    let mut headers: Vec<(String, Option<String>)> = vec![
        ("content-type".into(), Some("application/json".into())),
        (
            "accept".into(),
            Some("application/json, text/event-stream".into()),
        ),
        ("authorization".into(), Some(format!("Bearer {token}"))),
    ];
    match era {
        "2025" => {
            headers.push(("mcp-protocol-version".into(), Some("2025-11-25".into())));
            headers.push(("mcp-session-id".into(), Some(session.into())));
        }
        "2026" => {
            headers.push(("mcp-protocol-version".into(), Some("2026-07-28".into())));
            let parsed: Option<Value> = serde_json::from_slice(&body).ok();
            let method = parsed
                .as_ref()
                .and_then(|v| v["method"].as_str())
                .map(str::to_string);
            if let Some(m) = method {
                headers.push(("mcp-method".into(), Some(m.clone())));
                if m == "tools/call" {
                    if let Some(n) = parsed.as_ref().and_then(|v| v["params"]["name"].as_str()) {
                        headers.push(("mcp-name".into(), Some(n.to_string())));
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(over) = entry.get("headers").and_then(Value::as_object) {
        for (k, v) in over {
            headers.retain(|(h, _)| h != k);
            let v = v.as_str().map(|s| s.replace("KEY", token));
            headers.push((k.clone(), v));
        }
    }
    let mut req = client.post(url);
    for (k, v) in &headers {
        if let Some(v) = v {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let started = Instant::now();
    match req.body(body).send() {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.text().unwrap_or_default();
            Answer {
                status,
                body,
                took: started.elapsed(),
            }
        }
        Err(e) => Answer {
            status: 0,
            body: format!("no answer: {e}"),
            took: started.elapsed(),
        },
    }
}

/// The JSON-RPC message of a body (JSON, or the last SSE `data:` event).
fn message(body: &str) -> Option<Value> {
    let last = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .next_back()
        .map(str::trim)
        .unwrap_or(body);
    serde_json::from_str(last).ok()
}

/// Whether an answer refuses, precisely: a 4xx with a message, a JSON-RPC error with one, or a
/// tool result with `isError` and a text.
fn refuses(a: &Answer) -> bool {
    let m = message(&a.body);
    if (400..500).contains(&a.status) {
        return !a.body.trim().is_empty();
    }
    match m {
        Some(m) if m.get("error").is_some() => m["error"]["message"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        Some(m) => {
            m["result"]["isError"] == true
                && m["result"]["content"][0]["text"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty())
        }
        None => false,
    }
}

#[test]
fn every_hostile_request_is_answered_precisely_and_quickly() {
    let corpus = include_str!("hostile/corpus.jsonl");
    let entries: Vec<Value> = corpus
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(entries.len() >= 500, "{} requests", entries.len());

    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt.block_on(Emulator::start(EmulatorConfig::odoo19()));
    let dir = std::env::temp_dir().join(format!("ow-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = binary::config_with(&dir, &emu.url(), POLICY);
    // Enough room for the whole corpus from one address.
    binary::unlimited(&cfg);
    let token = binary::key(&cfg);
    let mut w = binary::serve(&cfg);
    let session = binary::session(&w.mcp_url, &token);
    let client = reqwest::blocking::Client::builder()
        .timeout(BOUND + Duration::from_secs(5))
        .build()
        .unwrap();
    let secrets = [api_key("mcp_writer"), token.clone(), "<apikey:".to_string()];
    let mut problems = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    for entry in &entries {
        let name = entry["name"].as_str().unwrap();
        let a = send(&client, &w.mcp_url, &token, &session, entry);
        if a.took > slowest.0 {
            slowest = (a.took, name.to_string());
        }
        let expect = entry["expect"].as_str().unwrap_or("refused");
        let short: String = a.body.chars().take(300).collect();
        if a.status == 0 || a.status >= 500 {
            problems.push(format!("{name}: HTTP {} {short}", a.status));
        } else if a.took > BOUND {
            problems.push(format!("{name}: took {:?}", a.took));
        } else if expect == "refused" && !refuses(&a) {
            problems.push(format!("{name}: not refused: HTTP {} {short}", a.status));
        }
        if let Some(s) = secrets.iter().find(|s| a.body.contains(s.as_str())) {
            problems.push(format!(
                "{name}: the answer holds a secret ({} chars)",
                s.len()
            ));
        }
        if a.body.contains("Traceback") || a.body.contains("/home/") || a.body.contains("/root/") {
            problems.push(format!(
                "{name}: the answer holds a traceback or a path: {short}"
            ));
        }
    }
    // Still up, its logs clean, its chain whole.
    let health = reqwest::blocking::get(format!("{}/healthz", w.admin_url)).unwrap();
    assert_eq!(health.status(), 200);
    let logs = w.logs.lock().unwrap().clone();
    assert!(
        !logs.contains(&api_key("mcp_writer")),
        "the Odoo key in the logs"
    );
    assert!(!logs.contains("panicked"), "a panic in the logs:\n{logs}");
    let auditor = binary::key_with_scope(&cfg, "audit");
    let verify: Value = client
        .get(format!("{}/admin/v1/audit/verify", w.admin_url))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(verify["ok"], true, "{verify}");
    let _ = w.child.kill();
    let _ = w.child.wait();
    eprintln!(
        "{} hostile requests; the slowest took {:?} ({})",
        entries.len(),
        slowest.0,
        slowest.1
    );
    assert!(
        problems.is_empty(),
        "{} of {} requests:\n{}",
        problems.len(),
        entries.len(),
        problems.join("\n")
    );
}
