//! Protocol-era dispatch: a handshake-era message (2025-06-18, 2025-11-25: sessions,
//! `initialize`, notifications, answers to our requests) or a stateless 2026-07-28 request (its
//! `_meta` envelope and routing headers), then the method, and the answer in the era's shape.

use super::call::tools_call;
use super::http::*;
use super::jsonrpc::{self, Id, Message};
use super::protocol::{self, Era};
use super::server::McpServer;
use super::server::{INSTRUCTIONS, server_capabilities, server_info};
use super::session::Session;
use crate::audit::AuditHandle;
use crate::killswitch::Mode;
use crate::profile::ProfileState;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub(super) async fn handle_handshake(
    server: &Arc<McpServer>,
    caller: Caller,
    headers: &HeaderMap,
    accept: Accept,
    message: Message,
) -> Response {
    let key_id = Some(caller.key_id.clone());
    if let Message::Request { id, method, params } = &message {
        if method == "initialize" {
            return initialize(server, key_id, id, params);
        }
    }
    let request_id = match &message {
        Message::Request { id, .. } => id.clone(),
        _ => Value::Null,
    };
    if let Some(v) = header_str(headers, VERSION_HEADER) {
        if !protocol::HANDSHAKE_HEADER_VERSIONS.contains(&v) {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                &request_id,
                jsonrpc::INVALID_REQUEST,
                &format!(
                    "Unsupported MCP-Protocol-Version \"{v}\"; supported: {}",
                    protocol::SUPPORTED_VERSIONS.join(", ")
                ),
                None,
            );
        }
    }
    let Some(session_id) = header_str(headers, SESSION_HEADER) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            &request_id,
            jsonrpc::INVALID_REQUEST,
            "Bad Request: Mcp-Session-Id header required (send initialize first)",
            None,
        );
    };
    let session = match server.sessions.get(session_id, key_id.as_deref()) {
        Ok(s) => s,
        Err(_) => return session_not_found(&request_id),
    };
    match message {
        Message::Notification { method, params } => {
            if method == "notifications/cancelled" {
                if let Some(id) = params.get("requestId") {
                    session.cancel(id);
                }
            }
            accepted()
        }
        Message::Response { id, body } => {
            // An answer to a request we sent on a call's SSE stream (elicitation).
            session.deliver_answer(&id, Value::Object(body));
            accepted()
        }
        Message::Request { id, method, params } => {
            let ctx = RequestCtx {
                era: Era::Handshake,
                principal: caller.key_id.clone(),
                profile: caller.profile.clone(),
                audit: caller.audit.clone(),
                session: Some(session),
                client_capabilities: Value::Null,
                tool: None,
            };
            dispatch(server, ctx, accept, id, &method, params).await
        }
    }
}

pub(super) fn initialize(
    server: &Arc<McpServer>,
    key_id: Option<String>,
    id: &Id,
    params: &Map<String, Value>,
) -> Response {
    let Some(requested) = params.get("protocolVersion").and_then(Value::as_str) else {
        return rpc_error(
            StatusCode::OK,
            id,
            jsonrpc::INVALID_PARAMS,
            "Invalid params: initialize needs \"protocolVersion\"",
            None,
        );
    };
    // The schema's types: an object each when sent (absent: none declared, a client unnamed).
    for name in ["capabilities", "clientInfo"] {
        match params.get(name) {
            Some(Value::Object(_)) | None => {}
            Some(_) => {
                return rpc_error(
                    StatusCode::OK,
                    id,
                    jsonrpc::INVALID_PARAMS,
                    &format!("Invalid params: initialize needs \"{name}\" as an object"),
                    None,
                );
            }
        }
    }
    let version = protocol::negotiate(Some(requested));
    // Kept for the session's life: bounded, whatever the client sends.
    let bounded = |v: Option<&Value>| match v {
        Some(v) if v.to_string().len() <= 8192 => v.clone(),
        _ => json!({}),
    };
    let capabilities = bounded(params.get("capabilities"));
    let client_info = bounded(params.get("clientInfo"));
    let session = server
        .sessions
        .create(key_id, version, capabilities, client_info);
    let result = json!({
        "protocolVersion": version,
        "capabilities": server_capabilities(Era::Handshake),
        "serverInfo": server_info(),
        "instructions": INSTRUCTIONS,
    });
    let mut r = json_response(StatusCode::OK, &jsonrpc::result_response(id, result));
    if let Ok(v) = HeaderValue::from_str(&session.id) {
        r.headers_mut().insert(SESSION_HEADER, v);
    }
    r
}

