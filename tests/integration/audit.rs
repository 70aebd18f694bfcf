//! The audit trail end to end: a record for each kind of event, tampering found by verify on
//! SQLite and PostgreSQL, a crash between intent and outcome, a store that cannot take records,
//! redaction, and the auditor's query and export API.

use crate::emulator;
use crate::pg;
use crate::warden;

use emulator::{Emulator, EmulatorConfig};
use odoo_warden::store::Store;
use serde_json::{Value, json};
use std::time::Duration;

const POLICY: &str = r#"
[defaults]
confirm = "none"
[models."res.partner"]
read = { domain = [["is_company", "=", true]] }
hidden_fields = ["vat"]
create = { fields = ["name", "is_company"] }
"#;

struct T {
    _emu: Emulator,
    w: warden::Warden,
    mcp_key: String,
    audit_key: String,
    admin_key: String,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(store_url: &str) -> T {
    start_with(store_url, "").await
}

/// `odoo_extra`: lines added to the `[odoo]` section.
async fn start_with(store_url: &str, odoo_extra: &str) -> T {
    start_custom(store_url, odoo_extra, POLICY, "").await
}

/// As [`start_with`], with another policy and lines added to the `[server]` section (and
/// anything after it, such as a `[confirm]` section at the end).
async fn start_custom(store_url: &str, odoo_extra: &str, policy: &str, server_extra: &str) -> T {
    let emu = Emulator::start(EmulatorConfig::odoo19()).await;
    let dir = std::env::temp_dir().join(format!(
        "ow-audit-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.toml"), policy).unwrap();
    let extra = format!("policy = \"{}\"", dir.join("policy.toml").display());
    let (server_lines, tail) = server_extra
        .split_once("\n[")
        .map_or((server_extra, String::new()), |(a, b)| {
            (a, format!("\n[{b}"))
        });
    let text = warden::config_text(&emu.url(), store_url, &[("sales", "mcp_writer")], &extra)
        .replacen(
            "database = \"lab\"\n",
            &format!("database = \"lab\"\n{odoo_extra}"),
            1,
        )
        .replacen(
            "max_body_bytes = 65536\n",
            &format!("max_body_bytes = 65536\n{server_lines}\n"),
            1,
        )
        + &tail;
    let w = warden::start(&text, warden::env_for(&["mcp_writer"]))
        .await
        .unwrap();
    let (_, mcp_key) = w.key(&["mcp"], Some("sales"), None).await;
    let (_, audit_key) = w.key(&["audit"], None, None).await;
    let (_, admin_key) = w.key(&["admin"], None, None).await;
    T {
        _emu: emu,
        w,
        mcp_key,
        audit_key,
        admin_key,
        _dir: TempDir(dir),
    }
}

impl T {
    async fn tool(&self, name: &str, args: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}},
            "name": name, "arguments": args}});
        reqwest::Client::new()
            .post(&self.w.mcp_url)
            .bearer_auth(&self.mcp_key)
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
            .unwrap()
    }

    async fn records(&self, query: &[(&str, &str)]) -> Vec<Value> {
        // Reads are queued: wait until the writer has committed them.
        assert!(self.w.rt.audit.flush(Duration::from_secs(5)).await);
        let mut q: Vec<(&str, &str)> = vec![("order", "asc"), ("limit", "1000")];
        q.extend_from_slice(query);
        let r: Value = reqwest::Client::new()
            .get(format!("{}/admin/v1/audit", self.w.admin_url))
            .bearer_auth(&self.audit_key)
            .query(&q)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["records"].as_array().cloned().unwrap_or_default()
    }

    async fn verify(&self) -> Value {
        self.verify_with(&[]).await
    }

    async fn verify_with(&self, query: &[(&str, String)]) -> Value {
        assert!(self.w.rt.audit.flush(Duration::from_secs(5)).await);
        reqwest::Client::new()
            .get(format!("{}/admin/v1/audit/verify", self.w.admin_url))
            .bearer_auth(&self.audit_key)
            .query(query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn exec(&self, sql: &str) {
        match &*self.w.rt.store {
            Store::Sqlite(p) => {
                sqlx::query(sql).execute(p).await.unwrap();
            }
            Store::Postgres(p) => {
                sqlx::query(sql).execute(p).await.unwrap();
            }
        }
    }
}

fn kinds(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["record"]["kind"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn every_kind_of_event_leaves_a_record() {
    let t = start("sqlite::memory:").await;
    let http = reqwest::Client::new();
    // Refused before the MCP core: no key, a foreign Origin, a malformed body.
    http.post(&t.w.mcp_url).body("{}").send().await.unwrap();
    http.post(&t.w.mcp_url)
        .header("origin", "http://evil.example")
        .bearer_auth(&t.mcp_key)
        .body("{}")
        .send()
        .await
        .unwrap();
    http.post(&t.w.mcp_url)
        .bearer_auth(&t.mcp_key)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    // A read, a policy denial, an Odoo error, a write (intent + outcome).
    t.tool(
        "search_records",
        json!({"model": "res.partner", "fields": ["name"], "limit": 2}),
    )
    .await;
    t.tool("search_records", json!({"model": "product.product"}))
        .await;
    t.tool(
        "search_records",
        json!({"model": "res.partner", "domain": [["no_such_field", "=", 1]]}),
    )
    .await;
    let created = t.tool("create_records", json!({"model": "res.partner", "records": [{"name": "Audited Co", "is_company": true}]})).await;
    let new_id = created["result"]["structuredContent"]["ids"][0]
        .as_i64()
        .unwrap();
    // Administrative changes.
    let r = http
        .post(format!("{}/admin/v1/keys", t.w.admin_url))
        .bearer_auth(&t.admin_key)
        .json(&json!({"name": "ci", "scopes": ["audit"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .post(format!("{}/admin/v1/policy/reload", t.w.admin_url))
        .bearer_auth(&t.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let all = t.records(&[]).await;
    let k = kinds(&all);
    for want in [
        "auth_failure",
        "origin_refused",
        "malformed",
        "tool_call",
        "write_intent",
        "write_outcome",
        "key_change",
        "policy_reload",
    ] {
        assert!(k.iter().any(|x| x == want), "no {want} record in {k:?}");
    }
    let find = |pred: &dyn Fn(&Value) -> bool| {
        all.iter()
            .map(|r| &r["record"])
            .find(|r| pred(r))
            .cloned()
            .unwrap()
    };
    let denial = find(&|r| r["model"] == "product.product");
    assert_eq!(
        (denial["decision"].as_str(), denial["outcome"].as_str()),
        (Some("deny"), Some("refused"))
    );
    assert_eq!(denial["profile"], "sales");
    let odoo_err = find(&|r| r["outcome"] == "error");
    assert_eq!(odoo_err["odoo_error_class"], "builtins.ValueError");
    let read =
        find(&|r| r["kind"] == "tool_call" && r["outcome"] == "ok" && r["model"] == "res.partner");
    assert_eq!(read["operation"], "read");
    assert!(
        read["key_id"].is_string() && read["request_id"].is_string() && read["odoo_uid"].is_i64()
    );
    assert_eq!(read["protocol_version"], "2026-07-28");
    // The write: intent before, outcome after, linked, the new id on the outcome.
    let intent = find(&|r| r["kind"] == "write_intent");
    let outcome = find(&|r| r["kind"] == "write_outcome");
    assert_eq!(intent["call_id"], outcome["call_id"]);
    assert_eq!(intent["outcome"], "pending");
    assert_eq!(outcome["outcome"], "ok");
    assert_eq!(outcome["record_ids"], json!([new_id]));
    let by_record = t.records(&[("record_id", &new_id.to_string())]).await;
    assert_eq!(kinds(&by_record), ["write_outcome"]);
    let auth = find(&|r| r["kind"] == "auth_failure");
    assert_eq!(auth["reason"], "key missing");
    assert_eq!(t.verify().await["ok"], true);
}

#[tokio::test]
async fn hidden_values_never_reach_the_store() {
    let t = start("sqlite::memory:").await;
    let secret_vat = "BE0999888777";
    t.tool(
        "create_records",
        json!({"model": "res.partner", "records": [{"name": "X", "vat": secret_vat}]}),
    )
    .await;
    t.tool(
        "search_records",
        json!({"model": "res.partner", "domain": [["vat", "=", secret_vat]]}),
    )
    .await;
    assert!(t.w.rt.audit.flush(Duration::from_secs(5)).await);
    let Store::Sqlite(p) = &*t.w.rt.store else {
        unreachable!()
    };
    let rows: Vec<(String,)> = sqlx::query_as("SELECT record FROM audit_log")
        .fetch_all(p)
        .await
        .unwrap();
    assert!(rows.len() >= 2);
    for (r,) in rows {
        assert!(
            !r.contains(secret_vat),
            "a hidden value reached the trail: {r}"
        );
        assert!(!r.contains(&t.mcp_key), "a key reached the trail");
    }
}

async fn tampering_is_found(t: &T) {
    for i in 0..6 {
        t.tool(
            "search_records",
            json!({"model": "res.partner", "limit": 1, "offset": i}),
        )
        .await;
    }
    let ok = t.verify().await;
    assert_eq!(ok["ok"], true, "{ok}");
    let n = ok["records"].as_i64().unwrap();
    assert!(n >= 6);
    // Changed: a record's content edited in place.
    t.exec("UPDATE audit_log SET record = replace(record, '\"search_records\"', '\"delete_records\"') WHERE seq = 3").await;
    let r = t.verify().await;
    assert_eq!(
        (r["ok"].clone(), r["first_bad_seq"].clone()),
        (json!(false), json!(3)),
        "{r}"
    );
    assert!(r["problem"].as_str().unwrap().contains("changed"), "{r}");
}

#[tokio::test]
async fn changed_removed_and_reordered_records_are_found_sqlite() {
    let t = start("sqlite::memory:").await;
    tampering_is_found(&t).await;
    removal_and_reorder(&start("sqlite::memory:").await).await;
}

#[tokio::test]
async fn changed_removed_and_reordered_records_are_found_postgres() {
    let Some(pg) = pg::shared() else {
        return;
    };
    pg.create_database("audit_a");
    pg.create_database("audit_b");
    tampering_is_found(&start(&pg.url_for("audit_a")).await).await;
    removal_and_reorder(&start(&pg.url_for("audit_b")).await).await;
}

async fn removal_and_reorder(t: &T) {
    for i in 0..6 {
        t.tool(
            "search_records",
            json!({"model": "res.partner", "limit": 1, "offset": i}),
        )
        .await;
    }
    assert_eq!(t.verify().await["ok"], true);
    // Reordered: two records' contents and hashes swapped.
    t.exec("UPDATE audit_log SET seq = -4 WHERE seq = 4").await;
    t.exec("UPDATE audit_log SET seq = 4 WHERE seq = 5").await;
    t.exec("UPDATE audit_log SET seq = 5 WHERE seq = -4").await;
    let r = t.verify().await;
    assert_eq!(
        (r["ok"].clone(), r["first_bad_seq"].clone()),
        (json!(false), json!(4)),
        "{r}"
    );
    // Removed: a record deleted (after restoring the order).
    t.exec("UPDATE audit_log SET seq = -4 WHERE seq = 4").await;
    t.exec("UPDATE audit_log SET seq = 4 WHERE seq = 5").await;
    t.exec("UPDATE audit_log SET seq = 5 WHERE seq = -4").await;
    let intact = t.verify().await;
    assert_eq!(intact["ok"], true);
    // Removed at the end: the shorter chain is consistent in itself; the head kept from the
    // last verify shows the cut.
    let (head_seq, head_hash) = (
        intact["head_seq"].as_i64().unwrap(),
        intact["head_hash"].as_str().unwrap().to_string(),
    );
    let kept = format!("{head_seq}:{head_hash}");
    assert_eq!(
        t.verify_with(&[("expect_head", kept.clone())]).await["ok"],
        true
    );
    t.exec(&format!(
        "DELETE FROM audit_record_ids WHERE seq >= {}",
        head_seq - 1
    ))
    .await;
    t.exec(&format!(
        "DELETE FROM audit_log WHERE seq >= {}",
        head_seq - 1
    ))
    .await;
    let r = t.verify_with(&[("expect_head", kept.clone())]).await;
    assert_eq!(r["ok"], false, "{r}");
    let problem = r["problem"].as_str().unwrap();
    // Either the trail now ends before the kept head, or later requests wrote a different
    // record under its number: both are named.
    assert!(
        problem.contains("were removed") || problem.contains("not the record whose hash was kept"),
        "{r}"
    );
    let bad = r["first_bad_seq"].as_i64().unwrap();
    assert!(bad == head_seq - 1 || bad == head_seq, "{r}");
    // A malformed head is a precise 400.
    let r = t.verify_with(&[("expect_head", "12:nothex".into())]).await;
    assert_eq!(r["error"], "bad_request", "{r}");
    assert!(r["message"].as_str().unwrap().contains("SEQ:HASH"), "{r}");
    t.exec("DELETE FROM audit_record_ids").await;
    t.exec("DELETE FROM audit_log").await;
    for i in 0..6 {
        t.tool(
            "search_records",
            json!({"model": "res.partner", "limit": 1, "offset": i}),
        )
        .await;
    }
    assert_eq!(t.verify().await["ok"], true);
    t.exec("DELETE FROM audit_log WHERE seq = 2").await;
    let r = t.verify().await;
    assert_eq!(
        (r["ok"].clone(), r["first_bad_seq"].clone()),
        (json!(false), json!(2)),
        "{r}"
    );
    assert!(r["problem"].as_str().unwrap().contains("missing"), "{r}");
}

#[tokio::test]
async fn a_write_odoo_never_answers_is_recorded_unknown() {
    let t = start_with("sqlite::memory:", "timeout_secs = 1\n").await;
    t._emu.stall(Some("create"));
    let r = t
        .tool(
            "create_records",
            json!({"model": "res.partner", "records": [{"name": "Stuck Co", "is_company": true}]}),
        )
        .await;
    let text = r["result"]["content"][0]["text"].as_str().unwrap_or("");
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(text.contains("may or may not have carried this out"), "{r}");
    let outcomes = t.records(&[("kind", "write_outcome")]).await;
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0]["record"]["outcome"], "unknown", "{outcomes:?}");
    let call_id = outcomes[0]["record"]["call_id"].clone();
    let v = t.verify().await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["unknown_outcomes"][0]["call_id"], call_id, "{v}");
    // A read that times out changed nothing: an error, not an unknown outcome.
    t._emu.stall(Some("web_search_read"));
    let r = t
        .tool("search_records", json!({"model": "res.partner"}))
        .await;
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|m| m.contains("did not answer")),
        "{r}"
    );
    let reads = t
        .records(&[("kind", "tool_call"), ("operation", "read")])
        .await;
    assert_eq!(
        reads.last().unwrap()["record"]["outcome"],
        "error",
        "{reads:?}"
    );
}

#[tokio::test]
async fn an_intent_without_outcome_is_reported_unknown() {
    let t = start("sqlite::memory:").await;
    // What a crash between the two leaves: the intent alone.
    let mut e = t.w.rt.audit.event(odoo_warden::audit::kind::WRITE_INTENT);
    e.call_id = Some("crashed-call".into());
    e.model = Some("res.partner".into());
    e.operation = Some("create".into());
    e.outcome = Some(odoo_warden::audit::Outcome::Pending);
    t.w.rt.audit.record_durable(e).await.unwrap();
    let r = t.verify().await;
    assert_eq!(r["ok"], true);
    assert_eq!(r["unknown_outcomes"][0]["call_id"], "crashed-call", "{r}");
    // A completed write is not reported.
    t.tool(
        "create_records",
        json!({"model": "res.partner", "records": [{"name": "Fine Co", "is_company": true}]}),
    )
    .await;
    assert_eq!(
        t.verify().await["unknown_outcomes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn writes_are_refused_when_the_store_cannot_take_records() {
    let t = start("sqlite::memory:").await;
    let before = t
        .tool(
            "search_records",
            json!({"model": "res.partner", "domain": [["name", "=", "Never Co"]]}),
        )
        .await;
    assert_eq!(before["result"]["structuredContent"]["total"], 0);
    assert!(t.w.rt.audit.flush(Duration::from_secs(5)).await);
    t.exec("CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END").await;
    let r = t
        .tool(
            "create_records",
            json!({"model": "res.partner", "records": [{"name": "Never Co", "is_company": true}]}),
        )
        .await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("the write was refused") && text.contains("Nothing was changed"),
        "{text}"
    );
    // The store comes back: the queued records are written, and Odoo never got the write.
    t.exec("DROP TRIGGER refuse").await;
    assert!(t.w.rt.audit.flush(Duration::from_secs(10)).await);
    let after = t
        .tool(
            "search_records",
            json!({"model": "res.partner", "domain": [["name", "=", "Never Co"]]}),
        )
        .await;
    assert_eq!(
        after["result"]["structuredContent"]["total"], 0,
        "the write must not have reached Odoo"
    );
    // The intent, written once the store was back, is closed by the refusal's outcome: no
    // write is named for checking that was never sent.
    let verify = t.verify().await;
    assert_eq!(verify["ok"], true);
    assert_eq!(verify["unknown_outcomes"], json!([]), "{verify}");
}

/// A write cut off while its intent waits on a stalled store: when the store takes the intent
/// later, the cut-off closes it, so `audit verify` names no write to check (none was sent).
#[tokio::test]
async fn a_write_cut_off_while_its_intent_waits_is_not_left_unknown() {
    let dir = std::env::temp_dir().join(format!("ow-intent-wait-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _dir = TempDir(dir.clone());
    let path = dir.join("store.db");
    let t = start(&format!("sqlite://{}", path.display())).await;
    let s = session(&t, json!({})).await;
    // Another connection holds the write lock: appends wait (SQLite's busy timeout, 5 s).
    let holder = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mut lock = holder.acquire().await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let write = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "create_records", "arguments": {"model": "res.partner", "records": [{"name": "Waited Co", "is_company": true}]}}});
    let pending = tokio::spawn(on_session(&t, &s, write).send());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    on_session(
        &t,
        &s,
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}),
    )
    .send()
    .await
    .unwrap();
    pending.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("COMMIT").execute(&mut *lock).await.unwrap();
    drop(lock);
    let writes = t.records(&[("operation", "create")]).await;
    let kinds = kinds_and_outcomes(&writes);
    assert_eq!(
        kinds,
        [("write_intent", "pending"), ("write_outcome", "cancelled")],
        "{writes:?}"
    );
    let verify = t.verify().await;
    assert_eq!(verify["ok"], true);
    assert_eq!(verify["unknown_outcomes"], json!([]), "{verify}");
    let after = t
        .tool(
            "search_records",
            json!({"model": "res.partner", "domain": [["name", "=", "Waited Co"]]}),
        )
        .await;
    assert_eq!(after["result"]["structuredContent"]["total"], 0, "{after}");
}

#[tokio::test]
async fn auditors_query_and_export() {
    let t = start("sqlite::memory:").await;
    for _ in 0..3 {
        t.tool(
            "search_records",
            json!({"model": "res.partner", "limit": 1}),
        )
        .await;
    }
    t.tool("search_records", json!({"model": "product.product"}))
        .await;
    let denied = t.records(&[("decision", "deny")]).await;
    assert_eq!(denied.len(), 1);
    let reads = t
        .records(&[
            ("model", "res.partner"),
            ("operation", "read"),
            ("profile", "sales"),
        ])
        .await;
    assert_eq!(reads.len(), 3);
    // Paging with the cursor, newest first.
    let http = reqwest::Client::new();
    let page: Value = http
        .get(format!("{}/admin/v1/audit", t.w.admin_url))
        .bearer_auth(&t.audit_key)
        .query(&[("kind", "tool_call"), ("limit", "2")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seqs: Vec<i64> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs[0] > seqs[1]);
    let cursor = page["next_cursor"].as_i64().unwrap().to_string();
    let page2: Value = http
        .get(format!("{}/admin/v1/audit", t.w.admin_url))
        .bearer_auth(&t.audit_key)
        .query(&[("kind", "tool_call"), ("limit", "2"), ("cursor", &cursor)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(page2["records"][0]["seq"].as_i64().unwrap() < seqs[1]);
    // Exports.
    let jsonl = http
        .get(format!("{}/admin/v1/audit/export", t.w.admin_url))
        .bearer_auth(&t.audit_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 4);
    assert_eq!(lines[0]["seq"], 1);
    let csv = http
        .get(format!(
            "{}/admin/v1/audit/export?format=csv",
            t.w.admin_url
        ))
        .bearer_auth(&t.audit_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("seq,hash,prev_hash,time,kind"));
    // The CSV export starts later: it also holds the JSON export's own record.
    assert!(
        csv.lines().count() > lines.len(),
        "{} CSV lines for {} records",
        csv.lines().count(),
        lines.len()
    );
    let first_row = csv.lines().nth(1).unwrap();
    assert!(
        first_row.starts_with(&format!("1,{}", lines[0]["hash"].as_str().unwrap())),
        "{first_row}"
    );
    // The trail is for auditors: an mcp key cannot read it, a bad filter is a clear 400.
    let r = http
        .get(format!("{}/admin/v1/audit", t.w.admin_url))
        .bearer_auth(&t.mcp_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .get(format!("{}/admin/v1/audit?since=yesterday", t.w.admin_url))
        .bearer_auth(&t.audit_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A word the trail never uses would match nothing: refused, naming the words there are.
    let r = http
        .get(format!("{}/admin/v1/audit?decision=allowed", t.w.admin_url))
        .bearer_auth(&t.audit_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("allowed") && text.contains("allow, deny"),
        "{text}"
    );
    let r = http
        .get(format!(
            "{}/admin/v1/audit?outcome=refused&kind=tool_call",
            t.w.admin_url
        ))
        .bearer_auth(&t.audit_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A 2025 session for the cut-off tests: (session id, key).
async fn session(t: &T, capabilities: Value) -> String {
    let r = reqwest::Client::new()
        .post(&t.w.mcp_url)
        .bearer_auth(&t.mcp_key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": {"name": "t", "version": "1"}}}).to_string())
        .send()
        .await
        .unwrap();
    r.headers()["mcp-session-id"].to_str().unwrap().to_string()
}

/// Each record's kind and outcome, in order.
fn kinds_and_outcomes(records: &[Value]) -> Vec<(&str, &str)> {
    records
        .iter()
        .map(|r| {
            (
                r["record"]["kind"].as_str().unwrap_or(""),
                r["record"]["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect()
}

fn on_session(t: &T, session: &str, body: Value) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(&t.w.mcp_url)
        .bearer_auth(&t.mcp_key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_string())
}

/// Every tool call leaves its outcome, even one that never reached its end: `timeout`,
/// `cancelled` (by the client, or while a write waited for the person's confirmation), and a
/// request id already in flight is refused without disturbing the first call.
#[tokio::test]
async fn calls_cut_off_leave_timeout_or_cancelled() {
    let policy = r#"
[defaults]
confirm = "user"
[models."res.partner"]
read = true
update = { fields = ["comment"] }
"#;
    let t = start_custom(
        "sqlite::memory:",
        "",
        policy,
        "request_timeout_secs = 2\n[confirm]\nelicitation_timeout_secs = 1\n",
    )
    .await;
    // A read Odoo never answers, stopped at the request timeout.
    t._emu.stall(Some("web_search_read"));
    let r = t
        .tool("search_records", json!({"model": "res.partner"}))
        .await;
    assert!(r.to_string().contains("did not finish within 2 s"), "{r}");
    let reads = t
        .records(&[("kind", "tool_call"), ("operation", "read")])
        .await;
    assert_eq!(
        reads.last().unwrap()["record"]["outcome"],
        "timeout",
        "{reads:?}"
    );

    // A read the client cancels.
    let s = session(&t, json!({})).await;
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "search_records", "arguments": {"model": "res.partner"}}});
    let first = tokio::spawn(on_session(&t, &s, call.clone()).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The same id again, while the first is in flight: refused, the first untouched.
    let again: Value = on_session(&t, &s, call.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["error"]["code"], -32600, "{again}");
    assert!(
        again["error"]["message"]
            .as_str()
            .unwrap()
            .contains("id already in use"),
        "{again}"
    );
    let cancel = on_session(
        &t,
        &s,
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(cancel.status(), 202);
    let _ = tokio::time::timeout(Duration::from_secs(5), first).await;
    let reads = t
        .records(&[("kind", "tool_call"), ("operation", "read")])
        .await;
    assert_eq!(
        reads.last().unwrap()["record"]["outcome"],
        "cancelled",
        "{reads:?}"
    );
    // Once ended, the id may be used again.
    t._emu.stall(None);
    let reused: Value = on_session(&t, &s, call.clone())
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reused["result"]["isError"], false, "{reused}");

    // A write waiting for the person's confirmation, cancelled: its steps and its outcome.
    let s = session(&t, json!({"elicitation": {}})).await;
    let write = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "update_records", "arguments": {"model": "res.partner", "ids": [1], "values": {"comment": "never"}}}});
    let mut stream = on_session(&t, &s, write).send().await.unwrap();
    // The question arrives on the call's stream; nobody answers it.
    let mut seen = String::new();
    while !seen.contains("elicitation/create") {
        match tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await {
            Ok(Ok(Some(c))) => seen.push_str(&String::from_utf8_lossy(&c)),
            other => panic!("no elicitation: {other:?} {seen}"),
        }
    }
    on_session(
        &t,
        &s,
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 8}}),
    )
    .send()
    .await
    .unwrap();
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let writes = t.records(&[("operation", "update")]).await;
    let kinds = kinds_and_outcomes(&writes);
    assert_eq!(kinds.last(), Some(&("tool_call", "cancelled")), "{kinds:?}");
    assert!(kinds.iter().all(|(k, _)| *k != "write_intent"), "{kinds:?}");
    assert_eq!(t.verify().await["ok"], true);
}
