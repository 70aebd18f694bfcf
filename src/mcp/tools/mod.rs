//! The tools `/mcp` offers, one file per tool. Each tool declares its schema, annotations and
//! handler; [`Toolbox`] compiles every input schema once at start-up, validates arguments before
//! anything runs, and turns handler outcomes into MCP `CallToolResult`s.

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
pub mod view;

use super::server::CallContext;
use crate::odoo::{ErrorKind, Identity, OdooError, OdooUser, Operation, ServerInfo};
use crate::policy::{Op, Policy};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long model-level access checks and `fields_get` answers are reused (a policy reload reads
/// them again at once).
const CACHE_TTL: Duration = Duration::from_secs(300);

/// How long `get_context` reuses the user's name, time zone, language and companies.
const IDENTITY_TTL: Duration = Duration::from_secs(60);

/// Whether a tool only reads, writes, or destroys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKind {
    Read,
    Write,
    Destructive,
}

/// A tool's static description.
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

/// What a tool handler returns.
pub enum ToolOutput {
    /// Success: the structured result (also sent as JSON text for clients without
    /// `structuredContent`).
    Structured(Value),
    /// Arguments refused before any decision: the message says what to change.
    Error(String),
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
}

impl ToolOutput {
    fn into_result(self) -> Value {
        match self {
            ToolOutput::Structured(v) => json!({
                "content": [{"type": "text", "text": v.to_string()}],
                "structuredContent": v,
                "isError": false,
            }),
            ToolOutput::Error(message)
            | ToolOutput::Denied(message)
            | ToolOutput::Failed { message, .. } => json!({
                "content": [{"type": "text", "text": message}],
                "isError": true,
            }),
            ToolOutput::Pending(v) => json!({
                "content": [{"type": "text", "text": v["message"].as_str().unwrap_or("pending approval")}],
                "structuredContent": v,
                "isError": false,
            }),
            ToolOutput::InputRequired(v) => v,
        }
    }

    /// How the audit trail describes this outcome: (decision, outcome, reason, Odoo class).
    fn audit_terms(&self) -> (&'static str, &'static str, Option<String>, Option<String>) {
        match self {
            ToolOutput::Structured(_) => ("allow", "ok", None, None),
            ToolOutput::Error(m) => ("invalid", "refused", Some(m.clone()), None),
            ToolOutput::Denied(m) => ("deny", "refused", Some(m.clone()), None),
            ToolOutput::Failed {
                message,
                class,
                unknown,
            } => (
                "allow",
                if *unknown { "unknown" } else { "error" },
                Some(message.clone()),
                class.clone(),
            ),
            ToolOutput::Pending(v) => (
                "pending",
                "pending_approval",
                v["approval_id"]
                    .as_str()
                    .map(|a| format!("approval {a} requested")),
                None,
            ),
            ToolOutput::InputRequired(_) => (
                "pending",
                "input_required",
                Some("asked the user to confirm".into()),
                None,
            ),
        }
    }
}

