//! The audit trail's storage against both backends: each case runs on a fresh SQLite file and on
//! a fresh database of a real, throwaway PostgreSQL server (tests/support/pg.rs, one for the
//! whole test process).

use crate::pg;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use odoo_warden::store::{
    AuditFilter, AuditInsert, AuditRow, MAX_HASH_LEN, Store, StoreError, stored_time,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::datetime;

// ---------------------------------------------------------------------------------------------
// Harness (as in store.rs)

#[derive(Clone)]
struct Ctx {
    url: String,
    backend: &'static str,
}

impl Ctx {
    async fn connect(&self) -> Store {
        let store = Store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.url));
        assert_eq!(store.backend(), self.backend);
        store
    }
}

type Case = fn(Ctx) -> Pin<Box<dyn Future<Output = ()> + Send>>;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), |ctx| Box::pin($name(ctx)) as Pin<Box<dyn Future<Output = ()> + Send>>)),*]
    };
}

const CASES: &[(&str, Case)] = cases![
    schema_has_the_audit_indexes,
    empty_trail,
    appends_chain_gaplessly,
    records_round_trip_exactly,
    each_filter_selects,
    cursor_paging_both_directions,
    a_failing_batch_leaves_nothing,
    a_panicking_chain_leaves_nothing,
    concurrent_appends_from_two_instances_form_one_chain,
    tallies_count_since_a_time,
];

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "odoo-warden-audit-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn run_cases(make: impl Fn(&str) -> Ctx) {
    for (name, case) in CASES {
        let started = Instant::now();
        let ctx = make(name);
        let backend = ctx.backend;
        if let Err(e) = tokio::spawn(case(ctx)).await {
            panic!("case {name} failed on {backend}: {e}");
        }
        eprintln!("  {backend} {name}: ok in {:.0?}", started.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_backend() {
    let dir = TempDir::new("cases");
    let started = Instant::now();
    run_cases(|name| Ctx {
        url: format!("sqlite://{}/{name}.db", dir.0.display()),
        backend: "sqlite",
    })
    .await;
    eprintln!("sqlite: {} cases in {:.2?}", CASES.len(), started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_backend() {
    let Some(server) = pg::shared() else {
        return;
    };
    let started = Instant::now();
    run_cases(|name| {
        // One server for the whole test process: database names carry this file's prefix.
        let database = format!("trail_{name}");
        server.create_database(&database);
        Ctx {
            url: server.url_for(&database),
            backend: "postgres",
        }
    })
    .await;
    eprintln!(
        "postgres: {} cases in {:.2?} (server start-up {:.2?})",
        CASES.len(),
        started.elapsed(),
        server.startup
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers

const T0: OffsetDateTime = datetime!(2026-07-28 09:00:00.000001 UTC);

/// A real chain: SHA-256 of the previous hash, the seq and the record's JSON text.
fn chain(prev: &str, seq: i64, record: &Value) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(serde_json::to_string(record).unwrap().as_bytes());
    hex::encode(h.finalize())
}

fn event(kind: &str, at: OffsetDateTime, record: Value) -> AuditInsert {
    AuditInsert {
        time: at,
        kind: kind.to_owned(),
        key_id: None,
        profile: None,
        person: None,
        model: None,
        operation: None,
        decision: None,
        outcome: None,
        call_id: None,
        record_ids: vec![],
        record,
    }
}

/// Checks the whole trail: seqs 1..=n without gaps, each prev_hash the hash before it, each
/// hash recomputed from the record read back. Returns the rows.
async fn verify(store: &Store) -> Vec<AuditRow> {
    let mut all = Vec::new();
    let mut from = 1;
    loop {
        let page = store.audit_range(from, 7).await.unwrap();
        let Some(last) = page.last() else { break };
        from = last.seq + 1;
        all.extend(page);
    }
    let mut prev = String::new();
    for (i, row) in all.iter().enumerate() {
        assert_eq!(row.seq, i as i64 + 1, "gap or reorder at index {i}");
        assert_eq!(
            row.prev_hash, prev,
            "seq {} does not link to {}",
            row.seq, i
        );
        assert_eq!(
            row.hash,
            chain(&prev, row.seq, &row.record),
            "seq {}: hash not reproducible from the record read back",
            row.seq
        );
        prev = row.hash.clone();
    }
    assert_eq!(store.audit_count().await.unwrap(), all.len() as i64);
    assert_eq!(
        store.audit_head().await.unwrap(),
        all.last().map(|r| (r.seq, r.hash.clone()))
    );
    all
}

fn seqs(rows: &[AuditRow]) -> Vec<i64> {
    rows.iter().map(|r| r.seq).collect()
}

async fn raw_record(store: &Store, seq: i64) -> String {
    match store {
        Store::Sqlite(p) => sqlx::query_scalar("SELECT record FROM audit_log WHERE seq = ?")
            .bind(seq)
            .fetch_one(p)
            .await
            .unwrap(),
        Store::Postgres(p) => sqlx::query_scalar("SELECT record FROM audit_log WHERE seq = $1")
            .bind(seq)
            .fetch_one(p)
            .await
            .unwrap(),
    }
}

async fn record_id_rows(store: &Store) -> i64 {
    let sql = "SELECT count(*) FROM audit_record_ids";
    match store {
        Store::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        Store::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

// ---------------------------------------------------------------------------------------------
// Cases

async fn schema_has_the_audit_indexes(ctx: Ctx) {
    let store = ctx.connect().await;
    let indexes: Vec<String> = match &store {
        Store::Sqlite(p) => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_log' \
             AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
        )
        .fetch_all(p)
        .await
        .unwrap(),
        Store::Postgres(p) => sqlx::query_scalar(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'audit_log' \
             AND indexname <> 'audit_log_pkey' ORDER BY 1",
        )
        .fetch_all(p)
        .await
        .unwrap(),
    };
    assert_eq!(
        indexes,
        [
            "audit_by_call",
            "audit_by_decision",
            "audit_by_key",
            "audit_by_kind",
            "audit_by_model",
            "audit_by_operation",
            "audit_by_outcome",
            "audit_by_person",
            "audit_by_profile",
            "audit_by_time",
        ]
    );
}

async fn empty_trail(ctx: Ctx) {
    let store = ctx.connect().await;
    assert_eq!(store.audit_head().await.unwrap(), None);
    assert_eq!(store.audit_count().await.unwrap(), 0);
    assert!(store.append_audit(&[], &chain).await.unwrap().is_empty());
    assert_eq!(store.audit_count().await.unwrap(), 0);
    let all = AuditFilter::default();
    assert!(store.query_audit(&all, None, 10).await.unwrap().is_empty());
    assert!(
        store
            .query_audit_desc(&all, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.audit_range(1, 10).await.unwrap().is_empty());
}

async fn appends_chain_gaplessly(ctx: Ctx) {
    let store = ctx.connect().await;
    let one = store
        .append_audit(&[event("request", T0, json!({"n": 1}))], &chain)
        .await
        .unwrap();
    assert_eq!(one, [1]);
    let batch: Vec<AuditInsert> = (2..=6)
        .map(|n| event("tool_call", T0, json!({"n": n})))
        .collect();
    assert_eq!(
        store.append_audit(&batch, &chain).await.unwrap(),
        [2, 3, 4, 5, 6]
    );
    let rows = verify(&store).await;
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0].prev_hash, "");
    assert_eq!(rows[3].record, json!({"n": 4}));
    assert_eq!(rows[3].time, T0);
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((6, rows[5].hash.clone()))
    );

    // A reconnect (another instance) continues the same chain.
    store.close().await;
    let again = ctx.connect().await;
    assert_eq!(
        again
            .append_audit(&[event("request", T0, json!({"n": 7}))], &chain)
            .await
            .unwrap(),
        [7]
    );
    assert_eq!(verify(&again).await.len(), 7);
    // The range reads from any seq, inclusive.
    assert_eq!(seqs(&again.audit_range(5, 2).await.unwrap()), [5, 6]);
    assert_eq!(seqs(&again.audit_range(6, 100).await.unwrap()), [6, 7]);
    assert!(again.audit_range(8, 100).await.unwrap().is_empty());
    assert!(again.audit_range(1, 0).await.unwrap().is_empty());
}

async fn records_round_trip_exactly(ctx: Ctx) {
    let store = ctx.connect().await;
    let records = [
        json!({
            "zeta": 1, "alpha": 2, "mid": {"z": [1, 2, {"y": null, "b": true}], "a": "x"},
            "text": "héllo wörld — 日本語 🚀 \u{0} tab\t quote\" backslash\\ nl\n \u{7f} \u{2028}",
            "empty": {}, "list": [], "ünïcödé-kéy": "v"
        }),
        json!({
            "floats": [0.1, 0.2, 0.30000000000000004, 1.0, -0.0, 1e300, 2.5e-308,
                       5e-324, 1.7976931348623157e308, 123456789.12345678, 1e21, 1e-7,
                       0.1 + 0.7, std::f64::consts::PI, -2.718_281_9e-5],
            "ints": [0, -1, i64::MIN, i64::MAX, u64::MAX],
        }),
        json!("a bare string"),
        json!(42),
        json!([{"b": 1, "a": 2}, {"a": 1, "b": 2}]),
        json!({"deep": {"deeper": {"deepest": {"k": [[[["x"]]]]}}}}),
    ];
    let events: Vec<AuditInsert> = records
        .iter()
        .map(|r| event("request", T0, r.clone()))
        .collect();
    store.append_audit(&events, &chain).await.unwrap();
    let rows = verify(&store).await;
    for (row, original) in rows.iter().zip(&records) {
        let text = serde_json::to_string(original).unwrap();
        assert_eq!(
            raw_record(&store, row.seq).await,
            text,
            "stored text differs"
        );
        assert_eq!(&row.record, original);
        assert_eq!(
            serde_json::to_string(&row.record).unwrap(),
            text,
            "seq {} re-serialises differently",
            row.seq
        );
    }
    // Key order is kept as given, not sorted.
    assert!(
        raw_record(&store, 1)
            .await
            .starts_with(r#"{"zeta":1,"alpha":2"#)
    );
    // Many random floats survive text and back bit for bit.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let floats: Vec<f64> = (0..2000)
        .filter_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            f.is_finite().then_some(f)
        })
        .collect();
    let record = json!({ "floats": floats });
    store
        .append_audit(&[event("request", T0, record.clone())], &chain)
        .await
        .unwrap();
    let back = store.audit_range(7, 1).await.unwrap();
    let back: Vec<u64> = back[0].record["floats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap().to_bits())
        .collect();
    assert_eq!(back, floats.iter().map(|f| f.to_bits()).collect::<Vec<_>>());
    verify(&store).await;
}

/// 40 records: key k{i%4}, profile p{i%3}, model m{i%5}, operation op{i%2}, decision allow/deny
/// (every 7th denied), outcome ok/error (every 5th error), kind request/tool_call, one call id
/// per pair, record ids {i, 1000 + i%3}, one minute apart from T0.
fn spread() -> Vec<AuditInsert> {
    (0..40)
        .map(|i: i64| {
            let mut e = event(
                if i % 2 == 0 { "request" } else { "tool_call" },
                T0 + Duration::from_secs(60 * i as u64),
                json!({"i": i}),
            );
            e.key_id = Some(format!("k{}", i % 4));
            e.profile = Some(format!("p{}", i % 3));
            e.model = Some(format!("m{}", i % 5));
            e.operation = Some(format!("op{}", i % 2));
            e.decision = Some(if i % 7 == 0 { "deny" } else { "allow" }.to_owned());
            e.outcome = Some(if i % 5 == 0 { "error" } else { "ok" }.to_owned());
            e.call_id = Some(format!("c{}", i / 2));
            e.record_ids = vec![i, 1000 + i % 3, i];
            e
        })
        .collect()
}

async fn each_filter_selects(ctx: Ctx) {
    let store = ctx.connect().await;
    let events = spread();
    // In two batches, with a record without any optional field between them.
    store.append_audit(&events[..25], &chain).await.unwrap();
    store
        .append_audit(&[event("policy_reload", T0, json!({}))], &chain)
        .await
        .unwrap();
    store.append_audit(&events[25..], &chain).await.unwrap();
    verify(&store).await;
    // Duplicate ids in one event are indexed once: 2 distinct ids per spread record.
    assert_eq!(record_id_rows(&store).await, 80);
    // seq of spread record i.
    let seq_of = |i: i64| if i < 25 { i + 1 } else { i + 2 };
    let expect = |pred: &dyn Fn(i64) -> bool| -> Vec<i64> {
        (0..40).filter(|&i| pred(i)).map(seq_of).collect()
    };
    let get = |f: AuditFilter| {
        let store = store.clone();
        async move { seqs(&store.query_audit(&f, None, 1000).await.unwrap()) }
    };
    let at = |i: u64| T0 + Duration::from_secs(60 * i);

    assert_eq!(get(AuditFilter::default()).await.len(), 41);
    let f = AuditFilter {
        key_id: Some("k1".into()),
        ..Default::default()
    };
    assert_eq!(get(f).await, expect(&|i| i % 4 == 1));
    let f = AuditFilter {
        profile: Some("p2".into()),
        ..Default::default()
    };
    assert_eq!(get(f).await, expect(&|i| i % 3 == 2));
    let f = AuditFilter {
        model: Some("m3".into()),
        ..Default::default()
    };
    assert_eq!(get(f).await, expect(&|i| i % 5 == 3));
    let f = AuditFilter {
        operation: Some("op0".into()),
        ..Default::default()
    };
    assert_eq!(get(f).await, expect(&|i| i % 2 == 0));
    let f = AuditFilter {
        decision: Some("deny".into()),
        ..Default::default()
    };
    assert_eq!(get(f).await, expect(&|i| i % 7 == 0));
    let f = AuditFilter {
        outcome: Some("error".into()),
        ..Default::default()
    };
    assert_eq!(get(f).await, expect(&|i| i % 5 == 0));
    let f = AuditFilter {
        kind: Some("policy_reload".into()),
        ..Default::default()
    };
    assert_eq!(get(f).await, [26]);
    let f = AuditFilter {
        kind: Some("tool_call".into()),
        ..Default::default()
    };
    assert_eq!(get(f).await, expect(&|i| i % 2 == 1));
    let f = AuditFilter {
        call_id: Some("c13".into()),
        ..Default::default()
    };
    assert_eq!(get(f).await, expect(&|i| i / 2 == 13));
    let f = AuditFilter {
        record_id: Some(17),
        ..Default::default()
    };
    assert_eq!(get(f).await, expect(&|i| i == 17));
    let f = AuditFilter {
        record_id: Some(1001),
        ..Default::default()
    };
    assert_eq!(get(f).await, expect(&|i| i % 3 == 1));
    let f = AuditFilter {
        record_id: Some(999_999),
        ..Default::default()
    };
    assert!(get(f).await.is_empty());
    let f = AuditFilter {
        key_id: Some("nobody".into()),
        ..Default::default()
    };
    assert!(get(f).await.is_empty());

    // Time: since inclusive, until exclusive, at microsecond precision.
    let f = AuditFilter {
        since: Some(at(10)),
        until: Some(at(20)),
        ..Default::default()
    };
    assert_eq!(get(f).await, expect(&|i| (10..20).contains(&i)));
    let f = AuditFilter {
        since: Some(at(10) + Duration::from_micros(1)),
        ..Default::default()
    };
    assert_eq!(get(f).await, expect(&|i| i > 10));
    let f = AuditFilter {
        until: Some(at(3) + Duration::from_micros(1)),
        ..Default::default()
    };
    // The policy_reload record is at T0 too.
    let mut early = expect(&|i| i <= 3);
    early.push(26);
    assert_eq!(get(f).await, early);
    // A time in another offset means the same instant.
    let f = AuditFilter {
        since: Some(at(38).to_offset(time::macros::offset!(+05:30))),
        ..Default::default()
    };
    assert_eq!(get(f).await, expect(&|i| i >= 38));

    // Combined: every condition holds.
    let f = AuditFilter {
        since: Some(at(5)),
        until: Some(at(35)),
        key_id: Some("k0".into()),
        operation: Some("op0".into()),
        outcome: Some("ok".into()),
        record_id: Some(1000),
        ..Default::default()
    };
    assert_eq!(
        get(f).await,
        expect(&|i| (5..35).contains(&i) && i % 4 == 0 && i % 5 != 0 && i % 3 == 0)
    );
    let f = AuditFilter {
        model: Some("m1".into()),
        operation: Some("op1".into()),
        decision: Some("allow".into()),
        profile: Some("p0".into()),
        kind: Some("tool_call".into()),
        ..Default::default()
    };
    assert_eq!(
        get(f).await,
        expect(&|i| i % 5 == 1 && i % 2 == 1 && i % 7 != 0 && i % 3 == 0)
    );

    // The rows carry the record, its time and its hashes.
    let f = AuditFilter {
        record_id: Some(17),
        ..Default::default()
    };
    let row = &store.query_audit(&f, None, 10).await.unwrap()[0];
    assert_eq!(row.record, json!({"i": 17}));
    assert_eq!(row.time, stored_time(at(17)));
    assert_eq!(row.hash, chain(&row.prev_hash, row.seq, &row.record));
}

/// The dashboard's counts: records at or after a time, by kind, decision and outcome.
async fn tallies_count_since_a_time(ctx: Ctx) {
    let store = ctx.connect().await;
    store.append_audit(&spread(), &chain).await.unwrap();
    let since = T0 + Duration::from_secs(60 * 20);
    let mut tallies = store.audit_tally(since).await.unwrap();
    tallies.sort_by(|a, b| {
        (&a.kind, &a.decision, &a.outcome).cmp(&(&b.kind, &b.decision, &b.outcome))
    });
    let mut expected: std::collections::BTreeMap<(String, String, String), i64> =
        Default::default();
    for i in 20..40i64 {
        let kind = if i % 2 == 0 { "request" } else { "tool_call" };
        let decision = if i % 7 == 0 { "deny" } else { "allow" };
        let outcome = if i % 5 == 0 { "error" } else { "ok" };
        *expected
            .entry((kind.into(), decision.into(), outcome.into()))
            .or_default() += 1;
    }
    let got: std::collections::BTreeMap<(String, String, String), i64> = tallies
        .iter()
        .map(|t| {
            (
                (
                    t.kind.clone(),
                    t.decision.clone().unwrap(),
                    t.outcome.clone().unwrap(),
                ),
                t.count,
            )
        })
        .collect();
    assert_eq!(got, expected);
    // Nulls group as nulls; nothing after the last record.
    store
        .append_audit(
            &[event(
                "policy_reload",
                T0 + Duration::from_secs(3600),
                json!({}),
            )],
            &chain,
        )
        .await
        .unwrap();
    let late = store
        .audit_tally(T0 + Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(late.len(), 1);
    assert_eq!((late[0].decision.as_deref(), late[0].count), (None, 1));
    assert!(
        store
            .audit_tally(T0 + Duration::from_secs(3601))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn cursor_paging_both_directions(ctx: Ctx) {
    let store = ctx.connect().await;
    store.append_audit(&spread(), &chain).await.unwrap();
    let filters = [
        AuditFilter::default(),
        AuditFilter {
            key_id: Some("k2".into()),
            ..Default::default()
        },
        AuditFilter {
            since: Some(T0 + Duration::from_secs(60 * 7)),
            model: Some("m2".into()),
            ..Default::default()
        },
        AuditFilter {
            record_id: Some(1002),
            ..Default::default()
        },
    ];
    for f in &filters {
        let all = seqs(&store.query_audit(f, None, 1000).await.unwrap());
        assert!(!all.is_empty());
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        for page_size in [1, 3, 1000] {
            // Oldest first, after the cursor.
            let mut got = Vec::new();
            let mut cursor = None;
            loop {
                let page = store.query_audit(f, cursor, page_size).await.unwrap();
                assert!(page.len() <= page_size as usize);
                let Some(last) = page.last() else { break };
                cursor = Some(last.seq);
                got.extend(seqs(&page));
            }
            assert_eq!(got, all, "ascending, pages of {page_size}, {f:?}");
            // Newest first, before the cursor.
            let mut got = Vec::new();
            let mut cursor = None;
            loop {
                let page = store.query_audit_desc(f, cursor, page_size).await.unwrap();
                assert!(page.len() <= page_size as usize);
                let Some(last) = page.last() else { break };
                cursor = Some(last.seq);
                got.extend(seqs(&page));
            }
            got.reverse();
            assert_eq!(got, all, "descending, pages of {page_size}, {f:?}");
        }
    }
    let all = AuditFilter::default();
    // The cursor is exclusive in both directions; a limit of 0 returns nothing.
    assert_eq!(
        seqs(&store.query_audit(&all, Some(38), 10).await.unwrap()),
        [39, 40]
    );
    assert_eq!(
        seqs(&store.query_audit_desc(&all, Some(3), 10).await.unwrap()),
        [2, 1]
    );
    assert_eq!(
        seqs(&store.query_audit_desc(&all, None, 2).await.unwrap()),
        [40, 39]
    );
    assert!(
        store
            .query_audit(&all, Some(40), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .query_audit_desc(&all, Some(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.query_audit(&all, None, 0).await.unwrap().is_empty());
    assert!(
        store
            .query_audit_desc(&all, None, 0)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_failing_batch_leaves_nothing(ctx: Ctx) {
    let store = ctx.connect().await;
    store.append_audit(&spread()[..3], &chain).await.unwrap();
    let before = verify(&store).await;
    // The chain function returns a hash far too long for the third record of the batch.
    let huge = |prev: &str, seq: i64, record: &Value| {
        if seq == 6 {
            "h".repeat(1 << 20)
        } else {
            chain(prev, seq, record)
        }
    };
    let batch = spread()[3..10].to_vec();
    match store.append_audit(&batch, &huge).await {
        Err(StoreError::Record(m)) => {
            assert!(m.contains("nothing of this batch was stored"), "{m}");
            assert!(m.contains(&MAX_HASH_LEN.to_string()), "{m}");
        }
        other => panic!("a huge hash was accepted: {other:?}"),
    }
    assert_eq!(verify(&store).await, before);
    assert_eq!(record_id_rows(&store).await, 6);

    // A batch that fails in the database itself (a row the schema refuses, past the first
    // inserts) is rolled back too.
    // PostgreSQL refuses a NUL character in a text column; SQLite takes it, so there an empty
    // hash for the fifth record fails the batch instead.
    let mut bad = spread()[3..10].to_vec();
    bad[4].kind = "bad\u{0}kind".to_owned();
    let empty_for_sqlite = |prev: &str, seq: i64, record: &Value| {
        if seq == 8 {
            String::new()
        } else {
            chain(prev, seq, record)
        }
    };
    let result = match store {
        Store::Sqlite(_) => store.append_audit(&bad, &empty_for_sqlite).await,
        Store::Postgres(_) => store.append_audit(&bad, &chain).await,
    };
    // Refused for what the records hold (not a store that is down): worth isolating.
    assert!(
        matches!(&result, Err(e) if e.refuses_record()),
        "bad batch: {result:?}"
    );
    assert_eq!(verify(&store).await, before);
    assert_eq!(record_id_rows(&store).await, 6);

    // The next good batch continues right after the last committed record.
    assert_eq!(
        store.append_audit(&spread()[3..5], &chain).await.unwrap(),
        [4, 5]
    );
    assert_eq!(verify(&store).await.len(), 5);
}

async fn a_panicking_chain_leaves_nothing(ctx: Ctx) {
    let store = ctx.connect().await;
    store.append_audit(&spread()[..2], &chain).await.unwrap();
    let before = verify(&store).await;
    let s = store.clone();
    let panicked = tokio::spawn(async move {
        let boom = |prev: &str, seq: i64, record: &Value| {
            assert!(seq < 4, "chain function failed on purpose");
            chain(prev, seq, record)
        };
        s.append_audit(&spread()[2..8], &boom).await
    })
    .await;
    assert!(panicked.is_err(), "the chain function did not panic");
    assert_eq!(verify(&store).await, before);
    // The connection went back to the pool without its transaction: appends still work.
    for _ in 0..3 {
        store.append_audit(&spread()[2..4], &chain).await.unwrap();
    }
    assert_eq!(verify(&store).await.len(), 8);
}

async fn concurrent_appends_from_two_instances_form_one_chain(ctx: Ctx) {
    let a = ctx.connect().await;
    let b = ctx.connect().await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (name, store) in [("a", &a), ("b", &b)] {
        for t in 0..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for round in 0..5 {
                    let size = 1 + (t + round) % 3;
                    let batch: Vec<AuditInsert> = (0..size)
                        .map(|i| {
                            let mut e = event(
                                "request",
                                OffsetDateTime::now_utc(),
                                json!({"instance": name, "task": t, "round": round, "i": i}),
                            );
                            e.record_ids = vec![t as i64];
                            e
                        })
                        .collect();
                    let got = store.append_audit(&batch, &chain).await.unwrap();
                    assert_eq!(got.len(), batch.len());
                    // A batch's seqs are consecutive.
                    assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "{got:?}");
                    mine.extend(got);
                }
                mine
            }));
        }
    }
    let mut assigned = Vec::new();
    for t in tasks {
        assigned.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    assigned.sort_unstable();
    let n = assigned.len() as i64;
    assert_eq!(
        assigned,
        (1..=n).collect::<Vec<_>>(),
        "seqs given twice or skipped"
    );
    let rows = verify(&a).await;
    assert_eq!(rows.len() as i64, n);
    assert_eq!(verify(&b).await, rows);
    eprintln!(
        "    {} records in {} appends from 2 instances x 20 tasks in {elapsed:.2?}",
        n,
        2 * 20 * 5
    );
}
