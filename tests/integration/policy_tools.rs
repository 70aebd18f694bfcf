//! Policies enforced by the tools, over the emulator as Odoo 18 (/jsonrpc) and 19 (JSON-2):
//! default deny, restriction domains no caller domain can widen, hidden fields everywhere,
//! writable-field allowlists, ids inside restrictions, x2many commands, `res_model` indirection,
//! context allowlist, confirmation refusals, method allowlists, Odoo's own access errors passing
//! through as distinct from policy denials, and atomic reloads.

use crate::emulator;
use crate::warden;

use emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};
use std::collections::HashMap;

const POLICY: &str = r#"
[defaults]
max_records = 3
confirm = "none"

[models."res.partner"]
read = { domain = [["is_company", "=", true]] }
hidden_fields = ["vat", "credit_limit"]
create = { fields = ["name", "is_company", "email", "child_ids", "comment"] }
update = { fields = ["name", "comment", "child_ids"] }
delete = true

[models."sale.order"]
read = { domain = [["state", "!=", "cancel"]] }
update = { fields = ["note"], confirm = "user" }
methods.action_confirm = { confirm = "none" }
methods.action_draft = { confirm = "approver" }

[models."res.country"]
read = true

[models."ir.attachment"]
read = true
create = { fields = ["name", "res_model", "res_id"] }
"#;

struct Setup {
    emu: Emulator,
    w: warden::Warden,
    token: String,
    dir: std::path::PathBuf,
}

