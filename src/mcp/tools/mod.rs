//! The tools `/mcp` offers, one file per tool. Each tool declares its schema, annotations and
//! handler; [`Toolbox`] compiles every input schema once at start-up, validates arguments before
//! anything runs, and turns handler outcomes into MCP `CallToolResult`s.

/// A tool's unit struct and its [`Tool`] impl, from its `spec()`, the policies that can allow it,
/// and its handler: `tool!(Name, |policy| allowed, |p, args, ctx| handler)`.
macro_rules! tool {
    ($name:ident, |$policy:ident| $allowed:expr, |$p:ident, $args:ident, $ctx:ident| $call:expr) => {
        pub struct $name;

        impl super::Tool for $name {
            fn spec(&self) -> super::ToolSpec {
                spec()
            }

            fn allowed_by(&self, $policy: &crate::policy::Policy) -> bool {
                $allowed
            }

            fn call<'a>(
                &'a self,
                $p: &'a crate::profile::ProfileState,
                $args: &'a serde_json::Map<String, serde_json::Value>,
                $ctx: &'a crate::mcp::context::CallContext,
            ) -> futures_util::future::BoxFuture<'a, super::ToolResult> {
                Box::pin(async move { $call })
            }
        }
    };
}

pub mod audit;
mod call_method;
pub mod confirm;
mod create_records;
mod delete_records;
mod get_context;
mod get_fields;
pub mod guard;
mod labels;
mod list_models;
mod read_group;
mod search_records;
mod update_records;
mod write;

use super::context::CallContext;
use crate::audit::{Decision, Outcome};
use crate::odoo::{ErrorKind, OdooError};
use crate::policy::Policy;
use crate::profile::{ProfileState, view};
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Whether a tool only reads, writes, or destroys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKind {
    Read,
    Write,
    Destructive,
}

/// A tool's static description.
#[derive(Clone)]
pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub kind: ToolKind,
    pub input_schema: Value,
    pub output_schema: Option<Value>,
}

impl ToolSpec {
    /// The `tools/list` entry. Every annotation is set explicitly: clients must not guess.
    fn listing(&self) -> Value {
        let read = self.kind == ToolKind::Read;
        let mut tool = json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema,
            "annotations": {
                "title": self.title,
                "readOnlyHint": read,
                "destructiveHint": self.kind == ToolKind::Destructive,
                "idempotentHint": read,
                "openWorldHint": false,
            },
        });
        if let Some(out) = &self.output_schema {
            tool["outputSchema"] = out.clone();
        }
        tool
    }
}

/// Why a tool call ends without its result: refused, failed, or waiting on a person. A handler
/// returns `Err(..)` of it (with `?`) at the first check that fails.
#[derive(Debug)]
pub enum ToolError {
    /// Arguments refused before any decision: the message says what to change.
    Invalid(String),
    /// The policy refused the call: the message says what is refused and under which profile.
    Denied(String),
    /// Odoo refused or failed: its message and exception class (never its traceback).
    Failed {
        message: String,
        class: Option<String>,
        /// Odoo may have carried the call out (timeout, connection lost after sending).
        unknown: bool,
    },
    /// The write waits for an approver: `{status: "pending_approval", approval_id, ...}`.
    Pending(Value),
    /// 2026-07-28: the client must ask its user first (an `input_required` result, as is).
    InputRequired(Value),
    /// A protocol-level refusal (a JSON-RPC error, not a tool result), e.g. a missing client
    /// capability.
    Protocol {
        code: i64,
        message: String,
        data: Option<Value>,
    },
}

/// What a tool call gives: its structured result, or why there is none.
pub type ToolResult = Result<Value, ToolError>;