pub(super) async fn handle_stateless(
    server: &Arc<McpServer>,
    caller: Caller,
    headers: &HeaderMap,
    accept: Accept,
    message: Message,
) -> Response {
    let (id, method, params) = match message {
        Message::Request { id, method, params } => (id, method, params),
        // No client-to-server notifications are defined over HTTP in this revision.
        Message::Notification { .. } => return accepted(),
        Message::Response { id, .. } => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                &id,
                jsonrpc::INVALID_REQUEST,
                "Invalid Request: this protocol revision has no server-to-client requests to answer",
                None,
            );
        }
    };
    // 1. The envelope.
    let meta = params.get("_meta").and_then(Value::as_object);
    let body_version = meta.and_then(|m| m.get(protocol::META_PROTOCOL_VERSION));
    let capabilities = meta.and_then(|m| m.get(protocol::META_CLIENT_CAPABILITIES));
    let (Some(body_version), Some(capabilities)) =
        (body_version, capabilities.filter(|c| c.is_object()))
    else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            &id,
            jsonrpc::INVALID_PARAMS,
            &format!(
                "Invalid params: params._meta must carry \"{}\" and \"{}\" (an object)",
                protocol::META_PROTOCOL_VERSION,
                protocol::META_CLIENT_CAPABILITIES
            ),
            None,
        );
    };
    // 2. Headers must repeat the body.
    if let Err(message) = check_routing_headers(headers, body_version, &method, &params) {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            &id,
            jsonrpc::HEADER_MISMATCH,
            &message,
            None,
        );
    }
    // The tool is looked up here, once, for its `Mcp-Param-*` headers and for the call.
    let tool = match method.as_str() {
        "tools/call" => params
            .get("name")
            .and_then(Value::as_str)
            .and_then(|name| server.toolbox.get(name)),
        _ => None,
    };
    if let Some(tool) = &tool
        && let Err(message) = check_param_headers(tool, headers, &params)
    {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            &id,
            jsonrpc::HEADER_MISMATCH,
            &message,
            None,
        );
    }
    // 3. The version.
    let Some(version) = body_version.as_str() else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            &id,
            jsonrpc::INVALID_PARAMS,
            "Invalid params: the protocol version must be a string",
            None,
        );
    };
    if version != protocol::V2026_07_28 {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            &id,
            jsonrpc::UNSUPPORTED_VERSION,
            "Unsupported protocol version",
            Some(json!({"supported": protocol::SUPPORTED_VERSIONS, "requested": version})),
        );
    }
    let ctx = RequestCtx {
        era: Era::Stateless,
        principal: caller.key_id.clone(),
        profile: caller.profile.clone(),
        audit: caller.audit.clone(),
        session: None,
        client_capabilities: capabilities.clone(),
        tool,
    };
    dispatch(server, ctx, accept, id, &method, params).await
}

/// Per-request context handed to method handlers.
pub struct RequestCtx {
    pub era: Era,
    pub principal: String,
    pub profile: Arc<ProfileState>,
    pub audit: Option<AuditHandle>,
    pub session: Option<Arc<Session>>,
    /// Stateless era: the capabilities declared in this request's `_meta`.
    pub client_capabilities: Value,
    /// The tool of a `tools/call`, when the era's checks already looked it up.
    pub tool: Option<Arc<super::tools::Registered>>,
}

