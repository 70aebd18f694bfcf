//! The `/mcp` endpoint: Streamable HTTP for the handshake revisions (2025-06-18, 2025-11-25) and
//! stateless requests of 2026-07-28, on one route.
//!
//! Every answer is decided here: status codes, JSON-RPC errors, JSON or SSE. Requests are routed
//! to an era by `MCP-Protocol-Version` (and, without it, by the body's `_meta`), see
//! [`protocol::era`].

use super::jsonrpc::{self, Id, Message};
use super::protocol::{self, Era};
use super::session::{Session, SessionStore};
use super::tools::audit::{CallAudit, CutOff};
use super::tools::{CallOutcome, ProfileState, Toolbox};
use crate::audit::AuditLog;
use crate::auth::Principal;
use crate::confirm::WithoutElicitation;
use crate::confirm::state::Sealer;
use crate::killswitch::{KillSwitch, Mode};
use crate::middleware::audit::AuditHandle;
use crate::store::Store;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

const SESSION_HEADER: &str = "mcp-session-id";

/// A call refused by the kill switch (in the response extensions, for the audit trail).
#[derive(Debug, Clone, Copy)]
pub struct KillSwitchRefused(pub &'static str);
const VERSION_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";

const INSTRUCTIONS: &str = "odoo-warden gives governed access to an Odoo database. Call get_context first: it says which Odoo user you act as and which models and operations this key allows. Use list_models and get_fields before searching; name the fields you need.";

/// Settings of the MCP endpoint.
#[derive(Debug, Clone)]
pub struct McpSettings {
    /// A tool call that runs longer is stopped with an error.
    pub request_timeout: Duration,
    /// How long a server-to-client request (elicitation) waits for its answer.
    pub client_request_timeout: Duration,
    pub confirm: ConfirmSettings,
    /// The key sealing MRTR `requestState` (shared by instances when configured; random otherwise).
    pub state_key: Option<[u8; 32]>,
}

/// State shared by every request to `/mcp`.
pub struct McpServer {
    toolbox: Toolbox,
    /// Logged-in profiles by name; each call runs as its key's profile.
    profiles: HashMap<String, Arc<ProfileState>>,
    pub sessions: SessionStore,
    settings: McpSettings,
    sealer: Arc<Sealer>,
    audit: Option<Arc<AuditLog>>,
    confirm: Arc<ConfirmSettings>,
    store: Option<Arc<Store>>,
    kill: Option<Arc<KillSwitch>>,
}

impl McpServer {
    pub fn new(
        toolbox: Toolbox,
        profiles: HashMap<String, Arc<ProfileState>>,
        settings: McpSettings,
        audit: Option<Arc<AuditLog>>,
        store: Option<Arc<Store>>,
    ) -> Self {
        let sealer = Arc::new(Sealer::new(
            settings.state_key,
            settings
                .confirm
                .elicitation_timeout
                .max(Duration::from_secs(600)),
        ));
        let confirm = Arc::new(settings.confirm.clone());
        Self {
            toolbox,
            profiles,
            sessions: SessionStore::new(10_000, Duration::from_secs(3600)),
            settings,
            sealer,
            confirm,
            audit,
            store,
            kill: None,
        }
    }

    /// Follows this kill switch: `read-only` refuses write tools, `closed` every tool call.
    pub fn with_kill_switch(mut self, kill: Arc<KillSwitch>) -> Self {
        self.kill = Some(kill);
        self
    }
}

/// The `/mcp` route: POST for messages, GET (no standalone stream: 405), DELETE to end a session.
pub fn router(server: Arc<McpServer>) -> Router {
    if let Some(kill) = &server.kill {
        let mut changes = kill.changes();
        let weak = Arc::downgrade(&server);
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let Some(server) = weak.upgrade() else { return };
                let note = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
                let told = server
                    .sessions
                    .all()
                    .iter()
                    .filter(|s| s.push(note.clone()))
                    .count();
                tracing::info!(
                    sessions = told,
                    "kill switch changed: told open sessions their tool list changed"
                );
            }
        });
    }
    Router::new()
        .route(
            "/mcp",
            post(handle_post).get(handle_get).delete(handle_delete),
        )
        .with_state(server)
}

