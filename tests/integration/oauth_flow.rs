//! OAuth sign-in end to end over HTTP, in-process against the Odoo emulator: the form's CSRF and
//! sealed request, exact redirect URIs, failed sign-ins limited and audited, a person's Odoo key
//! deleted in Odoo ending their grants, round trips of a person's calls, and (on PostgreSQL)
//! revocation reaching another instance within about a second while a token for another
//! resource is refused. The Python SDK and mcp-remote drive the same flow in tests/e2e.

use crate::emulator::{self, Emulator, EmulatorConfig};
use crate::pg;
use crate::warden::{self, Warden, config_text, env_for};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const OAUTH_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// odoo-warden with OAuth on (default profile: assistant, acting as mcp_reader for keys).
async fn oauth_warden(emu: &Emulator, store: &str, public_url: Option<&str>) -> Warden {
    let mut text = config_text(&emu.url(), store, &[("assistant", "mcp_reader")], "");
    if let Some(u) = public_url {
        text = text.replacen(
            "[server]\n",
            &format!("[server]\npublic_url = \"{u}\"\n"),
            1,
        );
    }
    text.push_str(
        "[oauth]\nenabled = true\nkey_env = \"OAUTH_KEY\"\ndefault_profile = \"assistant\"\n",
    );
    let mut env = env_for(&["mcp_reader"]);
    env.insert("OAUTH_KEY".into(), OAUTH_KEY.into());
    warden::start(&text, env).await.unwrap()
}

fn origin(w: &Warden) -> String {
    w.mcp_url.trim_end_matches("/mcp").to_string()
}

/// The issuer the warden names (its public URL).
fn issuer(w: &Warden) -> String {
    w.config
        .server
        .public_url()
        .as_str()
        .trim_end_matches('/')
        .to_string()
}

/// The resource tokens are for: the issuer's `/mcp`.
fn resource(w: &Warden) -> String {
    format!("{}/mcp", issuer(w))
}

struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce() -> Pkce {
    let verifier = format!("v{}", "x".repeat(50));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

async fn register(w: &Warden) -> String {
    let r = http()
        .post(format!("{}/oauth/register", origin(w)))
        .json(&json!({"client_name": "it", "redirect_uris": [REDIRECT],
                      "token_endpoint_auth_method": "none",
                      "grant_types": ["authorization_code", "refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn authorize_url(w: &Warden, client_id: &str, p: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&format!("{}/oauth/authorize", origin(w))).unwrap();
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("code_challenge", &p.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "st-1")
            .append_pair("resource", &resource(w));
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    u.to_string()
}

/// The sign-in page: (hidden request, csrf, cookie header).
struct Page {
    request: String,
    csrf: String,
    cookie: String,
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

async fn open(url: &str) -> Page {
    let r = http().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["x-frame-options"], "DENY");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'")
            && csp.contains("form-action 'self' http://127.0.0.1:9"),
        "{csp}"
    );
    let set = h["set-cookie"].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    let html = r.text().await.unwrap();
    Page {
        request: hidden(&html, "request"),
        csrf: hidden(&html, "csrf"),
        cookie,
    }
}

async fn post_form(
    w: &Warden,
    page: &Page,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![("request", &page.request), ("csrf", &page.csrf)];
    form.extend_from_slice(fields);
    let mut r = http()
        .post(format!("{}/oauth/authorize", origin(w)))
        .header("origin", origin(w))
        .form(&form);
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.send().await.unwrap()
}

fn query_of(r: &reqwest::Response) -> HashMap<String, String> {
    let loc = r.headers()["location"].to_str().unwrap();
    url::Url::parse(loc)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn token(w: &Warden, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = http()
        .post(format!("{}/oauth/token", origin(w)))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// The whole flow for `login`: (client id, token answer).
async fn sign_in(w: &Warden, login: &str) -> (String, Value) {
    let client = register(w).await;
    let p = pkce();
    let page = open(&authorize_url(w, &client, &p, &[])).await;
    let key = emulator::api_key(login);
    let r = post_form(
        w,
        &page,
        Some(&page.cookie),
        &[
            ("login", login),
            ("odoo_api_key", &key),
            ("decision", "allow"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let q = query_of(&r);
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], issuer(w));
    let (status, tokens) = token(
        w,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("client_id", &client),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
            ("resource", &resource(w)),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    (client, tokens)
}

/// One stateless (2026-07-28) request with a bearer token.
async fn call(
    w: &Warden,
    bearer: &str,
    method: &str,
    name: Option<&str>,
    params: Value,
) -> (StatusCode, Value, String) {
    let mut params = params;
    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
           "io.modelcontextprotocol/clientCapabilities": {},
           "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}});
    let mut r = http()
        .post(&w.mcp_url)
        .bearer_auth(bearer)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(n) = name {
        r = r.header("mcp-name", n);
    }
    let r = r
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, r.json().await.unwrap_or(Value::Null), challenge)
}

async fn tool(w: &Warden, bearer: &str, name: &str, args: Value) -> (StatusCode, Value, String) {
    call(
        w,
        bearer,
        "tools/call",
        Some(name),
        json!({"name": name, "arguments": args}),
    )
    .await
}

fn orders() -> Value {
    json!({"model": "sale.order", "domain": [], "fields": ["name"], "limit": 5})
}

#[tokio::test]
async fn a_persons_calls_run_as_them_and_a_deleted_odoo_key_ends_their_grants() {
    let emu = Emulator::start(EmulatorConfig::odoo19()).await;
    let w = oauth_warden(&emu, "sqlite::memory:", None).await;
    let (client, tokens) = sign_in(&w, "mcp_writer").await;
    let access = tokens["access_token"].as_str().unwrap();
    assert!(access.starts_with("owa_"));

    let (s, body, _) = tool(&w, access, "get_context", json!({})).await;
    assert_eq!(s, 200, "{body}");
    let ctx = &body["result"]["structuredContent"];
    assert_eq!(ctx["login"], "mcp_writer");
    assert_eq!(ctx["uid"], emu.uid("mcp_writer"));
    assert_eq!(ctx["acting_as"], "person");
    let (s, body, _) = tool(&w, access, "search_records", orders()).await;
    assert_eq!(s, 200);
    assert_eq!(
        body["result"]["structuredContent"]["total"], 24,
        "the writer sees all orders"
    );

    // The session is built once: a person's next search costs what a key's does.
    emu.reset_requests();
    let (s, _, _) = tool(&w, access, "search_records", orders()).await;
    assert_eq!(s, 200);
    assert_eq!(
        emu.requests(),
        1,
        "a person's search is one Odoo request once signed in"
    );

    // The person deletes their key in Odoo: the next call fails cleanly, saying to sign in.
    emu.revoke_api_key("mcp_writer");
    let (s, body, _) = tool(&w, access, "search_records", orders()).await;
    assert_eq!(s, 200);
    assert_eq!(body["result"]["isError"], true, "{body}");
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("sign in to odoo-warden again"), "{text}");
    // Then every grant of theirs is over: 401 naming the resource metadata, no refresh.
    let (s, body, challenge) = tool(&w, access, "get_context", json!({})).await;
    assert_eq!(s, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sign in"),
        "{body}"
    );
    assert_eq!(
        challenge,
        format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            issuer(&w)
        )
    );
    let (s, body) = token(
        &w,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client),
        ],
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // The trail names the person on their calls, and the refusal.
    w.rt.audit.flush(Duration::from_secs(5)).await;
    let records =
        w.rt.store
            .query_audit(
                &odoo_warden::store::AuditFilter {
                    person: Some("mcp_writer".into()),
                    ..Default::default()
                },
                None,
                100,
            )
            .await
            .unwrap();
    let kinds: Vec<&str> = records
        .iter()
        .filter_map(|r| r.record["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"oauth_sign_in") && kinds.contains(&"tool_call"),
        "{kinds:?}"
    );
    let calls: Vec<&Value> = records
        .iter()
        .map(|r| &r.record)
        .filter(|r| r["kind"] == "tool_call")
        .collect();
    assert!(calls.len() >= 4, "{calls:?}");
    for r in calls {
        assert_eq!(r["odoo_uid"], emu.uid("mcp_writer"), "{r}");
        assert_eq!(r["person"], "mcp_writer");
        assert!(r.get("key_id").is_none_or(Value::is_null), "{r}");
        assert!(
            r["oauth_client"].as_str().is_some_and(|c| c == client),
            "{r}"
        );
    }
}

#[tokio::test]
async fn the_form_is_bound_to_its_cookie_and_its_request() {
    let emu = Emulator::start(EmulatorConfig::odoo18()).await;
    let w = oauth_warden(&emu, "sqlite::memory:", None).await;
    let client = register(&w).await;
    let p = pkce();
    let key = emulator::api_key("mcp_reader");
    let good = [
        ("login", "mcp_reader"),
        ("odoo_api_key", key.as_str()),
        ("decision", "allow"),
    ];

    // An unregistered redirect URI is shown to the person, never redirected to.
    let mut bad_redirect = authorize_url(&w, &client, &p, &[]);
    bad_redirect = bad_redirect.replace("127.0.0.1%3A9", "evil.example");
    let r = http().get(&bad_redirect).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // Request errors once the redirect URI is known are shown too.
    for (drop_method, other_resource, error) in [
        (true, None, "invalid_request"),
        (
            false,
            Some("http://elsewhere.example/mcp"),
            "invalid_target",
        ),
    ] {
        let mut u = authorize_url(&w, &client, &p, &[]);
        if drop_method {
            u = u.replace("&code_challenge_method=S256", "");
        }
        if let Some(res) = other_resource {
            u = u.replace(
                &url::form_urlencoded::byte_serialize(resource(&w).as_bytes()).collect::<String>(),
                &url::form_urlencoded::byte_serialize(res.as_bytes()).collect::<String>(),
            );
        }
        // Shown to the person, never redirected: anyone may register a client, so a redirect
        // answered without the person would make the endpoint an open redirector.
        let r = http().get(&u).send().await.unwrap();
        assert_eq!(r.status(), 400, "{u}");
        assert!(r.headers().get("location").is_none());
        let text = r.text().await.unwrap();
        assert!(text.contains(error), "{text}");
        assert!(!text.contains("code="), "{text}");
    }

    let page = open(&authorize_url(&w, &client, &p, &[])).await;
    // No cookie, another cookie, an altered request: refused, no code.
    let r = post_form(&w, &page, None, &good).await;
    assert_eq!(r.status(), 400);
    let other = open(&authorize_url(&w, &client, &p, &[])).await;
    let r = post_form(
        &w,
        &page,
        Some(&format!("owarden_signin={}", "A".repeat(43))),
        &good,
    )
    .await;
    assert_eq!(r.status(), 400);
    let mut altered = Page {
        request: page.request.clone(),
        csrf: page.csrf.clone(),
        cookie: page.cookie.clone(),
    };
    altered.request.insert(5, 'x');
    let r = post_form(&w, &altered, Some(&page.cookie), &good).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    drop(other);
    // The genuine form works once; its code works once.
    let r = post_form(&w, &page, Some(&page.cookie), &good).await;
    assert_eq!(r.status(), 303);
    let code = query_of(&r)["code"].clone();
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", client.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", p.verifier.as_str()),
    ];
    let wrong_verifier = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", client.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", "y".repeat(50).leak() as &str),
    ];
    let (s, body) = token(&w, &wrong_verifier).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // Taken by the failed attempt: single use.
    let (s, _) = token(&w, &exchange).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_login_and_audited() {
    let emu = Emulator::start(EmulatorConfig::odoo19()).await;
    let w = oauth_warden(&emu, "sqlite::memory:", None).await;
    let client = register(&w).await;
    let p = pkce();
    let page = open(&authorize_url(&w, &client, &p, &[])).await;
    for i in 0..5 {
        let r = post_form(
            &w,
            &page,
            Some(&page.cookie),
            &[
                ("login", "mcp_reader"),
                ("odoo_api_key", "wrong"),
                ("decision", "allow"),
            ],
        )
        .await;
        assert_eq!(r.status(), 200, "attempt {i}");
        let html = r.text().await.unwrap();
        assert!(html.contains("did not accept"), "{html}");
        assert!(!html.contains("wrong\""), "the key typed is not sent back");
    }
    // Now even the right key waits.
    let key = emulator::api_key("mcp_reader");
    let r = post_form(
        &w,
        &page,
        Some(&page.cookie),
        &[
            ("login", "mcp_reader"),
            ("odoo_api_key", &key),
            ("decision", "allow"),
        ],
    )
    .await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Too many failed sign-ins"));
    // Another login from the same address is not locked out by these.
    let r = post_form(
        &w,
        &page,
        Some(&page.cookie),
        &[
            ("login", "mcp_writer"),
            ("odoo_api_key", &emulator::api_key("mcp_writer")),
            ("decision", "allow"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);

    w.rt.audit.flush(Duration::from_secs(5)).await;
    let records =
        w.rt.store
            .query_audit(
                &odoo_warden::store::AuditFilter {
                    person: Some("mcp_reader".into()),
                    ..Default::default()
                },
                None,
                100,
            )
            .await
            .unwrap();
    let refused = records
        .iter()
        .filter(|r| r.record["kind"] == "oauth_sign_in" && r.record["outcome"] == "refused")
        .count();
    assert_eq!(
        refused, 6,
        "five failures and the limited attempt are on record"
    );
    let text =
        serde_json::to_string(&records.iter().map(|r| &r.record).collect::<Vec<_>>()).unwrap();
    assert!(
        !text.contains(&key) && !text.contains("\"wrong\""),
        "keys never reach the trail"
    );
}

#[tokio::test]
async fn revoking_a_person_reaches_another_instance_and_tokens_stay_with_their_resource() {
    let Some(pg) = pg::shared() else {
        eprintln!("skipped: PostgreSQL is not available");
        return;
    };
    pg.create_database("oauth_two");
    let store = pg.url_for("oauth_two");
    let emu = Emulator::start(EmulatorConfig::odoo19()).await;
    let public = "http://localhost:18808";
    let a = oauth_warden(&emu, &store, Some(public)).await;
    let b = oauth_warden(&emu, &store, Some(public)).await;
    // Same store, another public URL: another resource.
    let c = oauth_warden(&emu, &store, Some("http://localhost:18809")).await;
    let (_, tokens) = sign_in(&a, "mcp_reader").await;
    let access = tokens["access_token"].as_str().unwrap();
    for w in [&a, &b] {
        let (s, body, _) = tool(w, access, "get_context", json!({})).await;
        assert_eq!(s, 200, "{body}");
    }
    let (s, _, _) = tool(&c, access, "get_context", json!({})).await;
    assert_eq!(s, 401, "a token for another resource is refused");

    let (_, admin) = a.key(&["admin"], None, None).await;
    let started = Instant::now();
    let r = http()
        .post(format!("{}/admin/v1/people/mcp_reader/revoke", a.admin_url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, _, _) = tool(&a, access, "get_context", json!({})).await;
    assert_eq!(s, 401, "at once on the instance that revoked");
    loop {
        let (s, _, _) = tool(&b, access, "get_context", json!({})).await;
        if s == 401 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "still served after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Blocked: a new sign-in is refused with the reason.
    let client = register(&a).await;
    let p = pkce();
    let page = open(&authorize_url(&a, &client, &p, &[])).await;
    let key = emulator::api_key("mcp_reader");
    let r = post_form(
        &a,
        &page,
        Some(&page.cookie),
        &[
            ("login", "mcp_reader"),
            ("odoo_api_key", &key),
            ("decision", "allow"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("revoked by an operator"));
}

#[tokio::test]
async fn without_oauth_there_is_no_authorization_server() {
    let emu = Emulator::start(EmulatorConfig::odoo18()).await;
    let text = config_text(
        &emu.url(),
        "sqlite::memory:",
        &[("assistant", "mcp_reader")],
        "",
    );
    let w = warden::start(&text, env_for(&["mcp_reader"]))
        .await
        .unwrap();
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
        "/oauth/authorize",
        "/oauth/token",
    ] {
        let r = http()
            .get(format!("{}{path}", origin(&w)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let (s, _, challenge) = tool(
        &w,
        "owa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "get_context",
        json!({}),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(challenge, "Bearer realm=\"odoo-warden\"");
}
