//! A stream of calls through the real binary, and what the trail and Odoo hold afterwards: the
//! crash and store-fault tests' common ground. Calls use the stateless revision (no session), so
//! that a client carries on across a restart or an outage.

#![allow(dead_code)]

use crate::emulator::api_key;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How one call was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A result that is not an error.
    Ok,
    /// A tool error, its text.
    ToolError(String),
    /// Another HTTP status than 200, with its body.
    Http(u16, String),
    /// No answer (connection closed, timed out).
    None(String),
}

fn call(
    client: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    tool: &str,
    arguments: Value,
) -> (Answer, Value) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": tool, "arguments": arguments,
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}});
    let sent = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(body.to_string())
        .send();
    let r = match sent {
        Ok(r) => r,
        Err(e) => return (Answer::None(e.to_string()), Value::Null),
    };
    let status = r.status().as_u16();
    let text = match r.text() {
        Ok(t) => t,
        Err(e) => return (Answer::None(e.to_string()), Value::Null),
    };
    if status != 200 {
        return (Answer::Http(status, text), Value::Null);
    }
    let v: Value = serde_json::from_str(&text).unwrap_or(json!({"raw": text}));
    if v["result"]["isError"] == false {
        (Answer::Ok, v["result"]["structuredContent"].clone())
    } else {
        let said = v["result"]["content"][0]["text"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        (Answer::ToolError(said), Value::Null)
    }
}

/// One create of a partner named `name`; Ok only when the answer says it was written.
pub fn create(client: &reqwest::blocking::Client, url: &str, token: &str, name: &str) -> Answer {
    let (answer, result) = call(
        client,
        url,
        token,
        "create_records",
        json!({"model": "res.partner", "records": [{"name": name, "is_company": true}]}),
    );
    match answer {
        Answer::Ok if !result["ids"].is_array() => Answer::ToolError(result.to_string()),
        other => other,
    }
}

/// One search for partners named `name` (so that its record on the trail can be found).
pub fn read(client: &reqwest::blocking::Client, url: &str, token: &str, name: &str) -> Answer {
    call(
        client,
        url,
        token,
        "search_records",
        json!({"model": "res.partner", "domain": [["name", "=", name]], "fields": ["name"]}),
    )
    .0
}

/// Every record of `kind` on the trail, oldest first.
pub fn records(
    client: &reqwest::blocking::Client,
    admin: &str,
    auditor: &str,
    kind: &str,
) -> Vec<Value> {
    let v: Value = client
        .get(format!("{admin}/admin/v1/audit"))
        .bearer_auth(auditor)
        .query(&[("kind", kind), ("limit", "10000"), ("order", "asc")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|r| r["record"].clone())
        .collect()
}

/// The call id of each created partner's write, by the partner's name, from `write_intent`
/// records.
pub fn calls_by_name(intents: &[Value]) -> BTreeMap<String, String> {
    intents
        .iter()
        .filter_map(|r| {
            Some((
                r["arguments"]["records"][0]["name"].as_str()?.to_string(),
                r["call_id"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// `GET /admin/v1/audit/verify`'s report.
pub fn verify(client: &reqwest::blocking::Client, admin: &str, auditor: &str) -> Value {
    client
        .get(format!("{admin}/admin/v1/audit/verify"))
        .bearer_auth(auditor)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// The partner names Odoo holds that start with `prefix`, asked of the emulator directly.
pub fn in_odoo(odoo: &str, prefix: &str) -> BTreeSet<String> {
    let v: Value = reqwest::blocking::Client::new()
        .post(format!("{odoo}/json/2/res.partner/search_read"))
        .bearer_auth(api_key("admin"))
        .header("X-Odoo-Database", "lab")
        .json(&json!({"domain": [["name", "=like", format!("{prefix}%")]], "fields": ["name"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    v.as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect()
}

/// One call of a [`Load`], as its client saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub write: bool,
    pub name: String,
    pub sent: Instant,
    pub took: Duration,
    pub answer: Answer,
}

/// Writers and readers calling as fast as they are answered, until [`Load::stop`].
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Vec<Seen>>>,
}

impl Load {
    /// `writers` creating partners `PREFIX w T-N`, `readers` searching for `PREFIX r T-N`.
    pub fn start(url: &str, token: &str, prefix: &str, writers: usize, readers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..writers + readers)
            .map(|t| {
                let write = t < writers;
                let (url, token, stop) = (url.to_string(), token.to_string(), stop.clone());
                let prefix = format!("{prefix}{}{t}-", if write { "w" } else { "r" });
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(30))
                        .build()
                        .unwrap();
                    let mut seen = Vec::new();
                    for n in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let name = format!("{prefix}{n}");
                        let sent = Instant::now();
                        let answer = if write {
                            create(&client, &url, &token, &name)
                        } else {
                            read(&client, &url, &token, &name)
                        };
                        let took = sent.elapsed();
                        // A steady pace (and no spinning on refusals): the trail stays small
                        // enough to read back whole.
                        std::thread::sleep(Duration::from_millis(
                            if matches!(answer, Answer::Ok) {
                                20
                            } else {
                                100
                            },
                        ));
                        seen.push(Seen {
                            write,
                            name,
                            sent,
                            took,
                            answer,
                        });
                    }
                    seen
                })
            })
            .collect();
        Load { stop, threads }
    }

    /// Stops the clients; every call each made.
    pub fn stop(self) -> Vec<Seen> {
        self.stop.store(true, Ordering::SeqCst);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    }
}
