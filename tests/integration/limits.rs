//! Rate limits (per address before authentication, per key after it, the write budget) and the
//! kill switch (modes, persistence across restarts, two instances sharing PostgreSQL).

use crate::emulator;
use crate::pg;
use crate::warden;

use emulator::{Emulator, EmulatorConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const POLICY: &str = "[defaults]\nconfirm = \"none\"\n[models.\"res.partner\"]\nread = true\nupdate = { fields = [\"comment\"] }\n";

struct T {
    _emu: Emulator,
    w: warden::Warden,
    _dir: std::path::PathBuf,
}

async fn start_with(emu: Emulator, store: &str, limits: &str, rate_limit: &str) -> T {
    let dir = std::env::temp_dir().join(format!(
        "ow-limits-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    let extra = format!(
        "policy = \"{}\"\n{rate_limit}",
        dir.join("policy.toml").display()
    );
    let mut text = warden::config_text(&emu.url(), store, &[("sales", "mcp_writer")], &extra);
    text.push_str(limits);
    let w = warden::start(&text, warden::env_for(&["mcp_writer"]))
        .await
        .unwrap();
    T {
        _emu: emu,
        w,
        _dir: dir,
    }
}

async fn start(limits: &str, rate_limit: &str) -> T {
    start_with(
        Emulator::start(EmulatorConfig::odoo19()).await,
        "sqlite::memory:",
        limits,
        rate_limit,
    )
    .await
}

fn init() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}})
}

async fn post(url: &str, key: &str, body: &Value, xff: Option<&str>) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json");
    if let Some(x) = xff {
        r = r.header("x-forwarded-for", x);
    }
    r.body(body.to_string()).send().await.unwrap()
}

async fn tool(url: &str, key: &str, name: &str, args: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}},
        "name": name, "arguments": args}});
    reqwest::Client::new()
        .post(url)
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

