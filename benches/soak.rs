//! Soak (issue 19): the real binary in front of the emulator under a mixed load for a long
//! time (default 30 minutes: `cargo bench --bench soak -- --minutes 30 --clients 4`): reads,
//! writes (each record made is deleted again), confirmations asked, approvals requested, refusals (a hidden field, a model outside
//! the policy, a bad key), and session churn (2025 sessions opened, used and closed). Every 30 s
//! it samples the process's resident memory, open descriptors and threads (from /proc), its
//! open connections and alive tasks (/metrics); at the end it verifies the audit chain and prints whether the
//! figures stayed flat (the last tenth against the second tenth of the run).

#[path = "../tests/support/binary.rs"]
mod binary;
#[path = "../tests/emulator/mod.rs"]
mod emulator;

use emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const POLICY: &str = r#"
[defaults]
confirm = "none"
[models."res.partner"]
read = { domain = [["is_company", "=", true]] }
hidden_fields = ["email"]
create = { fields = ["name", "is_company"] }
update = { fields = ["comment"], confirm = "user" }
delete = { confirm = "none" }
[models."res.country"]
read = true
[models."sale.order"]
read = true
create = { fields = ["partner_id"], confirm = "approver" }
"#;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn stateless(
    client: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    tool: &str,
    args: Value,
) -> Option<Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args,
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}});
    client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(body.to_string())
        .send()
        .ok()?
        .json()
        .ok()
}

/// A 2025 session: opened, a list and a call, closed.
fn churn(client: &reqwest::blocking::Client, url: &str, token: &str) {
    let sid = binary::session(url, token);
    let post = |body: Value| {
        client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .header("mcp-session-id", &sid)
            .body(body.to_string())
            .send()
            .ok()
            .map(|r| r.text())
    };
    post(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    post(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_context", "arguments": {}}}),
    );
    let _ = client
        .delete(url)
        .bearer_auth(token)
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &sid)
        .send();
}

struct Sample {
    at: Duration,
    rss_kb: u64,
    fds: usize,
    threads: u64,
    connections: f64,
    tasks: f64,
    calls: u64,
}

fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The sum of a metric's series (`prefix` up to the labels or the value), from /metrics.
fn metric(admin: &str, prefix: &str) -> f64 {
    reqwest::blocking::get(format!("{admin}/metrics"))
        .ok()
        .and_then(|r| r.text().ok())
        .map(|t| {
            t.lines()
                .filter(|l| l.starts_with(prefix))
                .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
                .sum()
        })
        .unwrap_or(0.0)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test` runs this as a 15-second smoke run, which checks
    // the chain but not flatness (too short to say).
    let bench = std::env::args().any(|a| a == "--bench");
    let minutes = arg("--minutes", 30);
    let clients = arg("--clients", if bench { 4 } else { 2 });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt.block_on(Emulator::start(
        EmulatorConfig::odoo19().with_service_time(Duration::from_millis(2)),
    ));
    let dir = std::env::temp_dir().join(format!("ow-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = binary::config_with(&dir, &emu.url(), POLICY);
    binary::unlimited(&cfg);
    let token = binary::key(&cfg);
    let auditor = binary::key_with_scope(&cfg, "audit");
    let mut w = binary::serve(&cfg);
    let pid = w.child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let (url, token, stop, calls) = (w.mcp_url.clone(), token.clone(), stop.clone(), calls.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let step = n % 10;
                    match step {
                        // A write and its undoing: Odoo's data (and the emulator's scans) stay
                        // the same size however long the run.
                        0 => {
                            let made = stateless(&client, &url, &token, "create_records", json!({"model": "res.partner", "records": [{"name": format!("soak {c}-{n}"), "is_company": true}]}));
                            if let Some(ids) = made.as_ref().and_then(|m| m["result"]["structuredContent"]["ids"].as_array()).cloned() {
                                stateless(&client, &url, &token, "delete_records", json!({"model": "res.partner", "ids": ids}));
                            }
                        }
                        1 => {
                            stateless(&client, &url, &token, "update_records", json!({"model": "res.partner", "ids": [9], "values": {"comment": "soak"}}));
                        }
                        2 => {
                            stateless(&client, &url, &token, "create_records", json!({"model": "sale.order", "records": [{"partner_id": 9}]}));
                        }
                        3 => {
                            stateless(&client, &url, &token, "search_records", json!({"model": "res.partner", "fields": ["email"]}));
                        }
                        4 => {
                            stateless(&client, &url, &token, "search_records", json!({"model": "res.users"}));
                        }
                        5 => {
                            stateless(&client, &url, "owk_not_a_key_at_all", "get_context", json!({}));
                        }
                        6 => churn(&client, &url, &token),
                        7 => {
                            stateless(&client, &url, &token, "read_group", json!({"model": "sale.order", "groupby": ["state"]}));
                        }
                        _ => {
                            stateless(&client, &url, &token, "search_records", json!({"model": "res.partner", "fields": ["name", "country_id"], "limit": 20}));
                        }
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    let total = if bench {
        Duration::from_secs(minutes * 60)
    } else {
        Duration::from_secs(15)
    };
    let every = Duration::from_secs(30).min(total / 4);
    let mut samples = Vec::new();
    println!(
        "soak: {:.1} min, {clients} clients, pid {pid}",
        total.as_secs_f64() / 60.0
    );
    println!(
        "{:>8} {:>10} {:>6} {:>8} {:>12} {:>6} {:>10}",
        "time", "rss (KiB)", "fds", "threads", "connections", "tasks", "calls"
    );
    while started.elapsed() < total {
        std::thread::sleep(
            every
                .min(total.saturating_sub(started.elapsed()))
                .max(Duration::from_millis(100)),
        );
        let s = Sample {
            at: started.elapsed(),
            rss_kb: status_field(pid, "VmRSS:"),
            fds: std::fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|d| d.count())
                .unwrap_or(0),
            threads: status_field(pid, "Threads:"),
            connections: metric(&w.admin_url, "odoo_warden_connections_open{"),
            tasks: metric(&w.admin_url, "odoo_warden_tasks "),
            calls: calls.load(Ordering::Relaxed),
        };
        println!(
            "{:>7.0}s {:>10} {:>6} {:>8} {:>12} {:>6} {:>10}",
            s.at.as_secs_f64(),
            s.rss_kb,
            s.fds,
            s.threads,
            s.connections,
            s.tasks,
            s.calls
        );
        samples.push(s);
    }
    stop.store(true, Ordering::Relaxed);
    for h in workers {
        let _ = h.join();
    }
    let verify: Value = reqwest::blocking::Client::new()
        .get(format!("{}/admin/v1/audit/verify", w.admin_url))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let tenth = (samples.len() / 10).max(1);
    let avg = |xs: &[Sample], f: &dyn Fn(&Sample) -> f64| {
        xs.iter().map(f).sum::<f64>() / xs.len().max(1) as f64
    };
    let early = &samples[tenth.min(samples.len() - 1)..(2 * tenth).min(samples.len())];
    let late = &samples[samples.len() - tenth..];
    let rss = (
        avg(early, &|s| s.rss_kb as f64),
        avg(late, &|s| s.rss_kb as f64),
    );
    let fds = (avg(early, &|s| s.fds as f64), avg(late, &|s| s.fds as f64));
    let threads = (
        avg(early, &|s| s.threads as f64),
        avg(late, &|s| s.threads as f64),
    );
    let tasks = (avg(early, &|s| s.tasks), avg(late, &|s| s.tasks));
    let calls_total = calls.load(Ordering::Relaxed);
    println!(
        "calls: {calls_total} ({:.0}/s); rss {:.0} -> {:.0} KiB ({:+.1}%); fds {:.0} -> {:.0}; threads {:.0} -> {:.0}; tasks {:.0} -> {:.0}; audit chain ok: {} ({} records, {} unknown outcomes)",
        calls_total as f64 / started.elapsed().as_secs_f64(),
        rss.0,
        rss.1,
        (rss.1 / rss.0.max(1.0) - 1.0) * 100.0,
        fds.0,
        fds.1,
        threads.0,
        threads.1,
        tasks.0,
        tasks.1,
        verify["ok"],
        verify["records"],
        verify["unknown_outcomes"].as_array().map_or(0, Vec::len),
    );
    let flat = !bench
        || (rss.1 <= rss.0 * 1.25 + 4096.0
            && fds.1 <= fds.0 + 8.0
            && threads.1 <= threads.0 + 4.0
            && tasks.1 <= tasks.0 + 16.0);
    println!(
        "verdict: {}",
        if flat && verify["ok"] == true {
            "flat, chain intact"
        } else {
            "NOT flat or chain broken"
        }
    );
    let _ = w.child.kill();
    let _ = w.child.wait();
    if !(flat && verify["ok"] == true) {
        std::process::exit(1);
    }
}
