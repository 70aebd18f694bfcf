//! Human confirmation of writes over HTTP: four-eyes approvals (created, approved or denied by
//! another key, used once, bound to the payload, expiring), 2026-07-28 MRTR confirmation (sealed,
//! single-use state), escalation when a client cannot ask, and the audit trail of every step.
//! (Elicitation over SSE with a real client is in tests/e2e/test_confirm.py.)

use crate::emulator;
use crate::warden;

use emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};
use std::time::Duration;

const POLICY: &str = r#"
[defaults]
confirm = "none"
[models."res.partner"]
read = { domain = [["is_company", "=", true]] }
create = { fields = ["name", "is_company"], confirm = "approver" }
update = { fields = ["name", "comment"], confirm = "user" }
"#;

struct T {
    _emu: Emulator,
    w: warden::Warden,
    mcp: String,
    approver: String,
    _dir: std::path::PathBuf,
}

async fn start(extra_config: &str) -> T {
    start_on("sqlite::memory:", extra_config, &[]).await
}

/// `start` on a given store, with more environment variables.
async fn start_on(store: &str, extra_config: &str, env: &[(&str, &str)]) -> T {
    let emu = Emulator::start(EmulatorConfig::odoo19()).await;
    let dir = std::env::temp_dir().join(format!(
        "ow-confirm-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    let extra = format!("policy = \"{}\"", dir.join("policy.toml").display());
    let mut text = warden::config_text(&emu.url(), store, &[("sales", "mcp_writer")], &extra);
    text.push_str(extra_config);
    let mut vars = warden::env_for(&["mcp_writer"]);
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let w = warden::start(&text, vars).await.unwrap();
    let (_, mcp) = w.key(&["mcp"], Some("sales"), None).await;
    let (_, approver) = w.key(&["approve"], None, None).await;
    T {
        _emu: emu,
        w,
        mcp,
        approver,
        _dir: dir,
    }
}

fn meta(caps: Value) -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": caps})
}

impl T {
    async fn call26(&self, key: &str, name: &str, mut params: Value, caps: Value) -> Value {
        params["_meta"] = meta(caps);
        params["name"] = json!(name);
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params});
        reqwest::Client::new()
            .post(&self.w.mcp_url)
            .bearer_auth(key)
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

    async fn tool(&self, name: &str, args: Value) -> Value {
        self.call26(&self.mcp, name, json!({"arguments": args}), json!({}))
            .await["result"]
            .clone()
    }

    async fn decide(&self, key: &str, id: &str, action: &str, reason: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!(
                "{}/admin/v1/approvals/{id}/{action}",
                self.w.admin_url
            ))
            .bearer_auth(key)
            .json(&json!({"reason": reason}))
            .send()
            .await
            .unwrap()
    }

    async fn count(&self, name: &str) -> i64 {
        let r = self
            .tool(
                "search_records",
                json!({"model": "res.partner", "domain": [["name", "=", name]]}),
            )
            .await;
        r["structuredContent"]["total"].as_i64().unwrap()
    }

    async fn trail(&self) -> Vec<Value> {
        assert!(self.w.rt.audit.flush(Duration::from_secs(5)).await);
        let filter = odoo_warden::store::AuditFilter::default();
        self.w
            .rt
            .store
            .query_audit(&filter, None, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.record)
            .collect()
    }
}

