//! HTTP handling of `/mcp`: the POST, GET (standalone stream) and DELETE handlers, the
//! caller (the key's principal and profile), and the header checks (`Accept`, `Content-Type`,
//! the 2026-07-28 routing headers). Messages then go to [`super::dispatch`].

use super::dispatch::{handle_handshake, handle_stateless};
use super::jsonrpc::{self, Id, Message};
use super::protocol::{self, Era};
use super::server::McpServer;
use super::tools::Registered;
use crate::audit::AuditHandle;
use crate::auth::Principal;
use crate::oauth::grants::PersonAccess;
use crate::oauth::people::PersonRefusal;
use crate::profile::ProfileState;
use crate::refusal::{BodyStyle, Refusal};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

pub(super) const SESSION_HEADER: &str = "mcp-session-id";
pub(super) const VERSION_HEADER: &str = "mcp-protocol-version";
pub(super) const METHOD_HEADER: &str = "mcp-method";
pub(super) const NAME_HEADER: &str = "mcp-name";

/// A JSON response with a status.
pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub(super) fn rpc_error(
    status: StatusCode,
    id: &Id,
    code: i64,
    message: &str,
    data: Option<Value>,
) -> Response {
    json_response(status, &jsonrpc::error_response(id, code, message, data))
}

pub(super) fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// What the client accepts.
pub(super) struct Accept {
    pub(super) json: bool,
    pub(super) sse: bool,
}

impl Accept {
    pub(super) fn parse(headers: &HeaderMap) -> Self {
        let mut out = Accept {
            json: false,
            sse: false,
        };
        let values: Vec<&str> = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            // No Accept header: anything goes.
            return Accept {
                json: true,
                sse: true,
            };
        }
        for part in values.iter().flat_map(|v| v.split(',')) {
            let media = part
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match media.as_str() {
                "application/json" | "application/*" => out.json = true,
                "text/event-stream" | "text/*" => out.sse = true,
                "*/*" => {
                    out.json = true;
                    out.sse = true;
                }
                _ => {}
            }
        }
        out
    }
}

pub(super) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    header_str(headers, header::CONTENT_TYPE.as_str())
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
        .unwrap_or(false)
}

pub(super) async fn handle_post(
    State(server): State<Arc<McpServer>>,
    principal: Option<axum::Extension<Principal>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let audit = audit.map(|a| a.0);
    // The authentication layer puts a Principal here; without one, refuse (fail closed).
    let caller = match caller(&server, principal).await {
        Ok(c) => c,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(a) = &audit {
        a.update(|d| {
            match &caller.person {
                Some(p) => {
                    d.person = Some(p.login.clone());
                    d.oauth_client = Some(p.client_id.clone());
                }
                None => {
                    d.key_id = Some(caller.key_id.clone());
                    d.key_name = Some(caller.key_name.clone());
                }
            }
            d.profile = Some(caller.profile.name.clone());
            d.odoo_uid = Some(caller.profile.identity.uid);
        });
    }
    if !is_json_content_type(&headers) {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &Value::Null,
            jsonrpc::INVALID_REQUEST,
            "Content-Type must be application/json",
            None,
        );
    }
    // A body we would read other than as it was encoded: refused, never guessed at (a
    // transfer coding other than chunked, which the server does not undo, likewise).
    let codings = header_str(&headers, header::CONTENT_ENCODING.as_str())
        .filter(|c| !c.eq_ignore_ascii_case("identity"))
        .or_else(|| {
            header_str(&headers, header::TRANSFER_ENCODING.as_str()).filter(|t| {
                t.split(',')
                    .any(|c| !c.trim().eq_ignore_ascii_case("chunked"))
            })
        });
    if let Some(coding) = codings {
        let coding: String = coding.chars().take(40).collect();
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &Value::Null,
            jsonrpc::INVALID_REQUEST,
            &format!(
                "Content-Encoding {coding:?} is not supported: send the JSON body uncompressed"
            ),
            None,
        );
    }
    let accept = Accept::parse(&headers);
    if !accept.json && !accept.sse {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            &Value::Null,
            jsonrpc::INVALID_REQUEST,
            "Not Acceptable: the Accept header must include application/json and text/event-stream",
            None,
        );
    }
    let message = match jsonrpc::parse(&body) {
        Ok(m) => m,
        Err(failure) => return json_response(StatusCode::BAD_REQUEST, &failure.to_response()),
    };
    let params = match &message {
        Message::Request { params, .. } | Message::Notification { params, .. } => Some(params),
        Message::Response { .. } => None,
    };
    let version_header = header_str(&headers, VERSION_HEADER);
    if let (Some(a), Message::Request { method, .. } | Message::Notification { method, .. }) =
        (&audit, &message)
    {
        a.update(|d| d.mcp_method = Some(method.clone()));
    }
    let caller = Caller { audit, ..caller };
    match protocol::era(version_header, params) {
        Era::Handshake => handle_handshake(&server, caller, &headers, accept, message).await,
        Era::Stateless => handle_stateless(&server, caller, &headers, accept, message).await,
    }
}