/// Server capabilities: tools only (the conformance build adds logging for its fixtures). The
/// tool list changes with the kill switch (`read-only` hides the write tools): 2025 sessions with
/// a standalone stream (`GET /mcp`) are told. The stateless revision has no stream to tell them
/// on (its `subscriptions/listen` is not offered), so it does not claim `listChanged`; its
/// `tools/list` answers carry `ttlMs: 0` instead.
fn server_capabilities(era: Era) -> Value {
    let list_changed = era == Era::Handshake;
    #[cfg(feature = "conformance-fixtures")]
    return json!({"tools": {"listChanged": list_changed}, "logging": {}});
    #[cfg(not(feature = "conformance-fixtures"))]
    json!({"tools": {"listChanged": list_changed}})
}

fn server_info() -> Value {
    json!({"name": "odoo-warden", "title": "odoo-warden", "version": env!("CARGO_PKG_VERSION")})
}

/// A JSON response with a status.
fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn rpc_error(
    status: StatusCode,
    id: &Id,
    code: i64,
    message: &str,
    data: Option<Value>,
) -> Response {
    json_response(status, &jsonrpc::error_response(id, code, message, data))
}

fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// What the client accepts.
struct Accept {
    json: bool,
    sse: bool,
}

impl Accept {
    fn parse(headers: &HeaderMap) -> Self {
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

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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

async fn handle_post(
    State(server): State<Arc<McpServer>>,
    principal: Option<axum::Extension<Principal>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let audit = audit.map(|a| a.0);
    // The authentication layer puts a Principal here; without one, refuse (fail closed).
    let caller = match caller(&server, principal) {
        Ok(c) => c,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(a) = &audit {
        a.update(|d| {
            d.key_id = Some(caller.key_id.clone());
            d.key_name = Some(caller.key_name.clone());
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

/// The verified caller of a request and the profile its key acts as.
struct Caller {
    key_id: String,
    key_name: String,
    profile: Arc<ProfileState>,
    audit: Option<AuditHandle>,
}

/// Why a request has no usable caller.
enum NoCaller {
    /// No verified key (the authentication layer did not run): refuse, fail closed.
    Unauthenticated,
    /// The key acts as a profile this server does not configure.
    UnknownProfile(String),
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
        }
    }
}

fn caller(
    server: &McpServer,
    principal: Option<axum::Extension<Principal>>,
) -> Result<Caller, NoCaller> {
    let Some(axum::Extension(principal)) = principal else {
        return Err(NoCaller::Unauthenticated);
    };
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
        }),
        None => Err(NoCaller::UnknownProfile(
            principal.profile.unwrap_or_default(),
        )),
    }
}

/// `GET /mcp` on a handshake session opens its standalone stream: the server uses it to say that
/// the tool list changed (kill switch). Stateless revisions have no sessions, hence no stream.
async fn handle_get(
    State(server): State<Arc<McpServer>>,
    principal: Option<axum::Extension<Principal>>,
    headers: HeaderMap,
) -> Response {
    let caller = match caller(&server, principal) {
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

fn method_not_allowed() -> Response {
    let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST, DELETE"));
    r
}

/// DELETE ends a handshake session.
async fn handle_delete(
    State(server): State<Arc<McpServer>>,
    principal: Option<axum::Extension<Principal>>,
    headers: HeaderMap,
) -> Response {
    let caller = match caller(&server, principal) {
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

fn session_not_found(id: &Id) -> Response {
    rpc_error(
        StatusCode::NOT_FOUND,
        id,
        jsonrpc::INVALID_REQUEST,
        "Session not found: it ended or never existed; send initialize to start a new one",
        None,
    )
}

async fn handle_handshake(
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
            };
            dispatch(server, ctx, accept, id, &method, params).await
        }
    }
}

fn initialize(
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

async fn handle_stateless(
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
    if method == "tools/call" {
        if let Err(message) = check_param_headers(&server.toolbox, headers, &params) {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                &id,
                jsonrpc::HEADER_MISMATCH,
                &message,
                None,
            );
        }
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
    };
    dispatch(server, ctx, accept, id, &method, params).await
}

/// `MCP-Protocol-Version`, `Mcp-Method` and (for named requests) `Mcp-Name` must repeat the body.
fn check_routing_headers(
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
fn check_param_headers(
    toolbox: &Toolbox,
    headers: &HeaderMap,
    params: &Map<String, Value>,
) -> Result<(), String> {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Ok(());
    };
    let arguments = params.get("arguments").and_then(Value::as_object);
    for (arg, header) in toolbox.param_headers(name) {
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

/// Per-request context handed to method handlers.
pub struct RequestCtx {
    pub era: Era,
    pub principal: String,
    pub profile: Arc<ProfileState>,
    pub audit: Option<AuditHandle>,
    pub session: Option<Arc<Session>>,
    /// Stateless era: the capabilities declared in this request's `_meta`.
    pub client_capabilities: Value,
}

/// The result or error of one method, before it becomes an HTTP response.
enum Outcome {
    Result(Value),
    Error {
        code: i64,
        message: String,
        data: Option<Value>,
    },
}

impl Outcome {
    fn error(code: i64, message: impl Into<String>) -> Self {
        Outcome::Error {
            code,
            message: message.into(),
            data: None,
        }
    }
}

/// Runs one request and answers it: JSON, or SSE when the call streams progress or may need to ask
/// the client something.
async fn dispatch(
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
            let writes = server
                .kill
                .as_ref()
                .is_none_or(|k| k.state().mode == Mode::Open);
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
fn respond(era: Era, id: &Id, outcome: Outcome) -> Response {
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
fn finish_result(era: Era, mut result: Value) -> Value {
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

/// A way to talk to the client during a tool call: notifications always, requests only on a
/// handshake session that streams its answer (SSE).
#[derive(Clone)]
pub struct ClientChannel {
    tx: mpsc::Sender<Value>,
    session: Option<Arc<Session>>,
    timeout: Duration,
}

impl ClientChannel {
    /// Sends a notification on the call's stream (progress, log messages).
    pub async fn notify(&self, method: &str, params: Value) {
        let _ = self
            .tx
            .send(json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .await;
    }

    /// Sends a request to the client and waits for its answer (the `result`), or an error text.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, String> {
        self.request_with_timeout(method, params, self.timeout)
            .await
    }

    /// As [`request`](Self::request), waiting at most `timeout`.
    pub async fn request_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, String> {
        let Some(session) = &self.session else {
            return Err("this client cannot be asked anything during a call".into());
        };
        let (id, rx) = session.expect_answer();
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        if self.tx.send(message).await.is_err() {
            session.forget_answer(&id);
            return Err("the client closed the call's stream".into());
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(mut answer)) => match answer.get_mut("result") {
                Some(result) => Ok(result.take()),
                None => Err(format!(
                    "the client answered {method} with an error: {}",
                    answer
                        .get("error")
                        .map(Value::to_string)
                        .unwrap_or_default()
                )),
            },
            Ok(Err(_)) => Err("the session ended before the client answered".into()),
            Err(_) => {
                session.forget_answer(&id);
                Err(format!(
                    "the client did not answer {method} within {} s",
                    self.timeout.as_secs()
                ))
            }
        }
    }
}

/// What a tool call may use besides its arguments.
#[derive(Clone)]
pub struct CallContext {
    pub progress_token: Option<Value>,
    pub channel: Option<ClientChannel>,
    pub session: Option<Arc<Session>>,
    /// Capabilities the client declared (in `initialize`, or in this request's `_meta`).
    pub client_capabilities: Value,
    pub stateless: bool,
    /// The caller's key id (empty before keys exist), for binding state to it.
    pub principal: String,
    /// 2026-07-28 multi-round-trip requests: the client's answers and the state it echoes.
    pub input_responses: Option<Value>,
    pub request_state: Option<String>,
    /// 2026-07-28: `_meta["io.modelcontextprotocol/logLevel"]`.
    pub log_level: Option<String>,
    pub sealer: Arc<Sealer>,
    /// The call's audit record (absent only where no audit trail is configured, in unit tests).
    pub audit: Option<Arc<CallAudit>>,
    pub confirm: Arc<ConfirmSettings>,
    /// Where approvals are kept.
    pub store: Option<Arc<Store>>,
    /// Checked again just before a write (a confirmation may have taken minutes).
    pub kill: Option<Arc<KillSwitch>>,
}

/// How confirmation behaves (`[confirm]` in the config).
#[derive(Debug, Clone)]
pub struct ConfirmSettings {
    /// No answer to an elicitation within this time is a decline.
    pub elicitation_timeout: Duration,
    /// How long an approval request stays valid.
    pub approval_ttl: time::Duration,
    pub without_elicitation: WithoutElicitation,
}

impl Default for ConfirmSettings {
    fn default() -> Self {
        Self {
            elicitation_timeout: Duration::from_secs(120),
            approval_ttl: time::Duration::hours(1),
            without_elicitation: WithoutElicitation::Approver,
        }
    }
}

impl CallContext {
    /// Whether the client declared a capability (`"elicitation"`, `"sampling"`, `"roots"`).
    pub fn client_supports(&self, capability: &str) -> bool {
        self.client_capabilities
            .get(capability)
            .is_some_and(|c| !c.is_null())
    }
}

async fn tools_call(
    server: &Arc<McpServer>,
    ctx: RequestCtx,
    accept: Accept,
    id: Id,
    mut params: Map<String, Value>,
) -> Response {
    let era = ctx.era;
    let Some(Value::String(name)) = params.remove("name") else {
        return respond(
            era,
            &id,
            Outcome::error(
                jsonrpc::INVALID_PARAMS,
                "Invalid params: tools/call needs \"name\" (a string)",
            ),
        );
    };
    let arguments = match params.remove("arguments") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v,
        Some(_) => {
            return respond(
                era,
                &id,
                Outcome::error(
                    jsonrpc::INVALID_PARAMS,
                    "Invalid params: \"arguments\" must be an object",
                ),
            );
        }
    };
    let Some(tool_kind) = server.toolbox.kind(&name) else {
        return respond(
            era,
            &id,
            Outcome::error(jsonrpc::INVALID_PARAMS, format!("Unknown tool: {name}")),
        );
    };
    // The kill switch comes before anything else a call does.
    if let Some(kill) = &server.kill {
        let state = kill.state();
        let refused = match state.mode {
            Mode::Closed => true,
            Mode::ReadOnly => tool_kind != super::tools::ToolKind::Read,
            Mode::Open => false,
        };
        if refused {
            let when = state
                .changed_at
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .map(|t| format!(" at {t}"))
                .unwrap_or_default();
            let what = if state.mode == Mode::ReadOnly {
                "writes are refused, reads still work"
            } else {
                "every tool call is refused"
            };
            let message = format!(
                "odoo-warden's kill switch is {} ({what}): {} (set by {}{when}). Nothing was done. Do not retry; tell the person you work for, who can ask whoever operates odoo-warden.",
                state.mode.as_str(),
                if state.reason.is_empty() {
                    "no reason given"
                } else {
                    &state.reason
                },
                state.changed_by
            );
            // A governance refusal is the tool's result (the assistant reads why); protocol
            // errors stay JSON-RPC errors.
            let mut r = respond(
                era,
                &id,
                Outcome::Result(json!({
                    "content": [{"type": "text", "text": message}],
                    "isError": true,
                    "_meta": {"io.odoo-warden/refusal": {
                        "error": state.error_code(),
                        "mode": state.mode.as_str(),
                        "reason": state.reason,
                        "set_by": state.changed_by,
                    }},
                })),
            );
            r.extensions_mut()
                .insert(KillSwitchRefused(state.mode.as_str()));
            return r;
        }
    }
    let meta = params.get("_meta");
    let progress_token = meta
        .and_then(|m| m.get("progressToken"))
        .filter(|t| t.is_string() || t.is_number())
        .cloned();
    let log_level = meta
        .and_then(|m| m.get(protocol::META_LOG_LEVEL))
        .and_then(Value::as_str)
        .map(str::to_string);
    let input_responses = params.remove("inputResponses");
    let request_state = match params.remove("requestState") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return respond(
                era,
                &id,
                Outcome::error(
                    jsonrpc::INVALID_PARAMS,
                    "Invalid params: \"requestState\" must be a string",
                ),
            );
        }
    };
    let client_capabilities = match (&ctx.session, era) {
        (Some(s), Era::Handshake) => s.client_capabilities.clone(),
        _ => ctx.client_capabilities.clone(),
    };
    // Stream (SSE) when the client accepts it and the call has something to say before its
    // result: progress, or a question to the person behind the client.
    let may_ask_user = era == Era::Handshake
        && server
            .toolbox
            .kind(&name)
            .is_some_and(|k| k != super::tools::ToolKind::Read)
        && client_capabilities
            .get("elicitation")
            .is_some_and(|c| !c.is_null());
    let streams = accept.sse
        && (progress_token.is_some()
            || may_ask_user
            || server.toolbox.may_talk(&name, era == Era::Handshake));
    let session = ctx.session.clone();
    // An id still in flight in this session cannot be reused: its cancellation would reach the
    // wrong call. Reserved until the call ends ([`Running`]).
    if let Some(s) = &session
        && !s.reserve(&id)
    {
        return respond(
            era,
            &id,
            Outcome::error(
                jsonrpc::INVALID_REQUEST,
                "Invalid request: id already in use by a request in flight in this session",
            ),
        );
    }
    // The call records itself (a richer record than the request's, and for writes an intent
    // before Odoo is called): the request-level record is claimed.
    let call_audit = match (&server.audit, &ctx.audit) {
        (Some(log), Some(handle)) => {
            handle.update(|d| d.claimed = true);
            let base = handle.event(log, crate::audit::kind::TOOL_CALL);
            let profile = ctx.profile.clone();
            Some(Arc::new(CallAudit::new(
                log.clone(),
                base,
                &name,
                server.toolbox.kind(&name) == Some(super::tools::ToolKind::Read),
                &arguments,
                Box::new(move |args| profile.redact_arguments(args)),
            )))
        }
        _ => None,
    };
    let call_ctx_base = CallContext {
        progress_token,
        channel: None,
        session: session.clone(),
        client_capabilities,
        stateless: era == Era::Stateless,
        principal: ctx.principal.clone(),
        input_responses,
        request_state,
        log_level,
        sealer: server.sealer.clone(),
        audit: call_audit,
        confirm: server.confirm.clone(),
        store: server.store.clone(),
        kill: server.kill.clone(),
    };
    let timeout = server.settings.request_timeout;
    let call_audit = call_ctx_base.audit.clone();
    if !streams {
        let server2 = server.clone();
        let profile = ctx.profile.clone();
        let task = tokio::spawn(async move {
            server2
                .toolbox
                .call(&profile, &name, arguments, &call_ctx_base)
                .await
        });
        // If the client goes away while waiting, the call is cancelled (unless it is writing).
        let mut running = Running::new(task.abort_handle(), call_audit.clone(), session, &id);
        let outcome = finish_call(task, timeout, call_audit.as_deref()).await;
        running.done();
        return respond(era, &id, outcome);
    }

    let (tx, rx) = mpsc::channel::<Value>(32);
    let mut call_ctx = call_ctx_base;
    call_ctx.channel = Some(ClientChannel {
        tx: tx.clone(),
        session: if era == Era::Handshake {
            session.clone()
        } else {
            None
        },
        timeout: server.settings.client_request_timeout,
    });
    let server2 = server.clone();
    let profile = ctx.profile.clone();
    let id2 = id.clone();
    tokio::spawn(async move {
        let server3 = server2.clone();
        let profile = profile.clone();
        let task = tokio::spawn(async move {
            server3
                .toolbox
                .call(&profile, &name, arguments, &call_ctx)
                .await
        });
        let mut running = Running::new(task.abort_handle(), call_audit.clone(), session, &id2);
        let outcome = tokio::select! {
            outcome = finish_call(task, timeout, call_audit.as_deref()) => Some(outcome),
            // The client closed the stream: nobody will read the answer.
            _ = tx.closed() => None,
        };
        let Some(outcome) = outcome else {
            // Dropping `running` cancels the call (unless it is writing).
            return;
        };
        running.done();
        let message = match outcome {
            Outcome::Result(r) => jsonrpc::result_response(&id2, finish_result(era, r)),
            Outcome::Error {
                code,
                message,
                data,
            } => jsonrpc::error_response(&id2, code, &message, data),
        };
        let _ = tx.send(message).await;
    });
    let stream = ReceiverStream::new(rx)
        .map(|message| Ok::<Event, Infallible>(Event::default().data(message.to_string())));
    let mut r = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    r.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

/// A tool call in flight: its id stays reserved in the session (for `notifications/cancelled`,
/// and so that no other request reuses it) until it ends. Dropped before [`Running::done`] (the
/// client went away), it cancels the call, unless its write intent is committed: a write Odoo
/// may be making runs to its recorded outcome.
struct Running {
    abort: tokio::task::AbortHandle,
    audit: Option<Arc<CallAudit>>,
    session: Option<(Arc<Session>, Value)>,
    done: bool,
}

impl Running {
    fn new(
        abort: tokio::task::AbortHandle,
        audit: Option<Arc<CallAudit>>,
        session: Option<Arc<Session>>,
        id: &Value,
    ) -> Self {
        if let Some(s) = &session {
            s.track(id, abort.clone());
        }
        Self {
            abort,
            audit,
            session: session.map(|s| (s, id.clone())),
            done: false,
        }
    }

    fn done(&mut self) {
        self.done = true;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some((s, id)) = &self.session {
            s.untrack(id);
        }
        if !self.done && !self.audit.as_ref().is_some_and(|a| a.has_intent()) {
            if let Some(a) = &self.audit {
                a.cut_off(CutOff::Cancelled);
            }
            self.abort.abort();
        }
    }
}

/// Waits for a spawned tool call, bounded; a panic or a cancellation becomes an error, never a
/// crash or a hang. A call stopped at the timeout records `timeout` as its outcome.
async fn finish_call(
    task: tokio::task::JoinHandle<CallOutcome>,
    timeout: Duration,
    audit: Option<&CallAudit>,
) -> Outcome {
    let abort = task.abort_handle();
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(CallOutcome::Result(r))) => Outcome::Result(r),
        Ok(Ok(CallOutcome::UnknownTool)) => Outcome::error(jsonrpc::INVALID_PARAMS, "Unknown tool"),
        Ok(Ok(CallOutcome::Protocol {
            code,
            message,
            data,
        })) => Outcome::Error {
            code,
            message,
            data,
        },
        Ok(Err(e)) if e.is_cancelled() => Outcome::error(-32800, "Request cancelled"),
        Ok(Err(_)) => {
            tracing::error!("tool call panicked");
            Outcome::error(
                jsonrpc::INTERNAL_ERROR,
                "Internal error: the tool call failed unexpectedly",
            )
        }
        Err(_) => {
            if let Some(a) = audit {
                a.cut_off(CutOff::Timeout);
            }
            abort.abort();
            Outcome::error(
                jsonrpc::INTERNAL_ERROR,
                format!(
                    "the tool call did not finish within {} s and was stopped",
                    timeout.as_secs()
                ),
            )
        }
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