#[tokio::test]
async fn per_address_limit_before_authentication() {
    let t = start("[limits]\nper_ip_per_minute = 3\nper_ip_burst = 3\n", "").await;
    let (_, key) = t.w.key(&["mcp"], Some("sales"), None).await;
    for _ in 0..3 {
        assert_eq!(
            post(&t.w.mcp_url, "owk_nope", &init(), None).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Even a valid key is now refused from this address: the limit comes before authentication.
    let r = post(&t.w.mcp_url, &key, &init(), None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(t.w.rt.audit.flush(Duration::from_secs(5)).await);
    let f = odoo_warden::store::AuditFilter {
        kind: Some("rate_limited".into()),
        ..Default::default()
    };
    assert_eq!(
        t.w.rt.store.query_audit(&f, None, 10).await.unwrap().len(),
        1,
        "the refusal is audited"
    );
}

#[tokio::test]
async fn admin_api_is_limited_per_address_but_probes_are_not() {
    let t = start("[limits]\nper_ip_per_minute = 2\nper_ip_burst = 2\n", "").await;
    let (_, audit) = t.w.key(&["audit"], None, None).await;
    let client = reqwest::Client::new();
    let get = |path: &str, key: &str| {
        client
            .get(format!("{}{path}", t.w.admin_url))
            .bearer_auth(key.to_string())
            .send()
    };
    for _ in 0..2 {
        assert_eq!(
            get("/admin/v1/audit/verify", "owk_nope")
                .await
                .unwrap()
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = get("/admin/v1/audit/verify", &audit).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    for path in ["/healthz", "/readyz", "/metrics"] {
        for _ in 0..3 {
            assert_eq!(
                get(path, "").await.unwrap().status(),
                StatusCode::OK,
                "{path}"
            );
        }
    }
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let t = start(
        "[limits]\nper_ip_per_minute = 2\nper_ip_burst = 2\ntrusted_proxies = [\"127.0.0.1\"]\n",
        "",
    )
    .await;
    let (_, key) = t.w.key(&["mcp"], Some("sales"), None).await;
    for _ in 0..2 {
        assert_eq!(
            post(&t.w.mcp_url, &key, &init(), Some("203.0.113.5"))
                .await
                .status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        post(&t.w.mcp_url, &key, &init(), Some("203.0.113.5"))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        post(&t.w.mcp_url, &key, &init(), Some("203.0.113.6"))
            .await
            .status(),
        StatusCode::OK,
        "another client behind the proxy"
    );
    // The trail records the address the limiter keyed on: the client's, not the proxy's.
    assert!(t.w.rt.audit.flush(Duration::from_secs(5)).await);
    let records =
        t.w.rt
            .store
            .query_audit(&odoo_warden::store::AuditFilter::default(), None, 50)
            .await
            .unwrap();
    let ips: Vec<Option<String>> = records
        .iter()
        .map(|r| r.record["client_ip"].as_str().map(str::to_string))
        .collect();
    assert!(ips.contains(&Some("203.0.113.5".into())), "{ips:?}");
    assert!(ips.contains(&Some("203.0.113.6".into())), "{ips:?}");
    assert!(!ips.contains(&Some("127.0.0.1".into())), "{ips:?}");

    let t = start("[limits]\nper_ip_per_minute = 2\nper_ip_burst = 2\n", "").await;
    let (_, key) = t.w.key(&["mcp"], Some("sales"), None).await;
    for (i, xff) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        .into_iter()
        .enumerate()
    {
        let s = post(&t.w.mcp_url, &key, &init(), Some(xff)).await.status();
        assert_eq!(
            s == StatusCode::TOO_MANY_REQUESTS,
            i == 2,
            "an untrusted peer's X-Forwarded-For must not pick the bucket"
        );
    }
    assert!(t.w.rt.audit.flush(Duration::from_secs(5)).await);
    let records =
        t.w.rt
            .store
            .query_audit(&odoo_warden::store::AuditFilter::default(), None, 50)
            .await
            .unwrap();
    assert!(!records.is_empty());
    for r in &records {
        assert_eq!(
            r.record["client_ip"], "127.0.0.1",
            "an untrusted X-Forwarded-For is not recorded"
        );
    }
}

#[tokio::test]
async fn per_key_limit_and_write_budget() {
    let t = start(
        "",
        "rate_limit = { per_minute = 60, burst = 2, writes_per_minute = 1 }",
    )
    .await;
    let (_, a) = t.w.key(&["mcp"], Some("sales"), None).await;
    let (_, b) = t.w.key(&["mcp"], Some("sales"), None).await;
    assert_eq!(
        post(&t.w.mcp_url, &a, &init(), None).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        post(&t.w.mcp_url, &a, &init(), None).await.status(),
        StatusCode::OK
    );
    let r = post(&t.w.mcp_url, &a, &init(), None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        post(&t.w.mcp_url, &b, &init(), None).await.status(),
        StatusCode::OK,
        "limits are per key"
    );

    // The write budget, on a fresh key (its burst of 2 allows exactly these two calls).
    let (_, c) = t.w.key(&["mcp"], Some("sales"), None).await;
    let w1 = tool(
        &t.w.mcp_url,
        &c,
        "update_records",
        json!({"model": "res.partner", "ids": [1], "values": {"comment": "one"}}),
    )
    .await;
    assert_eq!(w1["result"]["isError"], false, "{w1}");
    let w2 = tool(
        &t.w.mcp_url,
        &c,
        "update_records",
        json!({"model": "res.partner", "ids": [1], "values": {"comment": "two"}}),
    )
    .await;
    let text = w2["result"]["content"][0]["text"].as_str().unwrap_or("");
    assert!(
        text.contains("write budget exceeded") && text.contains("retry in"),
        "{w2}"
    );
}

/// A governance refusal: a tool result with `isError` and the refusal's details in `_meta`.
fn refusal(r: &Value) -> &Value {
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(
        r.get("error").is_none(),
        "a refusal is a tool result, not a protocol error: {r}"
    );
    &r["result"]["_meta"]["io.odoo-warden/refusal"]
}

fn refusal_text(r: &Value) -> &str {
    r["result"]["content"][0]["text"].as_str().unwrap_or("")
}

async fn set_kill(t: &T, admin: &str, mode: &str, reason: &str) -> reqwest::Response {
    reqwest::Client::new()
        .put(format!("{}/admin/v1/killswitch", t.w.admin_url))
        .bearer_auth(admin)
        .json(&json!({"mode": mode, "reason": reason}))
        .send()
        .await
        .unwrap()
}

/// The tool names `tools/list` shows (2026-07-28, stateless).
async fn tools_list(url: &str, key: &str) -> Vec<String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}});
    let r: Value = reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// A 2025 session with a standalone stream (GET /mcp) hears that its tool list changed when the
/// kill switch moves.
#[tokio::test]
async fn open_sessions_hear_that_their_tools_changed() {
    let t = start("", "").await;
    let (_, key) = t.w.key(&["mcp"], Some("sales"), None).await;
    let (_, admin) = t.w.key(&["admin"], None, None).await;
    let r = post(&t.w.mcp_url, &key, &init(), None).await;
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let caps: Value = r.json().await.unwrap();
    assert_eq!(caps["result"]["capabilities"]["tools"]["listChanged"], true);
    let stream = reqwest::Client::new()
        .get(&t.w.mcp_url)
        .bearer_auth(&key)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = stream;
    assert_eq!(
        set_kill(&t, &admin, "read-only", "incident 44")
            .await
            .status(),
        200
    );
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("notifications/tools/list_changed") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("no list_changed on the stream: {other:?} after {seen:?}"),
        }
    }
    // Another key cannot open this session's stream.
    let (_, other) = t.w.key(&["mcp"], Some("sales"), None).await;
    let r = reqwest::Client::new()
        .get(&t.w.mcp_url)
        .bearer_auth(&other)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn kill_switch_modes() {
    let t = start("", "").await;
    let (_, key) = t.w.key(&["mcp"], Some("sales"), None).await;
    let (_, admin) = t.w.key(&["admin"], None, None).await;
    let (_, auditor) = t.w.key(&["audit"], None, None).await;
    let read = || {
        tool(
            &t.w.mcp_url,
            &key,
            "search_records",
            json!({"model": "res.partner", "limit": 1}),
        )
    };
    let write = || {
        tool(
            &t.w.mcp_url,
            &key,
            "update_records",
            json!({"model": "res.partner", "ids": [1], "values": {"comment": "k"}}),
        )
    };

    assert_eq!(
        set_kill(&t, &admin, "read-only", "").await.status(),
        400,
        "a reason is required"
    );
    assert_eq!(
        set_kill(&t, &key, "closed", "x").await.status(),
        403,
        "an mcp key cannot throw it"
    );
    assert_eq!(
        set_kill(&t, &admin, "read-only", "incident 42")
            .await
            .status(),
        200
    );
    let w = write().await;
    assert_eq!(refusal(&w)["error"], "kill_switch_read_only", "{w}");
    let text = refusal_text(&w);
    assert!(
        text.contains("incident 42") && text.contains("read-only") && text.contains("set by"),
        "{text}"
    );
    assert_eq!(read().await["result"]["isError"], false);
    // tools/list shows no write tool while writes are refused.
    let listed = tools_list(&t.w.mcp_url, &key).await;
    assert!(listed.contains(&"search_records".to_string()), "{listed:?}");
    assert!(
        !listed.contains(&"update_records".to_string()),
        "{listed:?}"
    );

    assert_eq!(
        set_kill(&t, &admin, "closed", "incident 43").await.status(),
        200
    );
    let r = read().await;
    assert_eq!(refusal(&r)["error"], "kill_switch_closed", "{r}");
    // initialize, tools/list and ping still answer, so clients can show the message.
    assert_eq!(
        post(&t.w.mcp_url, &key, &init(), None).await.status(),
        StatusCode::OK
    );
    let status: Value = reqwest::Client::new()
        .get(format!("{}/admin/v1/killswitch", t.w.admin_url))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (status["mode"].as_str(), status["reason"].as_str()),
        (Some("closed"), Some("incident 43"))
    );

    // A local override (SIGUSR1) on an open switch.
    assert_eq!(set_kill(&t, &admin, "open", "").await.status(), 200);
    assert_eq!(read().await["result"]["isError"], false);
    t.w.rt
        .kill
        .set_local(Some(odoo_warden::killswitch::Mode::Closed), "SIGUSR1");
    assert_eq!(refusal(&read().await)["error"], "kill_switch_closed");
    t.w.rt.kill.set_local(None, "SIGUSR2");
    assert_eq!(read().await["result"]["isError"], false);
    let listed = tools_list(&t.w.mcp_url, &key).await;
    assert!(listed.contains(&"update_records".to_string()), "{listed:?}");

    assert!(t.w.rt.audit.flush(Duration::from_secs(5)).await);
    let kinds = |k: &str| odoo_warden::store::AuditFilter {
        kind: Some(k.into()),
        ..Default::default()
    };
    assert_eq!(
        t.w.rt
            .store
            .query_audit(&kinds("kill_switch_change"), None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    let refused =
        t.w.rt
            .store
            .query_audit(&kinds("kill_switch_refused"), None, 10)
            .await
            .unwrap();
    assert_eq!(refused.len(), 3, "every refusal is audited");
    for r in &refused {
        assert_eq!(r.record["decision"], "refuse", "{}", r.record);
        assert_eq!(r.record["outcome"], "refused", "{}", r.record);
    }
}

#[tokio::test]
async fn the_switch_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!(
        "ow-kill-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = format!("sqlite://{}/store.db", dir.display());
    {
        let t = start_with(
            Emulator::start(EmulatorConfig::odoo19()).await,
            &store,
            "",
            "",
        )
        .await;
        let (_, admin) = t.w.key(&["admin"], None, None).await;
        assert_eq!(
            set_kill(&t, &admin, "closed", "before restart")
                .await
                .status(),
            200
        );
    }
    let t = start_with(
        Emulator::start(EmulatorConfig::odoo19()).await,
        &store,
        "",
        "",
    )
    .await;
    let (_, key) = t.w.key(&["mcp"], Some("sales"), None).await;
    let r = tool(
        &t.w.mcp_url,
        &key,
        "search_records",
        json!({"model": "res.partner"}),
    )
    .await;
    assert_eq!(refusal(&r)["reason"], "before restart", "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_switch_thrown_on_one_instance_stops_the_other() {
    let Some(pg) = pg::shared() else {
        return;
    };
    pg.create_database("kill_two");
    let url = pg.url_for("kill_two");
    let a = start_with(
        Emulator::start(EmulatorConfig::odoo19()).await,
        &url,
        "",
        "",
    )
    .await;
    let b = start_with(
        Emulator::start(EmulatorConfig::odoo19()).await,
        &url,
        "",
        "",
    )
    .await;
    let (_, admin) = a.w.key(&["admin"], None, None).await;
    let (_, key) = a.w.key(&["mcp"], Some("sales"), None).await;
    let read = || {
        tool(
            &b.w.mcp_url,
            &key,
            "search_records",
            json!({"model": "res.partner", "limit": 1}),
        )
    };
    assert_eq!(read().await["result"]["isError"], false);
    assert_eq!(
        set_kill(&a, &admin, "closed", "stop everything")
            .await
            .status(),
        200
    );
    let started = Instant::now();
    loop {
        let r = read().await;
        if r["result"]["_meta"]["io.odoo-warden/refusal"]["error"] == "kill_switch_closed" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the other instance still serves after 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("the other instance stopped in {:?}", started.elapsed());
}

#[tokio::test]
async fn metrics_and_readiness() {
    let t = start(
        "[limits]\nper_ip_per_minute = 1000\nper_ip_burst = 1000\n",
        "rate_limit = { per_minute = 60, burst = 3 }",
    )
    .await;
    let (_, key) = t.w.key(&["mcp"], Some("sales"), None).await;
    tool(
        &t.w.mcp_url,
        &key,
        "search_records",
        json!({"model": "res.partner", "limit": 1}),
    )
    .await;
    tool(
        &t.w.mcp_url,
        &key,
        "search_records",
        json!({"model": "product.product"}),
    )
    .await;
    post(&t.w.mcp_url, "owk_wrong", &init(), None).await;
    for _ in 0..3 {
        post(&t.w.mcp_url, &key, &init(), None).await;
    }
    let http = reqwest::Client::new();
    let m = http
        .get(format!("{}/metrics", t.w.admin_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        "odoo_warden_requests_total{method=\"initialize\",outcome=\"ok\"}",
        "odoo_warden_tool_calls_total{tool=\"search_records\",model=\"res.partner\",decision=\"allow\"}",
        "odoo_warden_tool_calls_total{tool=\"search_records\",model=\"product.product\",decision=\"deny\"}",
        "odoo_warden_odoo_request_duration_seconds_bucket{",
        "odoo_warden_auth_failures_total{reason=\"malformed\"}",
        "odoo_warden_rate_limited_total{reason=\"key\"}",
        "odoo_warden_kill_switch_mode 0",
        "odoo_warden_audit_queue_depth",
        "odoo_warden_pending_approvals 0",
    ] {
        assert!(m.contains(want), "{want} not in /metrics:\n{m}");
    }
    let ready: Value = http
        .get(format!("{}/readyz", t.w.admin_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            ready["ready"].clone(),
            ready["odoo"].clone(),
            ready["store"].clone()
        ),
        (json!(true), json!("ok"), json!("ok")),
        "{ready}"
    );
    drop(t._emu);
    let not_ready = http
        .get(format!("{}/readyz", t.w.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(not_ready.status(), 503, "Odoo gone: not ready");
}