/// The result or error of one method, before it becomes an HTTP response.
pub(super) enum Outcome {
    Result(Value),
    Error {
        code: i64,
        message: String,
        data: Option<Value>,
    },
}

impl Outcome {
    pub(super) fn error(code: i64, message: impl Into<String>) -> Self {
        Outcome::Error {
            code,
            message: message.into(),
            data: None,
        }
    }
}

/// Runs one request and answers it: JSON, or SSE when the call streams progress or may need to ask
/// the client something.
pub(super) async fn dispatch(
    server: &Arc<McpServer>,
    ctx: RequestCtx,
    accept: Accept,
    id: Id,
    method: &str,
    params: Map<String, Value>,
) -> Response {
    let era = ctx.era;
    if let Some(a) = &ctx.audit {
        let version = match (&ctx.session, era) {
            (Some(session), _) => session.protocol_version,
            (None, Era::Stateless) => protocol::V2026_07_28,
            (None, Era::Handshake) => "",
        };
        a.update(|d| d.protocol_version = Some(version.to_string()).filter(|v| !v.is_empty()));
    }
    if method == "tools/call" {
        return tools_call(server, ctx, accept, id, params).await;
    }
    let outcome = match (era, method) {
        (Era::Handshake, "ping") => Outcome::Result(json!({})),
        #[cfg(feature = "conformance-fixtures")]
        (Era::Handshake, "logging/setLevel") => Outcome::Result(json!({})),
        (_, "tools/list") => {
            let writes = server.kill.state().mode == Mode::Open;
            let mut r = json!({"tools": server.toolbox.listing_for(&ctx.profile.policy(), writes)});
            if era == Era::Stateless {
                r["ttlMs"] = json!(0);
                r["cacheScope"] = json!("private");
            }
            Outcome::Result(r)
        }
        (Era::Stateless, "server/discover") => Outcome::Result(json!({
            "supportedVersions": protocol::SUPPORTED_VERSIONS,
            "capabilities": server_capabilities(Era::Stateless),
            "instructions": INSTRUCTIONS,
            "ttlMs": 0,
            "cacheScope": "private",
        })),
        (_, m) if m.starts_with("resources/") || m.starts_with("prompts/") => Outcome::error(
            jsonrpc::METHOD_NOT_FOUND,
            format!("Method not found: {m} (this server offers tools only)"),
        ),
        (_, m) => Outcome::error(jsonrpc::METHOD_NOT_FOUND, format!("Method not found: {m}")),
    };
    respond(era, &id, outcome)
}

/// Turns an outcome into the HTTP answer of its era.
pub(super) fn respond(era: Era, id: &Id, outcome: Outcome) -> Response {
    match outcome {
        Outcome::Result(result) => json_response(
            StatusCode::OK,
            &jsonrpc::result_response(id, finish_result(era, result)),
        ),
        Outcome::Error {
            code,
            message,
            data,
        } => {
            let status = match era {
                Era::Handshake => StatusCode::OK,
                Era::Stateless => stateless_status(code),
            };
            rpc_error(status, id, code, &message, data)
        }
    }
}

/// 2026 results say what they are and who answered; 2025 clients never see those fields.
pub(super) fn finish_result(era: Era, mut result: Value) -> Value {
    if era == Era::Stateless {
        if let Value::Object(map) = &mut result {
            map.entry("resultType").or_insert_with(|| json!("complete"));
            let meta = map.entry("_meta").or_insert_with(|| json!({}));
            if let Value::Object(meta) = meta {
                meta.insert(protocol::META_SERVER_INFO.into(), server_info());
            }
        }
    }
    result
}

fn stateless_status(code: i64) -> StatusCode {
    match code {
        jsonrpc::PARSE_ERROR
        | jsonrpc::INVALID_REQUEST
        | jsonrpc::INVALID_PARAMS
        | jsonrpc::HEADER_MISMATCH
        | jsonrpc::MISSING_CAPABILITY
        | jsonrpc::UNSUPPORTED_VERSION => StatusCode::BAD_REQUEST,
        jsonrpc::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}
