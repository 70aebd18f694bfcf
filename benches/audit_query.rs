//! Audit trail queries on a large SQLite trail (issue 6: "queries stay fast on a large trail").
//!
//! `cargo bench --bench audit_query [-- --records N]`
//!
//! Fills a temporary SQLite store with N records (default 1,000,000; 50 keys, 5 profiles, 30
//! models, 4 operations, times spread over 90 days, record ids on a third of them) through
//! `Store::append_audit` in batches, with a cheap chain function, then times typical queries:
//! each is run a few times and the median and the slowest are printed. Under `cargo test` (no
//! `--bench` argument) it only fills 1,000 records and runs each query once, to prove it works.

use std::time::{Duration, Instant};

use odoo_warden::store::{AuditFilter, AuditInsert, Store};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const KEYS: u64 = 50;
const PROFILES: u64 = 5;
const MODELS: u64 = 30;
const OPERATIONS: [&str; 4] = ["read", "create", "write", "unlink"];
const BATCH: usize = 5_000;
const START: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
const SPAN: Duration = Duration::from_secs(90 * 24 * 3600);

struct Args {
    records: u64,
    runs: usize,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let full = argv.iter().any(|a| a == "--bench");
    let mut a = Args {
        records: if full { 1_000_000 } else { 1_000 },
        runs: if full { 7 } else { 1 },
    };
    if let Some(i) = argv.iter().position(|a| a == "--records") {
        a.records = argv
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(a.records);
    }
    a
}

/// A cheap, deterministic mixer (splitmix64), for a realistic but reproducible spread.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn event(n: u64, total: u64) -> AuditInsert {
    let r = mix(n);
    let at = START + SPAN.mul_f64(n as f64 / total as f64);
    let key = format!("key{:02}", r % KEYS);
    let profile = format!("profile{}", (r >> 8) % PROFILES);
    let model = format!("model.{:02}", (r >> 16) % MODELS);
    let operation = OPERATIONS[((r >> 24) % 4) as usize];
    let deny = (r >> 32) % 20 == 0;
    let error = !deny && (r >> 40) % 50 == 0;
    let record_ids: Vec<i64> = if (r >> 48) % 3 == 0 {
        (0..1 + (r >> 50) % 3)
            .map(|i| (mix(r + i) % 100_000) as i64)
            .collect()
    } else {
        vec![]
    };
    let kind = if operation == "read" {
        "tool_call"
    } else {
        "write_intent"
    };
    let decision = if deny { "deny" } else { "allow" };
    let outcome = if deny {
        "refused"
    } else if error {
        "error"
    } else {
        "ok"
    };
    let record = json!({
        "kind": kind,
        "time": at.unix_timestamp_nanos().to_string(),
        "instance": "warden-1",
        "request_id": format!("req-{n:08x}"),
        "key_id": key,
        "key_name": format!("{key} integration"),
        "profile": profile,
        "odoo_uid": 2 + (r % 7),
        "client_ip": format!("10.0.{}.{}", (r >> 4) % 256, (r >> 12) % 256),
        "method": "tools/call",
        "tool": format!("{operation}_records"),
        "model": model,
        "operation": operation,
        "record_ids": record_ids,
        "arguments": {"domain": [["state", "=", "draft"]], "fields": ["name", "amount_total"], "limit": 80},
        "decision": decision,
        "outcome": outcome,
        "duration_ms": (r % 500) as f64 / 10.0,
    });
    AuditInsert {
        time: at,
        kind: kind.to_owned(),
        key_id: Some(key),
        profile: Some(profile),
        person: None,
        model: Some(model),
        operation: Some(operation.to_owned()),
        decision: Some(decision.to_owned()),
        outcome: Some(outcome.to_owned()),
        call_id: (kind == "write_intent").then(|| format!("call-{n}")),
        record_ids,
        record,
    }
}

/// Not a secure hash: the bench measures the store, not SHA-256.
fn cheap_chain(prev: &str, seq: i64, _record: &Value) -> String {
    let p = prev
        .bytes()
        .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b));
    format!("{:016x}", mix(p ^ seq as u64))
}

struct Timing {
    name: String,
    rows: usize,
    median: Duration,
    max: Duration,
}