/// The MCP `CallToolResult` of a tool's answer.
fn into_result(r: ToolResult) -> CallOutcome {
    CallOutcome::Result(match r {
        Ok(v) => json!({
            "content": [{"type": "text", "text": v.to_string()}],
            "structuredContent": v,
            "isError": false,
        }),
        Err(ToolError::Invalid(message) | ToolError::Denied(message))
        | Err(ToolError::Failed { message, .. }) => json!({
            "content": [{"type": "text", "text": message}],
            "isError": true,
        }),
        Err(ToolError::Pending(v)) => json!({
            "content": [{"type": "text", "text": v["message"].as_str().unwrap_or("pending approval")}],
            "structuredContent": v,
            "isError": false,
        }),
        Err(ToolError::InputRequired(v)) => v,
        Err(ToolError::Protocol {
            code,
            message,
            data,
        }) => {
            return CallOutcome::Protocol {
                code,
                message,
                data,
            };
        }
    })
}

/// How the audit trail describes a tool's answer.
pub fn audit_terms(r: &ToolResult) -> (Decision, Outcome, Option<String>, Option<String>) {
    match r {
        Ok(_) => (Decision::Allow, Outcome::Ok, None, None),
        Err(ToolError::Invalid(m)) => (Decision::Invalid, Outcome::Refused, Some(m.clone()), None),
        Err(ToolError::Denied(m)) => (Decision::Deny, Outcome::Refused, Some(m.clone()), None),
        Err(ToolError::Failed {
            message,
            class,
            unknown,
        }) => (
            Decision::Allow,
            if *unknown {
                Outcome::Unknown
            } else {
                Outcome::Error
            },
            Some(message.clone()),
            class.clone(),
        ),
        Err(ToolError::Pending(v)) => (
            Decision::Pending,
            Outcome::PendingApproval,
            v["approval_id"]
                .as_str()
                .map(|a| format!("approval {a} requested")),
            None,
        ),
        Err(ToolError::InputRequired(_)) => (
            Decision::Pending,
            Outcome::InputRequired,
            Some("asked the user to confirm".into()),
            None,
        ),
        Err(ToolError::Protocol { message, .. }) => (
            Decision::Invalid,
            Outcome::Refused,
            Some(message.clone()),
            None,
        ),
    }
}

/// Said of a write Odoo may or may not have carried out.
const HINT_UNKNOWN: &str = " (Odoo is unreachable or slow, and may or may not have carried this out: check the records before retrying a change)";
/// Said when Odoo could not be reached and nothing changed.
const HINT_RETRY: &str = " (Odoo is unreachable or slow: try again later)";

impl ToolError {
    /// The error of a call that changed nothing whatever happened (a read): no outcome is
    /// unknown, and the advice is to try again.
    fn changed_nothing(self) -> Self {
        match self {
            ToolError::Failed {
                message,
                class,
                unknown: true,
            } => ToolError::Failed {
                message: message.replace(HINT_UNKNOWN, HINT_RETRY),
                class,
                unknown: false,
            },
            other => other,
        }
    }
}

impl From<OdooError> for ToolError {
    /// Odoo's message and class, never its traceback (the client already dropped it).
    fn from(e: OdooError) -> Self {
        let hint = match e.kind {
            ErrorKind::Access => " (Odoo's access rights for this profile's user refused it)",
            ErrorKind::Credentials => {
                " (Odoo refused the API key this call runs with: if you signed in as yourself, sign in to odoo-warden again; otherwise tell the operator)"
            }
            _ if e.outcome_unknown() => HINT_UNKNOWN,
            ErrorKind::Timeout | ErrorKind::Transport => HINT_RETRY,
            _ => "",
        };
        let class = e
            .class
            .as_deref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        ToolError::Failed {
            message: format!("Odoo error ({}){class}: {}{hint}", e.kind, e.message),
            class: e.class.clone(),
            unknown: e.outcome_unknown(),
        }
    }
}

/// The outcome of `tools/call`.
pub enum CallOutcome {
    /// No such tool (a JSON-RPC error, not a tool result).
    UnknownTool,
    /// A `CallToolResult` (or, in the stateless revision, an `input_required` result).
    Result(Value),
    /// A protocol-level refusal (a JSON-RPC error), e.g. a missing client capability.
    Protocol {
        code: i64,
        message: String,
        data: Option<Value>,
    },
}

/// A tool: its description, which policies can ever allow it, and its handler. Every tool is
/// registered once, in [`all_tools`]; nothing else matches on tool names.
pub trait Tool: Send + Sync {
    fn spec(&self) -> ToolSpec;

