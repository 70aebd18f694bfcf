//! How many HTTP requests each tool call costs Odoo, counted by the emulator (as Odoo 16 to 19).
//!
//! On real Odoo each request pays API-key verification and dispatch (about 17 ms on a small
//! server), so a request more halves what an Odoo can serve through odoo-warden. These counts are
//! what a call costs once the per-profile caches are warm (field definitions, access checks, the
//! user's context); they are exact, so a change that adds a request fails here. README
//! "Performance" states them.

use crate::emulator;
use crate::warden;

use emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};

/// Partners read only within a domain (so writes on them must be checked against it); countries
/// read freely (their labels need no check); orders within a domain, with a method.
const POLICY: &str = r#"
[defaults]
max_records = 100
confirm = "none"

[models."res.partner"]
read = { domain = [["is_company", "=", true]] }
hidden_fields = ["vat"]
derived.display_name = { ignore = ["vat"], reason = "vat shows in a partner's name only under context flags odoo-warden never passes" }
create = { fields = ["name", "is_company", "email", "comment"] }
update = { fields = ["name", "comment"] }
delete = true

[models."res.country"]
read = true

[models."sale.order"]
read = { domain = [["state", "!=", "cancel"]] }
methods.action_confirm = { confirm = "none" }
"#;

struct Setup {
    emu: Emulator,
    w: warden::Warden,
    url: String,
    token: String,
    dir: std::path::PathBuf,
}

async fn setup(version: EmulatorConfig) -> Setup {
    let emu = Emulator::start(version).await;
    let dir = std::env::temp_dir().join(format!(
        "ow-round-trips-{}-{}",
        std::process::id(),
        emu.addr().port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let policy_path = dir.join("policy.toml");
    std::fs::write(&policy_path, POLICY).unwrap();
    let extra = format!("policy = \"{}\"", policy_path.display());
    let text = warden::config_text(
        &emu.url(),
        "sqlite::memory:",
        &[("sales", "mcp_writer")],
        &extra,
    );
    let w = warden::start(&text, warden::env_for(&["mcp_writer"]))
        .await
        .unwrap();
    let (_, token) = w.key(&["mcp"], Some("sales"), None).await;
    Setup {
        url: w.mcp_url.clone(),
        emu,
        w,
        token,
        dir,
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Setup {
    /// Calls a tool; its structured result, or a panic naming the refusal.
    async fn call(&self, tool: &str, args: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {}},
            "name": tool, "arguments": args}});
        let r: Value = reqwest::Client::new()
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let result = &r["result"];
        assert!(
            r.get("error").is_none() && result["isError"] != true,
            "{tool} {args}: {r}"
        );
        result["structuredContent"].clone()
    }

    /// The result of one call, and how many requests Odoo received for it.
    async fn counted(&self, tool: &str, args: Value) -> (Value, u64) {
        self.emu.reset_requests();
        let v = self.call(tool, args).await;
        (v, self.emu.requests())
    }
}

/// Field definitions, access checks and the user context asked once, then held: the tools that
/// only describe cost nothing on a warm profile.
async fn warm(s: &Setup) {
    s.call("list_models", json!({})).await;
    for model in ["res.partner", "res.country", "sale.order"] {
        s.call("get_fields", json!({"model": model})).await;
    }
    s.call("get_context", json!({})).await;
}

