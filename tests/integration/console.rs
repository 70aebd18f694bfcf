//! The web console over HTTP (issue 18): sign-in with a key through the form, the
//! session cookie and its CSRF token, scopes as the admin API has them, the audit trail's search,
//! paging and a record's detail, and a revoked key ending its sessions.

use crate::emulator::{Emulator, EmulatorConfig};
use crate::warden::{self, Warden, config_text, env_for};
use reqwest::StatusCode;
use std::time::Duration;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

/// Signs in with `key`: the answer to the POST, and the session cookie if one was set.
async fn sign_in(w: &Warden, key: &str) -> (reqwest::Response, Option<String>) {
    let page = http()
        .get(format!("{}/console/sign-in", w.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let pre = cookie(&page, "owarden_console_pre").unwrap();
    assert!(
        page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("SameSite=Strict")
    );
    let csrf = hidden(&page.text().await.unwrap(), "csrf");
    let r = http()
        .post(format!("{}/console/sign-in", w.admin_url))
        .header("cookie", &pre)
        .form(&[("csrf", csrf.as_str()), ("key", key)])
        .send()
        .await
        .unwrap();
    let session = cookie(&r, "owarden_console").filter(|c| c.len() > "owarden_console=".len());
    (r, session)
}

async fn get(w: &Warden, path: &str, session: &str) -> (StatusCode, String) {
    let r = http()
        .get(format!("{}{path}", w.admin_url))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn start() -> (Emulator, Warden) {
    let emu = Emulator::start(EmulatorConfig::odoo19()).await;
    let text = config_text(
        &emu.url(),
        "sqlite::memory:",
        &[("assistant", "mcp_reader")],
        "",
    );
    let w = warden::start(&text, env_for(&["mcp_reader"]))
        .await
        .unwrap();
    (emu, w)
}

#[tokio::test]
async fn an_auditor_signs_in_and_reads_the_trail() {
    let (_emu, w) = start().await;
    let (audit_id, audit_key) = w.key(&["audit"], None, None).await;
    // Some traffic to read: a refused MCP request.
    let r = http()
        .post(&w.mcp_url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let (r, session) = sign_in(&w, &audit_key).await;
    assert_eq!(r.status(), 303);
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("owarden_console="))
        .unwrap();
    assert!(
        set.contains("HttpOnly")
            && set.contains("SameSite=Strict")
            && set.contains("Path=/console"),
        "{set}"
    );
    let session = session.unwrap();
    w.rt.audit.flush(Duration::from_secs(5)).await;

    let (s, html) = get(&w, "/console/trail", &session).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("auth_failure"),
        "the refused request is listed"
    );
    assert!(
        html.contains("<td>console_sign_in</td>"),
        "the sign-in is on record"
    );
    assert!(!html.contains(&audit_key), "the key never appears");
    // Filter by kind; a bad filter value is named.
    let (s, html) = get(&w, "/console/trail?kind=auth_failure&decision=", &session).await;
    assert_eq!(s, 200);
    assert!(
        !html.contains("<td>console_sign_in</td>") && html.contains("<td>auth_failure</td>"),
        "{html}"
    );
    let (s, html) = get(&w, "/console/trail?kind=nonsense", &session).await;
    assert_eq!(s, 400);
    assert!(
        html.contains("kind &quot;nonsense&quot; is not one the trail uses"),
        "{html}"
    );
    // A record's detail with its chain position.
    let seq = {
        let (_, html) = get(&w, "/console/trail?kind=console_sign_in", &session).await;
        let at = html.find("/console/trail/").unwrap() + "/console/trail/".len();
        html[at..at + html[at..].find('"').unwrap()].to_string()
    };
    let (s, html) = get(&w, &format!("/console/trail/{seq}"), &session).await;
    assert_eq!(s, 200);
    assert!(html.contains("Chain position") && html.contains("Previous hash"));
    assert!(html.contains(&audit_id), "the record names the key");
    let (s, _) = get(&w, "/console/trail/999999", &session).await;
    assert_eq!(s, 404);

    // Sign-out needs the session's CSRF token.
    let r = http()
        .post(format!("{}/console/sign-out", w.admin_url))
        .header("cookie", &session)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (s, _) = get(&w, "/console/trail", &session).await;
    assert_eq!(s, 200, "a refused sign-out changes nothing");
    // Revoking the key ends its sessions.
    w.rt.store
        .revoke_key(&audit_id, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    let r = http()
        .get(format!("{}/console/trail", w.admin_url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console/sign-in");
}

#[tokio::test]
async fn sign_in_refuses_bad_keys_other_scopes_and_forms_without_their_token() {
    let (_emu, w) = start().await;
    let (_, mcp_key) = w.key(&["mcp"], Some("assistant"), None).await;
    let (_, approve_key) = w.key(&["approve"], None, None).await;
    let (r, session) = sign_in(&w, "owk_nope_nope").await;
    assert_eq!(r.status(), 401);
    assert!(session.is_none());
    assert!(r.text().await.unwrap().contains("was not accepted"));
    let (r, session) = sign_in(&w, &mcp_key).await;
    assert_eq!(r.status(), 403);
    assert!(session.is_none());
    // A post without the form's token (a cross-site form) is refused.
    let r = http()
        .post(format!("{}/console/sign-in", w.admin_url))
        .form(&[("key", approve_key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(cookie(&r, "owarden_console").is_none());
    // An approve key signs in but may not read the trail (as in the admin API).
    let (r, session) = sign_in(&w, &approve_key).await;
    assert_eq!(r.status(), 303);
    let (s, html) = get(&w, "/console/trail", &session.unwrap()).await;
    assert_eq!(s, 403);
    assert!(html.contains("needs a key with the audit scope"), "{html}");
    // Without a session every page goes to the sign-in.
    let r = http()
        .get(format!("{}/console/trail", w.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

const APPROVAL_POLICY: &str = r#"
[defaults]
confirm = "none"
[models."res.partner"]
read = { domain = [["is_company", "=", true]] }
create = { fields = ["name", "is_company"], confirm = "approver" }
"#;

/// A warden whose sales profile needs an approver for every partner it creates; its mcp key.
async fn start_with_approvals(more_config: &str) -> (Emulator, Warden, String, std::path::PathBuf) {
    let emu = Emulator::start(EmulatorConfig::odoo19()).await;
    let dir = std::env::temp_dir().join(format!(
        "ow-console-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.toml"), APPROVAL_POLICY).unwrap();
    let extra = format!("policy = \"{}\"", dir.join("policy.toml").display());
    let mut text = config_text(
        &emu.url(),
        "sqlite::memory:",
        &[("sales", "mcp_writer")],
        &extra,
    );
    text.push_str(more_config);
    let w = warden::start(&text, env_for(&["mcp_writer"]))
        .await
        .unwrap();
    let (_, mcp) = w.key(&["mcp"], Some("sales"), None).await;
    (emu, w, mcp, dir)
}

/// One tools/call in the 2026-07-28 era; its result.
async fn call(w: &Warden, key: &str, name: &str, args: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": name, "arguments": args,
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}});
    let v: serde_json::Value = reqwest::Client::new()
        .post(&w.mcp_url)
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
        .unwrap();
    v["result"].clone()
}

async fn post_form(
    w: &Warden,
    path: &str,
    session: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http()
        .post(format!("{}{path}", w.admin_url))
        .header("cookie", session)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// An approver sees a pending write with its preview, approves one (the assistant's retry runs)
/// and denies another with a comment (the retry is refused and names the comment); a form
/// without its CSRF token changes nothing; an audit-only key cannot open the page.
#[tokio::test]
async fn an_approver_decides_pending_writes() {
    let (_emu, w, mcp, _dir) = start_with_approvals("").await;
    let (_, approver) = w.key(&["approve"], None, None).await;
    let (_, auditor) = w.key(&["audit"], None, None).await;
    let args = serde_json::json!({"model": "res.partner", "records": [{"name": "Console Co", "is_company": true}]});
    let first = call(&w, &mcp, "create_records", args.clone()).await;
    let first_id = first["structuredContent"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = serde_json::json!({"model": "res.partner", "records": [{"name": "Denied Co", "is_company": true}]});
    let second = call(&w, &mcp, "create_records", other.clone()).await;
    let second_id = second["structuredContent"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();

    let (_, session) = sign_in(&w, &approver).await;
    let session = session.unwrap();
    let (status, page) = get(&w, "/console/approvals", &session).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&first_id) && page.contains(&second_id),
        "{page}"
    );
    assert!(
        page.contains("Console Co") && page.contains("is_company"),
        "the preview: {page}"
    );
    let csrf = hidden(&page, "csrf");

    // Without the CSRF token: refused, still pending.
    let r = post_form(
        &w,
        &format!("/console/approvals/{first_id}"),
        &session,
        &[("decision", "approve")],
    )
    .await;
    assert_eq!(r.status(), 403);
    let still = w.rt.store.get_approval(&first_id).await.unwrap().unwrap();
    assert_eq!(still.status, "pending");

    let r = post_form(
        &w,
        &format!("/console/approvals/{first_id}"),
        &session,
        &[
            ("csrf", &csrf),
            ("decision", "approve"),
            ("comment", "checked with sales"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, page) = get(&w, r.headers()["location"].to_str().unwrap(), &session).await;
    assert!(page.contains(&format!("Approved {first_id}")), "{page}");
    let mut retry = args.clone();
    retry["approval_id"] = serde_json::json!(first_id);
    let done = call(&w, &mcp, "create_records", retry).await;
    assert_eq!(done["isError"], false, "{done}");

    let r = post_form(
        &w,
        &format!("/console/approvals/{second_id}"),
        &session,
        &[
            ("csrf", &csrf),
            ("decision", "deny"),
            ("comment", "not a customer"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let mut retry = other.clone();
    retry["approval_id"] = serde_json::json!(second_id);
    let refused = call(&w, &mcp, "create_records", retry).await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(refused.to_string().contains("not a customer"), "{refused}");
    // Decided twice: a clear refusal.
    let r = post_form(
        &w,
        &format!("/console/approvals/{second_id}"),
        &session,
        &[("csrf", &csrf), ("decision", "approve")],
    )
    .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("not pending"));

    // The trail names the approver and the comment.
    assert!(w.rt.audit.flush(Duration::from_secs(5)).await);
    let rows =
        w.rt.store
            .query_audit(&Default::default(), None, 10_000)
            .await
            .unwrap();
    let reasons: Vec<String> = rows
        .iter()
        .map(|r| r.record["reason"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains(&format!("approval {first_id} approved by"))
                && r.contains("checked with sales")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains(&format!("approval {second_id} denied by"))
                && r.contains("not a customer")),
        "{reasons:?}"
    );

    // An audit key: no approvals page, no decision.
    let (_, audit_session) = sign_in(&w, &auditor).await;
    let audit_session = audit_session.unwrap();
    let (status, _) = get(&w, "/console/approvals", &audit_session).await;
    assert_eq!(status, 403);
}

/// The kill switch needs an admin key, a reason and a second, confirming post; then tool calls
/// are refused, and the change is on the trail.
#[tokio::test]
async fn an_operator_flips_the_kill_switch_with_a_confirmation() {
    let (_emu, w, mcp, _dir) = start_with_approvals("").await;
    let (_, admin) = w.key(&["admin"], None, None).await;
    let (_, approver) = w.key(&["approve"], None, None).await;
    let (_, session) = sign_in(&w, &admin).await;
    let session = session.unwrap();
    let (status, page) = get(&w, "/console/kill-switch", &session).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("open"));
    let csrf = hidden(&page, "csrf");

    // No reason: refused.
    let r = post_form(
        &w,
        "/console/kill-switch",
        &session,
        &[
            ("csrf", &csrf),
            ("mode", "closed"),
            ("reason", " "),
            ("step", "review"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    // The review step changes nothing; it asks to confirm.
    let r = post_form(
        &w,
        "/console/kill-switch",
        &session,
        &[
            ("csrf", &csrf),
            ("mode", "closed"),
            ("reason", "incident 42"),
            ("step", "review"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Confirm") && page.contains("name=\"step\" value=\"confirm\""),
        "{page}"
    );
    assert_eq!(w.rt.kill.state().mode.as_str(), "open");
    let search = serde_json::json!({"model": "res.partner", "domain": []});
    assert_eq!(
        call(&w, &mcp, "search_records", search.clone()).await["isError"],
        false
    );
    // Without the token, even the confirming post does nothing.
    let r = post_form(
        &w,
        "/console/kill-switch",
        &session,
        &[
            ("mode", "closed"),
            ("reason", "incident 42"),
            ("step", "confirm"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(w.rt.kill.state().mode.as_str(), "open");

    let r = post_form(
        &w,
        "/console/kill-switch",
        &session,
        &[
            ("csrf", &csrf),
            ("mode", "closed"),
            ("reason", "incident 42"),
            ("step", "confirm"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(w.rt.kill.state().mode.as_str(), "closed");
    let refused = call(&w, &mcp, "search_records", search.clone()).await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(refused.to_string().contains("incident 42"), "{refused}");
    let (_, page) = get(&w, "/console/kill-switch", &session).await;
    assert!(
        page.contains("incident 42")
            && page.contains(&format!(
                "({})",
                w.rt.store
                    .list_keys()
                    .await
                    .unwrap()
                    .iter()
                    .find(|k| k.scopes.iter().any(|s| s == "admin"))
                    .unwrap()
                    .id
            )),
        "{page}"
    );

    // An approve key cannot open it.
    let (_, other) = sign_in(&w, &approver).await;
    let (status, _) = get(&w, "/console/kill-switch", &other.unwrap()).await;
    assert_eq!(status, 403);
    assert!(w.rt.audit.flush(Duration::from_secs(5)).await);
    let rows =
        w.rt.store
            .query_audit(&Default::default(), None, 10_000)
            .await
            .unwrap();
    assert!(rows.iter().any(|r| {
        r.record["kind"] == "kill_switch_change"
            && r.record["reason"]
                .as_str()
                .unwrap_or("")
                .contains("incident 42")
    }));
}

/// With `approval_wait_secs`, the assistant's call waits: it completes within a second of the
/// approval in the console, or is refused within a second of a denial, naming the comment.
#[tokio::test]
async fn a_waiting_call_completes_or_is_refused_within_a_second_of_the_decision() {
    let (_emu, w, mcp, _dir) = start_with_approvals("\n[confirm]\napproval_wait_secs = 20\n").await;
    let (_, approver) = w.key(&["approve"], None, None).await;
    let (_, session) = sign_in(&w, &approver).await;
    let session = session.unwrap();
    for (decision, name) in [("approve", "Waited Co"), ("deny", "Refused Co")] {
        let args = serde_json::json!({"model": "res.partner", "records": [{"name": name, "is_company": true}]});
        let call_url = w.mcp_url.clone();
        let key = mcp.clone();
        let waiting = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                "name": "create_records", "arguments": args,
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}});
            let v: serde_json::Value = reqwest::Client::new()
                .post(&call_url)
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "create_records")
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (v["result"].clone(), std::time::Instant::now(), started)
        });
        // The request appears as pending while the call waits.
        let id = loop {
            let pending =
                w.rt.store
                    .list_approvals(Some("pending"), 10)
                    .await
                    .unwrap();
            if let Some(a) = pending.first() {
                break a.id.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !waiting.is_finished(),
            "the call did not wait for the decision"
        );
        let (_, page) = get(&w, "/console/approvals", &session).await;
        let csrf = hidden(&page, "csrf");
        let r = post_form(
            &w,
            &format!("/console/approvals/{id}"),
            &session,
            &[
                ("csrf", &csrf),
                ("decision", decision),
                ("comment", "looked at it"),
            ],
        )
        .await;
        assert_eq!(r.status(), 303);
        let decided_at = std::time::Instant::now();
        let (result, answered_at, _) = waiting.await.unwrap();
        let after = answered_at.saturating_duration_since(decided_at);
        assert!(
            after < Duration::from_secs(1),
            "answered {after:?} after the decision"
        );
        if decision == "approve" {
            assert_eq!(result["isError"], false, "{result}");
            assert_eq!(
                w.rt.store.get_approval(&id).await.unwrap().unwrap().status,
                "used"
            );
        } else {
            assert_eq!(result["isError"], true, "{result}");
            assert!(result.to_string().contains("looked at it"), "{result}");
        }
    }
}

/// The trail's current filter downloads as CSV or JSON lines; the chain page says up to which
/// record the chain verifies, and names the record where a tampered trail breaks.
#[tokio::test]
async fn an_auditor_exports_the_filter_and_reads_the_chain_status() {
    let (_emu, w) = start().await;
    let (_, auditor) = w.key(&["audit"], None, None).await;
    let (_, session) = sign_in(&w, &auditor).await;
    let session = session.unwrap();
    let (_, page) = get(&w, "/console/trail?kind=console_sign_in", &session).await;
    assert!(
        page.contains("export?kind=console_sign_in&amp;format=csv"),
        "{page}"
    );

    let r = http()
        .get(format!(
            "{}/console/trail/export?kind=console_sign_in&format=csv",
            w.admin_url
        ))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("audit-trail.csv")
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines.len() >= 2, "{csv}");
    assert!(
        lines[1..].iter().all(|l| l.contains("console_sign_in")),
        "{csv}"
    );

    let r = http()
        .get(format!("{}/console/trail/export?format=jsonl", w.admin_url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let all = r.text().await.unwrap();
    assert!(all.lines().count() > lines.len() - 1);
    for line in all.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
    // Without a session: to the sign-in page, nothing exported.
    let r = http()
        .get(format!("{}/console/trail/export?format=csv", w.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (status, _) = get(&w, "/console/trail/export?format=xml", &session).await;
    assert_eq!(status, 400);

    let (status, page) = get(&w, "/console/chain", &session).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("The chain is intact up to record"), "{page}");

    assert!(w.rt.audit.flush(Duration::from_secs(5)).await);
    match &*w.rt.store {
        odoo_warden::store::Store::Sqlite(p) => {
            sqlx::query("UPDATE audit_log SET record = replace(record, '\"console_sign_in\"', '\"key_change\"') WHERE seq = (SELECT MIN(seq) FROM audit_log WHERE kind = 'console_sign_in')")
                .execute(p)
                .await
                .unwrap();
        }
        odoo_warden::store::Store::Postgres(_) => unreachable!("an in-memory SQLite store"),
    }
    let (status, page) = get(&w, "/console/chain", &session).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("The chain fails at record"), "{page}");
    assert!(page.contains("class=\"error\" role=\"alert\""), "{page}");
}

/// An admin lists keys, makes one through the form (scope checkboxes, a profile; its secret
/// shown once and working at once), and revokes it only with the confirming tick (the key stops
/// working); the trail names both changes; an audit key cannot open the page.
#[tokio::test]
async fn an_admin_creates_and_revokes_keys() {
    let (_emu, w) = start().await;
    let (admin_id, admin) = w.key(&["admin"], None, None).await;
    let (_, auditor) = w.key(&["audit"], None, None).await;
    let (_, session) = sign_in(&w, &admin).await;
    let session = session.unwrap();
    let (status, page) = get(&w, "/console/keys", &session).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&admin_id), "{page}");
    assert!(page.contains("<option value=\"assistant\">"), "{page}");
    let csrf = hidden(&page, "csrf");

    // An unknown scope, or an mcp key without a profile: refused, precisely.
    let r = post_form(
        &w,
        "/console/keys",
        &session,
        &[("csrf", &csrf), ("name", "bot"), ("scope", "root")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("root"), "{text}");
    // An assistant's key holding another scope: refused.
    let r = post_form(
        &w,
        "/console/keys",
        &session,
        &[
            ("csrf", &csrf),
            ("name", "bot"),
            ("scope", "mcp"),
            ("scope", "audit"),
            ("profile", "assistant"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("holds no other scope"));
    // Without the CSRF token: nothing made.
    let before = w.rt.store.list_keys().await.unwrap().len();
    let r = post_form(
        &w,
        "/console/keys",
        &session,
        &[("name", "bot"), ("scope", "mcp"), ("profile", "assistant")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(w.rt.store.list_keys().await.unwrap().len(), before);

    let r = post_form(
        &w,
        "/console/keys",
        &session,
        &[
            ("csrf", &csrf),
            ("name", "reporting bot"),
            ("scope", "mcp"),
            ("profile", "assistant"),
            ("expires_in", "30d"),
        ],
    )
    .await;
    assert_eq!(r.status(), 201);
    let page = r.text().await.unwrap();
    let token = {
        let marker = "id=\"secret\" readonly value=\"";
        let start = page.find(marker).unwrap_or_else(|| panic!("{page}")) + marker.len();
        page[start..start + page[start..].find('"').unwrap()].to_string()
    };
    assert!(token.len() > 20);
    let made =
        w.rt.store
            .list_keys()
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.name == "reporting bot")
            .unwrap();
    assert_eq!(made.scopes, vec!["mcp"]);
    assert_eq!(made.profile.as_deref(), Some("assistant"));
    assert!(made.expires_at.is_some());
    // The listing afterwards does not show the secret again.
    let (_, listing) = get(&w, "/console/keys", &session).await;
    assert!(listing.contains("reporting bot") && !listing.contains(&token));
    // The new key works at once.
    let r = call(&w, &token, "get_context", serde_json::json!({})).await;
    assert_ne!(r["isError"], true, "{r}");

    // Revoking without the tick: nothing happens.
    let path = format!("/console/keys/{}/revoke", made.id);
    let r = post_form(&w, &path, &session, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Tick the box"));
    assert_ne!(
        call(&w, &token, "get_context", serde_json::json!({})).await["isError"],
        true
    );
    let r = post_form(&w, &path, &session, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let (_, page) = get(&w, &to, &session).await;
    assert!(
        page.contains(&format!("Key reporting bot ({}) revoked.", made.id)),
        "{page}"
    );
    let r = reqwest::Client::new()
        .post(&w.mcp_url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Again: nothing to revoke.
    let r = post_form(&w, &path, &session, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(r.status(), 404);

    // The trail names both changes and who made them.
    assert!(w.rt.audit.flush(Duration::from_secs(5)).await);
    let (_, audit_session) = sign_in(&w, &auditor).await;
    let audit_session = audit_session.unwrap();
    let (_, trail) = get(&w, "/console/trail?kind=key_change", &audit_session).await;
    assert!(
        trail.contains(&format!("key {} created", made.id))
            && trail.contains(&format!("key {} revoked", made.id)),
        "{trail}"
    );
    // An audit key cannot see or change keys.
    let (status, _) = get(&w, "/console/keys", &audit_session).await;
    assert_eq!(status, 403);
    let r = post_form(
        &w,
        "/console/keys",
        &audit_session,
        &[
            ("csrf", &hidden(&trail, "csrf")),
            ("name", "x"),
            ("scope", "admin"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
}

/// The dashboard counts the last hour from the trail (calls, refusals by reason, pending
/// approvals, Odoo latency), on the page and in the admin API, for audit and admin keys only.
#[tokio::test]
async fn the_dashboard_counts_the_last_hour() {
    let (_emu, w, mcp, _dir) = start_with_approvals("").await;
    let (_, auditor) = w.key(&["audit"], None, None).await;
    let (_, approver) = w.key(&["approve"], None, None).await;
    // Two calls allowed, one refused by the policy, one waiting for an approver, a bad key.
    for _ in 0..2 {
        let r = call(
            &w,
            &mcp,
            "search_records",
            serde_json::json!({"model": "res.partner", "fields": ["name"]}),
        )
        .await;
        assert_ne!(r["isError"], true, "{r}");
    }
    let r = call(
        &w,
        &mcp,
        "search_records",
        serde_json::json!({"model": "res.users", "fields": ["name"]}),
    )
    .await;
    assert_eq!(r["isError"], true, "{r}");
    let r = call(
        &w,
        &mcp,
        "create_records",
        serde_json::json!({"model": "res.partner", "records": [{"name": "Waiting Co", "is_company": true}]}),
    )
    .await;
    assert!(r["structuredContent"]["approval_id"].is_string(), "{r}");
    let r = http()
        .post(&w.mcp_url)
        .bearer_auth("owk_nope")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(w.rt.audit.flush(Duration::from_secs(5)).await);

    let (_, session) = sign_in(&w, &auditor).await;
    let session = session.unwrap();
    // Signing in lands on the dashboard.
    let r = http()
        .get(format!("{}/console/", w.admin_url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/console/dashboard");
    let (status, page) = get(&w, "/console/dashboard", &session).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("refused by the policy"), "{page}");
    assert!(page.contains("no valid key or token"), "{page}");
    assert!(page.contains("<meta http-equiv=\"refresh\""));

    let r = http()
        .get(format!("{}/admin/v1/dashboard", w.admin_url))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: serde_json::Value = r.json().await.unwrap();
    assert!(d["calls"].as_u64().unwrap() >= 4, "{d}");
    assert!(d["calls_allowed"].as_u64().unwrap() >= 2, "{d}");
    assert_eq!(d["pending_approvals"], 1, "{d}");
    let refusals = d["refusals"].as_array().unwrap();
    let count = |what: &str| {
        refusals
            .iter()
            .find(|r| r["what"] == what)
            .map(|r| r["count"].as_u64().unwrap())
    };
    assert_eq!(count("refused by the policy"), Some(1), "{d}");
    assert_eq!(count("no valid key or token"), Some(1), "{d}");
    assert_eq!(d["denial_reasons"].as_array().unwrap().len(), 1, "{d}");
    assert!(d["odoo_latency"]["count"].as_u64().unwrap() > 0, "{d}");
    // The page shows the same figures.
    assert!(
        page.contains(&format!("<p class=\"figure\">{}</p>", d["calls"])),
        "{page}"
    );
    // An approve-only key reads neither.
    let r = http()
        .get(format!("{}/admin/v1/dashboard", w.admin_url))
        .bearer_auth(&approver)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (_, approve_session) = sign_in(&w, &approver).await;
    let (status, _) = get(&w, "/console/dashboard", &approve_session.unwrap()).await;
    assert_eq!(status, 403);
}

const PROFILE_POLICY: &str = r#"
[defaults]
confirm = "user"
[models."res.partner"]
read = { domain = [["is_company", "=", true]] }
update = { fields = ["phone"], confirm = "approver" }
hidden_fields = ["email"]
[models."res.partner".methods]
action_archive = {}
"#;

/// Every profile's effective policy (operations with domains, writable fields and who confirms,
/// Odoo's grants, methods, hidden fields named and derived) and a reload that shows its problems
/// and changes nothing until every file is valid.
#[tokio::test]
async fn profiles_show_the_effective_policy_and_reload_shows_its_errors() {
    let (_emu, w, _mcp, dir) = start_with_approvals("").await;
    let (_, admin) = w.key(&["admin"], None, None).await;
    let (_, auditor) = w.key(&["audit"], None, None).await;
    std::fs::write(dir.join("policy.toml"), PROFILE_POLICY).unwrap();
    let (_, session) = sign_in(&w, &admin).await;
    let session = session.unwrap();
    let (status, page) = get(&w, "/console/profiles", &session).await;
    assert_eq!(status, 200, "{page}");
    // Still the policy in force before the reload.
    assert!(page.contains("<td>is_company, name</td>"), "{page}");
    let csrf = hidden(&page, "csrf");

    let r = post_form(&w, "/console/policy/reload", &session, &[("name", "sales")]).await;
    assert_eq!(r.status(), 403);
    let r = post_form(
        &w,
        "/console/policy/reload",
        &session,
        &[("csrf", &csrf), ("name", "sales")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Policies reloaded: sales"), "{page}");
    // The policy's part.
    assert!(
        page.contains("<code>[[\"is_company\",\"=\",true]]</code>"),
        "{page}"
    );
    assert!(page.contains("<td>phone</td>"), "{page}");
    assert!(
        page.contains("<code>action_archive</code>, confirmed by user"),
        "{page}"
    );
    // Odoo's part: the profile's user may read and write partners; fields Odoo derives from
    // the hidden email are hidden too, with why.
    assert!(
        page.contains("<span class=\"badge allow\">yes</span>"),
        "{page}"
    );
    assert!(
        page.contains("<code>email</code>: the policy hides it"),
        "{page}"
    );
    assert!(
        page.contains(
            "<code>email_formatted</code>: Odoo computes it from the hidden field res.partner.email"
        ),
        "{page}"
    );

    // A broken file: refused with its problem named, the policy in force kept.
    std::fs::write(
        dir.join("policy.toml"),
        "[models.\"res.partner\"]\nread = true\nupdate = { fields = [\"phone\"], confirm = \"maybe\" }\n",
    )
    .unwrap();
    let r = post_form(
        &w,
        "/console/policy/reload",
        &session,
        &[("csrf", &csrf), ("name", "sales")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("No policy was changed"), "{page}");
    assert!(page.contains("maybe"), "{page}");
    assert!(page.contains("<td>phone</td>"), "{page}");
    assert!(page.contains("<code>email_formatted</code>"), "{page}");

    // The admin API gives the same, to audit keys too; an auditor may read but not reload.
    let r = http()
        .get(format!("{}/admin/v1/profiles", w.admin_url))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let partner = &v["profiles"][0]["models"][0];
    assert_eq!(partner["model"], "res.partner", "{v}");
    assert_eq!(partner["operations"][2]["operation"], "update");
    assert_eq!(
        partner["operations"][2]["fields"],
        serde_json::json!(["phone"])
    );
    assert_eq!(partner["operations"][2]["confirm"], "approver");
    assert_eq!(partner["operations"][3]["allowed"], false);
    let (_, audit_session) = sign_in(&w, &auditor).await;
    let audit_session = audit_session.unwrap();
    let (status, page) = get(&w, "/console/profiles?name=sales", &audit_session).await;
    assert_eq!(status, 200);
    assert!(!page.contains("/console/policy/reload"), "{page}");
    let r = post_form(
        &w,
        "/console/policy/reload",
        &audit_session,
        &[("csrf", &hidden(&page, "csrf"))],
    )
    .await;
    assert_eq!(r.status(), 403);
    let (status, _) = get(&w, "/console/profiles?name=nobody", &audit_session).await;
    assert_eq!(status, 404);
    // Both reloads are on the trail, the refused one with its problem.
    assert!(w.rt.audit.flush(Duration::from_secs(5)).await);
    let (_, trail) = get(&w, "/console/trail?kind=policy_reload", &audit_session).await;
    assert!(trail.contains("policies reloaded: sales"), "{trail}");
    assert!(trail.contains("policy reload refused"), "{trail}");
}

const PERSON_ROLES: &str = r#"
[console]
recheck_secs = 1
[[console.role_rules]]
group = "sales_team.group_sale_salesman_all_leads"
roles = ["audit"]
[[console.role_rules]]
login = "demo"
roles = ["approve"]
"#;

/// Signs in as a person with their Odoo login and API key: the answer, and the session cookie.
async fn sign_in_person(w: &Warden, login: &str, key: &str) -> (reqwest::Response, Option<String>) {
    let page = http()
        .get(format!("{}/console/sign-in", w.admin_url))
        .send()
        .await
        .unwrap();
    let pre = cookie(&page, "owarden_console_pre").unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("name=\"login\"") && html.contains("name=\"odoo_api_key\""),
        "{html}"
    );
    let csrf = hidden(&html, "csrf");
    let r = http()
        .post(format!("{}/console/sign-in", w.admin_url))
        .header("cookie", &pre)
        .form(&[
            ("csrf", csrf.as_str()),
            ("login", login),
            ("odoo_api_key", key),
        ])
        .send()
        .await
        .unwrap();
    let session = cookie(&r, "owarden_console").filter(|c| c.len() > "owarden_console=".len());
    (r, session)
}

/// People sign in with their own Odoo login and API key; their roles come from the config's
/// rules (a group, a login); a person without a role, a wrong key and too many failures are
/// refused; the trail names the person; an approval decided by a person names them; revoking the
/// person, or Odoo no longer accepting their key, ends the session.
#[tokio::test]
async fn people_sign_in_with_odoo_and_get_the_roles_the_rules_give() {
    let (emu, w, mcp, _dir) = start_with_approvals(PERSON_ROLES).await;
    let (_, admin) = w.key(&["admin"], None, None).await;
    let pending = call(
        &w,
        &mcp,
        "create_records",
        serde_json::json!({"model": "res.partner", "records": [{"name": "Person Approved Co", "is_company": true}]}),
    )
    .await;
    let approval = pending["structuredContent"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();

    // demo: approve (by login).
    let (r, session) = sign_in_person(&w, "demo", &crate::emulator::api_key("demo")).await;
    assert_eq!(r.status(), 303);
    let demo = session.unwrap();
    let r = http()
        .get(format!("{}/console/", w.admin_url))
        .header("cookie", &demo)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/console/approvals");
    let (status, page) = get(&w, "/console/approvals", &demo).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Marc Demo (demo)"), "{page}");
    let (status, _) = get(&w, "/console/trail", &demo).await;
    assert_eq!(status, 403);
    let r = post_form(
        &w,
        &format!("/console/approvals/{approval}"),
        &demo,
        &[
            ("csrf", &hidden(&page, "csrf")),
            ("decision", "approve"),
            ("comment", "fine by me"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let decided = w.rt.store.get_approval(&approval).await.unwrap().unwrap();
    assert_eq!(
        decided.decided_by,
        Some(format!("person demo (uid {})", emu.uid("demo")))
    );
    // A request demo's own assistant made (signed in with OAuth: `person:<id>`): not theirs to
    // decide.
    let demo_row =
        w.rt.store
            .oauth_person_by_login("demo")
            .await
            .unwrap()
            .unwrap();
    let now = time::OffsetDateTime::now_utc();
    w.rt.store
        .insert_approval(&odoo_warden::store::NewApproval {
            id: "apr_own_request".into(),
            key_id: format!("person:{}", demo_row.id),
            profile: "sales".into(),
            tool: "create_records".into(),
            payload: serde_json::json!({}),
            payload_hash: "0".repeat(64),
            preview: "create res.partner".into(),
            created_at: now,
            expires_at: now + time::Duration::hours(1),
        })
        .await
        .unwrap();
    let (_, page) = get(&w, "/console/approvals", &demo).await;
    let r = post_form(
        &w,
        "/console/approvals/apr_own_request",
        &demo,
        &[("csrf", &hidden(&page, "csrf")), ("decision", "approve")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("cannot be decided by the key that made it")
    );
    assert_eq!(
        w.rt.store
            .get_approval("apr_own_request")
            .await
            .unwrap()
            .unwrap()
            .status,
        "pending"
    );

    // mcp_writer: audit (by group); the trail names the person on their records.
    let (r, session) =
        sign_in_person(&w, "mcp_writer", &crate::emulator::api_key("mcp_writer")).await;
    assert_eq!(r.status(), 303);
    let writer = session.unwrap();
    assert!(w.rt.audit.flush(Duration::from_secs(5)).await);
    let (status, trail) = get(&w, "/console/trail?person=demo", &writer).await;
    assert_eq!(status, 200, "{trail}");
    assert!(trail.contains("demo (signed in)"), "{trail}");
    assert!(trail.contains("approval_decision"), "{trail}");
    assert!(trail.contains("console_sign_in"), "{trail}");
    let rows =
        w.rt.store
            .query_audit_desc(
                &odoo_warden::store::AuditFilter {
                    person: Some("demo".into()),
                    kind: Some("approval_decision".into()),
                    outcome: Some("ok".into()),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .unwrap();
    assert_eq!(
        rows.len(),
        1,
        "{:#?}",
        rows.iter().map(|r| &r.record).collect::<Vec<_>>()
    );
    assert_eq!(rows[0].record["odoo_uid"], emu.uid("demo"));
    assert!(rows[0].record["key_id"].is_null());

    // No rule gives mcp_reader a role; a wrong key is refused and counts; five of them block.
    let (r, session) =
        sign_in_person(&w, "mcp_reader", &crate::emulator::api_key("mcp_reader")).await;
    assert_eq!(r.status(), 403);
    assert!(session.is_none());
    assert!(r.text().await.unwrap().contains("has no console role"));
    for _ in 0..5 {
        let (r, _) = sign_in_person(&w, "demo", "wrong").await;
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("Odoo did not accept"));
    }
    let (r, _) = sign_in_person(&w, "demo", &crate::emulator::api_key("demo")).await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Too many failed sign-ins"));

    // Revoking demo ends their session on the next page, and their sign-ins.
    let r = http()
        .post(format!("{}/admin/v1/people/demo/revoke", w.admin_url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (status, _) = get(&w, "/console/approvals", &demo).await;
    assert_eq!(status, 303);

    // Odoo no longer accepting mcp_writer's key ends theirs at the next check.
    let (status, _) = get(&w, "/console/trail", &writer).await;
    assert_eq!(status, 200);
    emu.revoke_api_key("mcp_writer");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = get(&w, "/console/trail", &writer).await;
    assert_eq!(status, 303);
}

/// Signing out works while Odoo cannot be asked (the session is not revalidated first), and the
/// session does not come back with Odoo; a request without a session is on the trail as refused.
#[tokio::test]
async fn sign_out_works_while_odoo_is_down_and_anonymous_posts_are_refused_on_the_trail() {
    let (mut emu, w, _mcp, _dir) = start_with_approvals(PERSON_ROLES).await;
    let (r, session) =
        sign_in_person(&w, "mcp_writer", &crate::emulator::api_key("mcp_writer")).await;
    assert_eq!(r.status(), 303);
    let session = session.unwrap();
    let (status, page) = get(&w, "/console/trail", &session).await;
    assert_eq!(status, 200);
    let csrf = hidden(&page, "csrf");
    emu.go_down().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = post_form(&w, "/console/sign-out", &session, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("owarden_console=;"),
        "{:?}",
        r.headers()
    );
    emu.come_back().await;
    let (status, _) = get(&w, "/console/trail", &session).await;
    assert_eq!(status, 303, "the session ended with the sign-out");

    let r = http()
        .post(format!("{}/console/kill-switch", w.admin_url))
        .form(&[("mode", "closed"), ("reason", "x"), ("step", "confirm")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(w.rt.kill.state().mode.as_str(), "open");
    assert!(w.rt.audit.flush(Duration::from_secs(5)).await);
    let rows =
        w.rt.store
            .query_audit_desc(
                &odoo_warden::store::AuditFilter {
                    kind: Some("auth_failure".into()),
                    ..Default::default()
                },
                None,
                1,
            )
            .await
            .unwrap();
    let record = &rows[0].record;
    assert_eq!(record["decision"], "refuse", "{record}");
    assert_eq!(record["http_status"], 303, "{record}");
    assert!(
        record["reason"].as_str().unwrap().contains("missing"),
        "{record}"
    );
}
