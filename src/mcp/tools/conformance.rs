//! The conformance suite's fixture tools (`test_*`), compiled only with the
//! `conformance-fixtures` feature, which a normal build never enables.
//!
//! They exercise the real protocol machinery: progress and log notifications on a call's SSE
//! stream, server-to-client elicitation routed back by id, and 2026-07-28 multi-round-trip
//! requests with sealed `requestState`.

use super::{CallOutcome, ToolKind, ToolSpec};
use crate::mcp::context::CallContext;
use crate::mcp::jsonrpc;
use crate::mcp::protocol::V2025_06_18;
use serde_json::{Map, Value, json};
use std::time::Duration;

const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
const WAV_EMPTY: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";

const NO_ARGS: [&str; 22] = [
    "test_simple_text",
    "test_image_content",
    "test_audio_content",
    "test_embedded_resource",
    "test_multiple_content_types",
    "test_error_handling",
    "test_tool_with_progress",
    "test_tool_with_logging",
    "test_elicitation_sep1034_defaults",
    "test_elicitation_sep1330_enums",
    "test_missing_capability",
    "test_streaming_elicitation",
    "test_logging_tool",
    "test_input_required_result_elicitation",
    "test_input_required_result_sampling",
    "test_input_required_result_list_roots",
    "test_input_required_result_request_state",
    "test_input_required_result_multiple_inputs",
    "test_input_required_result_multi_round",
    "test_input_required_result_tampered_state",
    "test_input_required_result_capabilities",
    "json_schema_2020_12_tool",
];

/// Fixtures that send something on the call's stream before their result.
pub fn talks(name: &str, handshake: bool) -> bool {
    match name {
        "test_tool_with_progress" | "test_logging_tool" | "test_tool_with_logging" => true,
        "test_elicitation"
        | "test_elicitation_sep1034_defaults"
        | "test_elicitation_sep1330_enums" => handshake,
        _ => false,
    }
}

fn spec(name: &'static str, input_schema: Value) -> ToolSpec {
    ToolSpec {
        name,
        title: name,
        description: "Conformance suite fixture (built only with the conformance-fixtures feature).",
        kind: ToolKind::Read,
        input_schema,
        output_schema: None,
    }
}