/// The verified caller of a request and the profile its key acts as (for a person: their own
/// session through their profile).
pub(super) struct Caller {
    /// The key's id, or `person:<id>` for a person (binds sessions, budgets, approvals).
    pub(super) key_id: String,
    pub(super) key_name: String,
    pub(super) profile: Arc<ProfileState>,
    pub(super) audit: Option<AuditHandle>,
    pub(super) person: Option<Arc<PersonAccess>>,
}

/// Why a request has no usable caller.
enum NoCaller {
    /// No verified key (the authentication layer did not run): refuse, fail closed.
    Unauthenticated,
    /// The key acts as a profile this server does not configure.
    UnknownProfile(String),
    /// A signed-in person who cannot act now.
    Person(PersonRefusal),
}

impl NoCaller {
    fn into_response(self) -> Response {
        match self {
            NoCaller::Unauthenticated => rpc_error(
                StatusCode::UNAUTHORIZED,
                &Value::Null,
                jsonrpc::INVALID_REQUEST,
                "a valid odoo-warden API key is required",
                None,
            ),
            NoCaller::UnknownProfile(name) => rpc_error(
                StatusCode::FORBIDDEN,
                &Value::Null,
                jsonrpc::INVALID_REQUEST,
                &format!(
                    "this key acts as profile \"{name}\", which this server does not configure; ask the operator"
                ),
                None,
            ),
            NoCaller::Person(refusal) => {
                let (status, message) = match refusal {
                    PersonRefusal::Credentials(m) => (401, m),
                    PersonRefusal::NotAllowed(m) => (403, m),
                    PersonRefusal::Unavailable(m) => (503, m),
                };
                Refusal::Person { status, message }.response(BodyStyle::JsonRpc)
            }
        }
    }
}

async fn caller(
    server: &McpServer,
    principal: Option<axum::Extension<Principal>>,
) -> Result<Caller, NoCaller> {
    let Some(axum::Extension(principal)) = principal else {
        return Err(NoCaller::Unauthenticated);
    };
    if let Some(person) = principal.person.clone() {
        // OAuth off while a token was accepted cannot happen; refuse if it does.
        let Some(people) = &server.people else {
            return Err(NoCaller::Unauthenticated);
        };
        let profile = people.session(&person).await.map_err(NoCaller::Person)?;
        return Ok(Caller {
            key_id: principal.key_id,
            key_name: principal.name,
            profile,
            audit: None,
            person: Some(person),
        });
    }
    let profile = principal
        .profile
        .as_ref()
        .and_then(|name| server.profiles.get(name))
        .cloned();
    match profile {
        Some(profile) => Ok(Caller {
            key_id: principal.key_id,
            key_name: principal.name,
            profile,
            audit: None,
            person: None,
        }),
        None => Err(NoCaller::UnknownProfile(
            principal.profile.unwrap_or_default(),
        )),
    }
}

/// `GET /mcp` on a handshake session opens its standalone stream: the server uses it to say that
/// the tool list changed (kill switch). Stateless revisions have no sessions, hence no stream.
pub(super) async fn handle_get(
    State(server): State<Arc<McpServer>>,
    principal: Option<axum::Extension<Principal>>,
    headers: HeaderMap,
) -> Response {
    let caller = match caller(&server, principal).await {
        Ok(c) => c,
        Err(refusal) => return refusal.into_response(),
    };
    let version = header_str(&headers, VERSION_HEADER);
    if version.is_some_and(|v| protocol::era(Some(v), None) == Era::Stateless) {
        return method_not_allowed();
    }
    let Some(id) = header_str(&headers, SESSION_HEADER) else {
        return method_not_allowed();
    };
    if !Accept::parse(&headers).sse {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            &Value::Null,
            jsonrpc::INVALID_REQUEST,
            "Not Acceptable: a stream needs Accept: text/event-stream",
            None,
        );
    }
    let session = match server.sessions.get(id, Some(caller.key_id.as_str())) {
        Ok(s) => s,
        Err(_) => return session_not_found(&Value::Null),
    };
    let stream = ReceiverStream::new(session.open_stream())
        .map(|message| Ok::<Event, Infallible>(Event::default().data(message.to_string())));
    let mut r = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    r.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

pub(super) fn method_not_allowed() -> Response {
    let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST, DELETE"));
    r
}

/// DELETE ends a handshake session.
pub(super) async fn handle_delete(
    State(server): State<Arc<McpServer>>,
    principal: Option<axum::Extension<Principal>>,
    headers: HeaderMap,
) -> Response {
    let caller = match caller(&server, principal).await {
        Ok(c) => c,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(v) = header_str(&headers, VERSION_HEADER) {
        if protocol::era(Some(v), None) == Era::Stateless {
            // Stateless revisions have no sessions to end.
            return method_not_allowed();
        }
    }
    let Some(id) = header_str(&headers, SESSION_HEADER) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            &Value::Null,
            jsonrpc::INVALID_REQUEST,
            "Mcp-Session-Id header required",
            None,
        );
    };
    match server.sessions.get(id, Some(caller.key_id.as_str())) {
        Ok(session) => {
            server.sessions.remove(&session.id);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(_) => session_not_found(&Value::Null),
    }
}

