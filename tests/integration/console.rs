//! The web console over HTTP (issue 18, first part): sign-in with a key through the form, the
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
