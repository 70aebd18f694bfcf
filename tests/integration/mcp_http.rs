//! The `/mcp` endpoint over real HTTP: both protocol eras, every refusal path, in front of the Odoo
//! emulator.

use crate::emulator;

use emulator::{Emulator, EmulatorConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::warden;

struct Harness {
    url: String,
    http: reqwest::Client,
    token: String,
    _warden: warden::Warden,
    _emulator: Emulator,
}

async fn start(version: EmulatorConfig) -> Harness {
    let emulator = Emulator::start(version).await;
    let text = warden::config_text(
        &emulator.url(),
        "sqlite::memory:",
        &[("assistant", "mcp_reader")],
        "",
    );
    let w = warden::start(&text, warden::env_for(&["mcp_reader"]))
        .await
        .unwrap();
    let (_, token) = w.key(&["mcp"], Some("assistant"), None).await;
    Harness {
        url: w.mcp_url.clone(),
        http: reqwest::Client::new(),
        token,
        _warden: w,
        _emulator: emulator,
    }
}

const ACCEPT: &str = "application/json, text/event-stream";

impl Harness {
    fn post(&self) -> reqwest::RequestBuilder {
        self.http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        body: Value,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let r = req.body(body.to_string()).send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(json!({"raw": text}))
        };
        (status, headers, value)
    }

    /// initialize + notifications/initialized; returns the session id.
    async fn session(&self, version: &str) -> String {
        let (status, headers, body) = self
            .send(self.post(), json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
            .await;
        assert_eq!(status, 200, "{body}");
        let sid = headers["mcp-session-id"].to_str().unwrap().to_string();
        let (status, _, _) = self
            .send(
                self.post().header("mcp-session-id", &sid),
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .await;
        assert_eq!(status, 202);
        sid
    }

    async fn call(&self, sid: &str, id: u64, method: &str, params: Value) -> (StatusCode, Value) {
        let (s, _, b) = self
            .send(
                self.post()
                    .header("mcp-session-id", sid)
                    .header("mcp-protocol-version", "2025-11-25"),
                json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
            )
            .await;
        (s, b)
    }

    fn post26(&self, method: &str, name: Option<&str>) -> reqwest::RequestBuilder {
        let mut r = self
            .post()
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if let Some(n) = name {
            r = r.header("mcp-name", n);
        }
        r
    }
}

fn meta26() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
           "io.modelcontextprotocol/clientCapabilities": {},
           "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}})
}

#[tokio::test]
async fn handshake_session_lifecycle() {
    let h = start(EmulatorConfig::odoo19()).await;
    let (status, headers, body) = h
        .send(h.post(), json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}))
        .await;
    assert_eq!(status, 200);
    let sid = headers["mcp-session-id"].to_str().unwrap().to_string();
    assert_eq!(sid.len(), 64);
    assert!(sid.chars().all(|c| c.is_ascii_hexdigit()));
    let r = &body["result"];
    assert_eq!(r["protocolVersion"], "2025-11-25");
    assert_eq!(r["serverInfo"]["name"], "odoo-warden");
    assert_eq!(r["capabilities"]["tools"]["listChanged"], true);
    assert!(
        r.get("resultType").is_none(),
        "2026-only field sent to a 2025 client"
    );

    // Requests without a session, with an unknown one, with a wrong version header.
    let (s, _, b) = h
        .send(
            h.post(),
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        )
        .await;
    assert_eq!((s, b["id"].clone()), (StatusCode::BAD_REQUEST, json!(2)));
    let (s, _) = h
        .call("0".repeat(64).as_str(), 3, "tools/list", json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = h
        .send(
            h.post()
                .header("mcp-session-id", &sid)
                .header("mcp-protocol-version", "2024-11-05"),
            json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, b) = h.call(&sid, 5, "tools/list", json!({})).await;
    assert_eq!(s, 200);
    let tools = b["result"]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 5);
    assert!(b["result"].get("ttlMs").is_none());
    let (_, b) = h.call(&sid, 6, "ping", json!({})).await;
    assert_eq!(b["result"], json!({}));
    for m in [
        "resources/list",
        "prompts/get",
        "completion/complete",
        "no/such",
    ] {
        let (_, b) = h.call(&sid, 7, m, json!({})).await;
        assert_eq!(b["error"]["code"], -32601, "{m}");
    }
    let (s, _, _) = h
        .send(h.post().header("mcp-session-id", &sid),
              json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}}))
        .await;
    assert_eq!(s, 202);

    // GET opens the session's standalone stream (without a session there is none); DELETE
    // ends the session.
    let r = h
        .http
        .get(&h.url)
        .bearer_auth(&h.token)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    drop(r);
    let r = h
        .http
        .get(&h.url)
        .bearer_auth(&h.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = h
        .http
        .get(&h.url)
        .bearer_auth(&h.token)
        .header("accept", "application/json")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
    let r = h
        .http
        .delete(&h.url)
        .bearer_auth(&h.token)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (s, _) = h.call(&sid, 8, "tools/list", json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn version_negotiation() {
    let h = start(EmulatorConfig::odoo18()).await;
    for (asked, answered) in [
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2024-11-05", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let (_, _, b) = h
            .send(h.post(), json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": asked, "capabilities": {}}}))
            .await;
        assert_eq!(b["result"]["protocolVersion"], answered, "{asked}");
    }
    let (_, _, b) = h
        .send(
            h.post(),
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}),
        )
        .await;
    assert_eq!(b["error"]["code"], -32602);
}

#[tokio::test]
async fn malformed_requests_get_precise_errors() {
    let h = start(EmulatorConfig::odoo19()).await;
    let r = h.post().body("{not json").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], -32700);
    let (s, _, b) = h
        .send(
            h.post(),
            json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32600))
    );
    let (s, _, b) = h
        .send(
            h.post(),
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": [1]}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].clone(), b["id"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32602), json!(1))
    );
    let r = h
        .http
        .post(&h.url)
        .bearer_auth(&h.token)
        .header("content-type", "text/plain")
        .header("accept", ACCEPT)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = h
        .http
        .post(&h.url)
        .bearer_auth(&h.token)
        .header("content-type", "application/json")
        .header("accept", "text/html")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
    let big =
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x".repeat(70_000)}});
    let (s, _, _) = h.send(h.post(), big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn foreign_origins_and_hosts_are_refused() {
    let h = start(EmulatorConfig::odoo19()).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}});
    let (s, _, _) = h
        .send(
            h.post().header("origin", "http://evil.example.com"),
            init.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = h
        .send(h.post().header("host", "evil.example.com"), init.clone())
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let port = h
        .url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/mcp")
        .to_string();
    let (s, _, _) = h
        .send(
            h.post()
                .header("origin", format!("http://127.0.0.1:{port}")),
            init.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = h
        .send(
            h.post()
                .header("origin", format!("http://localhost:{port}")),
            init,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn tools_over_a_session() {
    let h = start(EmulatorConfig::odoo18()).await;
    let sid = h.session("2025-06-18").await;
    let (_, b) = h.call(&sid, 1, "tools/call", json!({"name": "search_records", "arguments": {"model": "sale.order", "fields": ["name"], "order": "id"}})).await;
    let r = &b["result"];
    assert_eq!(r["isError"], false, "{b}");
    assert_eq!(r["structuredContent"]["total"], 3);
    assert!(r.get("resultType").is_none());
    let (_, b) = h
        .call(
            &sid,
            2,
            "tools/call",
            json!({"name": "search_records", "arguments": {"model": "sale.order", "offset": -1}}),
        )
        .await;
    assert_eq!(b["result"]["isError"], true);
    assert!(
        b["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("\"offset\"")
    );
    let (_, b) = h
        .call(
            &sid,
            3,
            "tools/call",
            json!({"name": "no_such_tool", "arguments": {}}),
        )
        .await;
    assert_eq!(b["error"]["code"], -32602);
    let (_, b) = h
        .call(&sid, 4, "tools/call", json!({"arguments": {}}))
        .await;
    assert_eq!(b["error"]["code"], -32602);
    let (_, b) = h
        .call(
            &sid,
            5,
            "tools/call",
            json!({"name": "get_context", "arguments": 3}),
        )
        .await;
    assert_eq!(b["error"]["code"], -32602);
}

#[tokio::test]
async fn stateless_2026_requests() {
    let h = start(EmulatorConfig::odoo19()).await;
    let (s, _, b) = h.send(h.post26("server/discover", None), json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta26()}})).await;
    assert_eq!(s, 200, "{b}");
    let r = &b["result"];
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["supportedVersions"][0], "2026-07-28");
    assert_eq!(
        r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "odoo-warden"
    );
    assert!(r["ttlMs"].is_u64() && r["cacheScope"] == "private");

    let (_, h2, b) = h.send(h.post26("tools/list", None), json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta26()}})).await;
    assert!(h2.get("mcp-session-id").is_none());
    assert_eq!(b["result"]["tools"].as_array().unwrap().len(), 5);
    assert_eq!(b["result"]["resultType"], "complete");

    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"_meta": meta26(), "name": "search_records",
        "arguments": {"model": "res.partner", "domain": [["is_company", "=", true]], "fields": ["name"], "limit": 5, "order": "id"}}});
    let (s, _, b) = h
        .send(h.post26("tools/call", Some("search_records")), call.clone())
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["result"]["resultType"], "complete");
    assert_eq!(
        b["result"]["structuredContent"]["records"][0]["name"],
        "My Company (San Francisco)"
    );
    // Mcp-Name may be base64-encoded.
    let (s, _, _) = h
        .send(
            h.post26("tools/call", Some("=?base64?c2VhcmNoX3JlY29yZHM=?=")),
            call.clone(),
        )
        .await;
    assert_eq!(s, 200);

    // Envelope, header and version errors, each with the request id.
    let cases: Vec<(reqwest::RequestBuilder, Value, u16, i64)> = vec![
        (
            h.post26("server/discover", None),
            json!({"jsonrpc": "2.0", "id": 11, "method": "server/discover", "params": {}}),
            400,
            -32602,
        ),
        (
            h.post26("server/discover", None),
            json!({"jsonrpc": "2.0", "id": 12, "method": "server/discover", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}}),
            400,
            -32602,
        ),
        (
            h.post26("tools/list", None),
            json!({"jsonrpc": "2.0", "id": 13, "method": "server/discover", "params": {"_meta": meta26()}}),
            400,
            -32020,
        ),
        (
            h.post26("tools/call", Some("get_context")),
            call.clone(),
            400,
            -32020,
        ),
        (h.post26("tools/call", None), call.clone(), 400, -32020),
        (
            h.post()
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/list"),
            json!({"jsonrpc": "2.0", "id": 14, "method": "tools/list", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "v999.0.0", "io.modelcontextprotocol/clientCapabilities": {}}}}),
            400,
            -32020,
        ),
        (
            h.post26("initialize", None),
            json!({"jsonrpc": "2.0", "id": 15, "method": "initialize", "params": {"_meta": meta26()}}),
            404,
            -32601,
        ),
        (
            h.post26("ping", None),
            json!({"jsonrpc": "2.0", "id": 16, "method": "ping", "params": {"_meta": meta26()}}),
            404,
            -32601,
        ),
        (
            h.post26("resources/list", None),
            json!({"jsonrpc": "2.0", "id": 17, "method": "resources/list", "params": {"_meta": meta26()}}),
            404,
            -32601,
        ),
    ];
    for (req, body, status, code) in cases {
        let id = body["id"].clone();
        let (s, _, b) = h.send(req, body).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_i64(), b["id"].clone()),
            (status, Some(code), id),
            "{b}"
        );
    }
    let (s, _, b) = h
        .send(h.post().header("mcp-protocol-version", "v999.0.0").header("mcp-method", "server/discover"),
              json!({"jsonrpc": "2.0", "id": 21, "method": "server/discover", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "v999.0.0", "io.modelcontextprotocol/clientCapabilities": {}}}}))
        .await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_i64()),
        (400, Some(-32022))
    );
    assert_eq!(b["error"]["data"]["requested"], "v999.0.0");
    assert!(
        b["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );

    let r = h
        .http
        .get(&h.url)
        .bearer_auth(&h.token)
        .header("mcp-protocol-version", "2026-07-28")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// Sends one request whose body follows its headers in a separate write (as HTTP clients often
/// do), and reads the whole response (headers and a Content-Length body) off the connection.
async fn raw_exchange(
    conn: &mut tokio::net::TcpStream,
    host: &str,
    bearer: Option<&str>,
    body: &str,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let auth = bearer
        .map(|b| format!("Authorization: Bearer {b}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAccept: {ACCEPT}\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    conn.write_all(body.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), conn.read(&mut buf))
            .await
            .expect("no answer within 5 s")
            .unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_string)
                })
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|n| rest.len() >= n) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&got).to_string()
}

/// A refusal answered before the request body is read ends the connection, and says so
/// (`Connection: close`): a client reusing it for its next request, as an OAuth client does after
/// the first 401, would otherwise race the close and see its request dropped without an answer.
/// A request whose body is read keeps its connection for the next one.
#[tokio::test]
async fn an_early_refusal_announces_that_the_connection_closes() {
    let h = start(EmulatorConfig::odoo19()).await;
    let host = h
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    .to_string();

    let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    let refused = raw_exchange(&mut conn, &host, None, &body).await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(
        refused
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "an unread body, and the close not announced:\n{refused}"
    );

    let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    let first = raw_exchange(&mut conn, &host, Some(&h.token), &body).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(
        !first.to_ascii_lowercase().contains("connection: close"),
        "{first}"
    );
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string();
    let second = raw_exchange(&mut conn, &host, Some(&h.token), &ping).await;
    assert!(
        second.starts_with("HTTP/1.1 "),
        "the kept connection did not answer: {second}"
    );
}