pub fn specs() -> Vec<ToolSpec> {
    let mut out: Vec<ToolSpec> = NO_ARGS
        .iter()
        .filter(|n| **n != "json_schema_2020_12_tool")
        .map(|n| spec(n, json!({"type": "object", "properties": {}})))
        .collect();
    out.push(spec(
        "test_elicitation",
        json!({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}),
    ));
    out.push(spec(
        "test_sampling",
        json!({"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}),
    ));
    out.push(spec(
        "json_schema_2020_12_tool",
        json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
               "$defs": {"address": {"$anchor": "addressDef", "type": "object",
                                     "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
               "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"},
                              "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                              "phone": {"type": "string"}, "email": {"type": "string"}},
               "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
               "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
               "then": {"required": ["phone"]},
               "else": {"required": ["email"]},
               "additionalProperties": false}),
    ));
    out.push(spec(
        "test_custom_header",
        json!({"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}, "required": ["region"]}),
    ));
    out
}

fn text(t: impl Into<String>) -> CallOutcome {
    CallOutcome::Result(json!({"content": [{"type": "text", "text": t.into()}]}))
}

fn error_result(t: impl Into<String>) -> CallOutcome {
    CallOutcome::Result(json!({"content": [{"type": "text", "text": t.into()}], "isError": true}))
}

fn invalid_params(message: impl Into<String>) -> CallOutcome {
    CallOutcome::Protocol {
        code: jsonrpc::INVALID_PARAMS,
        message: message.into(),
        data: None,
    }
}

pub async fn call(name: &str, args: &Map<String, Value>, ctx: &CallContext) -> CallOutcome {
    match name {
        "test_simple_text" => text("This is a simple text response for testing."),
        "test_image_content" => CallOutcome::Result(json!({"content": [{"type": "image", "data": PNG_1X1, "mimeType": "image/png"}]})),
        "test_audio_content" => CallOutcome::Result(json!({"content": [{"type": "audio", "data": WAV_EMPTY, "mimeType": "audio/wav"}]})),
        "test_embedded_resource" => CallOutcome::Result(json!({"content": [{"type": "resource", "resource": {
            "uri": "test://embedded-resource", "mimeType": "text/plain", "text": "This is an embedded resource content."}}]})),
        "test_multiple_content_types" => CallOutcome::Result(json!({"content": [
            {"type": "text", "text": "Multiple content types test:"},
            {"type": "image", "data": PNG_1X1, "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "test://mixed-content-resource", "mimeType": "application/json", "text": "{\"test\":\"data\",\"value\":123}"}}
        ]})),
        "test_error_handling" => error_result("This tool intentionally returns an error for testing"),
        "json_schema_2020_12_tool" => text("ok"),
        "test_custom_header" => text(format!(
            "region={}",
            args.get("region").and_then(Value::as_str).unwrap_or("")
        )),
        "test_tool_with_progress" => {
            if let (Some(token), Some(ch)) = (&ctx.progress_token, &ctx.channel) {
                for (i, p) in [0, 50, 100].into_iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    ch.notify("notifications/progress", json!({"progressToken": token, "progress": p, "total": 100}))
                        .await;
                }
            }
            text("Progress tool completed")
        }
        "test_tool_with_logging" | "test_logging_tool" => {
            let emit = !ctx.stateless || ctx.log_level.is_some();
            if let (true, Some(ch)) = (emit, &ctx.channel) {
                for (i, m) in ["Tool execution started", "Tool processing data", "Tool execution completed"]
                    .into_iter()
                    .enumerate()
                {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    ch.notify("notifications/message", json!({"level": "info", "logger": "conformance", "data": m}))
                        .await;
                }
            }
            text("Logging tool completed")
        }
        "test_elicitation" => {
            let message = args.get("message").and_then(Value::as_str).unwrap_or("Please provide your information");
            elicit(ctx, message, json!({"type": "object", "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"}},
                "required": ["username", "email"]}), "User response")
            .await
        }
        "test_elicitation_sep1034_defaults" => {
            elicit(ctx, "Please review and update the form fields with defaults", json!({"type": "object", "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active"},
                "verified": {"type": "boolean", "description": "Verification status", "default": true}}}), "Elicitation completed")
            .await
        }
        "test_elicitation_sep1330_enums" => {
            elicit(ctx, "Please select options from the enum fields", json!({"type": "object", "properties": {
                "untitledSingle": {"type": "string", "description": "Select one option", "enum": ["option1", "option2", "option3"]},
                "titledSingle": {"type": "string", "description": "Select one option with titles", "oneOf": [
                    {"const": "value1", "title": "First Option"}, {"const": "value2", "title": "Second Option"}, {"const": "value3", "title": "Third Option"}]},
                "legacyEnum": {"type": "string", "description": "Select one option (legacy)", "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"]},
                "untitledMulti": {"type": "array", "description": "Select multiple options", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                "titledMulti": {"type": "array", "description": "Select multiple options with titles", "items": {"anyOf": [
                    {"const": "value1", "title": "First Choice"}, {"const": "value2", "title": "Second Choice"}, {"const": "value3", "title": "Third Choice"}]}}}}),
                "Elicitation completed")
            .await
        }
        "test_sampling" => error_result("sampling is out of scope for odoo-warden"),
        "test_missing_capability" => {
            if ctx.client_supports("sampling") {
                text("sampling capability declared")
            } else {
                CallOutcome::Protocol {
                    code: jsonrpc::MISSING_CAPABILITY,
                    message: "Missing required client capability: sampling".into(),
                    data: Some(json!({"requiredCapabilities": {"sampling": {}}})),
                }
            }
        }
        "test_streaming_elicitation" | "test_input_required_result_elicitation" => {
            mrtr(ctx, name, args, &[vec![("user_name", ask_name("What is your name?"))]], |r| {
                let who = r
                    .get("user_name")
                    .and_then(|v| v.get("content"))
                    .and_then(|c| c.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("there");
                format!("Hello, {who}!")
            })
        }
        "test_input_required_result_sampling" => mrtr(
            ctx,
            name,
            args,
            &[vec![("capital_question", sampling("What is the capital of France?", 100))]],
            |_| "The capital question was answered".into(),
        ),
        "test_input_required_result_list_roots" => mrtr(
            ctx,
            name,
            args,
            &[vec![("client_roots", json!({"method": "roots/list", "params": {}}))]],
            |r| format!("Client roots: {}", r.get("client_roots").map(Value::to_string).unwrap_or_default()),
        ),
        "test_input_required_result_request_state" | "test_input_required_result_tampered_state" => mrtr(
            ctx,
            name,
            args,
            &[vec![("confirm", elicitation("Please confirm", json!({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]})))]],
            |_| "state-ok: confirmed".into(),
        ),
        "test_input_required_result_multiple_inputs" => mrtr(
            ctx,
            name,
            args,
            &[vec![
                ("user_name", ask_name("What is your name?")),
                ("greeting", sampling("Generate a greeting", 50)),
                ("client_roots", json!({"method": "roots/list", "params": {}})),
            ]],
            |_| "All inputs received".into(),
        ),
        "test_input_required_result_multi_round" => mrtr(
            ctx,
            name,
            args,
            &[
                vec![("step1", ask_name("Step 1: What is your name?"))],
                vec![("step2", elicitation("Step 2: What is your favorite color?", json!({"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]})))],
            ],
            |_| "Both rounds completed".into(),
        ),
        "test_input_required_result_capabilities" => mrtr(
            ctx,
            name,
            args,
            &[vec![
                ("user_name", ask_name("What is your name?")),
                ("capital_question", sampling("What is the capital of France?", 100)),
            ]],
            |_| "Inputs received".into(),
        ),
        _ => error_result(format!("unknown fixture {name}")),
    }
}

fn elicitation(message: &str, schema: Value) -> Value {
    json!({"method": "elicitation/create", "params": {"mode": "form", "message": message, "requestedSchema": schema}})
}

fn ask_name(message: &str) -> Value {
    elicitation(
        message,
        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
    )
}

fn sampling(prompt: &str, max_tokens: u32) -> Value {
    json!({"method": "sampling/createMessage", "params": {
        "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}], "maxTokens": max_tokens}})
}

fn capability_of(method: &str) -> &'static str {
    match method {
        "elicitation/create" => "elicitation",
        "sampling/createMessage" => "sampling",
        _ => "roots",
    }
}

/// A handshake-era elicitation: a request on the call's stream, answered by the client.
async fn elicit(ctx: &CallContext, message: &str, schema: Value, label: &str) -> CallOutcome {
    if ctx.stateless {
        return error_result("this fixture runs on the 2025 protocol revisions only");
    }
    if !ctx.client_supports("elicitation") {
        return error_result("the client did not declare the elicitation capability");
    }
    let Some(ch) = &ctx.channel else {
        return error_result("the client does not accept a streamed answer (text/event-stream)");
    };
    let mut params = json!({"message": message, "requestedSchema": schema});
    let old = ctx
        .session
        .as_ref()
        .is_some_and(|s| s.protocol_version == V2025_06_18);
    if !old {
        params["mode"] = json!("form");
    }
    match ch.request("elicitation/create", params).await {
        Ok(answer) => {
            let action = answer.get("action").and_then(Value::as_str).unwrap_or("?");
            let content = answer.get("content").cloned().unwrap_or(Value::Null);
            text(format!("{label}: action={action}, content={content}"))
        }
        Err(e) => error_result(e.to_string()),
    }
}

/// A 2026-07-28 multi-round-trip exchange: each round asks `rounds[k]` (filtered to the client's
/// declared capabilities) with a sealed state; the call completes once every round is answered.
fn mrtr(
    ctx: &CallContext,
    tool: &str,
    args: &Map<String, Value>,
    rounds: &[Vec<(&str, Value)>],
    finish: impl Fn(&Map<String, Value>) -> String,
) -> CallOutcome {
    if !ctx.stateless {
        return error_result("this fixture runs on the 2026-07-28 protocol revision only");
    }
    let args_value = Value::Object(args.clone());
    let responses = ctx.input_responses.as_ref().and_then(Value::as_object);
    let complete = |round: usize, asked: &[String]| {
        responses.is_some_and(|r| asked.iter().all(|k| r.get(k).is_some_and(Value::is_object)))
            && round < rounds.len()
    };
    let next = match &ctx.request_state {
        // Answers without a state: acceptable for a first round that needed none.
        None => {
            let first: Vec<String> = rounds[0].iter().map(|(k, _)| (*k).to_string()).collect();
            if complete(0, &first) { 1 } else { 0 }
        }
        Some(token) => match ctx.sealer.open(token, &ctx.principal, tool, &args_value) {
            Err(e) => return invalid_params(format!("Invalid params: {e}")),
            Ok(claims) => {
                let asked: Vec<String> = serde_json::from_value(claims.data).unwrap_or_default();
                let answered = responses
                    .is_some_and(|r| asked.iter().all(|k| r.get(k).is_some_and(Value::is_object)));
                if answered {
                    claims.round as usize + 1
                } else {
                    claims.round as usize
                }
            }
        },
    };
    if next >= rounds.len() {
        return text(finish(responses.unwrap_or(&Map::new())));
    }
    let mut requests = Map::new();
    for (key, request) in &rounds[next] {
        let method = request.get("method").and_then(Value::as_str).unwrap_or("");
        if ctx.client_supports(capability_of(method)) {
            requests.insert((*key).to_string(), request.clone());
        }
    }
    if requests.is_empty() {
        let wanted: Map<String, Value> = rounds[next]
            .iter()
            .map(|(_, r)| {
                (
                    capability_of(r.get("method").and_then(Value::as_str).unwrap_or(""))
                        .to_string(),
                    json!({}),
                )
            })
            .collect();
        return CallOutcome::Protocol {
            code: jsonrpc::MISSING_CAPABILITY,
            message: "Missing required client capability".into(),
            data: Some(json!({"requiredCapabilities": wanted})),
        };
    }
    let asked: Vec<&String> = requests.keys().collect();
    let state = ctx
        .sealer
        .seal(&ctx.principal, tool, &args_value, next as u32, json!(asked));
    CallOutcome::Result(
        json!({"resultType": "input_required", "inputRequests": requests, "requestState": state}),
    )
}

/// The fixtures as tools: their answers are `CallToolResult`s as is.
pub fn tools() -> Vec<Box<dyn super::Tool>> {
    specs()
        .into_iter()
        .map(|spec| Box::new(Fixture(spec)) as Box<dyn super::Tool>)
        .collect()
}

struct Fixture(ToolSpec);

impl super::Tool for Fixture {
    fn spec(&self) -> ToolSpec {
        self.0.clone()
    }

    fn allowed_by(&self, _policy: &crate::policy::Policy) -> bool {
        true
    }

    fn call<'a>(
        &'a self,
        _p: &'a crate::profile::ProfileState,
        args: &'a Map<String, Value>,
        ctx: &'a CallContext,
    ) -> futures_util::future::BoxFuture<'a, super::ToolResult> {
        Box::pin(async move {
            match call(self.0.name, args, ctx).await {
                CallOutcome::Result(v) => Ok(v),
                CallOutcome::Protocol {
                    code,
                    message,
                    data,
                } => Err(super::ToolError::Protocol {
                    code,
                    message,
                    data,
                }),
                CallOutcome::UnknownTool => {
                    Err(super::ToolError::Invalid("unknown fixture".into()))
                }
            }
        })
    }

    fn may_talk(&self, handshake: bool) -> bool {
        talks(self.0.name, handshake)
    }

    fn is_fixture(&self) -> bool {
        true
    }
}
