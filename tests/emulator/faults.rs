//! Fault injection: what a network, a proxy or a stuck Odoo does to a client. Each [`Fault`]
//! applies to every request, or to those naming one model and/or method (a JSON-2 path
//! `/json/2/<model>/<method>`, or `execute_kw`'s model and method in a `/jsonrpc` body), from
//! when it is set until it is cleared. [`super::Emulator::go_down`] and
//! [`super::Emulator::come_back`] stop and restart the listener itself (connection refused).
//!
//! The faults sit in front of the routes, at the HTTP connection: a reset really closes the TCP
//! connection without an answer, a truncated answer really stops mid-body.

use axum::body::{Body, Bytes};
use axum::http::{Request, Response, StatusCode, header};
use std::time::Duration;

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The answer comes, but only after this long (past a client's timeout, say).
    Slow(Duration),
    /// No answer while the fault lasts (a worker stuck on a lock); the client's timeout ends
    /// its wait. Cleared, the request is answered.
    Stall,
    /// The request is read, then the connection is closed without an answer.
    Reset,
    /// An HTML error page with this status, as a proxy answers while Odoo restarts (502, 503).
    HtmlPage(u16),
    /// The real answer's headers and the first half of its body, then the connection closes.
    Truncated,
    /// A `200` whose body is not JSON.
    NotJson,
    /// Headers and a first chunk, then the body never ends (a byte a second, forever).
    Endless,
}

/// A fault and which requests it hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub fault: Fault,
    /// Only requests on this model (`None`: any).
    pub model: Option<String>,
    /// Only requests calling this method (`None`: any).
    pub method: Option<String>,
}

impl FaultRule {
    /// Requests on `model` (any method).
    pub fn model(fault: Fault, model: &str) -> Self {
        Self {
            fault,
            model: Some(model.to_string()),
            method: None,
        }
    }
}

impl FaultRule {
    /// Every request.
    pub fn all(fault: Fault) -> Self {
        Self {
            fault,
            model: None,
            method: None,
        }
    }

    /// Requests calling `method` (on any model).
    pub fn method(fault: Fault, method: &str) -> Self {
        Self {
            fault,
            model: None,
            method: Some(method.to_string()),
        }
    }

    /// Requests calling `method` on `model`.
    pub fn on(fault: Fault, model: &str, method: &str) -> Self {
        Self {
            fault,
            model: Some(model.to_string()),
            method: Some(method.to_string()),
        }
    }

    fn hits(&self, target: &(Option<String>, Option<String>)) -> bool {
        let (model, method) = target;
        self.model
            .as_ref()
            .is_none_or(|m| model.as_ref() == Some(m))
            && self
                .method
                .as_ref()
                .is_none_or(|m| method.as_ref() == Some(m))
    }
}

/// The model and method a request names, as far as it names them.
pub fn target(path: &str, body: &[u8]) -> (Option<String>, Option<String>) {
    if let Some(rest) = path.strip_prefix("/json/2/") {
        let mut parts = rest.splitn(2, '/');
        return (
            parts.next().map(str::to_string),
            parts.next().map(str::to_string),
        );
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    let params = &v["params"];
    let args = &params["args"];
    match params["method"].as_str() {
        Some("execute_kw") | Some("execute") => (
            args.get(3).and_then(|m| m.as_str()).map(str::to_string),
            args.get(4).and_then(|m| m.as_str()).map(str::to_string),
        ),
        // /web/dataset/call_kw
        None => (
            params["model"].as_str().map(str::to_string),
            params["method"].as_str().map(str::to_string),
        ),
        // common.login, common.version, db.list ...
        Some(other) => (None, Some(other.to_string())),
    }
}

/// The fault of the first rule hitting this request, if any.
pub fn find(rules: &[FaultRule], path: &str, body: &[u8]) -> Option<Fault> {
    if rules.is_empty() {
        return None;
    }
    let t = target(path, body);
    rules.iter().find(|r| r.hits(&t)).map(|r| r.fault.clone())
}

/// The connection is to be closed without an answer.
#[derive(Debug)]
pub struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fault injected: connection reset")
    }
}

impl std::error::Error for ResetConnection {}

/// An HTML page as nginx answers when its upstream is down.
pub fn html_page(status: u16) -> Response<Body> {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let reason = code.canonical_reason().unwrap_or("Error");
    let page = format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "text/html")
        .body(Body::from(page))
        .unwrap_or_default()
}

/// A `200` with an HTML body where JSON was expected.
pub fn not_json() -> Response<Body> {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::from(
            "<!DOCTYPE html><html><body>Odoo is loading…</body></html>",
        ))
        .unwrap_or_default()
}

/// The answer's headers (with its full length announced) and the first half of its body; then
/// the body fails, and the connection is closed mid-answer.
pub async fn truncated(answer: Response<Body>) -> Response<Body> {
    let (mut parts, body) = answer.into_parts();
    let full = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = full.slice(..full.len() / 2);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, full.len().max(2).into());
    let stream =
        futures_util::stream::iter([Ok::<Bytes, ResetConnection>(half), Err(ResetConnection)]);
    Response::from_parts(parts, Body::from_stream(stream))
}

/// A `200` whose body starts and never ends: a byte a second, forever.
pub fn endless() -> Response<Body> {
    let stream = futures_util::stream::unfold(true, |first| async move {
        if !first {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Some((
            Ok::<Bytes, ResetConnection>(Bytes::from_static(b" ")),
            false,
        ))
    });
    let start = futures_util::stream::iter([Ok::<Bytes, ResetConnection>(Bytes::from_static(
        b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"result\": ",
    ))]);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures_util::StreamExt::chain(
            start, stream,
        )))
        .unwrap_or_default()
}

/// A request with its body read, to inspect and then hand on.
pub fn rebuild(parts: axum::http::request::Parts, body: Bytes) -> Request<Body> {
    Request::from_parts(parts, Body::from(body))
}