pub(super) fn session_not_found(id: &Id) -> Response {
    rpc_error(
        StatusCode::NOT_FOUND,
        id,
        jsonrpc::INVALID_REQUEST,
        "Session not found: it ended or never existed; send initialize to start a new one",
        None,
    )
}

/// `MCP-Protocol-Version`, `Mcp-Method` and (for named requests) `Mcp-Name` must repeat the body.
pub(super) fn check_routing_headers(
    headers: &HeaderMap,
    body_version: &Value,
    method: &str,
    params: &Map<String, Value>,
) -> Result<(), String> {
    let single = |name: &str| -> Result<Option<String>, String> {
        let mut values = headers.get_all(name).iter();
        let first = values.next();
        if values.next().is_some() {
            return Err(format!("Header mismatch: {name} is sent more than once"));
        }
        match first {
            None => Ok(None),
            Some(v) => v.to_str().map(|s| Some(s.trim().to_string())).map_err(|_| {
                format!("Header mismatch: {name} holds characters that are not visible ASCII")
            }),
        }
    };
    let version = single(VERSION_HEADER)?;
    match (version.as_deref(), body_version.as_str()) {
        (Some(h), Some(b)) if h == b => {}
        (None, _) => return Err("Header mismatch: MCP-Protocol-Version header is required".into()),
        (Some(h), _) => {
            return Err(format!(
                "Header mismatch: MCP-Protocol-Version header value '{h}' does not match body value '{}'",
                body_version.as_str().unwrap_or("")
            ));
        }
    }
    match single(METHOD_HEADER)?.as_deref() {
        Some(h) if h == method => {}
        None => return Err("Header mismatch: Mcp-Method header is required".into()),
        Some(h) => {
            return Err(format!(
                "Header mismatch: Mcp-Method header value '{h}' does not match body value '{method}'"
            ));
        }
    }
    let named = match method {
        "tools/call" | "prompts/get" => params.get("name").and_then(Value::as_str),
        "resources/read" => params.get("uri").and_then(Value::as_str),
        _ => return Ok(()),
    };
    let header_name = single(NAME_HEADER)?.map(|v| decode_header_value(&v));
    match (header_name, named) {
        (Some(Some(h)), Some(b)) if h == b => Ok(()),
        (None, _) => Err("Header mismatch: Mcp-Name header is required for this method".into()),
        (Some(None), _) => Err("Header mismatch: Mcp-Name header is not valid base64".into()),
        (Some(Some(h)), b) => Err(format!(
            "Header mismatch: Mcp-Name header value '{h}' does not match body value '{}'",
            b.unwrap_or("")
        )),
    }
}

/// Arguments a tool declares with `x-mcp-header` must be mirrored, exactly, in their
/// `Mcp-Param-{Header}` header when present in the body.
pub(super) fn check_param_headers(
    tool: &Registered,
    headers: &HeaderMap,
    params: &Map<String, Value>,
) -> Result<(), String> {
    let arguments = params.get("arguments").and_then(Value::as_object);
    for (arg, header) in tool.param_headers() {
        let Some(value) = arguments.and_then(|a| a.get(arg)).filter(|v| !v.is_null()) else {
            continue;
        };
        let expected = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let header_name = format!("mcp-param-{}", header.to_ascii_lowercase());
        let Some(raw) = headers.get(&header_name) else {
            return Err(format!(
                "Header mismatch: Mcp-Param-{header} header is required when \"{arg}\" is sent"
            ));
        };
        let raw = raw.to_str().map_err(|_| {
            format!(
                "Header mismatch: Mcp-Param-{header} holds characters that are not visible ASCII"
            )
        })?;
        match decode_header_value(raw.trim()) {
            Some(v) if v == expected => {}
            Some(_) => {
                return Err(format!(
                    "Header mismatch: Mcp-Param-{header} header value does not match body value of \"{arg}\""
                ));
            }
            None => {
                return Err(format!(
                    "Header mismatch: Mcp-Param-{header} header is not valid base64"
                ));
            }
        }
    }
    Ok(())
}

/// Header values may be `=?base64?<base64 of UTF-8>?=`.
fn decode_header_value(v: &str) -> Option<String> {
    use base64::Engine;
    match v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(v.to_string()),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_parsing() {
        let mut h = HeaderMap::new();
        let a = Accept::parse(&h);
        assert!(a.json && a.sse);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        let a = Accept::parse(&h);
        assert!(a.json && a.sse);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json;q=0.9"),
        );
        let a = Accept::parse(&h);
        assert!(a.json && !a.sse);
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        let a = Accept::parse(&h);
        assert!(!a.json && !a.sse);
    }

    #[test]
    fn mcp_name_may_be_base64() {
        assert_eq!(decode_header_value("plain").as_deref(), Some("plain"));
        assert_eq!(
            decode_header_value("=?base64?w6lsw6k=?=").as_deref(),
            Some("élé")
        );
        assert_eq!(decode_header_value("=?base64?%%%?="), None);
    }
}