    /// Whether `policy` can ever allow this tool (`tools/list` shows only those).
    fn allowed_by(&self, policy: &Policy) -> bool;

    /// Runs the tool on arguments already validated against its input schema.
    fn call<'a>(
        &'a self,
        p: &'a ProfileState,
        args: &'a Map<String, Value>,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, ToolResult>;

    /// Whether a call may say something before its result (a question to the person behind the
    /// client, log messages), so that its answer should be streamed.
    fn may_talk(&self, _handshake: bool) -> bool {
        false
    }

    /// Its answer is a `CallToolResult` as is, outside policies and the trail: the conformance
    /// suite's fixtures (feature-gated build only).
    fn is_fixture(&self) -> bool {
        false
    }
}

/// Every tool this server offers, in `tools/list` order.
fn all_tools() -> Vec<Box<dyn Tool>> {
    #[allow(unused_mut)]
    let mut tools: Vec<Box<dyn Tool>> = vec![
        Box::new(get_context::GetContext),
        Box::new(list_models::ListModels),
        Box::new(get_fields::GetFields),
        Box::new(search_records::SearchRecords),
        Box::new(read_group::ReadGroup),
        Box::new(create_records::CreateRecords),
        Box::new(update_records::UpdateRecords),
        Box::new(delete_records::DeleteRecords),
        Box::new(call_method::CallMethod),
    ];
    #[cfg(feature = "conformance-fixtures")]
    tools.extend(conformance::tools());
    tools
}

/// A tool as the server holds it: its spec, its compiled input validator, and the arguments
/// mirrored into `Mcp-Param-{Header}` headers (2026-07-28 `x-mcp-header`).
pub struct Registered {
    tool: Box<dyn Tool>,
    spec: ToolSpec,
    validator: jsonschema::Validator,
    param_headers: Vec<(String, String)>,
    /// Its `tools/list` entry, built once.
    listing: Value,
}

impl Registered {
    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    pub fn kind(&self) -> ToolKind {
        self.spec.kind
    }

    /// `(argument, Header)` pairs.
    pub fn param_headers(&self) -> &[(String, String)] {
        &self.param_headers
    }

    pub fn may_talk(&self, handshake: bool) -> bool {
        self.tool.may_talk(handshake)
    }
}

/// A tool schema that does not compile (a bug in odoo-warden, found at start-up).
#[derive(Debug)]
pub struct SchemaError {
    pub tool: &'static str,
    pub detail: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tool {}: {}", self.tool, self.detail)
    }
}

impl std::error::Error for SchemaError {}

/// All tools, with their compiled input validators and the precomputed `tools/list` answer.
pub struct Toolbox {
    tools: Vec<Arc<Registered>>,
    listing: Value,
}

