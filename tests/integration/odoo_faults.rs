//! Odoo faults (issue 19): for each way a network, a proxy or a stuck Odoo fails a request
//! (the emulator's [`Fault`]s, on one model), a read fails within the timeout with a tool error
//! an assistant can act on; a write is recorded `unknown` and the assistant is told to check
//! before retrying; nothing is left behind (connections, tasks) once the fault clears. Then the
//! circuit breaker: Odoo down opens it (calls refused at once, unsent; `/readyz` not ready;
//! `/metrics` says so), Odoo back closes it.

use crate::emulator::faults::{Fault, FaultRule};
use crate::emulator::{Emulator, EmulatorConfig};
use crate::warden::{self, Warden};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const POLICY: &str = r#"
[defaults]
confirm = "none"
[models."res.partner"]
read = true
create = { fields = ["name", "is_company"] }
[models."res.country"]
read = true
"#;

/// Odoo's timeout in these tests.
const TIMEOUT: Duration = Duration::from_secs(2);

struct T {
    emu: Emulator,
    w: Warden,
    mcp: String,
    audit: String,
}

async fn start(odoo_extra: &str) -> T {
    let emu = Emulator::start(EmulatorConfig::odoo19()).await;
    let dir = std::env::temp_dir().join(format!(
        "ow-faults-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    let extra = format!("policy = \"{}\"", dir.join("policy.toml").display());
    let text = warden::config_text(
        &emu.url(),
        "sqlite::memory:",
        &[("sales", "mcp_writer")],
        &extra,
    )
    .replacen(
        "database = \"lab\"\n",
        &format!(
            "database = \"lab\"\ntimeout_secs = {}\n{odoo_extra}",
            TIMEOUT.as_secs()
        ),
        1,
    );
    let w = warden::start(&text, warden::env_for(&["mcp_writer"]))
        .await
        .unwrap();
    let (_, mcp) = w.key(&["mcp"], Some("sales"), None).await;
    let (_, audit) = w.key(&["audit"], None, None).await;
    T { emu, w, mcp, audit }
}

impl T {
    /// A tools/call: its result, and how long it took.
    async fn tool(&self, name: &str, args: Value) -> (Value, Duration) {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}},
            "name": name, "arguments": args}});
        let started = Instant::now();
        let v: Value = reqwest::Client::new()
            .post(&self.w.mcp_url)
            .bearer_auth(&self.mcp)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", name)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (v["result"].clone(), started.elapsed())
    }

    async fn read(&self) -> (Value, Duration) {
        self.tool(
            "search_records",
            json!({"model": "res.partner", "fields": ["name"], "limit": 3}),
        )
        .await
    }

    async fn last(&self, kind: &str) -> Value {
        assert!(self.w.rt.audit.flush(Duration::from_secs(5)).await);
        let r: Value = reqwest::Client::new()
            .get(format!("{}/admin/v1/audit", self.w.admin_url))
            .bearer_auth(&self.audit)
            .query(&[("kind", kind), ("limit", "1")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["records"][0]["record"].clone()
    }

    async fn admin_get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("{}{path}", self.w.admin_url))
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Connections from this process to the emulator's port, established now (the client side:
/// the warden's pool), from /proc/net/tcp{,6}.
fn client_connections(port: u16) -> usize {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| t.lines().skip(1).map(str::to_string).collect::<Vec<_>>())
        .filter(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let remote_port = cols
                .get(2)
                .and_then(|r| r.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            cols.get(3) == Some(&"01") && remote_port == Some(port)
        })
        .count()
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits (up to 5 s) for `f` to hold.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_odoo_fault_fails_reads_cleanly_and_records_writes_as_unknown() {
    // The circuit stays closed here: every fault meets Odoo's answer head-on.
    let t = start("circuit_failures = 0\n").await;
    let port = t.emu.addr().port();
    // Warm: the pool holds its connections, the tasks are the steady ones.
    for _ in 0..3 {
        assert_ne!(t.read().await.0["isError"], true);
    }
    let connections = client_connections(port);
    let tasks = alive_tasks();
    let cases = [
        (
            Fault::Slow(TIMEOUT + Duration::from_secs(1)),
            "did not answer within",
        ),
        (Fault::Stall, "did not answer within"),
        (Fault::Reset, "failed"),
        (Fault::HtmlPage(502), "HTTP 502"),
        (Fault::HtmlPage(503), "HTTP 503"),
        (Fault::Truncated, "Odoo"),
        (Fault::NotJson, "not JSON"),
        (Fault::Endless, "Odoo"),
    ];
    for (fault, says) in cases {
        t.emu.fault(FaultRule::model(fault.clone(), "res.partner"));
        // A read: a tool error within the timeout, saying what happened and what to do.
        let (r, took) = t.read().await;
        assert_eq!(r["isError"], true, "{fault:?}: {r}");
        let m = text(&r);
        assert!(
            m.contains(says) && m.contains("try again later"),
            "{fault:?}: {m}"
        );
        assert!(
            took < TIMEOUT + Duration::from_secs(1),
            "{fault:?}: {took:?}"
        );
        let read = t.last("tool_call").await;
        assert_eq!(read["outcome"], "error", "{fault:?}: {read}");
        // A write: Odoo may have carried it out; the trail says unknown, the assistant is
        // told to check first.
        let (r, took) = t
            .tool(
                "create_records",
                json!({"model": "res.partner", "records": [{"name": format!("Fault {fault:?}"), "is_company": true}]}),
            )
            .await;
        assert_eq!(r["isError"], true, "{fault:?}: {r}");
        let m = text(&r);
        assert!(
            m.contains("check the records before retrying"),
            "{fault:?}: {m}"
        );
        assert!(
            took < TIMEOUT + Duration::from_secs(1),
            "{fault:?}: {took:?}"
        );
        let outcome = t.last("write_outcome").await;
        assert_eq!(outcome["outcome"], "unknown", "{fault:?}: {outcome}");
        // Other models are not hit.
        let (r, _) = t
            .tool(
                "search_records",
                json!({"model": "res.country", "fields": ["code"], "limit": 1}),
            )
            .await;
        assert_ne!(r["isError"], true, "{fault:?}: {r}");
        t.emu.clear_faults();
        assert_ne!(t.read().await.0["isError"], true, "{fault:?}: after");
    }
    // Nothing left behind: the pool is back to what it held, and no task lingers.
    eventually("connections to Odoo linger", || {
        client_connections(port) <= connections + 2
    })
    .await;
    eventually("tasks linger", || alive_tasks() <= tasks + 2).await;
    // The chain names every unknown outcome.
    let v: Value = reqwest::Client::new()
        .get(format!("{}/admin/v1/audit/verify", t.w.admin_url))
        .bearer_auth(&t.audit)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["unknown_outcomes"].as_array().unwrap().len(), 8, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_opens_while_odoo_is_down_and_closes_when_it_is_back() {
    let mut t = start("circuit_failures = 3\ncircuit_cooldown_secs = 1\n").await;
    let (status, body) = t.admin_get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    t.emu.go_down().await;
    // Connection refused: three failures open the circuit.
    for _ in 0..3 {
        let (r, _) = t.read().await;
        assert_eq!(r["isError"], true, "{r}");
        assert!(text(&r).contains("cannot connect to Odoo"), "{r}");
    }
    // Now refused at once, unsent, saying so.
    let (r, took) = t.read().await;
    let m = text(&r);
    assert!(
        m.contains("Odoo is unreachable") && m.contains("Nothing was sent"),
        "{m}"
    );
    assert!(took < Duration::from_millis(500), "{took:?}");
    let (_, metrics) = t.admin_get("/metrics").await;
    assert!(metrics.contains("odoo_warden_odoo_circuit 1"), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("odoo_warden_odoo_circuit_refused_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    let (status, body) = t.admin_get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    // A write refused by the open circuit was certainly not carried out: an error, not unknown.
    let (r, _) = t
        .tool(
            "create_records",
            json!({"model": "res.partner", "records": [{"name": "Down Co", "is_company": true}]}),
        )
        .await;
    assert_eq!(r["isError"], true);
    assert!(!text(&r).contains("may or may not"), "{r}");
    // Refused before its intent was even recorded (the field definitions could not be read).
    let call = t.last("tool_call").await;
    assert_eq!(
        (call["tool"].as_str(), call["outcome"].as_str()),
        (Some("create_records"), Some("error")),
        "{call}"
    );
    // Still down after the cooldown: the probe fails, the circuit stays open (longer).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (r, _) = t.read().await;
    assert!(text(&r).contains("cannot connect"), "the probe: {r}");
    let (r, _) = t.read().await;
    assert!(text(&r).contains("Odoo is unreachable"), "{r}");
    // Odoo is back: after the cooldown, /readyz's own request probes, and all is well.
    t.emu.come_back().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = t.admin_get("/readyz").await;
        if status == 200 {
            assert!(body.contains("\"odoo_circuit\":\"closed\""), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "not ready again: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (r, _) = t.read().await;
    assert_ne!(r["isError"], true, "{r}");
    let (_, metrics) = t.admin_get("/metrics").await;
    assert!(metrics.contains("odoo_warden_odoo_circuit 0"), "{metrics}");
}