#[tokio::test]
async fn four_eyes_approval_runs_once_and_only_as_approved() {
    let t = start("").await;
    let args =
        json!({"model": "res.partner", "records": [{"name": "Approved Co", "is_company": true}]});
    let pending = t.tool("create_records", args.clone()).await;
    assert_eq!(pending["isError"], false, "{pending}");
    let sc = &pending["structuredContent"];
    assert_eq!(sc["status"], "pending_approval");
    let id = sc["approval_id"].as_str().unwrap().to_string();
    assert!(sc["expires_at"].is_string());
    assert_eq!(
        t.count("Approved Co").await,
        0,
        "nothing is written while pending"
    );

    // Retrying before approval: refused.
    let mut with_id = args.clone();
    with_id["approval_id"] = json!(id);
    let early = t.tool("create_records", with_id.clone()).await;
    assert!(
        early["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("still waiting for an approver"),
        "{early}"
    );

    // The requesting key cannot approve (it is an mcp key); an approver can.
    assert_eq!(t.decide(&t.mcp, &id, "approve", "self").await.status(), 403);
    let listed: Value = reqwest::Client::new()
        .get(format!(
            "{}/admin/v1/approvals?status=pending",
            t.w.admin_url
        ))
        .bearer_auth(&t.approver)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["approvals"][0]["id"], id.as_str());
    assert!(
        listed["approvals"][0]["preview"]
            .as_str()
            .unwrap()
            .contains("Approved Co")
    );
    let r = t.decide(&t.approver, &id, "approve", "looks right").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        t.decide(&t.approver, &id, "deny", "too late")
            .await
            .status(),
        409
    );

    // A changed payload is refused; the approved one runs once; a replay is refused.
    let mut changed = with_id.clone();
    changed["records"][0]["name"] = json!("Something Else Co");
    let r = t.tool("create_records", changed).await;
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("differs from the one that was approved"),
        "{r}"
    );
    let done = t.tool("create_records", with_id.clone()).await;
    assert_eq!(done["isError"], false, "{done}");
    assert_eq!(
        done["structuredContent"]["ids"].as_array().unwrap().len(),
        1
    );
    assert_eq!(t.count("Approved Co").await, 1);
    let replay = t.tool("create_records", with_id).await;
    assert!(
        replay["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{replay}"
    );
    assert_eq!(t.count("Approved Co").await, 1);

    // Every step is in the trail, and the write names its approver.
    let trail = t.trail().await;
    let reasons: Vec<String> = trail
        .iter()
        .filter_map(|r| r["reason"].as_str().map(str::to_string))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains(&format!("approval {id} requested")))
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains(&format!("approval {id} approved by")))
    );
    assert!(reasons.iter().any(|r| r.contains("already used")));
    let outcome = trail
        .iter()
        .find(|r| r["kind"] == "write_outcome" && r["outcome"] == "ok")
        .unwrap();
    assert!(
        outcome["confirmed_by"]
            .as_str()
            .unwrap()
            .starts_with("approver test"),
        "{outcome}"
    );
}

#[tokio::test]
async fn denied_and_expired_approvals_never_run() {
    let t = start("[confirm]\napproval_ttl_secs = 1\n").await;
    let a = json!({"model": "res.partner", "records": [{"name": "Denied Co", "is_company": true}]});
    let id = t.tool("create_records", a.clone()).await["structuredContent"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        t.decide(&t.approver, &id, "deny", "not ours")
            .await
            .status(),
        200
    );
    let mut retry = a.clone();
    retry["approval_id"] = json!(id);
    let r = t.tool("create_records", retry).await;
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("denied by"),
        "{r}"
    );

    let b = json!({"model": "res.partner", "records": [{"name": "Late Co", "is_company": true}]});
    let id = t.tool("create_records", b.clone()).await["structuredContent"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        t.decide(&t.approver, &id, "approve", "").await.status(),
        409,
        "an expired request cannot be approved"
    );
    let mut retry = b.clone();
    retry["approval_id"] = json!(id);
    let r = t.tool("create_records", retry).await;
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{r}"
    );
    assert_eq!(t.count("Denied Co").await + t.count("Late Co").await, 0);
}