/// Every tool, with the requests it may cost on a warm profile and why.
#[tokio::test]
async fn each_tool_call_costs_odoo_a_known_number_of_requests() {
    for v in [EmulatorConfig::odoo18(), EmulatorConfig::odoo19()] {
        let version = v.version.clone();
        let s = setup(v).await;
        warm(&s).await;
        let mut table: Vec<(String, u64, u64)> = Vec::new();
        let mut expect = |what: &str, got: u64, want: u64| {
            table.push((what.to_string(), got, want));
        };

        let (_, n) = s.counted("get_context", json!({})).await;
        expect("get_context", n, 0);
        let (_, n) = s.counted("list_models", json!({})).await;
        expect("list_models", n, 0);
        let (_, n) = s
            .counted("get_fields", json!({"model": "res.partner"}))
            .await;
        expect("get_fields", n, 0);

        // The truth to compare totals with: every company, in one unpaged read.
        let (all, _) = s
            .counted(
                "search_records",
                json!({"model": "res.partner", "fields": ["name"], "limit": 100}),
            )
            .await;
        let companies = all["records"].as_array().unwrap().len() as u64;
        assert!(companies > 3, "{version}: the seed has companies: {all}");
        assert_eq!(all["total"], json!(companies));

        // A full page: the page and the total in one request (Odoo counts inside it).
        let (page, n) = s
            .counted(
                "search_records",
                json!({"model": "res.partner", "fields": ["name", "email", "country_id"], "limit": 2}),
            )
            .await;
        expect("search_records, a full page", n, 1);
        assert_eq!(page["records"].as_array().unwrap().len(), 2);
        assert_eq!(page["total"], json!(companies), "{version}: {page}");
        let country = &page["records"][0]["country_id"];
        assert!(
            country.is_array() && country[1].is_string() && country[1] != json!("res.country,233"),
            "{version}: a many2one is [id, label], the label shown where the key reads the country: {page}"
        );

        // The last page, partly filled.
        let (page, n) = s
            .counted(
                "search_records",
                json!({"model": "res.partner", "fields": ["name"], "limit": 2, "offset": companies - 1}),
            )
            .await;
        expect("search_records, the last page", n, 1);
        assert_eq!(page["records"].as_array().unwrap().len(), 1);
        assert_eq!(page["total"], json!(companies));

        // Past the end Odoo answers "length 0": the total then costs a count.
        let (page, n) = s
            .counted(
                "search_records",
                json!({"model": "res.partner", "fields": ["name"], "limit": 2, "offset": companies + 5}),
            )
            .await;
        expect("search_records, past the last page", n, 2);
        assert_eq!(page["records"], json!([]));
        assert_eq!(page["total"], json!(companies));

        // Labels of partners, read only within a domain: one search tells which may show.
        let (orders, n) = s
            .counted(
                "search_records",
                json!({"model": "sale.order", "fields": ["name", "partner_id"], "limit": 5}),
            )
            .await;
        expect(
            "search_records, labels of a model read within a domain",
            n,
            2,
        );
        assert_eq!(orders["records"].as_array().unwrap().len(), 5);

        let (groups, n) = s
            .counted(
                "read_group",
                json!({"model": "res.partner", "groupby": ["country_id"]}),
            )
            .await;
        expect("read_group", n, 1);
        assert!(!groups["groups"].as_array().unwrap().is_empty(), "{groups}");

        let (created, n) = s
            .counted(
                "create_records",
                json!({"model": "res.partner", "records": [{"name": "Round Trip Ltd", "is_company": true}]}),
            )
            .await;
        expect("create_records", n, 1);
        let id = created["ids"][0].as_i64().unwrap();

        // One request checks the ids against the restriction, one writes.
        let (_, n) = s
            .counted(
                "update_records",
                json!({"model": "res.partner", "ids": [id], "values": {"comment": "counted"}}),
            )
            .await;
        expect("update_records", n, 2);
        let (_, n) = s
            .counted(
                "delete_records",
                json!({"model": "res.partner", "ids": [id]}),
            )
            .await;
        expect("delete_records", n, 2);
        let (_, n) = s
            .counted(
                "call_method",
                json!({"model": "sale.order", "method": "action_confirm", "ids": [1]}),
            )
            .await;
        expect("call_method", n, 2);

        let grown: Vec<String> = table
            .iter()
            .filter(|(_, got, want)| got != want)
            .map(|(what, got, want)| format!("{what}: {got} requests (was {want})"))
            .collect();
        assert!(
            grown.is_empty(),
            "Odoo {version}: requests per call changed:\n{}",
            grown.join("\n")
        );
    }
}

/// The single request is `web_search_read` on every version odoo-warden speaks (16: `fields`,
/// 17+: a `specification`), with the result shaped as before: many2one as `[id, label]`.
#[tokio::test]
async fn a_page_and_its_total_are_one_request_on_every_version() {
    for version in ["16.0", "17.0", "18.0", "19.0"] {
        let s = setup(EmulatorConfig::with_version(version)).await;
        warm(&s).await;
        let (page, n) = s
            .counted(
                "search_records",
                json!({"model": "res.partner", "fields": ["name", "country_id"], "limit": 1,
                       "order": "id"}),
            )
            .await;
        assert_eq!(n, 1, "{version}: {page}");
        let total = page["total"].as_u64().unwrap();
        assert!(total > 1, "{version}: {page}");
        let row = &page["records"][0];
        assert!(row["id"].is_i64(), "{version}: {row}");
        let country = &row["country_id"];
        assert!(
            country == &json!(false) || (country[0].is_i64() && country[1].is_string()),
            "{version}: {row}"
        );
    }
}

/// What is held is held per policy: a reload reads field definitions and access again (once),
/// and nothing that depends on record data is held at all.
#[tokio::test]
async fn a_policy_reload_reads_definitions_again_and_records_are_never_held() {
    for v in [EmulatorConfig::odoo18(), EmulatorConfig::odoo19()] {
        let version = v.version.clone();
        let s = setup(v).await;
        warm(&s).await;
        let (_, n) = s
            .counted("get_fields", json!({"model": "res.partner"}))
            .await;
        assert_eq!(n, 0, "{version}: warm");
        let admin = s.w.key(&["admin"], None, None).await.1;
        let r = reqwest::Client::new()
            .post(format!("{}/admin/v1/policy/reload", s.w.admin_url))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{version}");
        let (_, n) = s
            .counted("get_fields", json!({"model": "res.partner"}))
            .await;
        assert!(
            n >= 1,
            "{version}: definitions are read again after a reload"
        );
        let (_, n) = s
            .counted("get_fields", json!({"model": "res.partner"}))
            .await;
        assert_eq!(n, 0, "{version}: and held again");
        let (_, n) = s.counted("list_models", json!({})).await;
        assert!(n >= 1, "{version}: access is checked again after a reload");

        // A record that changed shows on the next read: records are never held.
        let args = json!({"model": "res.partner", "domain": [["name", "=", "Round Trip Two"]], "fields": ["comment"]});
        let created = s
            .call(
                "create_records",
                json!({"model": "res.partner", "records": [{"name": "Round Trip Two", "is_company": true, "comment": "one"}]}),
            )
            .await;
        let id = created["ids"][0].as_i64().unwrap();
        let (page, n) = s.counted("search_records", args.clone()).await;
        assert_eq!(
            (n, page["records"][0]["comment"].clone()),
            (1, json!("one"))
        );
        s.call(
            "update_records",
            json!({"model": "res.partner", "ids": [id], "values": {"comment": "two"}}),
        )
        .await;
        let (page, n) = s.counted("search_records", args).await;
        assert_eq!(
            (n, page["records"][0]["comment"].clone()),
            (1, json!("two")),
            "{version}"
        );
    }
}
