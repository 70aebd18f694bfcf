//! Replays every recorded exchange with a real Odoo (`../shared/odoo-fixtures/odoo18`, `odoo19`)
//! against the emulator of the same version and compares the answers: HTTP status, the headers
//! the recordings keep, success or error, error class, code and message, and the result,
//! value for value except where a path is listed in `RELAXED` (shape only there).
//!
//! Each folder runs in `_index.json` order against one emulator, because later cases depend on
//! earlier writes (create, write, read back, unlink, read the deleted record). Mismatches are
//! collected and reported all at once.

use crate::emulator;

use std::path::{Path, PathBuf};

use emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};

/// Recorded cases the emulator deliberately does not reproduce, with the reason.
const SKIPPED: &[(&str, &str)] = &[];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relax {
    /// Compare JSON types and keys, not values.
    Shape,
    /// A list whose length may differ; its items are compared by shape with the first
    /// recorded item.
    AnyLength,
}

/// Places where the emulator's data differs from the recording on purpose: (case, path, how).
/// Paths are `/`-separated; `*` matches one segment, a trailing `*` a prefix, `**` the rest.
const RELAXED: &[(&str, &str, Relax)] = &[
    // 430 models in the real database; the emulator registers the few it implements.
    ("ir_model_search_read_admin", "result", Relax::AnyLength),
    // Images are cut down to a 1x1 PNG in the embedded copy of the record.
    (
        "search_read_no_fields_writer",
        "result/*/image_*",
        Relax::Shape,
    ),
    (
        "search_read_no_fields_writer",
        "result/*/avatar_*",
        Relax::Shape,
    ),
    ("j2_search_read_no_fields_admin", "*/image_*", Relax::Shape),
    ("j2_search_read_no_fields_admin", "*/avatar_*", Relax::Shape),
];

const HEADERS: &[&str] = &[
    "Content-Type",
    "Set-Cookie",
    "WWW-Authenticate",
    "Location",
    "Allow",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/odoo-fixtures")
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn segment_matches(pattern: &str, segment: &str) -> bool {
    match pattern.strip_suffix('*') {
        _ if pattern == "*" => true,
        Some(prefix) => segment.starts_with(prefix),
        None => pattern == segment,
    }
}

fn path_matches(pattern: &str, path: &[String]) -> bool {
    let parts: Vec<&str> = pattern.split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        if *p == "**" {
            return true;
        }
        match path.get(i) {
            Some(seg) if segment_matches(p, seg) => {}
            _ => return false,
        }
    }
    parts.len() == path.len()
}

struct Comparer<'a> {
    relax: Vec<(&'a str, Relax)>,
    out: Vec<String>,
}