#[tokio::test]
async fn mrtr_confirmation_round_trip_tamper_and_replay() {
    let t = start("").await;
    let created = t
        .tool(
            "create_records",
            json!({"model": "res.partner", "records": [{"name": "Base Co", "is_company": true}]}),
        )
        .await;
    let id = created["structuredContent"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    t.decide(&t.approver, &id, "approve", "").await;
    let done = t.tool("create_records", json!({"model": "res.partner", "records": [{"name": "Base Co", "is_company": true}], "approval_id": id})).await;
    let partner = done["structuredContent"]["ids"][0].as_i64().unwrap();

    let args = json!({"model": "res.partner", "ids": [partner], "values": {"comment": "confirmed via MRTR"}});
    let caps = json!({"elicitation": {}});
    // Round 1: input_required with an elicitation and a sealed state.
    let r1 = t
        .call26(
            &t.mcp,
            "update_records",
            json!({"arguments": args}),
            caps.clone(),
        )
        .await;
    let res = &r1["result"];
    assert_eq!(res["resultType"], "input_required", "{r1}");
    let ask = &res["inputRequests"]["confirm"];
    assert_eq!(ask["method"], "elicitation/create");
    assert!(
        ask["params"]["message"]
            .as_str()
            .unwrap()
            .contains("Base Co"),
        "the preview names the record"
    );
    let state = res["requestState"].as_str().unwrap().to_string();
    let yes = json!({"confirm": {"action": "accept", "content": {"confirm": true}}});
    // A tampered state is refused.
    let bad = t
        .call26(
            &t.mcp,
            "update_records",
            json!({"arguments": args, "inputResponses": yes, "requestState": format!("{state}x")}),
            caps.clone(),
        )
        .await;
    assert_eq!(bad["result"]["isError"], true, "{bad}");
    // Another key cannot use the state.
    let (_, other) = t.w.key(&["mcp"], Some("sales"), None).await;
    let stolen = t
        .call26(
            &other,
            "update_records",
            json!({"arguments": args, "inputResponses": yes, "requestState": state}),
            caps.clone(),
        )
        .await;
    assert_eq!(stolen["result"]["isError"], true, "{stolen}");
    // Round 2 with the genuine state: runs.
    let r1 = t
        .call26(
            &t.mcp,
            "update_records",
            json!({"arguments": args}),
            caps.clone(),
        )
        .await;
    let state = r1["result"]["requestState"].as_str().unwrap().to_string();
    let ok = t
        .call26(
            &t.mcp,
            "update_records",
            json!({"arguments": args, "inputResponses": yes, "requestState": state}),
            caps.clone(),
        )
        .await;
    assert_eq!(ok["result"]["isError"], false, "{ok}");
    assert_eq!(ok["result"]["resultType"], "complete");
    // Replaying the used state is refused.
    let replay = t
        .call26(
            &t.mcp,
            "update_records",
            json!({"arguments": args, "inputResponses": yes, "requestState": state}),
            caps.clone(),
        )
        .await;
    assert!(
        replay["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{replay}"
    );
    // Declining changes nothing.
    let r1 = t.call26(&t.mcp, "update_records", json!({"arguments": {"model": "res.partner", "ids": [partner], "values": {"comment": "no"}}}), caps.clone()).await;
    let state = r1["result"]["requestState"].as_str().unwrap().to_string();
    let no = json!({"confirm": {"action": "decline"}});
    let declined = t.call26(&t.mcp, "update_records", json!({"arguments": {"model": "res.partner", "ids": [partner], "values": {"comment": "no"}}, "inputResponses": no, "requestState": state}), caps.clone()).await;
    assert!(
        declined["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("declined"),
        "{declined}"
    );
    let comment = t.tool("search_records", json!({"model": "res.partner", "domain": [["id", "=", partner]], "fields": ["comment"]})).await;
    assert_eq!(
        comment["structuredContent"]["records"][0]["comment"],
        "confirmed via MRTR"
    );
    let trail = t.trail().await;
    assert!(
        trail
            .iter()
            .any(|r| r["kind"] == "confirmation" && r["reason"] == "user answered: decline")
    );
}

#[tokio::test]
async fn a_client_that_cannot_ask_escalates_or_is_refused() {
    let t = start("").await;
    // No elicitation capability declared: the user-confirmed update becomes an approval request.
    let r = t
        .tool(
            "update_records",
            json!({"model": "res.partner", "ids": [1], "values": {"comment": "x"}}),
        )
        .await;
    assert_eq!(r["structuredContent"]["status"], "pending_approval", "{r}");
    assert!(
        r["structuredContent"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot ask its user")
    );

    let t = start("[confirm]\nwithout_elicitation = \"refuse\"\n").await;
    let r = t
        .tool(
            "update_records",
            json!({"model": "res.partner", "ids": [1], "values": {"comment": "x"}}),
        )
        .await;
    assert_eq!(r["isError"], true);
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("cannot ask for it"),
        "{r}"
    );
}

#[tokio::test]
async fn a_request_state_is_accepted_once_across_instances() {
    // Two instances sharing a store and a state key (as behind a load balancer): a confirmation
    // answered on one cannot be replayed on the other.
    let dir = std::env::temp_dir().join(format!("ow-mrtr-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = format!("sqlite://{}/shared.db", dir.display());
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let env = [("SHARED_STATE_KEY", secret.as_str())];
    let conf = "[confirm]\nstate_key_env = \"SHARED_STATE_KEY\"\n";
    let a = start_on(&store, conf, &env).await;
    let b = start_on(&store, conf, &env).await;
    let caps = json!({"elicitation": {}});
    let search = a
        .tool(
            "search_records",
            json!({"model": "res.partner", "domain": [["name", "=", "Azure Interior"]]}),
        )
        .await;
    let partner = search["structuredContent"]["records"][0]["id"]
        .as_i64()
        .unwrap();
    let args = json!({"model": "res.partner", "ids": [partner], "values": {"comment": "once"}});
    let yes = json!({"confirm": {"action": "accept", "content": {"confirm": true}}});
    let asked = a
        .call26(
            &a.mcp,
            "update_records",
            json!({"arguments": args}),
            caps.clone(),
        )
        .await;
    let state = asked["result"]["requestState"]
        .as_str()
        .unwrap()
        .to_string();
    let done = a
        .call26(
            &a.mcp,
            "update_records",
            json!({"arguments": args, "inputResponses": yes, "requestState": state}),
            caps.clone(),
        )
        .await;
    assert_eq!(done["result"]["isError"], false, "{done}");
    // The same key and answer on the other instance: refused before Odoo.
    let replay = b
        .call26(
            &a.mcp,
            "update_records",
            json!({"arguments": args, "inputResponses": yes, "requestState": state}),
            caps.clone(),
        )
        .await;
    assert_eq!(replay["result"]["isError"], true, "{replay}");
    assert!(
        replay["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{replay}"
    );
    // A fresh state from the first instance is accepted on the second.
    let asked = a
        .call26(
            &a.mcp,
            "update_records",
            json!({"arguments": args}),
            caps.clone(),
        )
        .await;
    let state = asked["result"]["requestState"]
        .as_str()
        .unwrap()
        .to_string();
    let done = b
        .call26(
            &a.mcp,
            "update_records",
            json!({"arguments": args, "inputResponses": yes, "requestState": state}),
            caps,
        )
        .await;
    assert_eq!(done["result"]["isError"], false, "{done}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What an approver (or the person) confirms is the whole change: every field in a fixed order,
/// each value cut on its own with its size, the current values read from Odoo next to the new
/// ones. A padded value cannot hide a name change.
#[tokio::test]
async fn the_preview_is_the_whole_change() {
    let t = start("").await;
    let companies = t
        .tool(
            "search_records",
            json!({"model": "res.partner", "fields": ["name"], "order": "id", "limit": 1}),
        )
        .await;
    let id = companies["structuredContent"]["records"][0]["id"]
        .as_i64()
        .unwrap();
    let old_name = companies["structuredContent"]["records"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // The caller puts the padded comment first; the preview does not follow the caller's order.
    let args = json!({"model": "res.partner", "ids": [id], "values": {"comment": "x".repeat(3000), "name": "Evil Corp"}});
    let pending = t.tool("update_records", args).await;
    assert_eq!(
        pending["structuredContent"]["status"], "pending_approval",
        "{pending}"
    );
    let listed: Value = reqwest::Client::new()
        .get(format!(
            "{}/admin/v1/approvals?status=pending",
            t.w.admin_url
        ))
        .bearer_auth(&t.approver)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let preview = listed["approvals"][0]["preview"]
        .as_str()
        .unwrap()
        .to_string();
    let lines: Vec<&str> = preview.lines().collect();
    assert!(
        lines[0].starts_with(&format!("update 1 res.partner record: {old_name} (#{id})")),
        "{preview}"
    );
    assert_eq!(lines[1], "2 fields change:", "{preview}");
    assert!(
        lines[2].starts_with("  comment: \"xxx") && lines[2].contains("[cut: 3002 bytes in all]"),
        "{preview}"
    );
    assert!(lines[2].len() < 400, "{preview}");
    assert_eq!(
        lines[3],
        format!("  name: \"Evil Corp\" (now: {old_name} (#{id}): \"{old_name}\")"),
        "{preview}"
    );
}