impl From<OdooError> for ToolOutput {
    /// Odoo's message and class, never its traceback (the client already dropped it).
    fn from(e: OdooError) -> Self {
        let hint = match e.kind {
            ErrorKind::Access => " (Odoo's access rights for this profile's user refused it)",
            ErrorKind::Credentials => {
                " (odoo-warden's Odoo credentials were refused: tell the operator)"
            }
            _ if e.outcome_unknown() => {
                " (Odoo is unreachable or slow, and may or may not have carried this out: check the records before retrying a change)"
            }
            ErrorKind::Timeout | ErrorKind::Transport => {
                " (Odoo is unreachable or slow: try again later)"
            }
            _ => "",
        };
        let class = e
            .class
            .as_deref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        ToolOutput::Failed {
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

/// A model's `fields_get` answer and when it was read.
type CachedFields = (Instant, Arc<Map<String, Value>>);

/// A model's view, when it was built and for which policy generation.
type CachedView = (Instant, u64, Arc<view::ModelView>);

/// Access checks cached with the policy generation they were computed for.
type CachedAccess = (Instant, u64, Arc<Vec<ModelAccess>>);

/// Everything a tool needs to act for one profile: its logged-in Odoo user, its policy (swapped
/// atomically on reload) and caches.
pub struct ProfileState {
    pub name: String,
    pub user: OdooUser,
    pub server: ServerInfo,
    pub identity: Identity,
    policy: RwLock<Arc<Policy>>,
    generation: AtomicU64,
    access: tokio::sync::Mutex<Option<CachedAccess>>,
    fields: RwLock<HashMap<String, CachedFields>>,
    /// Per model: its view under the policy generation it was built for.
    views: RwLock<HashMap<String, CachedView>>,
    /// The user as `get_context` reports it, refreshed after [`IDENTITY_TTL`].
    fresh_identity: tokio::sync::Mutex<(Instant, Arc<Identity>)>,
    write_budget: std::sync::OnceLock<crate::middleware::ratelimit::WriteBudget>,
}

/// Human names of common models (`ir.model` is unreadable to most users, so names cannot come
/// from Odoo); other models are shown by their technical name.
fn model_label(model: &str) -> String {
    let known = [
        ("res.partner", "Contact"),
        ("res.company", "Company"),
        ("res.country", "Country"),
        ("res.currency", "Currency"),
        ("res.users", "User"),
        ("product.product", "Product"),
        ("product.template", "Product Template"),
        ("product.category", "Product Category"),
        ("uom.uom", "Unit of Measure"),
        ("sale.order", "Sales Order"),
        ("sale.order.line", "Sales Order Line"),
        ("purchase.order", "Purchase Order"),
        ("purchase.order.line", "Purchase Order Line"),
        ("account.move", "Journal Entry"),
        ("account.move.line", "Journal Item"),
        ("crm.lead", "Lead/Opportunity"),
        ("project.project", "Project"),
        ("project.task", "Task"),
        ("stock.picking", "Transfer"),
        ("stock.move", "Stock Move"),
        ("stock.quant", "Quants"),
        ("ir.attachment", "Attachment"),
    ];
    known
        .iter()
        .find(|(m, _)| *m == model)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| model.to_string())
}

/// A model with what this profile may do on it: the policy's operations that Odoo's own access
/// rights also grant the profile's user, and the allowlisted methods.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelAccess {
    pub model: String,
    pub name: String,
    pub operations: Vec<&'static str>,
    pub methods: Vec<String>,
}

impl ProfileState {
    /// Reads the user's identity once; the caller has logged the user in.
    pub async fn new(name: String, user: OdooUser, policy: Policy) -> Result<Self, OdooError> {
        let server = user.server_info().await?;
        let identity = user.whoami().await?;
        let fresh_identity = tokio::sync::Mutex::new((Instant::now(), Arc::new(identity.clone())));
        Ok(Self {
            name,
            user,
            server,
            identity,
            policy: RwLock::new(Arc::new(policy)),
            generation: AtomicU64::new(0),
            access: tokio::sync::Mutex::new(None),
            fields: RwLock::new(HashMap::new()),
            views: RwLock::new(HashMap::new()),
            fresh_identity,
            write_budget: std::sync::OnceLock::new(),
        })
    }

