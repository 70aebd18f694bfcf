//! The tools `/mcp` offers, one file per tool. Each tool declares its schema, annotations and
//! handler; [`Toolbox`] compiles every input schema once at start-up, validates arguments before
//! anything runs, and turns handler outcomes into MCP `CallToolResult`s.

mod get_context;
mod get_fields;
mod list_models;
mod read_group;
mod search_records;

use super::server::CallContext;
use crate::odoo::{ErrorKind, Identity, OdooError, OdooUser, Operation, ServerInfo};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Cap on any read until per-profile policies set their own (`[defaults] max_records`).
pub const DEFAULT_MAX_RECORDS: u64 = 200;

/// How long model-level access checks and `fields_get` answers are reused.
const CACHE_TTL: Duration = Duration::from_secs(300);

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
    /// A failure the assistant should read: the message says what to change.
    Error(String),
}

impl ToolOutput {
    fn into_result(self) -> Value {
        match self {
            ToolOutput::Structured(v) => json!({
                "content": [{"type": "text", "text": v.to_string()}],
                "structuredContent": v,
                "isError": false,
            }),
            ToolOutput::Error(message) => json!({
                "content": [{"type": "text", "text": message}],
                "isError": true,
            }),
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
        ToolOutput::Error(format!(
            "Odoo error ({}){class}: {}{hint}",
            e.kind, e.message
        ))
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

/// Everything a tool needs to act for one profile: its logged-in Odoo user and caches.
pub struct ProfileState {
    pub name: String,
    pub user: OdooUser,
    pub server: ServerInfo,
    pub identity: Identity,
    pub max_records: u64,
    models: Vec<ExposedModel>,
    access: tokio::sync::Mutex<Option<(Instant, Arc<Vec<ModelAccess>>)>>,
    fields: RwLock<HashMap<String, CachedFields>>,
}

/// A model the profile exposes, with a human name (`ir.model` is unreadable to most users, so
/// names do not come from Odoo).
#[derive(Debug, Clone)]
pub struct ExposedModel {
    pub model: String,
    pub name: String,
}

/// The read-only default until per-profile policy files exist: common business models, each
/// offered only where Odoo's own access rights let the profile's user read it.
pub fn default_models() -> Vec<ExposedModel> {
    [
        ("res.partner", "Contact"),
        ("res.company", "Company"),
        ("res.country", "Country"),
        ("res.currency", "Currency"),
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
    ]
    .into_iter()
    .map(|(model, name)| ExposedModel {
        model: model.to_string(),
        name: name.to_string(),
    })
    .collect()
}

/// A model with the operations this profile may perform on it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelAccess {
    pub model: String,
    pub name: String,
    pub operations: Vec<&'static str>,
}

impl ProfileState {
    /// Logs in is the caller's job; this reads the identity once.
    pub async fn new(
        name: String,
        user: OdooUser,
        models: Vec<ExposedModel>,
    ) -> Result<Self, OdooError> {
        let server = user.server_info().await?;
        let identity = user.whoami().await?;
        Ok(Self {
            name,
            user,
            server,
            identity,
            max_records: DEFAULT_MAX_RECORDS,
            models,
            access: tokio::sync::Mutex::new(None),
            fields: RwLock::new(HashMap::new()),
        })
    }

    /// The exposed models this profile's Odoo user can read, with the operations allowed.
    /// Cached; one access check per model per cache period, run concurrently.
    pub async fn model_access(&self) -> Result<Arc<Vec<ModelAccess>>, OdooError> {
        let mut guard = self.access.lock().await;
        if let Some((at, list)) = guard.as_ref() {
            if at.elapsed() < CACHE_TTL {
                return Ok(list.clone());
            }
        }
        let checks = self.models.iter().map(|m| async move {
            let r = self.user.check_access(&m.model, Operation::Read).await;
            (m, r)
        });
        let mut out = Vec::new();
        for (m, r) in futures_util::future::join_all(checks).await {
            match r {
                Ok(true) => out.push(ModelAccess {
                    model: m.model.clone(),
                    name: m.name.clone(),
                    operations: vec!["read"],
                }),
                // Not readable, or not installed on this Odoo: not offered.
                Ok(false) => {}
                Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::Access) => {}
                Err(e) => return Err(e),
            }
        }
        let list = Arc::new(out);
        *guard = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// Refuses a model this profile does not expose, in words that tell the assistant what to do.
    pub async fn check_model(&self, model: &str) -> Result<(), ToolOutput> {
        let list = self.model_access().await.map_err(ToolOutput::from)?;
        if list.iter().any(|m| m.model == model) {
            Ok(())
        } else {
            Err(ToolOutput::Error(format!(
                "model \"{model}\" is not available to this key: call list_models for the models you may use"
            )))
        }
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

    /// Validates `arguments` against the tool's schema, then runs it.
    pub async fn call(
        &self,
        profile: &ProfileState,
        name: &str,
        arguments: Value,
        ctx: &CallContext,
    ) -> CallOutcome {
        let Some(validator) = self.validators.get(name) else {
            return CallOutcome::UnknownTool;
        };
        let arguments = match arguments {
            Value::Null => Value::Object(Map::new()),
            other => other,
        };
        if let Some(message) = first_validation_error(validator, &arguments) {
            return CallOutcome::Result(ToolOutput::Error(message).into_result());
        }
        let Value::Object(args) = arguments else {
            return CallOutcome::Result(
                ToolOutput::Error("arguments must be an object".into()).into_result(),
            );
        };
        let out = match name {
            "get_context" => get_context::call(profile).await,
            "list_models" => list_models::call(profile).await,
            "get_fields" => get_fields::call(profile, &args).await,
            "search_records" => search_records::call(profile, &args).await,
            "read_group" => read_group::call(profile, &args).await,
            #[cfg(feature = "conformance-fixtures")]
            other if conformance::is_fixture(other) => {
                return conformance::call(other, &args, ctx).await;
            }
            _ => return CallOutcome::UnknownTool,
        };
        let _ = ctx;
        CallOutcome::Result(out.into_result())
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
        assert_eq!(tools.len(), 5);
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