impl Comparer<'_> {
    fn relaxed(&self, path: &[String], how: Relax) -> bool {
        self.relax
            .iter()
            .any(|(p, r)| *r == how && path_matches(p, path))
    }

    fn at(path: &[String]) -> String {
        if path.is_empty() {
            "<body>".to_string()
        } else {
            path.join("/")
        }
    }

    /// Compares `got` with `want`; `shape_only` is set below a relaxed path.
    fn compare(&mut self, path: &mut Vec<String>, want: &Value, got: &Value, shape_only: bool) {
        let shape_only = shape_only || self.relaxed(path, Relax::Shape);
        if type_name(want) != type_name(got) {
            self.out.push(format!(
                "{}: expected {} {}, got {} {}",
                Self::at(path),
                type_name(want),
                short(want),
                type_name(got),
                short(got)
            ));
            return;
        }
        match (want, got) {
            (Value::Object(a), Value::Object(b)) => {
                for k in a.keys().filter(|k| !b.contains_key(*k)) {
                    self.out
                        .push(format!("{}: missing key {k:?}", Self::at(path)));
                }
                for k in b.keys().filter(|k| !a.contains_key(*k)) {
                    self.out
                        .push(format!("{}: unexpected key {k:?}", Self::at(path)));
                }
                for (k, v) in a {
                    if let Some(g) = b.get(k) {
                        path.push(k.clone());
                        self.compare(path, v, g, shape_only);
                        path.pop();
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) => {
                if self.relaxed(path, Relax::AnyLength) {
                    if a.is_empty() != b.is_empty() {
                        self.out.push(format!(
                            "{}: expected {} items, got {}",
                            Self::at(path),
                            a.len(),
                            b.len()
                        ));
                    }
                    if let Some(first) = a.first() {
                        for (i, item) in b.iter().enumerate() {
                            path.push(i.to_string());
                            self.compare(path, first, item, true);
                            path.pop();
                        }
                    }
                    return;
                }
                if a.len() != b.len() {
                    self.out.push(format!(
                        "{}: expected {} items, got {}: {}",
                        Self::at(path),
                        a.len(),
                        b.len(),
                        short(got)
                    ));
                    return;
                }
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    path.push(i.to_string());
                    self.compare(path, x, y, shape_only);
                    path.pop();
                }
            }
            (Value::String(a), Value::String(b)) if !shape_only && a != b && a.len() > 60 => {
                // Point at the first difference of long texts (messages, pages).
                let at = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
                let from = at.saturating_sub(30);
                let piece = |s: &str| s.chars().skip(from).take(80).collect::<String>();
                self.out.push(format!(
                    "{}: differs at char {at}: expected ...{:?}..., got ...{:?}...",
                    Self::at(path),
                    piece(a),
                    piece(b)
                ));
            }
            _ => {
                if !shape_only && want != got {
                    self.out.push(format!(
                        "{}: expected {}, got {}",
                        Self::at(path),
                        short(want),
                        short(got)
                    ));
                }
            }
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 160 {
        format!("{}...", s.chars().take(160).collect::<String>())
    } else {
        s
    }
}

/// `session_id=abc; Expires=...; ...` with the session and date blanked out.
fn normalize_cookie(c: &str) -> String {
    c.split("; ")
        .map(|part| {
            if part.starts_with("session_id=") {
                "session_id=<session>".to_string()
            } else if part.starts_with("Expires=") {
                "Expires=<date>".to_string()
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The credentials a recorded request carries: bearer token, RPC password or key, web password.
fn request_secrets(request: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(auth) = request["headers"]["Authorization"].as_str()
        && let Some((_, token)) = auth.split_once(' ')
    {
        out.push(token.to_string());
    }
    let params = &request["body"]["params"];
    if matches!(params["service"].as_str(), Some("common" | "object"))
        && let Some(secret) = params["args"][2].as_str()
    {
        out.push(secret.to_string());
    }
    if let Some(secret) = params["password"].as_str() {
        out.push(secret.to_string());
    }
    // Short strings ("x", "bad") would match by chance.
    out.retain(|s| s.len() >= 8);
    out
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    request: &Value,
    session: Option<&str>,
) -> Answer {
    let method = request["method"].as_str().unwrap_or("GET");
    let path = request["path"].as_str().unwrap_or("/");
    let mut req = client.request(
        reqwest::Method::from_bytes(method.as_bytes()).expect("recorded HTTP method"),
        format!("{base}{path}"),
    );
    if let Some(headers) = request["headers"].as_object() {
        for (k, v) in headers {
            let mut v = v.as_str().unwrap_or("").to_string();
            if let Some(sid) = session {
                v = v.replace("<session>", sid);
            }
            req = req.header(k.as_str(), v);
        }
    }
    match &request["body"] {
        Value::Null => {}
        Value::String(raw) => req = req.body(raw.clone()),
        other => req = req.body(serde_json::to_vec(other).expect("serializable body")),
    }
    let resp = req.send().await.expect("the emulator answers");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = resp.text().await.expect("a readable body");
    Answer {
        status,
        headers,
        body,
    }
}

/// Everything that differs between the recorded exchange and the emulator's answer.
fn compare_case(name: &str, recorded: &Value, answer: &Answer) -> Vec<String> {
    let mut out = Vec::new();
    let want_status = recorded["status"].as_u64().unwrap_or(0);
    if u64::from(answer.status) != want_status {
        out.push(format!(
            "status: expected {want_status}, got {}",
            answer.status
        ));
    }
    let want_headers = recorded["response_headers"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for h in HEADERS {
        // HTTP clients drop the whitespace around a header value (Odoo sends "Bearer ").
        let want = want_headers.get(*h).and_then(Value::as_str).map(str::trim);
        let got = answer.header(h).map(str::trim);
        let differs = |w: &str, g: &str| {
            if *h == "Set-Cookie" {
                normalize_cookie(w) != normalize_cookie(g)
            } else {
                w != g
            }
        };
        match (want, got) {
            (Some(w), Some(g)) if differs(w, g) => {
                out.push(format!("header {h}: expected {w:?}, got {g:?}"))
            }
            (Some(w), None) => out.push(format!("header {h}: expected {w:?}, got none")),
            (None, Some(g)) => out.push(format!("header {h}: not sent by Odoo, got {g:?}")),
            _ => {}
        }
    }
    // Never leak what Odoo would not: no credential of the request comes back.
    let mut secrets: Vec<String> = vec!["<apikey:".into(), "<password:".into()];
    secrets.extend(request_secrets(&recorded["request"]));
    for secret in &secrets {
        if answer.body.contains(secret.as_str()) {
            out.push(format!("body contains a credential ({secret:?})"));
        }
    }
    let response = &recorded["response"];
    if let Some(text) = response.get("_non_json_body").and_then(Value::as_str) {
        let length = response["_body_length"].as_u64().unwrap_or(0);
        let got: String = answer.body.chars().take(4000).collect();
        if got != text {
            out.push(format!("body: expected {text:?}, got {got:?}"));
        }
        if answer.body.len() as u64 != length {
            out.push(format!(
                "body length: expected {length}, got {}",
                answer.body.len()
            ));
        }
        return out;
    }
    let got: Value = match serde_json::from_str(&answer.body) {
        Ok(v) => v,
        Err(e) => {
            out.push(format!("body is not JSON ({e}): {:?}", answer.body));
            return out;
        }
    };
    let mut cmp = Comparer {
        relax: RELAXED
            .iter()
            .filter(|(c, _, _)| *c == name)
            .map(|(_, p, r)| (*p, *r))
            .collect(),
        out: Vec::new(),
    };
    cmp.compare(&mut Vec::new(), response, &got, false);
    out.extend(cmp.out);
    out
}

/// Replays one folder in index order; returns the mismatches and the number of cases replayed.
async fn replay(folder: &str, version: &str) -> (Vec<String>, usize) {
    let dir = fixtures().join(folder);
    assert!(
        dir.is_dir(),
        "the recordings are missing: {} (shared/ must sit beside the repository)",
        dir.display()
    );
    let index = load(&dir.join("_index.json"));
    let cases = index["cases"].as_array().cloned().unwrap_or_default();
    assert!(!cases.is_empty(), "{folder}/_index.json lists no case");
    let emu = Emulator::start(EmulatorConfig::with_version(version)).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let mut session: Option<String> = None;
    let mut problems = Vec::new();
    let mut replayed = 0;
    for case in &cases {
        let name = case["case"].as_str().unwrap_or("");
        if SKIPPED.iter().any(|(c, _)| *c == name) {
            continue;
        }
        let recorded = load(&dir.join(format!("{name}.json")));
        let answer = send(
            &client,
            &emu.url(),
            &recorded["request"],
            session.as_deref(),
        )
        .await;
        if recorded["request"]["path"] == "/web/session/authenticate"
            && let Some(cookie) = answer.header("Set-Cookie")
        {
            session = cookie
                .split(';')
                .next()
                .and_then(|c| c.strip_prefix("session_id="))
                .map(str::to_string);
        }
        for p in compare_case(name, &recorded, &answer) {
            problems.push(format!("{folder}/{name}: {p}"));
        }
        replayed += 1;
    }
    assert_eq!(
        emu.requests(),
        replayed as u64,
        "{folder}: the emulator should have served one request per case"
    );
    (problems, replayed)
}

fn report(folder: &str, problems: Vec<String>, replayed: usize) {
    assert!(replayed > 0, "{folder}: nothing replayed");
    if !problems.is_empty() {
        panic!(
            "{folder}: {} mismatch(es) in {replayed} replayed cases:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
}

#[tokio::test]
async fn replay_odoo18() {
    let (problems, replayed) = replay("odoo18", "18.0").await;
    report("odoo18", problems, replayed);
}

#[tokio::test]
async fn replay_odoo19() {
    let (problems, replayed) = replay("odoo19", "19.0").await;
    report("odoo19", problems, replayed);
}

#[test]
fn skip_list_is_short_and_real() {
    let mut total = 0;
    for folder in ["odoo18", "odoo19"] {
        let index = load(&fixtures().join(folder).join("_index.json"));
        total += index["cases"].as_array().map_or(0, Vec::len);
    }
    for (case, reason) in SKIPPED {
        assert!(!reason.is_empty(), "{case}: a skipped case needs a reason");
        let exists = ["odoo18", "odoo19"]
            .iter()
            .any(|f| fixtures().join(f).join(format!("{case}.json")).is_file());
        assert!(exists, "skipped case {case} is not a recording");
    }
    assert!(
        SKIPPED.len() * 100 < total * 15,
        "{} of {total} cases skipped: keep it under 15%",
        SKIPPED.len()
    );
    for (case, _, _) in RELAXED {
        let exists = ["odoo18", "odoo19"]
            .iter()
            .any(|f| fixtures().join(f).join(format!("{case}.json")).is_file());
        assert!(exists, "relaxed case {case} is not a recording");
    }
}

/// The comparison must be able to fail: a changed value, a missing key, another type, another
/// status are all reported.
#[test]
fn comparison_catches_differences() {
    let recorded = load(&fixtures().join("odoo18/read_group_sale_order_by_state.json"));
    let body = recorded["response"].to_string();
    let same = Answer {
        status: 200,
        headers: vec![(
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: body.clone(),
    };
    assert!(compare_case("x", &recorded, &same).is_empty());

    let mut changed: Value = serde_json::from_str(&body).unwrap();
    changed["result"][1]["state_count"] = json!(18);
    changed["result"][0]["amount_total"] = json!(5470);
    changed["result"][2]
        .as_object_mut()
        .unwrap()
        .remove("__domain");
    changed["result"][2]["extra"] = json!(1);
    let answer = Answer {
        status: 500,
        headers: vec![
            ("content-type".into(), "text/html".into()),
            ("set-cookie".into(), "session_id=x".into()),
        ],
        body: changed.to_string(),
    };
    let problems = compare_case("x", &recorded, &answer);
    let text = problems.join("\n");
    for expected in [
        "status: expected 200, got 500",
        "header Content-Type",
        "header Set-Cookie: not sent by Odoo",
        "result/1/state_count: expected 19, got 18",
        "result/0/amount_total: expected float 5470.0, got int 5470",
        "result/2: missing key \"__domain\"",
        "result/2: unexpected key \"extra\"",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not reported in:\n{text}"
        );
    }
}

// Behaviour the recordings do not cover, by version.

async fn jsonrpc(emu: &Emulator, service: &str, method: &str, args: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{}/jsonrpc", emu.url()))
        .json(&json!({"jsonrpc": "2.0", "method": "call", "id": 1,
                      "params": {"service": service, "method": method, "args": args}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn execute_kw(
    emu: &Emulator,
    login: &str,
    model: &str,
    method: &str,
    args: Value,
    kwargs: Value,
) -> Value {
    let uid = emu.uid(login);
    jsonrpc(
        emu,
        "object",
        "execute_kw",
        json!([
            "lab",
            uid,
            emulator::api_key(login),
            model,
            method,
            args,
            kwargs
        ]),
    )
    .await
}

#[tokio::test]
async fn saas_versions_report_their_series() {
    let emu = Emulator::start(EmulatorConfig::with_version("saas~19.2")).await;
    let version: Value = reqwest::get(format!("{}/web/version", emu.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        version,
        json!({"version_info": ["saas~19", 2, 0, "final", 0, ""], "version": "saas~19.2"})
    );
    let common = jsonrpc(&emu, "common", "version", json!([])).await;
    assert_eq!(common["result"]["server_serie"], "saas~19.2");
    assert_eq!(emu.uid("mcp_reader"), 7);
}

#[tokio::test]
async fn odoo17_has_check_access_rights_but_not_has_access_nor_json2() {
    let emu = Emulator::start(EmulatorConfig::with_version("17.0")).await;
    let r = execute_kw(
        &emu,
        "mcp_reader",
        "res.partner",
        "check_access_rights",
        json!(["create"]),
        json!({"raise_exception": false}),
    )
    .await;
    assert_eq!(r["result"], json!(false));
    let r = execute_kw(
        &emu,
        "mcp_reader",
        "res.partner",
        "has_access",
        json!([[], "read"]),
        json!({}),
    )
    .await;
    assert_eq!(r["error"]["data"]["name"], "builtins.AttributeError");
    assert_eq!(r["error"]["code"], 200);
    let resp = reqwest::Client::new()
        .post(format!("{}/json/2/res.partner/search", emu.url()))
        .json(&json!({"domain": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = reqwest::get(format!("{}/web/version", emu.url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn odoo19_has_access_and_no_check_access_rights() {
    let emu = Emulator::start(EmulatorConfig::odoo19()).await;
    let client = reqwest::Client::new();
    let call = |method: &str, body: Value| {
        client
            .post(format!("{}/json/2/res.partner/{method}", emu.url()))
            .bearer_auth(emulator::api_key("mcp_reader"))
            .json(&body)
            .send()
    };
    let r = call("has_access", json!({"operation": "create"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!(false));
    let r = call("has_access", json!({"operation": "read"}))
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!(true));
    let r = call("check_access_rights", json!({"operation": "read"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = call(
        "search_read",
        json!({"domain": [], "fields": ["name"], "bogus": 1}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 500);
    let r = call("search", json!({"domain": [], "bogus": 1}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "got an unexpected keyword argument 'bogus'"
    );
}

/// `web_search_read` over `/jsonrpc` with keyword arguments; the `result`, or the error.
async fn web_search_read(emu: &Emulator, login: &str, model: &str, kwargs: Value) -> Value {
    let r = execute_kw(emu, login, model, "web_search_read", json!([]), kwargs).await;
    match r.get("result") {
        Some(result) => result.clone(),
        None => r["error"].clone(),
    }
}

/// A JSON-2 call (19+): status and body.
async fn json2(
    emu: &Emulator,
    login: &str,
    model: &str,
    method: &str,
    body: Value,
) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/json/2/{model}/{method}", emu.url()))
        .bearer_auth(emulator::api_key(login))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn ids_of(page: &Value) -> Vec<i64> {
    page["records"]
        .as_array()
        .unwrap_or_else(|| panic!("no records in {page}"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn web_search_read_pages_and_lengths_on_16_to_19() {
    for version in ["16.0", "17.0", "18.0", "19.0"] {
        let emu = Emulator::start(EmulatorConfig::with_version(version)).await;
        // 16 takes `fields` (a search_read), 17+ a `specification` (a web_read).
        let read = |extra: Value| {
            let mut kwargs = if version == "16.0" {
                json!({"domain": [], "fields": ["name"]})
            } else {
                json!({"domain": [], "specification": {"name": {}}})
            };
            for (k, v) in extra.as_object().unwrap() {
                kwargs[k] = v.clone();
            }
            kwargs
        };
        let w = "mcp_writer";
        // A full page: the length is the count of the whole result (24 orders).
        let page = web_search_read(&emu, w, "sale.order", read(json!({"limit": 5}))).await;
        assert_eq!(page["length"], 24, "{version} {page}");
        assert_eq!(ids_of(&page), vec![3, 4, 5, 6, 7], "{version}");
        assert_eq!(
            page["records"][0],
            json!({"id": 3, "name": "S00003"}),
            "{version}"
        );
        // A short page: offset + what it holds, no count.
        let page = web_search_read(
            &emu,
            w,
            "sale.order",
            read(json!({"offset": 21, "limit": 10})),
        )
        .await;
        assert_eq!(page["length"], 24, "{version} {page}");
        assert_eq!(ids_of(&page), vec![24, 2, 1], "{version}");
        let page = web_search_read(
            &emu,
            w,
            "sale.order",
            read(json!({"domain": [["state", "=", "draft"]], "offset": 2, "limit": 10})),
        )
        .await;
        assert_eq!(page["length"], 4, "{version} {page}");
        assert_eq!(ids_of(&page), vec![2, 1], "{version}");
        // An empty page past the end: 0, although 24 orders match.
        let page = web_search_read(
            &emu,
            w,
            "sale.order",
            read(json!({"offset": 30, "limit": 10})),
        )
        .await;
        assert_eq!(page, json!({"length": 0, "records": []}), "{version}");
        // count_limit bounds the count; once the page reaches it, nothing is counted.
        let page = web_search_read(
            &emu,
            w,
            "sale.order",
            read(json!({"limit": 5, "count_limit": 10})),
        )
        .await;
        assert_eq!(page["length"], 10, "{version} {page}");
        let page = web_search_read(
            &emu,
            w,
            "sale.order",
            read(json!({"limit": 5, "count_limit": 3})),
        )
        .await;
        assert_eq!(page["length"], 5, "{version} {page}");
        // ... unless the context forces the count.
        let page = web_search_read(
            &emu,
            w,
            "sale.order",
            read(json!({"limit": 5, "count_limit": 3,
                        "context": {"force_search_count": true}})),
        )
        .await;
        assert_eq!(page["length"], 3, "{version} {page}");
        // Without a limit: everything, and its length.
        let page = web_search_read(&emu, w, "sale.order", read(json!({}))).await;
        assert_eq!(page["length"], 24, "{version}");
        assert_eq!(page["records"].as_array().unwrap().len(), 24, "{version}");
        // Record rules: the reader's own three orders, counted as the reader.
        let page =
            web_search_read(&emu, "mcp_reader", "sale.order", read(json!({"limit": 2}))).await;
        assert_eq!(page["length"], 3, "{version} {page}");
        assert_eq!(ids_of(&page), vec![3, 2], "{version}");
        let page = web_search_read(
            &emu,
            "mcp_reader",
            "sale.order",
            read(json!({"domain": [["id", "=", 4]], "limit": 2})),
        )
        .await;
        assert_eq!(page, json!({"length": 0, "records": []}), "{version}");
        // Unknown fields fail as in search_read.
        let bogus = if version == "16.0" {
            json!({"fields": ["bogus"], "limit": 1})
        } else {
            json!({"specification": {"bogus": {}}, "limit": 1})
        };
        let err = web_search_read(&emu, w, "sale.order", read(bogus)).await;
        assert_eq!(
            err["data"]["name"], "builtins.ValueError",
            "{version} {err}"
        );
        assert_eq!(
            err["data"]["message"], "Invalid field 'bogus' on model 'sale.order'",
            "{version}"
        );
        // Positional arguments over execute_kw.
        let args = if version == "16.0" {
            json!([[], ["name", "partner_id"], 0, 2])
        } else {
            json!([[], {"name": {}, "partner_id": {}}, 0, 2])
        };
        let r = execute_kw(&emu, w, "sale.order", "web_search_read", args, json!({})).await;
        let ready_mat = if version == "19.0" { 11 } else { 12 };
        let partner = if version == "16.0" {
            // search_read: a many2one is [id, display name].
            json!([ready_mat, "Ready Mat"])
        } else {
            // web_read: its id.
            json!(ready_mat)
        };
        assert_eq!(
            r["result"]["records"][0],
            json!({"id": 3, "name": "S00003", "partner_id": partner}),
            "{version} {r}"
        );
        assert_eq!(r["result"]["length"], 24, "{version}");
        // 17+: the specification is required; web_read exists from 17.
        let r = execute_kw(
            &emu,
            w,
            "sale.order",
            "web_search_read",
            json!([[]]),
            json!({}),
        )
        .await;
        let r2 = execute_kw(
            &emu,
            w,
            "sale.order",
            "web_read",
            json!([[1], {"name": {}}]),
            json!({}),
        )
        .await;
        if version == "16.0" {
            assert_eq!(r["result"]["length"], 24);
            assert_eq!(
                r2["error"]["data"]["message"],
                "The method 'web_read' does not exist on the model 'sale.order'"
            );
        } else {
            assert_eq!(
                r["error"]["data"]["message"],
                "Base.web_search_read() missing 1 required positional argument: 'specification'",
                "{version}"
            );
            assert_eq!(
                r2["result"],
                json!([{"id": 1, "name": "S00001"}]),
                "{version}"
            );
        }
    }
}

#[tokio::test]
async fn web_search_read_specification_on_17_to_19() {
    for version in ["17.0", "18.0", "19.0"] {
        let emu = Emulator::start(EmulatorConfig::with_version(version)).await;
        let v19 = version == "19.0";
        let (deco, gemini, ready_mat) = if v19 { (9, 10, 11) } else { (10, 11, 12) };
        let reader = emu.uid("mcp_reader");
        // many2one: an id, or a dict with the subfields asked for; x2many with `{}`: ids.
        // Nothing else is returned.
        let kwargs = json!({
            "domain": [],
            "specification": {
                "name": {},
                "partner_id": {},
                "user_id": {"fields": {"display_name": {}}},
                "order_line": {},
            },
            "limit": 2,
        });
        let page = web_search_read(&emu, "mcp_writer", "sale.order", kwargs.clone()).await;
        assert_eq!(
            page,
            json!({"length": 24, "records": [
                {"id": 3, "name": "S00003", "partner_id": ready_mat,
                 "user_id": {"id": reader, "display_name": "MCP Reader"}, "order_line": [3]},
                {"id": 4, "name": "S00004", "partner_id": gemini,
                 "user_id": {"id": 2, "display_name": "Mitchell Admin"}, "order_line": [4]},
            ]}),
            "{version}"
        );
        if v19 {
            // The same over JSON-2 (keyword arguments only; no ids on an @api.model method).
            let (status, body) = json2(
                &emu,
                "mcp_writer",
                "sale.order",
                "web_search_read",
                kwargs.clone(),
            )
            .await;
            assert_eq!(status, 200);
            assert_eq!(body, page);
            let mut with_ids = kwargs.clone();
            with_ids["ids"] = json!([1]);
            let (status, body) = json2(
                &emu,
                "mcp_writer",
                "sale.order",
                "web_search_read",
                with_ids,
            )
            .await;
            assert_eq!(status, 422, "{body}");
            let (status, body) = json2(
                &emu,
                "mcp_writer",
                "sale.order",
                "web_search_read",
                json!({"domain": []}),
            )
            .await;
            assert_eq!(status, 422);
            assert_eq!(
                body["message"],
                "missing a required argument: 'specification'"
            );
            let (status, body) = json2(
                &emu,
                "mcp_writer",
                "sale.order",
                "web_read",
                json!({"ids": [1], "specification": {"partner_id": {"fields": {"display_name": {}}}}}),
            )
            .await;
            assert_eq!(status, 200);
            assert_eq!(
                body,
                json!([{"id": 1, "partner_id": {"id": deco, "display_name": "Deco Addict"}}])
            );
        }
        // Subfields of a many2one other than display_name are read; display_name comes last.
        let page = web_search_read(
            &emu,
            "mcp_writer",
            "sale.order",
            json!({"domain": [["id", "=", 1]],
                   "specification": {"partner_id": {"fields": {"display_name": {}, "is_company": {}}}}}),
        )
        .await;
        assert_eq!(
            page["records"],
            json!([{"id": 1, "partner_id": {"id": deco, "is_company": true, "display_name": "Deco Addict"}}]),
            "{version}"
        );
        // x2many with subfields: dicts, sorted by `order`; beyond `limit` only the ids.
        let page = web_search_read(
            &emu,
            "mcp_writer",
            "res.partner",
            json!({"domain": [["id", "=", gemini]],
                   "specification": {"sale_order_ids": {"fields": {"name": {}}, "order": "name", "limit": 2}}}),
        )
        .await;
        assert_eq!(page["length"], 1, "{version} {page}");
        let orders = page["records"][0]["sale_order_ids"].as_array().unwrap();
        assert_eq!(orders.len(), 17, "{version}");
        assert_eq!(orders[0], json!({"id": 4, "name": "S00004"}), "{version}");
        assert_eq!(orders[1], json!({"id": 7, "name": "S00007"}), "{version}");
        assert_eq!(orders[2], json!({"id": 8}), "{version}");
        // An empty specification: the ids only.
        let page = web_search_read(
            &emu,
            "mcp_writer",
            "sale.order",
            json!({"domain": [], "specification": {}, "limit": 1}),
        )
        .await;
        assert_eq!(
            page,
            json!({"length": 24, "records": [{"id": 3}]}),
            "{version}"
        );
        // Not a dict: what Python says of `.keys()`.
        let err = web_search_read(
            &emu,
            "mcp_writer",
            "sale.order",
            json!({"domain": [], "specification": ["name"]}),
        )
        .await;
        assert_eq!(
            err["data"]["message"], "'list' object has no attribute 'keys'",
            "{version}"
        );
    }
}

#[tokio::test]
async fn web_search_read_keeps_access_rights_and_record_rules() {
    for version in ["18.0", "19.0"] {
        let emu = Emulator::start(EmulatorConfig::with_version(version)).await;
        let ready_mat = if version == "19.0" { 11 } else { 12 };
        let kwargs = json!({
            "domain": [],
            "specification": {"name": {}, "partner_id": {"fields": {"display_name": {}}}},
            "limit": 2,
        });
        let page = web_search_read(&emu, "mcp_reader", "sale.order", kwargs).await;
        assert_eq!(
            page,
            json!({"length": 3, "records": [
                {"id": 3, "name": "S00003", "partner_id": {"id": ready_mat, "display_name": "Ready Mat"}},
                {"id": 2, "name": "S00002", "partner_id": {"id": ready_mat, "display_name": "Ready Mat"}},
            ]}),
            "{version}"
        );
        // The orders of a contact are read as the reader: others' orders are refused.
        let err = web_search_read(
            &emu,
            "mcp_reader",
            "res.partner",
            json!({"domain": [["id", "=", if version == "19.0" { 10 } else { 11 }]],
                   "specification": {"sale_order_ids": {"fields": {"name": {}}}}}),
        )
        .await;
        assert_eq!(
            err["data"]["name"], "odoo.exceptions.AccessError",
            "{version} {err}"
        );
    }
    // Subfields of a many2one other than display_name are read as the user: on 19 the reader
    // may not read a contact's credit (account.group_account_invoice).
    let emu = Emulator::start(EmulatorConfig::odoo19()).await;
    let (status, body) = json2(
        &emu,
        "mcp_reader",
        "sale.order",
        "web_search_read",
        json!({"domain": [], "specification": {"partner_id": {"fields": {"display_name": {}, "credit": {}}}}}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["name"], "odoo.exceptions.AccessError");
}

#[tokio::test]
async fn service_time_delays_every_request() {
    assert_eq!(
        EmulatorConfig::odoo19().service_time,
        std::time::Duration::ZERO
    );
    let emu = Emulator::start(
        EmulatorConfig::odoo19().with_service_time(std::time::Duration::from_millis(20)),
    )
    .await;
    let started = std::time::Instant::now();
    for _ in 0..3 {
        let (status, body) = json2(
            &emu,
            "mcp_reader",
            "res.partner",
            "search_count",
            json!({"domain": []}),
        )
        .await;
        assert_eq!((status, body), (200, json!(43)));
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_millis(60),
        "{elapsed:?}"
    );
    // Every answered request is still counted once.
    assert_eq!(emu.requests(), 3);
    // The wait holds no thread: concurrent requests overlap (one after the other, ten would
    // take 500 ms).
    let emu = Emulator::start(
        EmulatorConfig::odoo19().with_service_time(std::time::Duration::from_millis(50)),
    )
    .await;
    let started = std::time::Instant::now();
    let calls = (0..10).map(|_| {
        json2(
            &emu,
            "mcp_reader",
            "res.partner",
            "search_count",
            json!({"domain": []}),
        )
    });
    for (status, _) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 200);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_millis(50),
        "{elapsed:?}"
    );
    assert!(
        elapsed < std::time::Duration::from_millis(400),
        "{elapsed:?}"
    );
    assert_eq!(emu.requests(), 10);
}

#[tokio::test]
async fn orders_confirm_and_rules_hold_on_write() {
    let emu = Emulator::start(EmulatorConfig::odoo18()).await;
    // The reader may confirm their own quotation, not somebody else's order.
    let r = execute_kw(
        &emu,
        "mcp_reader",
        "sale.order",
        "action_confirm",
        json!([[1]]),
        json!({}),
    )
    .await;
    assert_eq!(r["result"], json!(true));
    let r = execute_kw(
        &emu,
        "mcp_reader",
        "sale.order",
        "read",
        json!([[1], ["state"]]),
        json!({}),
    )
    .await;
    assert_eq!(r["result"][0]["state"], "sale");
    let r = execute_kw(
        &emu,
        "mcp_reader",
        "sale.order",
        "action_confirm",
        json!([[1]]),
        json!({}),
    )
    .await;
    assert_eq!(r["error"]["data"]["name"], "odoo.exceptions.UserError");
    let r = execute_kw(
        &emu,
        "mcp_reader",
        "sale.order",
        "write",
        json!([[24], {"note": "x"}]),
        json!({}),
    )
    .await;
    assert!(
        r["error"]["data"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Uh-oh!")
    );
    // A new quotation with a line gets its totals.
    let r = execute_kw(
        &emu,
        "mcp_writer",
        "sale.order",
        "create",
        json!([{"partner_id": 10, "order_line": [[0, 0, {"product_id": 2, "product_uom_qty": 2}]]}]),
        json!({}),
    )
    .await;
    let id = r["result"].as_i64().unwrap();
    let r = execute_kw(
        &emu,
        "mcp_writer",
        "sale.order",
        "read",
        json!([[id], ["amount_total", "order_line", "user_id"]]),
        json!({}),
    )
    .await;
    assert_eq!(r["result"][0]["amount_total"], json!(900.0));
    assert_eq!(r["result"][0]["user_id"], json!([9, "MCP Writer"]));
    // Domains: operators, dotted paths, child_of, ordering, paging.
    let r = execute_kw(
        &emu,
        "mcp_writer",
        "res.partner",
        "search",
        json!([[["id", "child_of", 12]]]),
        json!({"order": "id"}),
    )
    .await;
    assert_eq!(r["result"], json!([12, 22, 25, 26, 31, 37, 38, 39]));
    let r = execute_kw(
        &emu,
        "mcp_writer",
        "res.partner",
        "search_count",
        json!([[
            "|",
            ["country_id.code", "=", "BE"],
            ["name", "=ilike", "mcp%"]
        ]]),
        json!({}),
    )
    .await;
    assert_eq!(r["result"], json!(3));
    let r = execute_kw(
        &emu,
        "mcp_writer",
        "sale.order",
        "read_group",
        json!([
            [["state", "!=", "sale"]],
            ["amount_total:sum"],
            ["user_id", "state"]
        ]),
        json!({"lazy": false}),
    )
    .await;
    let groups = r["result"].as_array().unwrap();
    assert!(groups.iter().all(|g| g.get("__count").is_some()));
}

#[tokio::test]
async fn odoo16_keeps_name_get_and_the_count_argument() {
    let emu = Emulator::start(EmulatorConfig::with_version("16.0")).await;
    let r = execute_kw(
        &emu,
        "mcp_writer",
        "res.partner",
        "name_get",
        json!([[10]]),
        json!({}),
    )
    .await;
    assert_eq!(r["result"], json!([[10, "Deco Addict"]]));
    let r = execute_kw(
        &emu,
        "mcp_writer",
        "res.partner",
        "search",
        json!([[["is_company", "=", true]]]),
        json!({"count": true}),
    )
    .await;
    assert_eq!(r["result"], json!(9));
    let emu = Emulator::start(EmulatorConfig::odoo18()).await;
    let r = execute_kw(
        &emu,
        "mcp_writer",
        "res.partner",
        "name_get",
        json!([[10]]),
        json!({}),
    )
    .await;
    assert_eq!(
        r["error"]["data"]["message"],
        "The method 'name_get' does not exist on the model 'res.partner'"
    );
}

/// `search` ordered by id, as `login`.
async fn search_ids(emu: &Emulator, login: &str, model: &str, domain: Value) -> Value {
    let r = execute_kw(
        emu,
        login,
        model,
        "search",
        json!([domain]),
        json!({"order": "id"}),
    )
    .await;
    assert!(r.get("error").is_none(), "{model} {r}");
    r["result"].clone()
}

/// `fields_get` with the derived-data attributes, as admin.
async fn derived_attrs(emu: &Emulator, model: &str) -> Value {
    let r = execute_kw(
        emu,
        "admin",
        model,
        "fields_get",
        json!([]),
        json!({"attributes": ["type", "relation", "depends", "related", "store"]}),
    )
    .await;
    r["result"].clone()
}

#[tokio::test]
async fn depends_follow_odoo_18_and_19() {
    for (version, phone, amounts) in [
        (
            "18.0",
            json!(["country_id", "mobile", "phone"]),
            json!(["order_line.price_subtotal", "currency_id", "company_id"]),
        ),
        (
            "19.0",
            json!(["phone", "country_id"]),
            json!([
                "order_line.price_subtotal",
                "currency_id",
                "company_id",
                "payment_term_id"
            ]),
        ),
    ] {
        let emu = Emulator::start(EmulatorConfig::with_version(version)).await;
        let partner = derived_attrs(&emu, "res.partner").await;
        assert_eq!(partner["phone_sanitized"]["depends"], phone, "{version}");
        assert_eq!(
            partner["display_name"]["depends"],
            json!([
                "complete_name",
                "email",
                "vat",
                "state_id",
                "country_id",
                "commercial_company_name",
                "name"
            ])
        );
        assert_eq!(partner["email_normalized"]["depends"], json!(["email"]));
        assert_eq!(partner["name"]["depends"], json!([]));
        assert_eq!(partner["country_code"]["related"], "country_id.code");
        assert_eq!(
            partner["country_code"]["depends"],
            json!(["country_id.code"])
        );
        assert_eq!(partner["country_code"]["store"], json!(false));
        assert_eq!(partner["parent_name"]["depends"], json!(["parent_id.name"]));
        assert!(partner["email"].get("related").is_none());
        let order = derived_attrs(&emu, "sale.order").await;
        assert_eq!(order["amount_total"]["depends"], amounts, "{version}");
        assert_eq!(order["display_name"]["depends"], json!(["name"]));
        let line = derived_attrs(&emu, "sale.order.line").await;
        assert_eq!(line["order_partner_id"]["related"], "order_id.partner_id");
        assert_eq!(
            line["order_partner_id"]["depends"],
            json!(["order_id.partner_id"])
        );
        let state = derived_attrs(&emu, "res.country.state").await;
        assert_eq!(
            state["display_name"]["depends"],
            json!(["country_id", "name"])
        );
        let parameter = derived_attrs(&emu, "ir.config_parameter").await;
        assert_eq!(parameter["display_name"]["depends"], json!(["key"]));

        // Every path a field depends on, or copies, leads somewhere in the emulator.
        for model in [
            "res.partner",
            "sale.order",
            "sale.order.line",
            "product.product",
            "res.country",
            "res.country.state",
            "res.users",
            "res.company",
        ] {
            let fields = derived_attrs(&emu, model).await;
            for (name, desc) in fields.as_object().unwrap() {
                let mut paths: Vec<&str> = desc["depends"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap())
                    .collect();
                if let Some(r) = desc["related"].as_str() {
                    assert_eq!(paths, vec![r], "{version} {model}.{name}");
                    paths.push(r);
                }
                for path in paths {
                    let mut on = model.to_string();
                    let mut defs = fields.clone();
                    for (i, part) in path.split('.').enumerate() {
                        if i > 0 {
                            defs = derived_attrs(&emu, &on).await;
                        }
                        let def = &defs[part];
                        assert!(
                            def.is_object(),
                            "{version} {model}.{name} depends on {path}: no {on}.{part}"
                        );
                        if let Some(rel) = def["relation"].as_str() {
                            on = rel.to_string();
                        }
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn strings_on_relational_fields_are_name_searches() {
    let emu = Emulator::start(EmulatorConfig::odoo18()).await;
    let w = "mcp_writer";
    // many2one: res.partner's name search matches the email, the VAT, the display name.
    let order = |d: Value| search_ids(&emu, w, "sale.order", d);
    assert_eq!(
        order(json!([[
            "partner_id",
            "ilike",
            "joel.willis63@example.com"
        ]]))
        .await,
        json!([19, 20])
    );
    assert_eq!(
        order(json!([["partner_id", "=", "US12345673"]])).await,
        json!([1, 5])
    );
    assert_eq!(
        order(json!([["partner_id", "=", "Deco Addict"]])).await,
        json!([1, 5])
    );
    assert_eq!(
        order(json!([["partner_id", "in", ["Deco Addict", "Ready Mat"]]])).await,
        json!([1, 2, 3, 5])
    );
    // A mixed list: the strings are names, the numbers ids.
    assert_eq!(
        order(json!([["partner_id", "in", ["Ready Mat", 10]]])).await,
        json!([1, 2, 3, 5])
    );
    let not_deco = order(json!([["partner_id", "!=", "Deco Addict"]])).await;
    assert_eq!(not_deco.as_array().unwrap().len(), 22);
    assert!(!not_deco.as_array().unwrap().contains(&json!(1)));
    let not_joel = order(json!([["partner_id", "not ilike", "joel.willis63"]])).await;
    assert_eq!(not_joel.as_array().unwrap().len(), 22);
    assert!(!not_joel.as_array().unwrap().contains(&json!(19)));
    // The explicit path compares the name only.
    assert_eq!(
        order(json!([[
            "partner_id.name",
            "ilike",
            "joel.willis63@example.com"
        ]]))
        .await,
        json!([])
    );
    assert_eq!(
        order(json!([[
            "partner_id.email",
            "=ilike",
            "JOEL.WILLIS63@example.com"
        ]]))
        .await,
        json!([19, 20])
    );

    // one2many: the contacts' name search, NOT IN for a negative operator.
    let partner = |d: Value| search_ids(&emu, w, "res.partner", d);
    assert_eq!(
        partner(json!([[
            "child_ids",
            "ilike",
            "brandon.freeman55@example.com"
        ]]))
        .await,
        json!([15])
    );
    assert_eq!(
        partner(json!([[
            "child_ids",
            "=",
            "Azure Interior, Brandon Freeman"
        ]]))
        .await,
        json!([15])
    );
    assert_eq!(
        partner(json!([
            ["is_company", "=", true],
            ["child_ids", "not ilike", "@example.com"]
        ]))
        .await,
        json!([46])
    );
    assert_eq!(
        partner(json!([
            ["is_company", "=", true],
            ["child_ids", "=like", "Azure Interior, B%"]
        ]))
        .await,
        json!([15])
    );

    // many2many: EXISTS / NOT EXISTS of a record the name search finds.
    let user = |d: Value| search_ids(&emu, w, "res.users", d);
    assert_eq!(
        user(json!([["company_ids", "ilike", "Chicago"]])).await,
        json!([2])
    );
    assert_eq!(
        user(json!([["company_ids", "not ilike", "Chicago"]])).await,
        json!([6, 7, 8, 9])
    );
    assert_eq!(
        user(json!([[
            "company_ids",
            "in",
            ["My Company (San Francisco)"]
        ]]))
        .await,
        json!([2, 6, 7, 8, 9])
    );

    // child_of / parent_of with a name start from the records the name search finds.
    assert_eq!(
        order(json!([["partner_id", "child_of", "Deco Addict"]])).await,
        json!([1, 5])
    );
    assert_eq!(
        partner(json!([["id", "parent_of", "Brandon Freeman"]])).await,
        json!([15, 27])
    );
    // A many2one to the model itself is the parent link: the result is on `id`.
    assert_eq!(
        partner(json!([["parent_id", "child_of", "Azure Interior"]])).await,
        json!([15, 27, 34, 35])
    );

    // A path is `any` on the relation, the operator kept: contacts without a country are
    // not among those whose country's code differs.
    assert_eq!(
        partner(json!([["country_id.code", "!=", "US"]])).await,
        json!([30])
    );

    // `display_name` is searched through `_search_display_name`.
    assert_eq!(
        partner(json!([[
            "display_name",
            "ilike",
            "wood.corner26@example.com"
        ]]))
        .await,
        json!([9])
    );
    // The contacts carry their company's VAT number.
    assert_eq!(
        partner(json!([["display_name", "=", "US12345673"]])).await,
        json!([10, 19, 20, 36])
    );
    assert_eq!(
        partner(json!([
            ["display_name", "not ilike", "@example.com"],
            ["is_company", "=", true]
        ]))
        .await,
        json!([1, 10, 11, 46])
    );
    let r = execute_kw(
        &emu,
        w,
        "res.partner",
        "name_search",
        json!(["US12345672"]),
        json!({"limit": 5}),
    )
    .await;
    assert_eq!(
        r["result"],
        json!([
            [9, "Wood Corner"],
            [18, "Wood Corner, Ron Gibson"],
            [33, "Wood Corner, Tom Ruiz"],
            [17, "Wood Corner, Willie Burke"]
        ])
    );

    // 19 refuses an inequality with a string on a relational field; 18 reads it as `in`.
    assert_eq!(
        order(json!([["partner_id", "<", "Deco Addict"]])).await,
        json!([1, 5])
    );
    let emu19 = Emulator::start(EmulatorConfig::odoo19()).await;
    let r = execute_kw(
        &emu19,
        w,
        "sale.order",
        "search",
        json!([[["partner_id", "<", "Deco Addict"]]]),
        json!({}),
    )
    .await;
    assert_eq!(r["error"]["data"]["name"], "builtins.TypeError");
    assert_eq!(
        search_ids(
            &emu19,
            w,
            "sale.order",
            json!([["partner_id", "ilike", "joel.willis63@example.com"]])
        )
        .await,
        json!([19, 20])
    );
}

#[tokio::test]
async fn record_rules_hold_in_the_comodel_search() {
    let emu = Emulator::start(EmulatorConfig::odoo18()).await;
    // S00004 belongs to the administrator's orders (customer Gemini Furniture, 11): the writer
    // sees all orders, the reader only their own (S00001-S00003).
    for domain in [
        json!([["sale_order_ids", "ilike", "S00004"]]),
        json!([["sale_order_ids.name", "=", "S00004"]]),
        json!([["sale_order_ids", "any", [["name", "=", "S00004"]]]]),
    ] {
        assert_eq!(
            search_ids(&emu, "mcp_writer", "res.partner", domain.clone()).await,
            json!([11]),
            "{domain}"
        );
        assert_eq!(
            search_ids(&emu, "mcp_reader", "res.partner", domain.clone()).await,
            json!([]),
            "{domain}"
        );
    }
    assert_eq!(
        search_ids(
            &emu,
            "mcp_reader",
            "res.partner",
            json!([["sale_order_ids", "=", "S00002"]])
        )
        .await,
        json!([12])
    );
    // A negative name search on the comodel: the reader sees no order of Gemini Furniture,
    // so it is among the partners without such an order.
    let without = search_ids(
        &emu,
        "mcp_reader",
        "res.partner",
        json!([
            ["is_company", "=", true],
            ["sale_order_ids", "not ilike", "S0000"]
        ]),
    )
    .await;
    assert!(
        without.as_array().unwrap().contains(&json!(11)),
        "{without}"
    );
    assert!(
        !without.as_array().unwrap().contains(&json!(12)),
        "{without}"
    );
    // The comodel must be readable, as for Odoo's `_search`: a name search on the RTC
    // sessions of the contacts is refused to a user without access to them.
    let emu19 = Emulator::start(EmulatorConfig::odoo19()).await;
    let r = reqwest::Client::new()
        .post(format!("{}/json/2/res.partner/search", emu19.url()))
        .bearer_auth(emulator::api_key("mcp_reader"))
        .json(&json!({"domain": [["rtc_session_ids", "ilike", "x"]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("(discuss.channel.rtc.session)"),
        "{body}"
    );
}