async fn setup(version: EmulatorConfig, login: &str, policy: &str) -> Setup {
    let emu = Emulator::start(version).await;
    let dir = std::env::temp_dir().join(format!(
        "ow-policy-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let policy_path = dir.join("policy.toml");
    std::fs::write(&policy_path, policy).unwrap();
    let extra = format!("policy = \"{}\"", policy_path.display());
    let text = warden::config_text(&emu.url(), "sqlite::memory:", &[("sales", login)], &extra);
    let w = warden::start(&text, warden::env_for(&[login]))
        .await
        .unwrap();
    let (_, token) = w.key(&["mcp"], Some("sales"), None).await;
    Setup { emu, w, token, dir }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) * 1_000_003
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64
}

impl Setup {
    async fn rpc(&self, method: &str, params: Value) -> Value {
        let mut params = params;
        params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
        let mut req = reqwest::Client::new()
            .post(&self.w.mcp_url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if let Some(name) = params.get("name").and_then(Value::as_str) {
            req = req.header("mcp-name", name);
        }
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        req.body(body.to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Calls a tool; Ok(structuredContent) or Err(error text).
    async fn call(&self, tool: &str, args: Value) -> Result<Value, String> {
        let r = self
            .rpc("tools/call", json!({"name": tool, "arguments": args}))
            .await;
        let result = &r["result"];
        assert!(r.get("error").is_none(), "{tool}: protocol error {r}");
        if result["isError"] == true {
            Err(result["content"][0]["text"]
                .as_str()
                .unwrap_or("")
                .to_string())
        } else {
            Ok(result["structuredContent"].clone())
        }
    }

    async fn denied(&self, tool: &str, args: Value, want: &str) {
        match self.call(tool, args.clone()).await {
            Ok(v) => panic!("{tool} {args} should be refused, got {v}"),
            Err(text) => {
                assert!(
                    text.contains(want),
                    "{tool} {args}: {text:?} lacks {want:?}"
                );
                assert!(
                    !text.starts_with("Odoo error"),
                    "a policy denial is not an Odoo error: {text}"
                );
            }
        }
    }

    async fn admin(&self) -> String {
        self.w.key(&["admin"], None, None).await.1
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn versions() -> [EmulatorConfig; 2] {
    [EmulatorConfig::odoo18(), EmulatorConfig::odoo19()]
}

#[tokio::test]
async fn tools_and_models_follow_the_policy() {
    for v in versions() {
        let s = setup(v, "mcp_writer", POLICY).await;
        let tools = s.rpc("tools/list", json!({})).await;
        let names: Vec<&str> = tools["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        for t in [
            "get_context",
            "list_models",
            "get_fields",
            "search_records",
            "read_group",
            "create_records",
            "update_records",
            "delete_records",
            "call_method",
        ] {
            assert!(names.contains(&t), "{t} missing from {names:?}");
        }
        let models = s.call("list_models", json!({})).await.unwrap();
        let by: HashMap<&str, &Value> = models["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["model"].as_str().unwrap(), m))
            .collect();
        assert_eq!(
            by["res.partner"]["operations"],
            json!(["read", "create", "update", "delete"])
        );
        assert_eq!(by["sale.order"]["operations"], json!(["read", "update"]));
        assert_eq!(
            by["sale.order"]["methods"],
            json!(["action_confirm", "action_draft"])
        );
        assert!(
            !by.contains_key("product.product"),
            "a model no rule names is invisible"
        );
        s.denied(
            "search_records",
            json!({"model": "product.product"}),
            "not available under profile \"sales\"",
        )
        .await;

        let fields = s
            .call("get_fields", json!({"model": "res.partner"}))
            .await
            .unwrap();
        assert!(fields["fields"].get("name").is_some());
        assert!(
            fields["fields"].get("vat").is_none() && fields["fields"].get("credit_limit").is_none(),
            "hidden fields are never shown"
        );
        s.denied(
            "get_fields",
            json!({"model": "res.partner", "fields": ["vat"]}),
            "\"vat\"",
        )
        .await;

        // A read-only profile lists no write tool.
        let ro = setup(
            EmulatorConfig::odoo19(),
            "mcp_reader",
            "[models.\"res.partner\"]\nread = true\n",
        )
        .await;
        let tools = ro.rpc("tools/list", json!({})).await;
        let names: Vec<&str> = tools["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "get_context",
                "list_models",
                "get_fields",
                "search_records",
                "read_group"
            ]
        );
        ro.denied(
            "create_records",
            json!({"model": "res.partner", "records": [{"name": "x"}]}),
            "not available under profile",
        )
        .await;
    }
}

#[tokio::test]
async fn no_caller_domain_widens_the_restriction() {
    for v in versions() {
        let s = setup(v, "mcp_writer", POLICY).await;
        let tricks = [
            json!([]),
            json!(["|", ["is_company", "=", false], ["id", "!=", 0]]),
            json!(["|", [1, "=", 1], ["is_company", "=", false]]),
            json!(["!", ["is_company", "=", true]]),
            json!([["is_company", "=", false]]),
            json!(["|", "!", ["is_company", "=", true], ["name", "ilike", "a"]]),
        ];
        for domain in tricks {
            let r = s.call("search_records", json!({"model": "res.partner", "domain": domain, "fields": ["is_company"], "limit": 3})).await.unwrap();
            for rec in r["records"].as_array().unwrap() {
                assert_eq!(
                    rec["is_company"], true,
                    "domain {domain} reached a person: {rec}"
                );
            }
            let g = s
                .call(
                    "read_group",
                    json!({"model": "res.partner", "groupby": ["is_company"], "domain": domain}),
                )
                .await
                .unwrap();
            for grp in g["groups"].as_array().unwrap() {
                assert_eq!(
                    grp["is_company"], true,
                    "read_group with {domain} reached persons"
                );
            }
        }
        // The total counts within the restriction too; the limit is capped by max_records.
        let r = s
            .call(
                "search_records",
                json!({"model": "res.partner", "limit": 50}),
            )
            .await
            .unwrap();
        assert_eq!(r["records"].as_array().unwrap().len(), 3);
        let all_companies = s
            .call(
                "read_group",
                json!({"model": "res.partner", "groupby": ["is_company"]}),
            )
            .await
            .unwrap();
        assert_eq!(r["total"], all_companies["groups"][0]["__count"]);
    }
}

#[tokio::test]
async fn hidden_fields_are_refused_everywhere() {
    for v in versions() {
        let s = setup(v, "mcp_writer", POLICY).await;
        s.denied(
            "search_records",
            json!({"model": "res.partner", "fields": ["name", "vat"]}),
            "\"vat\"",
        )
        .await;
        s.denied(
            "search_records",
            json!({"model": "res.partner", "domain": [["vat", "=", "BE0477472701"]]}),
            "\"vat\"",
        )
        .await;
        s.denied(
            "search_records",
            json!({"model": "res.partner", "domain": ["!", ["credit_limit", ">", 0]]}),
            "\"credit_limit\"",
        )
        .await;
        s.denied(
            "search_records",
            json!({"model": "res.partner", "order": "vat desc"}),
            "\"vat\"",
        )
        .await;
        s.denied(
            "read_group",
            json!({"model": "res.partner", "groupby": ["vat"]}),
            "\"vat\"",
        )
        .await;
        s.denied("read_group", json!({"model": "res.partner", "groupby": ["is_company"], "aggregates": ["credit_limit:sum"]}), "\"credit_limit\"").await;
        // Through a relation: sale.order -> partner_id -> vat.
        s.denied(
            "search_records",
            json!({"model": "sale.order", "domain": [["partner_id.vat", "=", "x"]]}),
            "\"vat\"",
        )
        .await;
        // Through a model the policy does not show.
        s.denied(
            "search_records",
            json!({"model": "sale.order", "domain": [["user_id.login", "=", "admin"]]}),
            "res.users",
        )
        .await;
        // Through a model the key reads only within a restriction (res.partner: companies): the
        // path would ask about partners outside it, so it is refused wherever a path may appear.
        s.denied(
            "search_records",
            json!({"model": "sale.order", "domain": [["partner_id.name", "=", "Some Person"]]}),
            "only within a restriction",
        )
        .await;
        s.denied(
            "search_records",
            json!({"model": "sale.order", "order": "partner_id.email"}),
            "only within a restriction",
        )
        .await;
        s.denied(
            "read_group",
            json!({"model": "sale.order", "groupby": ["state"], "domain": [["partner_id.email", "=", "x"]]}),
            "only within a restriction",
        )
        .await;
        // The relation itself, and paths through unrestricted models, are fine.
        s.call(
            "search_records",
            json!({"model": "sale.order", "domain": [["partner_id", "!=", false]]}),
        )
        .await
        .unwrap();
        s.call(
            "search_records",
            json!({"model": "res.partner", "domain": [["country_id.code", "=", "BE"]]}),
        )
        .await
        .unwrap();
        s.denied(
            "create_records",
            json!({"model": "res.partner", "records": [{"name": "A", "vat": "BE0"}]}),
            "field \"vat\" on \"res.partner\" is not writable under profile \"sales\"",
        )
        .await;
    }
}

#[tokio::test]
async fn writes_follow_allowlists_restrictions_and_confirmation() {
    for v in versions() {
        let s = setup(v, "mcp_writer", POLICY).await;
        let created = s.call("create_records", json!({"model": "res.partner", "records": [{"name": "Policy Test Co", "is_company": true}]})).await.unwrap();
        let id = created["ids"][0].as_i64().unwrap();
        // A field outside the create allowlist.
        s.denied(
            "create_records",
            json!({"model": "res.partner", "records": [{"name": "B", "phone": "1"}]}),
            "field \"phone\" on \"res.partner\" is not writable",
        )
        .await;
        // Update: allowlisted field on a record inside the restriction works...
        s.call(
            "update_records",
            json!({"model": "res.partner", "ids": [id], "values": {"comment": "ok"}}),
        )
        .await
        .unwrap();
        // ...a field outside the update allowlist does not...
        s.denied(
            "update_records",
            json!({"model": "res.partner", "ids": [id], "values": {"email": "x@y.z"}}),
            "field \"email\"",
        )
        .await;
        // ...nor does a record outside the restriction (a person), nor one that does not exist.
        let person = s.emu.uid("mcp_reader"); // any id of a non-company partner works; use a known person
        let persons = s
            .call(
                "search_records",
                json!({"model": "res.country", "limit": 1}),
            )
            .await
            .unwrap();
        let _ = (person, persons);
        s.denied(
            "update_records",
            json!({"model": "res.partner", "ids": [3], "values": {"comment": "x"}}),
            "outside what profile \"sales\" may update",
        )
        .await;
        s.denied(
            "update_records",
            json!({"model": "res.partner", "ids": [99999999], "values": {"comment": "x"}}),
            "outside",
        )
        .await;
        s.denied(
            "delete_records",
            json!({"model": "res.partner", "ids": [3]}),
            "outside what profile \"sales\" may delete",
        )
        .await;
        // Confirmation: this client cannot ask its user, so both wait for an approver; nothing written.
        let p = s
            .call(
                "update_records",
                json!({"model": "sale.order", "ids": [1], "values": {"note": "x"}}),
            )
            .await
            .unwrap();
        assert_eq!(p["status"], "pending_approval", "{p}");
        let p = s
            .call(
                "call_method",
                json!({"model": "sale.order", "method": "action_draft", "ids": [1]}),
            )
            .await
            .unwrap();
        assert_eq!(p["status"], "pending_approval", "{p}");
        // Methods: allowlisted only.
        s.denied(
            "call_method",
            json!({"model": "sale.order", "method": "action_cancel", "ids": [1]}),
            "method \"action_cancel\" on \"sale.order\" is not allowed",
        )
        .await;
        let drafts = s.call("search_records", json!({"model": "sale.order", "domain": [["state", "=", "draft"]], "fields": ["state"], "limit": 1})).await.unwrap();
        let so = drafts["records"][0]["id"].as_i64().unwrap();
        let r = s
            .call(
                "call_method",
                json!({"model": "sale.order", "method": "action_confirm", "ids": [so]}),
            )
            .await
            .unwrap();
        assert_eq!(r["method"], "action_confirm");
        // Delete inside the restriction works.
        s.call(
            "delete_records",
            json!({"model": "res.partner", "ids": [id]}),
        )
        .await
        .unwrap();
        // Context keys are allowlisted.
        s.call(
            "search_records",
            json!({"model": "res.partner", "context": {"active_test": false, "lang": "en_US"}}),
        )
        .await
        .unwrap();
        s.denied(
            "search_records",
            json!({"model": "res.partner", "context": {"uid": 1}}),
            "context key `uid` is not allowed",
        )
        .await;
        s.denied("create_records", json!({"model": "res.partner", "records": [{"name": "C"}], "context": {"tracking_disable": true}}), "context key `tracking_disable` is not allowed").await;
    }
}

#[tokio::test]
async fn x2many_commands_are_checked_against_the_target() {
    for v in versions() {
        let s = setup(v, "mcp_writer", POLICY).await;
        let ok = s
            .call(
                "create_records",
                json!({"model": "res.partner", "records": [{"name": "Parent Co", "is_company": true,
            "child_ids": [[0, 0, {"name": "Kid One", "comment": "made through child_ids"}]]}]}),
            )
            .await
            .unwrap();
        let parent = ok["ids"][0].as_i64().unwrap();
        s.denied(
            "create_records",
            json!({"model": "res.partner", "records": [{"name": "P2", "is_company": true,
            "child_ids": [[0, 0, {"name": "Kid", "vat": "BE1"}]]}]}),
            "field \"vat\"",
        )
        .await;
        // Deleting a person through child_ids: the person is outside the restriction.
        s.denied(
            "update_records",
            json!({"model": "res.partner", "ids": [parent], "values": {"child_ids": [[2, 3]]}}),
            "outside",
        )
        .await;
        s.denied(
            "update_records",
            json!({"model": "res.partner", "ids": [parent], "values": {"child_ids": "nonsense"}}),
            "list of commands",
        )
        .await;
        // one2many lines may only be added, changed or deleted under the policy: unlinking,
        // clearing or replacing would orphan or move lines the policy never saw.
        for cmd in [
            json!([[5]]),
            json!([[3, 3]]),
            json!([[6, 0, [3]]]),
            json!([3]),
        ] {
            s.denied(
                "update_records",
                json!({"model": "res.partner", "ids": [parent], "values": {"child_ids": cmd}}),
                "is a one2many",
            )
            .await;
        }
        // Defaults would reach the nested lines and must not ride along with x2many commands.
        s.denied(
            "create_records",
            json!({"model": "res.partner", "records": [{"name": "P3", "is_company": true,
            "child_ids": [[0, 0, {"name": "Kid"}]]}], "context": {"default_comment": "x"}}),
            "cannot be combined",
        )
        .await;
        s.denied(
            "create_records",
            json!({"model": "res.partner", "records": [{"name": "P4"}], "context": {"default_child_ids": [[0, 0, {"name": "x"}]]}}),
            "default_child_ids is not accepted",
        )
        .await;
        s.denied(
            "update_records",
            json!({"model": "res.partner", "ids": [parent], "values": {"name": "Parent Co"}, "context": {"default_name": "x"}}),
            "create_records only",
        )
        .await;
    }
}

#[tokio::test]
async fn res_model_indirection_cannot_reach_hidden_models() {
    for v in versions() {
        let s = setup(v, "mcp_writer", POLICY).await;
        let r = s
            .call(
                "search_records",
                json!({"model": "ir.attachment", "fields": ["name", "res_model"]}),
            )
            .await
            .unwrap();
        let names: Vec<&str> = r["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"partner-contract.pdf") && names.contains(&"standalone-note.txt"),
            "{names:?}"
        );
        assert!(
            !names.contains(&"payslip-2026-10.pdf"),
            "an attachment of a hidden model was read: {names:?}"
        );
        let r = s
            .call(
                "search_records",
                json!({"model": "ir.attachment", "domain": [["res_model", "=", "hr.payslip"]]}),
            )
            .await
            .unwrap();
        assert_eq!(r["total"], 0);
        s.denied("create_records", json!({"model": "ir.attachment", "records": [{"name": "x", "res_model": "hr.payslip", "res_id": 4}]}), "\"hr.payslip\" is not").await;
        s.call("create_records", json!({"model": "ir.attachment", "records": [{"name": "y", "res_model": "res.partner", "res_id": 9}]})).await.unwrap();
    }
}

#[tokio::test]
async fn odoo_access_errors_pass_through_as_odoo_errors() {
    for v in versions() {
        // The policy allows creating partners; Odoo does not let the reader.
        let s = setup(
            v,
            "mcp_reader",
            "[models.\"res.partner\"]\nread = true\ncreate = { confirm = \"none\" }\n",
        )
        .await;
        let err = s
            .call(
                "create_records",
                json!({"model": "res.partner", "records": [{"name": "nope"}]}),
            )
            .await
            .unwrap_err();
        assert!(
            err.starts_with("Odoo error (access) [odoo.exceptions.AccessError]"),
            "{err}"
        );
        assert!(
            err.contains("You are not allowed to create 'Contact' (res.partner) records."),
            "{err}"
        );
        assert!(!err.contains("Traceback"));
        // list_models intersects the policy with Odoo's rights: no create for the reader.
        let models = s.call("list_models", json!({})).await.unwrap();
        assert_eq!(models["models"][0]["operations"], json!(["read"]));
    }
}

#[tokio::test]
async fn reload_is_validated_and_atomic() {
    let s = setup(EmulatorConfig::odoo19(), "mcp_writer", POLICY).await;
    let admin = s.admin().await;
    let url = format!("{}/admin/v1/policy/reload", s.w.admin_url);
    let http = reqwest::Client::new();
    let path = s.dir.join("policy.toml");
    // A broken file: refused, with the problem named, and the old policy stays.
    std::fs::write(
        &path,
        POLICY.replace("delete = true", "delete = \"yes please\""),
    )
    .unwrap();
    let r = http.post(&url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(body["problems"].to_string().contains("delete"), "{body}");
    let models = s.call("list_models", json!({})).await.unwrap();
    assert!(
        models.to_string().contains("\"delete\""),
        "the old policy must stay in force"
    );
    // A valid file: swapped in; the next call sees it.
    std::fs::write(&path, POLICY.replace("delete = true", "delete = false")).unwrap();
    let r = http.post(&url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let tools = s.rpc("tools/list", json!({})).await;
    assert!(
        !tools.to_string().contains("\"delete_records\""),
        "delete_records must disappear"
    );
    s.denied(
        "delete_records",
        json!({"model": "res.partner", "ids": [1]}),
        "not available under profile",
    )
    .await;
    // An mcp key cannot reload.
    let r = http.post(&url).bearer_auth(&s.token).send().await.unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn methods_work_without_read_and_defaults_cannot_bypass_allowlists() {
    for v in versions() {
        let policy = r#"
[defaults]
confirm = "none"
[models."sale.order"]
methods.action_confirm = true
[models."res.partner"]
read = true
create = { fields = ["name"] }
"#;
        let s = setup(v, "mcp_writer", policy).await;
        s.denied(
            "search_records",
            json!({"model": "sale.order"}),
            "read on \"sale.order\" is not allowed",
        )
        .await;
        // A draft order of the writer's (ids 4.. are the writer-visible drafts; find one by trying).
        let mut confirmed = false;
        for id in 1..=24 {
            if s.call(
                "call_method",
                json!({"model": "sale.order", "method": "action_confirm", "ids": [id]}),
            )
            .await
            .is_ok()
            {
                confirmed = true;
                break;
            }
        }
        assert!(
            confirmed,
            "an allowlisted method must run on a model without a read rule"
        );
        s.denied("create_records", json!({"model": "res.partner", "records": [{"name": "D"}], "context": {"default_comment": "smuggled"}}), "default_comment").await;
        s.call("create_records", json!({"model": "res.partner", "records": [{"name": "D"}], "context": {"default_name": "fine"}})).await.unwrap();
        for bad in ["context", "ids", "self"] {
            s.denied(
                "call_method",
                json!({"model": "sale.order", "method": "action_confirm", "ids": [1], "arguments": {bad: {}}}),
                "may not be passed to a method",
            )
            .await;
        }
    }
}

/// A write is confirmed as strictly as the strictest record it touches: lines created, changed or
/// deleted through a one2many need what their own model's rules need, whatever the parent's say.
const NESTED_CONFIRM: &str = r#"
[defaults]
confirm = "none"

[models."sale.order"]
read = true
update = { fields = ["note", "order_line"], confirm = "none" }

[models."sale.order.line"]
read = true
create = { fields = ["name", "product_uom_qty", "price_unit", "order_id"], confirm = "approver" }
update = { fields = ["product_uom_qty"], confirm = "user" }
delete = { confirm = "approver" }
"#;

#[tokio::test]
async fn nested_lines_need_their_own_models_confirmation() {
    for v in versions() {
        let s = setup(v, "mcp_writer", NESTED_CONFIRM).await;
        let orders = s
            .call(
                "search_records",
                json!({"model": "sale.order", "domain": [["order_line", "!=", false]], "fields": ["order_line"], "limit": 1}),
            )
            .await
            .unwrap();
        let order = orders["records"][0]["id"].as_i64().unwrap();
        let line = orders["records"][0]["order_line"][0].as_i64().unwrap();
        let lines_before = s
            .call(
                "search_records",
                json!({"model": "sale.order.line", "domain": [["order_id", "=", order]], "fields": ["product_uom_qty"]}),
            )
            .await
            .unwrap();
        // The parent alone runs at once.
        s.call(
            "update_records",
            json!({"model": "sale.order", "ids": [order], "values": {"note": "plain"}}),
        )
        .await
        .unwrap();
        // Adding or deleting a line needs an approver, as creating or deleting it directly would.
        for cmd in [
            json!([[0, 0, {"name": "Extra", "product_uom_qty": 1, "price_unit": 5}]]),
            json!([[2, line]]),
        ] {
            let r = s
                .call(
                    "update_records",
                    json!({"model": "sale.order", "ids": [order], "values": {"order_line": cmd}}),
                )
                .await
                .unwrap();
            assert_eq!(r["status"], "pending_approval", "{cmd}: {r}");
        }
        // Changing a line's quantity needs its user's confirmation; this client cannot ask, so
        // the write goes to an approver (the default for clients without elicitation).
        let r = s
            .call(
                "update_records",
                json!({"model": "sale.order", "ids": [order], "values": {"order_line": [[1, line, {"product_uom_qty": 9}]]}}),
            )
            .await
            .unwrap();
        assert_eq!(r["status"], "pending_approval", "{r}");
        // Nothing reached Odoo.
        let lines_after = s
            .call(
                "search_records",
                json!({"model": "sale.order.line", "domain": [["order_id", "=", order]], "fields": ["product_uom_qty"]}),
            )
            .await
            .unwrap();
        assert_eq!(lines_before["records"], lines_after["records"]);
    }
}

/// A related field (or one inherited through `_inherits`) is another model's value under a new
/// name: it is read, filtered on and written only as that other field could be.
const RELATED_POLICY: &str = r#"
[defaults]
confirm = "none"

[models."res.partner"]
read = { domain = [["is_company", "=", true]] }
update = true

[models."res.country"]
read = true
hidden_fields = ["code"]

[models."res.users"]
read = true
"#;

#[tokio::test]
async fn related_fields_follow_the_rules_of_the_field_they_copy() {
    for v in versions() {
        let s = setup(v, "mcp_writer", RELATED_POLICY).await;
        // res.partner.country_code is res.country.code, hidden.
        s.denied(
            "search_records",
            json!({"model": "res.partner", "fields": ["name", "country_code"]}),
            "from the hidden field res.country.code",
        )
        .await;
        s.denied(
            "search_records",
            json!({"model": "res.partner", "domain": [["country_code", "=", "BE"]]}),
            "from the hidden field res.country.code",
        )
        .await;
        s.denied(
            "read_group",
            json!({"model": "res.partner", "groupby": ["country_code"]}),
            "from the hidden field res.country.code",
        )
        .await;
        let listed = s
            .call("get_fields", json!({"model": "res.partner"}))
            .await
            .unwrap();
        assert!(listed["fields"].get("country_code").is_none(), "{listed}");
        assert!(listed["fields"].get("country_id").is_some(), "{listed}");
        s.denied(
            "get_fields",
            json!({"model": "res.partner", "fields": ["country_code"]}),
            "Odoo computes it from the hidden field res.country.code",
        )
        .await;
        // Writing a copy writes the other model's record.
        let companies = s
            .call(
                "search_records",
                json!({"model": "res.partner", "fields": ["name"], "limit": 1}),
            )
            .await
            .unwrap();
        let id = companies["records"][0]["id"].as_i64().unwrap();
        s.denied(
            "update_records",
            json!({"model": "res.partner", "ids": [id], "values": {"country_code": "FR"}}),
            "is not writable",
        )
        .await;
        // res.users.name and email are res.partner's (through _inherits), which this key reads
        // only for companies: refused. login is the user's own.
        s.denied(
            "search_records",
            json!({"model": "res.users", "fields": ["login", "email"]}),
            "only within a restriction",
        )
        .await;
        s.call(
            "search_records",
            json!({"model": "res.users", "fields": ["login"], "limit": 1}),
        )
        .await
        .unwrap();
    }
}

// ---- Derived data (issue 13): computed copies, name search, labels, references, methods ----

/// The ids of Joel Willis (a contact of YourCompany, not a company) in the recordings.
fn joel(v: &EmulatorConfig) -> i64 {
    if v.version.starts_with("18") { 8 } else { 7 }
}

/// Hides email and VAT on partners and the name of countries, with no exception.
const DERIVED: &str = r#"
[defaults]
max_records = 50
confirm = "none"

[models."res.partner"]
read = true
hidden_fields = ["email", "vat"]
update = { fields = ["comment", "email_normalized"] }

[models."res.country"]
read = true
hidden_fields = ["name"]

[models."sale.order"]
read = true
"#;

impl Setup {
    async fn records(&self, args: Value) -> Vec<Value> {
        let r = self.call("search_records", args.clone()).await;
        match r {
            Ok(v) => v["records"].as_array().cloned().unwrap_or_default(),
            Err(e) => panic!("search_records {args}: {e}"),
        }
    }

    /// The whole audit trail as text (an `audit` key reads it through the admin API).
    async fn trail(&self) -> String {
        let (_, key) = self.w.key(&["audit"], None, None).await;
        reqwest::Client::new()
            .get(format!("{}/admin/v1/audit?limit=500", self.w.admin_url))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn computed_copies_of_hidden_fields_are_hidden_everywhere() {
    for v in versions() {
        let s = setup(v, "mcp_writer", DERIVED).await;
        let from_email = "Odoo computes it from the hidden field res.partner.email";
        for fields in [["email_formatted"], ["email_normalized"]] {
            s.denied(
                "search_records",
                json!({"model": "res.partner", "fields": fields}),
                from_email,
            )
            .await;
        }
        s.denied("search_records", json!({"model": "res.partner", "domain": [["email_normalized", "=", "info@yourcompany.com"]]}), from_email).await;
        s.denied(
            "search_records",
            json!({"model": "res.partner", "fields": ["name"], "order": "email_formatted desc"}),
            from_email,
        )
        .await;
        s.denied(
            "read_group",
            json!({"model": "res.partner", "groupby": ["email_normalized"]}),
            from_email,
        )
        .await;
        s.denied("read_group", json!({"model": "res.partner", "groupby": ["is_company"], "aggregates": ["email_formatted:count_distinct"]}), from_email).await;
        // Through a relation, into the same rules.
        s.denied("search_records", json!({"model": "sale.order", "domain": [["partner_id.email_normalized", "=", "x@example.com"]]}), from_email).await;
        // display_name lists email and vat among its sources: hidden without an exception, and
        // the default field of search_records falls back to the ids alone.
        s.denied(
            "search_records",
            json!({"model": "res.partner", "fields": ["display_name"]}),
            "Odoo computes it from the hidden field res.partner.",
        )
        .await;
        let rows = s.records(json!({"model": "res.partner", "limit": 3})).await;
        assert_eq!(rows.len(), 3);
        for r in &rows {
            assert_eq!(
                r.as_object().unwrap().keys().collect::<Vec<_>>(),
                ["id"],
                "{r}"
            );
        }
        // A hidden name hides the display name (res.country.display_name <- name).
        s.denied(
            "search_records",
            json!({"model": "res.country", "fields": ["display_name"]}),
            "it shows the record's name, which the policy hides",
        )
        .await;
        let listed = s
            .call("get_fields", json!({"model": "res.partner"}))
            .await
            .unwrap();
        for hidden in [
            "email",
            "vat",
            "email_formatted",
            "email_normalized",
            "display_name",
        ] {
            assert!(listed["fields"].get(hidden).is_none(), "{hidden} listed");
        }
        assert!(listed["fields"].get("name").is_some());
        s.denied(
            "get_fields",
            json!({"model": "res.partner", "fields": ["email_formatted"]}),
            from_email,
        )
        .await;
        // Never written either (a computed field with an inverse would write its source).
        s.denied(
            "update_records",
            json!({"model": "res.partner", "ids": [1], "values": {"email_normalized": "x@example.com"}}),
            "is not writable",
        )
        .await;
        // Labels are display names: those of partners and countries are hidden here.
        for r in s
            .records(json!({"model": "sale.order", "fields": ["partner_id"], "limit": 5}))
            .await
        {
            let pair = r["partner_id"].as_array().unwrap();
            assert_eq!(pair[1], format!("res.partner,{}", pair[0]), "{r}");
        }
        for r in s
            .records(json!({"model": "res.partner", "fields": ["country_id"], "domain": [["country_id", "!=", false]], "limit": 5}))
            .await
        {
            let pair = r["country_id"].as_array().unwrap();
            assert_eq!(pair[1], format!("res.country,{}", pair[0]), "{r}");
        }
    }
}

#[tokio::test]
async fn a_stated_exception_shows_what_does_not_reach_the_assistant() {
    let policy = format!(
        "{DERIVED}\n[models.\"res.partner\".derived.display_name]\nignore = [\"email\", \"vat\"]\nreason = \"Odoo adds them to the name only under show_email/show_vat, which odoo-warden never passes\"\n"
    );
    for v in versions() {
        let s = setup(v.clone(), "mcp_writer", &policy).await;
        let rows = s
            .records(
                json!({"model": "sale.order", "fields": ["partner_id"], "order": "id", "limit": 1}),
            )
            .await;
        assert_eq!(rows[0]["partner_id"][1], "Deco Addict", "{rows:?}");
        let rows = s
            .records(json!({"model": "res.partner", "domain": [["id", "=", joel(&v)]]}))
            .await;
        assert_eq!(rows[0]["display_name"], "YourCompany, Joel Willis");
        s.denied(
            "search_records",
            json!({"model": "res.partner", "fields": ["email_formatted"]}),
            "res.partner.email",
        )
        .await;
    }
}

#[tokio::test]
async fn name_searches_through_relations_cannot_reach_hidden_fields_or_records() {
    let hiding = r#"
[defaults]
confirm = "none"
[models."res.partner"]
read = true
hidden_fields = ["email", "vat"]
[models."res.partner".derived.display_name]
ignore = ["email", "vat"]
reason = "Odoo adds them to the name only under show_email/show_vat, which odoo-warden never passes"
[models."sale.order"]
read = true
"#;
    for v in versions() {
        let s = setup(v.clone(), "mcp_writer", hiding).await;
        // Odoo matches these by the partner's email or VAT (2 orders each, as recorded).
        for leaf in [
            json!(["partner_id", "ilike", "joel.willis63@example.com"]),
            json!(["partner_id", "ilike", "US12345673"]),
            json!(["partner_id", "=", "joel.willis63@example.com"]),
            json!(["partner_id", "!=", "joel.willis63@example.com"]),
            json!(["partner_id", "not ilike", "joel.willis63@example.com"]),
            json!(["partner_id", "in", ["joel.willis63@example.com"]]),
            json!(["partner_id", "child_of", "joel.willis63@example.com"]),
            json!(["partner_id", "=like", "%@example.com"]),
        ] {
            s.denied(
                "search_records",
                json!({"model": "sale.order", "domain": [leaf]}),
                "[\"partner_id.name\"",
            )
            .await;
        }
        s.denied("read_group", json!({"model": "sale.order", "groupby": ["state"], "domain": [["partner_id", "ilike", "US12345673"]]}), "by name").await;
        // The model's own display_name, and child_of a name, are name searches too.
        s.denied("search_records", json!({"model": "res.partner", "domain": [["display_name", "ilike", "joel.willis63@example.com"]]}), "by name").await;
        s.denied(
            "search_records",
            json!({"model": "res.partner", "domain": [["id", "child_of", "Azure"]]}),
            "by name",
        )
        .await;
        // The explicit forms work: a visible field of the partner, or its id.
        let by_name = s
            .call("search_records", json!({"model": "sale.order", "domain": [["partner_id.name", "ilike", "joel.willis63@example.com"]]}))
            .await
            .unwrap();
        assert_eq!(by_name["total"], 0, "the name does not hold the email");
        let by_id = s
            .call(
                "search_records",
                json!({"model": "sale.order", "domain": [["partner_id", "=", joel(&v)]]}),
            )
            .await
            .unwrap();
        assert_eq!(by_id["total"], 2, "{by_id}");
    }
    // A relation into records the key reads only within a restriction: Odoo's name search would
    // match the others (contacts, here).
    let restricted = r#"
[models."res.partner"]
read = { domain = [["is_company", "=", true]] }
[models."sale.order"]
read = true
"#;
    for v in versions() {
        let s = setup(v, "mcp_writer", restricted).await;
        s.denied("search_records", json!({"model": "res.partner", "domain": [["is_company", "=", true], ["child_ids", "=like", "Azure Interior, B%"]]}), "outside what profile").await;
        s.denied(
            "search_records",
            json!({"model": "sale.order", "domain": [["partner_id", "ilike", "Joel"]]}),
            "outside what profile",
        )
        .await;
    }
    // Nothing hidden, no restriction: a name search is just a search.
    let open = "[models.\"res.partner\"]\nread = true\n[models.\"sale.order\"]\nread = true\n";
    for v in versions() {
        let s = setup(v, "mcp_writer", open).await;
        let r = s
            .call("search_records", json!({"model": "sale.order", "domain": [["partner_id", "ilike", "joel.willis63@example.com"]]}))
            .await
            .unwrap();
        assert_eq!(r["total"], 2, "{r}");
    }
}

#[tokio::test]
async fn labels_of_records_the_key_may_not_read_are_placeholders() {
    let policy = r#"
[defaults]
max_records = 100
[models."res.partner"]
read = { domain = [["is_company", "=", true]] }
[models."sale.order"]
read = true
"#;
    for v in versions() {
        let s = setup(v.clone(), "mcp_writer", policy).await;
        let rows = s
            .records(
                json!({"model": "sale.order", "fields": ["partner_id", "user_id"], "limit": 100}),
            )
            .await;
        let joel = joel(&v);
        let mut seen_joel = false;
        let mut seen_company = false;
        for r in &rows {
            let partner = r["partner_id"].as_array().unwrap();
            if partner[0] == joel {
                seen_joel = true;
                assert_eq!(partner[1], format!("res.partner,{joel}"), "{r}");
            } else if partner[1] == "Deco Addict" {
                seen_company = true;
            }
            // res.users is not in the policy: no salesperson's name.
            if let Some(user) = r["user_id"].as_array() {
                assert_eq!(user[1], format!("res.users,{}", user[0]), "{r}");
            }
        }
        assert!(seen_joel && seen_company, "{rows:?}");
        // read_group labels its groups the same way.
        let groups = s
            .call(
                "read_group",
                json!({"model": "sale.order", "groupby": ["partner_id"]}),
            )
            .await
            .unwrap();
        let groups = groups["groups"].as_array().unwrap();
        let g = groups
            .iter()
            .find(|g| g["partner_id"][0] == joel)
            .unwrap_or_else(|| panic!("{groups:?}"));
        assert_eq!(g["partner_id"][1], format!("res.partner,{joel}"));
        assert!(groups.iter().any(|g| g["partner_id"][1] == "Deco Addict"));
    }
    // `labels = true` lets a model's names through without making it readable.
    let labelled = format!("{policy}\n[models.\"res.users\"]\nlabels = true\n");
    for v in versions() {
        let s = setup(v, "mcp_writer", &labelled).await;
        let rows = s
            .records(json!({"model": "sale.order", "fields": ["user_id"], "domain": [["user_id", "!=", false]], "limit": 3}))
            .await;
        assert!(!rows.is_empty());
        for r in &rows {
            let user = r["user_id"].as_array().unwrap();
            assert_ne!(user[1], format!("res.users,{}", user[0]), "{r}");
        }
        s.denied(
            "search_records",
            json!({"model": "res.users"}),
            "read on \"res.users\" is not allowed",
        )
        .await;
    }
}

#[tokio::test]
async fn references_reach_only_records_the_key_may_read() {
    let policy = r#"
[defaults]
confirm = "none"
[models."res.partner"]
read = { domain = [["is_company", "=", false]] }
[models."ir.attachment"]
read = true
create = { fields = ["name", "res_model", "res_id"] }
update = { fields = ["name", "res_model", "res_id"] }
"#;
    for v in versions() {
        let s = setup(v.clone(), "mcp_writer", policy).await;
        // partner-contract.pdf belongs to partner 9, a company: outside the read domain.
        let names: Vec<String> = s
            .records(json!({"model": "ir.attachment", "fields": ["name"]}))
            .await
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect();
        assert!(
            names.contains(&"standalone-note.txt".to_string()),
            "{names:?}"
        );
        assert!(
            !names.contains(&"partner-contract.pdf".to_string()),
            "{names:?}"
        );
        assert!(!names.contains(&"payslip-2026-10.pdf".to_string()));
        let pinned = s
            .call("search_records", json!({"model": "ir.attachment", "domain": [["res_model", "=", "res.partner"], ["res_id", "=", 9]]}))
            .await
            .unwrap();
        assert_eq!(pinned["total"], 0, "{pinned}");
        // Writes: only to records inside the read domain, model and id together.
        s.denied("create_records", json!({"model": "ir.attachment", "records": [{"name": "x", "res_model": "res.partner", "res_id": 9}]}), "outside what profile").await;
        let created = s
            .call("create_records", json!({"model": "ir.attachment", "records": [{"name": "y", "res_model": "res.partner", "res_id": joel(&v)}]}))
            .await
            .unwrap();
        let id = created["ids"][0].as_i64().unwrap();
        s.denied(
            "update_records",
            json!({"model": "ir.attachment", "ids": [id], "values": {"res_id": 9}}),
            "set both in the same call",
        )
        .await;
        s.denied("update_records", json!({"model": "ir.attachment", "ids": [id], "values": {"res_model": "res.partner", "res_id": 9}}), "outside what profile").await;
        s.denied(
            "create_records",
            json!({"model": "ir.attachment", "records": [{"name": "z", "res_id": 9}]}),
            "set both",
        )
        .await;
        s.denied("create_records", json!({"model": "ir.attachment", "records": [{"name": "z", "res_model": "res.partner"}], "context": {"default_res_id": 9}}), "default_res_id").await;
        s.denied("create_records", json!({"model": "ir.attachment", "records": [{"name": "z", "res_model": "hr.payslip", "res_id": 4}]}), "\"hr.payslip\" is not").await;
        // An attachment of a partner outside the domain cannot be changed either.
        let all = s
            .call(
                "search_records",
                json!({"model": "ir.attachment", "domain": [["id", "=", 1]]}),
            )
            .await
            .unwrap();
        assert_eq!(all["total"], 0);
        s.denied(
            "update_records",
            json!({"model": "ir.attachment", "ids": [1], "values": {"name": "renamed"}}),
            "outside what profile",
        )
        .await;
    }
}

#[tokio::test]
async fn method_arguments_are_allowlisted_and_their_values_checked() {
    let policy = r#"
[defaults]
confirm = "none"
[models."sale.order"]
read = true
update = { fields = ["note"] }
methods.action_confirm = true
methods.action_cancel = { arguments = ["vals", "force"] }
"#;
    for v in versions() {
        let s = setup(v, "mcp_writer", policy).await;
        s.denied("call_method", json!({"model": "sale.order", "method": "action_confirm", "ids": [1], "arguments": {"force": true}}), "argument \"force\" of method \"action_confirm\" on \"sale.order\" is not allowed under profile \"sales\" (allowed: none)").await;
        s.denied("call_method", json!({"model": "sale.order", "method": "action_cancel", "ids": [1], "arguments": {"date": "2026-01-01"}}), "(allowed: force, vals)").await;
        // Values handed to a method are checked as an update's.
        s.denied("call_method", json!({"model": "sale.order", "method": "action_cancel", "ids": [1], "arguments": {"vals": {"state": "draft"}}}), "field \"state\" on \"sale.order\" is not writable").await;
        s.denied("call_method", json!({"model": "sale.order", "method": "action_cancel", "ids": [1], "arguments": {"vals": [{"note": "ok"}, {"amount_total": 0}]}}), "\"amount_total\"").await;
        // Allowed arguments reach Odoo (which may refuse them: that is Odoo's answer, not ours).
        match s
            .call("call_method", json!({"model": "sale.order", "method": "action_cancel", "ids": [1], "arguments": {"force": true}}))
            .await
        {
            Ok(_) => {}
            Err(e) => assert!(e.starts_with("Odoo error"), "{e}"),
        }
    }
}

#[tokio::test]
async fn the_trail_and_approvals_keep_no_hidden_value() {
    let policy = r#"
[defaults]
confirm = "none"
[models."res.partner"]
read = true
hidden_fields = ["email", "vat"]
create = { fields = ["name"] }
[models."sale.order"]
read = true
methods.action_confirm = { confirm = "approver", arguments = ["api_key"] }
"#;
    for v in versions() {
        let s = setup(v, "mcp_writer", policy).await;
        let _ = s.call("search_records", json!({"model": "res.partner", "domain": [["email_formatted", "=", "secret-1@example.com"]]})).await;
        let _ = s
            .call(
                "search_records",
                json!({"model": "res.partner", "domain": [["vat", "=", "BE-SECRET-2", "x"]]}),
            )
            .await;
        let _ = s.call("search_records", json!({"model": "sale.order", "domain": [["partner_id", "ilike", "secret-3@example.com"]]})).await;
        let _ = s.call("create_records", json!({"model": "res.partner", "records": [{"name": "N"}], "context": {"default_vat": "BE-SECRET-4"}})).await;
        let pending = s
            .call("call_method", json!({"model": "sale.order", "method": "action_confirm", "ids": [1], "arguments": {"api_key": "SECRET-5"}}))
            .await
            .unwrap();
        assert_eq!(pending["status"], "pending_approval", "{pending}");
        let id = pending["approval_id"].as_str().unwrap().to_string();
        let trail = s.trail().await;
        for secret in [
            "secret-1",
            "BE-SECRET-2",
            "secret-3",
            "BE-SECRET-4",
            "SECRET-5",
        ] {
            assert!(!trail.contains(secret), "{secret} in the trail");
        }
        assert!(trail.contains("[hidden]"));
        let (_, approver) = s.w.key(&["approve"], None, None).await;
        let listed = reqwest::Client::new()
            .get(format!(
                "{}/admin/v1/approvals?status=pending",
                s.w.admin_url
            ))
            .bearer_auth(&approver)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            listed.contains(&id) && !listed.contains("SECRET-5"),
            "{listed}"
        );
        let approved = reqwest::Client::new()
            .post(format!("{}/admin/v1/approvals/{id}/approve", s.w.admin_url))
            .bearer_auth(&approver)
            .json(&json!({"reason": "ok"}))
            .send()
            .await
            .unwrap();
        assert_eq!(approved.status(), 200);
        // Still bound to the whole call: the same arguments run, others do not.
        let other = s
            .call("call_method", json!({"model": "sale.order", "method": "action_confirm", "ids": [1], "arguments": {"api_key": "[redacted]"}, "approval_id": id}))
            .await
            .unwrap_err();
        assert!(
            other.contains("differs from the one that was approved"),
            "{other}"
        );
        match s
            .call("call_method", json!({"model": "sale.order", "method": "action_confirm", "ids": [1], "arguments": {"api_key": "SECRET-5"}, "approval_id": id}))
            .await
        {
            Ok(_) => {}
            Err(e) => assert!(e.starts_with("Odoo error"), "the approval must be accepted: {e}"),
        }
    }
}