async fn time_query<F, Fut>(name: &str, runs: usize, mut f: F) -> Timing
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut times = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs {
        let t = Instant::now();
        rows = f().await;
        times.push(t.elapsed());
    }
    times.sort();
    Timing {
        name: name.to_owned(),
        rows,
        median: times[times.len() / 2],
        max: times[times.len() - 1],
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let path =
        std::env::temp_dir().join(format!("odoo-warden-audit-bench-{}.db", std::process::id()));
    let cleanup = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    };
    cleanup();
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_or_else(|e| panic!("open bench store: {e}"));

    // Fill.
    let started = Instant::now();
    let mut n = 0;
    while n < args.records {
        let end = (n + BATCH as u64).min(args.records);
        let batch: Vec<AuditInsert> = (n..end).map(|i| event(i, args.records)).collect();
        store
            .append_audit(&batch, &cheap_chain)
            .await
            .unwrap_or_else(|e| panic!("append: {e}"));
        n = end;
    }
    let fill = started.elapsed();
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "audit_query: filled {} records in {fill:.2?} ({:.0} records/s, batches of {BATCH}), \
         database {:.0} MB",
        args.records,
        args.records as f64 / fill.as_secs_f64(),
        size as f64 / 1e6
    );

    let day = Duration::from_secs(24 * 3600);
    let mid = START + SPAN / 2;
    let runs = args.runs;
    let s = &store;
    let q = |f: AuditFilter, after: Option<i64>, limit: u32| async move {
        s.query_audit(&f, after, limit)
            .await
            .unwrap_or_else(|e| panic!("query: {e}"))
            .len()
    };
    let qd = |f: AuditFilter, before: Option<i64>, limit: u32| async move {
        s.query_audit_desc(&f, before, limit)
            .await
            .unwrap_or_else(|e| panic!("query: {e}"))
            .len()
    };
    let deep = (args.records * 9 / 10) as i64;
    let key_week = || AuditFilter {
        key_id: Some("key07".into()),
        since: Some(mid),
        until: Some(mid + 7 * day),
        ..Default::default()
    };
    let timings = vec![
        time_query("key + 7-day range, first 50", runs, || {
            q(key_week(), None, 50)
        })
        .await,
        time_query("key + 7-day range, newest 50", runs, || {
            qd(key_week(), None, 50)
        })
        .await,
        time_query("key + 7-day range, all (limit 10000)", runs, || {
            q(key_week(), None, 10_000)
        })
        .await,
        time_query("key, latest 50", runs, || {
            qd(
                AuditFilter {
                    key_id: Some("key07".into()),
                    ..Default::default()
                },
                None,
                50,
            )
        })
        .await,
        time_query("model + operation, first 50", runs, || {
            q(
                AuditFilter {
                    model: Some("model.12".into()),
                    operation: Some("unlink".into()),
                    ..Default::default()
                },
                None,
                50,
            )
        })
        .await,
        time_query("model + operation + 1-day range, first 50", runs, || {
            q(
                AuditFilter {
                    model: Some("model.12".into()),
                    operation: Some("unlink".into()),
                    since: Some(mid),
                    until: Some(mid + day),
                    ..Default::default()
                },
                None,
                50,
            )
        })
        .await,
        time_query("record id, all (limit 1000)", runs, || {
            q(
                AuditFilter {
                    record_id: Some(4242),
                    ..Default::default()
                },
                None,
                1000,
            )
        })
        .await,
        time_query("record id + model, all (limit 1000)", runs, || {
            q(
                AuditFilter {
                    record_id: Some(4242),
                    model: Some("model.03".into()),
                    ..Default::default()
                },
                None,
                1000,
            )
        })
        .await,
        time_query("deny, last 30 days, newest 50", runs, || {
            qd(
                AuditFilter {
                    decision: Some("deny".into()),
                    since: Some(START + SPAN - 30 * day),
                    ..Default::default()
                },
                None,
                50,
            )
        })
        .await,
        time_query("1-day range only, first 50", runs, || {
            q(
                AuditFilter {
                    since: Some(mid),
                    until: Some(mid + day),
                    ..Default::default()
                },
                None,
                50,
            )
        })
        .await,
        time_query("last 90 days (everything), first 50", runs, || {
            q(
                AuditFilter {
                    since: Some(START),
                    ..Default::default()
                },
                None,
                50,
            )
        })
        .await,
        time_query("page of 50 after seq at 90%", runs, || {
            q(AuditFilter::default(), Some(deep), 50)
        })
        .await,
        time_query("key, page of 50 after seq at 90%", runs, || {
            q(
                AuditFilter {
                    key_id: Some("key07".into()),
                    ..Default::default()
                },
                Some(deep),
                50,
            )
        })
        .await,
        time_query("call id", runs, || {
            q(
                AuditFilter {
                    call_id: Some(format!("call-{}", args.records / 2 + 1)),
                    ..Default::default()
                },
                None,
                10,
            )
        })
        .await,
        time_query("audit_range 1000 at 50% (verify paging)", runs, || async {
            s.audit_range((args.records / 2) as i64, 1000)
                .await
                .unwrap_or_else(|e| panic!("range: {e}"))
                .len()
        })
        .await,
        time_query("audit_count", runs, || async {
            s.audit_count()
                .await
                .unwrap_or_else(|e| panic!("count: {e}")) as usize
        })
        .await,
        time_query("audit_head", runs, || async {
            s.audit_head()
                .await
                .unwrap_or_else(|e| panic!("head: {e}"))
                .map_or(0, |_| 1)
        })
        .await,
    ];
    println!(
        "{:<44} {:>6} {:>11} {:>11}",
        "query", "rows", "median", "slowest"
    );
    for t in &timings {
        println!(
            "{:<44} {:>6} {:>11.2?} {:>11.2?}",
            t.name, t.rows, t.median, t.max
        );
    }
    let count = store
        .audit_count()
        .await
        .unwrap_or_else(|e| panic!("count: {e}"));
    assert_eq!(count, args.records as i64);
    store.close().await;
    cleanup();
}
