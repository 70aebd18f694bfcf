//! A tool call, orchestrated: the tool looked up once, the kill switch, the call's audit record,
//! its context, then the tool run in its own task, bounded by the request timeout and cancelled
//! when the client goes away (unless its write intent is committed); answered as JSON or SSE.

use super::context::{CallContext, ClientChannel};
use super::dispatch::*;
use super::http::*;
use super::jsonrpc::{self, Id};
use super::protocol::{self, Era};
use super::server::McpServer;
use super::session::Session;
use super::tools::audit::{CallAudit, CutOff};
use super::tools::{CallOutcome, Registered, ToolKind};
use crate::killswitch::Mode;
use crate::profile::ProfileState;
use crate::refusal::Refusal;
use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

pub(super) async fn tools_call(
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
    let Some(tool) = ctx.tool.clone().or_else(|| server.toolbox.get(&name)) else {
        return respond(
            era,
            &id,
            Outcome::error(jsonrpc::INVALID_PARAMS, format!("Unknown tool: {name}")),
        );
    };
    // The kill switch comes before anything else a call does.
    {
        let state = server.kill.state();
        let refused = match state.mode {
            Mode::Closed => true,
            Mode::ReadOnly => tool.kind() != ToolKind::Read,
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
                .insert(Refusal::KillSwitch(state.mode.as_str()));
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
        && tool.kind() != ToolKind::Read
        && client_capabilities
            .get("elicitation")
            .is_some_and(|c| !c.is_null());
    let streams = accept.sse
        && (progress_token.is_some() || may_ask_user || tool.may_talk(era == Era::Handshake));
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
    let base = match &ctx.audit {
        Some(handle) => {
            handle.update(|d| d.claimed = true);
            handle.event(&server.audit, crate::audit::kind::TOOL_CALL)
        }
        // Outside the audit layer (never in the binary): the call still records itself.
        None => server.audit.event(crate::audit::kind::TOOL_CALL),
    };
    let profile = ctx.profile.clone();
    let call_audit = Arc::new(CallAudit::new(
        server.audit.clone(),
        base,
        tool.name(),
        tool.kind() == ToolKind::Read,
        &arguments,
        Box::new(move |args| profile.redact_arguments(args)),
    ));
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
    if !streams {
        let (task, mut running) = spawn_call(
            server,
            &ctx.profile,
            tool,
            arguments,
            call_ctx_base,
            session,
            &id,
        );
        let outcome = finish_call(task, timeout, running.audit()).await;
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
    let (task, mut running) = spawn_call(
        server,
        &ctx.profile,
        tool,
        arguments,
        call_ctx,
        session,
        &id,
    );
    tokio::spawn(async move {
        let outcome = tokio::select! {
            outcome = finish_call(task, timeout, running.audit()) => outcome,
            // The client closed the stream: nobody will read the answer. Dropping `running`
            // cancels the call (unless it is writing).
            _ = tx.closed() => return,
        };
        running.done();
        let message = match outcome {
            Outcome::Result(r) => jsonrpc::result_response(&id, finish_result(era, r)),
            Outcome::Error {
                code,
                message,
                data,
            } => jsonrpc::error_response(&id, code, &message, data),
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

/// Runs the tool in its own task (a panic there cannot take the server down), tracked as
/// [`Running`] in the caller's session.
fn spawn_call(
    server: &Arc<McpServer>,
    profile: &Arc<ProfileState>,
    tool: Arc<Registered>,
    arguments: Value,
    ctx: CallContext,
    session: Option<Arc<Session>>,
    id: &Id,
) -> (tokio::task::JoinHandle<CallOutcome>, Running) {
    let (server, profile) = (server.clone(), profile.clone());
    let audit = ctx.audit.clone();
    let task =
        tokio::spawn(async move { server.toolbox.call(&tool, &profile, arguments, &ctx).await });
    let running = Running::new(task.abort_handle(), audit, session, id);
    (task, running)
}

/// A tool call in flight: its id stays reserved in the session (for `notifications/cancelled`,
/// and so that no other request reuses it) until it ends. Dropped before [`Running::done`] (the
/// client went away), it cancels the call, unless its write intent is committed: a write Odoo
/// may be making runs to its recorded outcome.
struct Running {
    abort: tokio::task::AbortHandle,
    audit: Arc<CallAudit>,
    session: Option<(Arc<Session>, Value)>,
    done: bool,
}

impl Running {
    fn new(
        abort: tokio::task::AbortHandle,
        audit: Arc<CallAudit>,
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

    /// The call's audit record, when the trail is configured.
    fn audit(&self) -> &CallAudit {
        &self.audit
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some((s, id)) = &self.session {
            s.untrack(id);
        }
        if !self.done && !self.audit.has_intent() {
            self.audit.cut_off(CutOff::Cancelled);
            self.abort.abort();
        }
    }
}

/// Waits for a spawned tool call, bounded; a panic or a cancellation becomes an error, never a
/// crash or a hang. A call stopped at the timeout records `timeout` as its outcome.
async fn finish_call(
    task: tokio::task::JoinHandle<CallOutcome>,
    timeout: Duration,
    audit: &CallAudit,
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
            audit.cut_off(CutOff::Timeout);
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