impl Toolbox {
    pub fn new() -> Result<Self, SchemaError> {
        let mut tools = Vec::new();
        for tool in all_tools() {
            let spec = tool.spec();
            let param_headers: Vec<(String, String)> = spec
                .input_schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|props| {
                    props
                        .iter()
                        .filter_map(|(name, p)| {
                            let h = p.get("x-mcp-header")?.as_str()?;
                            Some((name.clone(), h.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let validator =
                jsonschema::validator_for(&spec.input_schema).map_err(|e| SchemaError {
                    tool: spec.name,
                    detail: format!("invalid input schema: {e}"),
                })?;
            if let Some(out) = &spec.output_schema {
                jsonschema::validator_for(out).map_err(|e| SchemaError {
                    tool: spec.name,
                    detail: format!("invalid output schema: {e}"),
                })?;
            }
            tools.push(Arc::new(Registered {
                tool,
                listing: spec.listing(),
                spec,
                validator,
                param_headers,
            }));
        }
        let listing = Value::Array(tools.iter().map(|t| t.listing.clone()).collect());
        Ok(Self { tools, listing })
    }

    /// The tool named `name`: looked up once per call.
    pub fn get(&self, name: &str) -> Option<Arc<Registered>> {
        self.tools.iter().find(|t| t.spec.name == name).cloned()
    }

    /// The `tools` array of `tools/list`.
    pub fn listing(&self) -> &Value {
        &self.listing
    }

    /// The `tools` array of `tools/list` for a policy: only the tools it can ever allow, and
    /// without the write tools when `writes` is false (the kill switch is not open).
    pub fn listing_for(&self, policy: &Policy, writes: bool) -> Value {
        Value::Array(
            self.tools
                .iter()
                .filter(|t| writes || t.kind() == ToolKind::Read)
                .filter(|t| t.tool.allowed_by(policy))
                .map(|t| t.listing.clone())
                .collect(),
        )
    }

    /// Validates `arguments` against the tool's schema, runs the tool, and records the call in
    /// the audit trail (when the context carries one): a read whose record cannot be taken fails
    /// rather than answer unrecorded; a write's intent is committed before Odoo is called.
    pub async fn call(
        &self,
        tool: &Registered,
        profile: &ProfileState,
        arguments: Value,
        ctx: &CallContext,
    ) -> CallOutcome {
        let arguments = match arguments {
            Value::Null => Value::Object(Map::new()),
            other => other,
        };
        if tool.tool.is_fixture() {
            return match Self::run(tool, profile, &arguments, ctx).await {
                Ok(raw) => CallOutcome::Result(raw),
                Err(e) => into_result(Err(e)),
            };
        }
        let mut out = Self::run(tool, profile, &arguments, ctx).await;
        if tool.kind() == ToolKind::Read {
            // A read changes nothing: an unanswered one is simply to be tried again.
            out = out.map_err(ToolError::changed_nothing);
        }
        {
            if let Err(e) = ctx.audit.finish(tool.kind(), &out).await {
                tracing::error!(tool = tool.name(), error = %e, "the audit trail did not take a tool call record");
                if tool.kind() == ToolKind::Read {
                    // Fail closed: no answer without its record.
                    return into_result(Err(ToolError::Failed {
                        message: format!(
                            "{}: the answer was withheld (no answer without its record). Nothing was changed; try again later.",
                            e.for_client()
                        ),
                        class: None,
                        unknown: false,
                    }));
                }
                // A write that happened stays reported; its outcome record stays queued.
            }
        }
        into_result(out)
    }

    async fn run(
        tool: &Registered,
        profile: &ProfileState,
        arguments: &Value,
        ctx: &CallContext,
    ) -> ToolResult {
        if let Some(message) = first_validation_error(&tool.validator, arguments) {
            return Err(ToolError::Invalid(message));
        }
        let Value::Object(args) = arguments else {
            return Err(ToolError::Invalid("arguments must be an object".into()));
        };
        if tool.tool.is_fixture() {
            return tool.tool.call(profile, args, ctx).await;
        }
        if tool.kind() != ToolKind::Read {
            profile
                .check_write_budget(&ctx.principal)
                .map_err(|over| ToolError::Denied(over.to_string()))?;
        }
        // The model's view (its hidden fields, derived ones included) is built before anything
        // else, so that every record of this call can be redacted with it. Errors are the
        // tool's to report.
        if let Some(model) = args.get("model").and_then(Value::as_str)
            && profile.policy().model(model).is_some()
        {
            let _ = profile.view(model).await;
        }
        if !tool.tool.allowed_by(&profile.policy()) {
            return Err(ToolError::Denied(format!(
                "tool \"{}\" is not available under profile \"{}\": its policy allows no such operation",
                tool.name(),
                profile.name
            )));
        }
        tool.tool.call(profile, args, ctx).await
    }
}

/// The first schema violation, naming the offending field (never echoing its value).
fn first_validation_error(validator: &jsonschema::Validator, args: &Value) -> Option<String> {
    let error = validator.iter_errors(args).next()?;
    let path = error.instance_path().to_string();
    let field = path.trim_start_matches('/').replace('/', ".");
    let detail = error.masked().to_string();
    Some(if field.is_empty() {
        format!("invalid arguments: {detail}")
    } else {
        format!("invalid argument \"{field}\": {detail}")
    })
}

/// Reads an optional non-negative integer argument.
fn opt_u64(args: &Map<String, Value>, key: &str) -> Option<u64> {
    args.get(key).and_then(Value::as_u64)
}

/// Reads an optional list of strings argument.
fn opt_strings(args: &Map<String, Value>, key: &str) -> Option<Vec<String>> {
    args.get(key).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    })
}

/// The `model` argument (required by the schema of every tool that takes one).
fn model_arg(args: &Map<String, Value>) -> &str {
    args.get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// JSON Schema for a model name argument.
fn model_schema() -> Value {
    json!({"type": "string", "pattern": "^[a-z0-9_]+(\\.[a-z0-9_]+)*$", "maxLength": 128,
           "description": "Technical model name, e.g. res.partner (see list_models)"})
}

/// JSON Schema for a `context` argument (keys allowlisted by the policy module).
fn context_schema() -> Value {
    json!({"type": "object", "description": "Odoo context: lang, tz, allowed_company_ids, active_test or default_* keys only"})
}

/// JSON Schema for record ids.
fn ids_schema() -> Value {
    // Odoo's ids are PostgreSQL integers.
    json!({"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "integer", "minimum": 1, "maximum": 2147483647},
           "description": "Record ids"})
}

/// The `ids` argument (required and typed by the schema).
fn ids_arg(args: &Map<String, Value>) -> Vec<i64> {
    args.get("ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

/// Output schema of the record-writing tools.
/// Output schema of the record-writing tools: `{model, ids}` once written, or
/// `{status: "pending_approval", approval_id, expires_at, message}` while an approver decides.
fn write_output_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "model": {"type": "string"},
            "ids": {"type": "array", "items": {"type": "integer"}},
            "status": {"type": "string"},
            "approval_id": {"type": "string"},
            "expires_at": {"type": "string"},
            "message": {"type": "string"}
        }
    })
}

/// JSON Schema for a domain argument.
fn domain_schema() -> Value {
    json!({"type": "array", "maxItems": 1000,
           "description": "Odoo domain in Polish notation, e.g. [[\"is_company\", \"=\", true]] or [\"|\", [\"name\", \"ilike\", \"acme\"], [\"email\", \"ilike\", \"acme\"]]. Default: [] (all records)",
           "items": {"type": ["string", "array"]}})
}

#[cfg(feature = "conformance-fixtures")]
mod conformance;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_compile_and_listing_is_explicit() {
        let tb = Toolbox::new().unwrap();
        let tools = tb.listing().as_array().unwrap();
        assert_eq!(tools.len(), 9);
        let delete = tools
            .iter()
            .find(|t| t["name"] == "delete_records")
            .unwrap();
        assert_eq!(delete["annotations"]["destructiveHint"], true);
        assert_eq!(delete["annotations"]["readOnlyHint"], false);
        for t in tools {
            let a = &t["annotations"];
            for k in [
                "readOnlyHint",
                "destructiveHint",
                "idempotentHint",
                "openWorldHint",
            ] {
                assert!(a[k].is_boolean(), "{} lacks {k}", t["name"]);
            }
            assert_eq!(t["inputSchema"]["type"], "object");
            assert!(
                t["outputSchema"]["type"] == "object",
                "{} lacks outputSchema",
                t["name"]
            );
        }
    }

    #[test]
    fn validation_names_the_field_without_its_value() {
        let tb = Toolbox::new().unwrap();
        let v = &tb.get("search_records").unwrap().validator;
        let m = first_validation_error(v, &json!({"model": "res.partner", "limit": "secret-ish"}))
            .unwrap();
        assert!(m.contains("\"limit\""), "{m}");
        assert!(!m.contains("secret-ish"), "{m}");
        let m = first_validation_error(v, &json!({"limit": 3})).unwrap();
        assert!(m.contains("model"), "{m}");
        let m = first_validation_error(v, &json!({"model": "res.partner", "bogus": 1})).unwrap();
        assert!(m.contains("bogus"), "{m}");
        assert!(first_validation_error(v, &json!({"model": "res.partner"})).is_none());
    }
}