    /// The policy in force. Calls hold their own `Arc`, so a reload never changes a call midway.
    pub fn policy(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in a new (already validated) policy. Field definitions are read again too (a
    /// reload is also how an operator says "Odoo's modules changed").
    pub fn set_policy(&self, policy: Policy) {
        let new = Arc::new(policy);
        match self.policy.write() {
            Ok(mut p) => *p = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut f) = self.fields.write() {
            f.clear();
        }
        if let Ok(mut v) = self.views.write() {
            v.clear();
        }
    }

    /// The user's identity for `get_context`: read again from Odoo once it is older than a
    /// minute (a time zone or company change shows), else from memory (no Odoo request).
    pub async fn current_identity(&self) -> Result<Arc<Identity>, OdooError> {
        let mut cached = self.fresh_identity.lock().await;
        if cached.0.elapsed() < IDENTITY_TTL {
            return Ok(cached.1.clone());
        }
        let identity = Arc::new(self.user.whoami().await?);
        *cached = (Instant::now(), identity.clone());
        Ok(identity)
    }

    /// Counts policy reloads: caches computed under another generation are stale.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Sets the profile's write budget (writes per minute, per key); once.
    pub fn set_write_budget(&self, per_minute: u32) {
        if let Some(b) = crate::middleware::ratelimit::WriteBudget::new(per_minute) {
            let _ = self.write_budget.set(b);
        }
    }

    /// Refuses a write over the key's budget, saying when to retry.
    pub fn check_write_budget(&self, key_id: &str) -> Result<(), ToolOutput> {
        match self.write_budget.get() {
            Some(b) => b.check(key_id).map_err(|wait| {
                ToolOutput::Denied(format!(
                    "write budget exceeded: this key may make {} writes per minute under profile \"{}\"; retry in {wait} s",
                    b.per_minute(),
                    self.name
                ))
            }),
            None => Ok(()),
        }
    }

    /// The cap on any read.
    pub fn max_records(&self) -> u64 {
        self.policy().max_records()
    }

    /// What this profile may do, model by model: the policy intersected with Odoo's access rights
    /// (one check per model and operation, run concurrently, cached).
    pub async fn model_access(&self) -> Result<Arc<Vec<ModelAccess>>, OdooError> {
        let mut guard = self.access.lock().await;
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some((at, g, list)) = guard.as_ref() {
            if at.elapsed() < CACHE_TTL && *g == generation {
                return Ok(list.clone());
            }
        }
        let pol = self.policy();
        let mut checks = Vec::new();
        for (model, mp) in pol.models() {
            for op in mp.operations() {
                let odoo_op = match op {
                    "read" => Operation::Read,
                    "create" => Operation::Create,
                    "update" => Operation::Write,
                    _ => Operation::Unlink,
                };
                checks
                    .push(async move { (model, op, self.user.check_access(model, odoo_op).await) });
            }
        }
        let mut granted: HashMap<&str, Vec<&'static str>> = HashMap::new();
        let mut missing: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (model, op, r) in futures_util::future::join_all(checks).await {
            match r {
                Ok(true) => granted.entry(model).or_default().push(op),
                Ok(false) => {}
                // Not installed on this Odoo: not offered at all.
                Err(e) if e.kind == ErrorKind::NotFound => {
                    missing.insert(model);
                }
                Err(e) if e.kind == ErrorKind::Access => {}
                Err(e) => return Err(e),
            }
        }
        let mut out = Vec::new();
        for (model, mp) in pol.models() {
            if missing.contains(model) {
                continue;
            }
            let operations = granted.remove(model).unwrap_or_default();
            let methods: Vec<String> = mp.methods().map(str::to_string).collect();
            if operations.is_empty() && methods.is_empty() {
                continue;
            }
            out.push(ModelAccess {
                model: model.to_string(),
                name: model_label(model),
                operations,
                methods,
            });
        }
        let list = Arc::new(out);
        *guard = Some((Instant::now(), generation, list.clone()));
        Ok(list)
    }

    /// `fields_get` of a model, cached.
    pub async fn fields(&self, model: &str) -> Result<Arc<Map<String, Value>>, OdooError> {
        if let Ok(cache) = self.fields.read() {
            if let Some((at, f)) = cache.get(model) {
                if at.elapsed() < CACHE_TTL {
                    return Ok(f.clone());
                }
            }
        }
        let f = Arc::new(self.user.fields_get(model, None).await?);
        if let Ok(mut cache) = self.fields.write() {
            cache.insert(model.to_string(), (Instant::now(), f.clone()));
        }
        Ok(f)
    }
}

/// All tools, with their compiled input validators and the precomputed `tools/list` answer.
pub struct Toolbox {
    specs: Vec<ToolSpec>,
    validators: HashMap<&'static str, jsonschema::Validator>,
    /// Per tool, the arguments mirrored into `Mcp-Param-{Header}` (2026-07-28 `x-mcp-header`).
    param_headers: HashMap<&'static str, Vec<(String, String)>>,
    listing: Value,
}

impl Toolbox {
    pub fn new() -> Result<Self, String> {
        #[allow(unused_mut)]
        let mut specs = vec![
            get_context::spec(),
            list_models::spec(),
            get_fields::spec(),
            search_records::spec(),
            read_group::spec(),
            create_records::spec(),
            update_records::spec(),
            delete_records::spec(),
            call_method::spec(),
        ];
        #[cfg(feature = "conformance-fixtures")]
        specs.extend(conformance::specs());
        let mut validators = HashMap::new();
        let mut param_headers = HashMap::new();
        for s in &specs {
            let headers: Vec<(String, String)> = s
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
            if !headers.is_empty() {
                param_headers.insert(s.name, headers);
            }
            let v = jsonschema::validator_for(&s.input_schema)
                .map_err(|e| format!("tool {}: invalid input schema: {e}", s.name))?;
            validators.insert(s.name, v);
            if let Some(out) = &s.output_schema {
                jsonschema::validator_for(out)
                    .map_err(|e| format!("tool {}: invalid output schema: {e}", s.name))?;
            }
        }
        let listing = Value::Array(specs.iter().map(ToolSpec::listing).collect());
        Ok(Self {
            specs,
            validators,
            param_headers,
            listing,
        })
    }

    /// The `tools` array of `tools/list`.
    pub fn listing(&self) -> &Value {
        &self.listing
    }

    /// The `tools` array of `tools/list` for a policy: only the tools it can ever allow, and
    /// without the write tools when `writes` is false (the kill switch is not open).
    pub fn listing_for(&self, policy: &Policy, writes: bool) -> Value {
        let tools = self
            .listing
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|t| writes || t["annotations"]["readOnlyHint"] == Value::Bool(true))
                    .filter(|t| tool_allowed(policy, t["name"].as_str().unwrap_or("")))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Value::Array(tools)
    }

    /// Arguments of `name` that clients mirror into `Mcp-Param-{Header}` headers:
    /// `(argument, Header)`.
    pub fn param_headers(&self, name: &str) -> &[(String, String)] {
        self.param_headers
            .get(name)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn kind(&self, name: &str) -> Option<ToolKind> {
        self.specs.iter().find(|s| s.name == name).map(|s| s.kind)
    }

    /// Whether a call of this tool may have something to say before its result (a question to the
    /// person behind the client, log messages), so that its answer should be streamed.
    pub fn may_talk(&self, name: &str, handshake: bool) -> bool {
        #[cfg(feature = "conformance-fixtures")]
        if conformance::talks(name, handshake) {
            return true;
        }
        let _ = (name, handshake);
        false
    }

    /// Validates `arguments` against the tool's schema, runs the tool, and records the call in
    /// the audit trail (when the context carries one): a read whose record cannot be taken fails
    /// rather than answer unrecorded; a write's intent is committed before Odoo is called.
    pub async fn call(
        &self,
        profile: &ProfileState,
        name: &str,
        arguments: Value,
        ctx: &CallContext,
    ) -> CallOutcome {
        let Some(tool_kind) = self.kind(name) else {
            return CallOutcome::UnknownTool;
        };
        #[cfg(feature = "conformance-fixtures")]
        if conformance::is_fixture(name) {
            let args = arguments.as_object().cloned().unwrap_or_default();
            if let Some(message) = self
                .validators
                .get(name)
                .and_then(|v| first_validation_error(v, &arguments))
            {
                return CallOutcome::Result(ToolOutput::Error(message).into_result());
            }
            return conformance::call(name, &args, ctx).await;
        }
        let arguments = match arguments {
            Value::Null => Value::Object(Map::new()),
            other => other,
        };
        let out = self.run(profile, name, &arguments, ctx).await;
        if let Some(audit) = &ctx.audit {
            if let Err(e) = audit.finish(tool_kind, &out).await {
                tracing::error!(tool = name, error = %e, "the audit trail did not take a tool call record");
                if tool_kind == ToolKind::Read {
                    // Fail closed: no answer without its record.
                    return CallOutcome::Result(
                        ToolOutput::Failed {
                            message: format!("the audit trail is unavailable ({e}); the answer was withheld. Try again later."),
                            class: None,
                            unknown: false,
                        }
                        .into_result(),
                    );
                }
                // A write that happened stays reported; its outcome record stays queued.
            }
        }
        CallOutcome::Result(out.into_result())
    }

    async fn run(
        &self,
        profile: &ProfileState,
        name: &str,
        arguments: &Value,
        ctx: &CallContext,
    ) -> ToolOutput {
        if let Some(message) = self
            .validators
            .get(name)
            .and_then(|v| first_validation_error(v, arguments))
        {
            return ToolOutput::Error(message);
        }
        let Value::Object(args) = arguments else {
            return ToolOutput::Error("arguments must be an object".into());
        };
        if self.kind(name).is_some_and(|k| k != ToolKind::Read) {
            if let Err(refusal) = profile.check_write_budget(&ctx.principal) {
                return refusal;
            }
        }
        // The model's view (its hidden fields, derived ones included) is built before anything
        // else, so that every record of this call can be redacted with it. Errors are the
        // tool's to report.
        if let Some(model) = args.get("model").and_then(Value::as_str)
            && profile.policy().model(model).is_some()
        {
            let _ = profile.view(model).await;
        }
        if !tool_allowed(&profile.policy(), name) {
            return ToolOutput::Denied(format!(
                "tool \"{name}\" is not available under profile \"{}\": its policy allows no such operation",
                profile.name
            ));
        }
        match name {
            "get_context" => get_context::call(profile).await,
            "list_models" => list_models::call(profile).await,
            "get_fields" => get_fields::call(profile, args).await,
            "search_records" => search_records::call(profile, args).await,
            "read_group" => read_group::call(profile, args).await,
            "create_records" => create_records::call(profile, args, ctx).await,
            "update_records" => update_records::call(profile, args, ctx).await,
            "delete_records" => delete_records::call(profile, args, ctx).await,
            "call_method" => call_method::call(profile, args, ctx).await,
            other => ToolOutput::Error(format!("unknown tool {other}")),
        }
    }
}

/// Whether a policy can ever allow a tool (`tools/list` shows only those).
fn tool_allowed(policy: &Policy, name: &str) -> bool {
    match name {
        "get_context" | "list_models" => true,
        "get_fields" => policy.models().next().is_some(),
        "search_records" | "read_group" => policy.allows_anywhere(Op::Read),
        "create_records" => policy.allows_anywhere(Op::Create),
        "update_records" => policy.allows_anywhere(Op::Update),
        "delete_records" => policy.allows_anywhere(Op::Delete),
        "call_method" => policy.any_methods(),
        // Conformance fixtures (feature-gated build only).
        _ => true,
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
    json!({"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "integer", "minimum": 1},
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
        let v = &tb.validators["search_records"];
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
