//! Policy files (`policies/*.toml`): load, validate, and answer what a profile may do.
//!
//! A domain module: pure (no I/O except reading policy files, no Odoo calls) and independent of
//! the MCP, middleware, admin and app layers. The file format is in the README ("Policies"):
//!
//! ```toml
//! [defaults]
//! max_records = 200
//! confirm = "user"
//!
//! [models."res.partner"]
//! read = true
//! hidden_fields = ["vat"]
//! update = { fields = ["name", "email"], confirm = "user" }
//! ```
//!
//! Default deny: a model no rule names is invisible, an operation no rule allows is refused, and
//! every accessor answers the strictest thing when asked about something the policy does not allow
//! (no fields writable, a FALSE restriction, `approver` confirmation).
//!
//! The raw TOML is walked by hand rather than deserialised with `deny_unknown_fields`, so that
//! `policy check` reports every problem of a file at once, each with its file, model and key.

pub mod derive;
pub mod domain;
mod parse;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

pub use domain::{and, normalize};

/// Who must agree before a write runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Confirm {
    /// Runs at once (still audited).
    None,
    /// The human behind the MCP client confirms.
    User,
    /// A different person holding an `approve` key approves.
    Approver,
}

impl Confirm {
    pub fn as_str(self) -> &'static str {
        match self {
            Confirm::None => "none",
            Confirm::User => "user",
            Confirm::Approver => "approver",
        }
    }

    fn parse(s: &str) -> Option<Confirm> {
        match s {
            "none" => Some(Confirm::None),
            "user" => Some(Confirm::User),
            "approver" => Some(Confirm::Approver),
            _ => None,
        }
    }
}

impl fmt::Display for Confirm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CRUD operation a model rule can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Read,
    Create,
    Update,
    Delete,
}

impl Op {
    /// All operations, in the order tools and listings show them.
    pub const ALL: [Op; 4] = [Op::Read, Op::Create, Op::Update, Op::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong with a policy file, located by file, model and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub model: Option<String>,
    /// Dotted key inside the model's table (`update.fields`), or a top-level key
    /// (`defaults.max_records`) when `model` is `None`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    /// `policies/sales.toml: models."res.partner".update.fields: "vat" is also hidden`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        match (&self.model, &self.key) {
            (Some(model), Some(key)) => write!(f, "models.{model:?}.{key}: ")?,
            (Some(model), None) => write!(f, "models.{model:?}: ")?,
            (None, Some(key)) => write!(f, "{key}: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

/// A validated policy file.
#[derive(Debug, Clone)]
pub struct Policy {
    source: String,
    max_records: u64,
    default_confirm: Confirm,
    models: BTreeMap<String, ModelPolicy>,
    /// Allowed but worth a reviewer's look (generic methods allowlisted): `policy check` prints them.
    warnings: Vec<Problem>,
}

/// The built-in policy, used when a profile names no policy file.
const READ_ONLY_TOML: &str = include_str!("../../policies/read-only.toml");

impl Policy {
    /// Parses and validates a policy; `source` names it in problems (usually its path). A TOML
    /// syntax error is one problem with line and column; otherwise every problem is reported.
    pub fn parse(text: &str, source: &str) -> Result<Policy, Vec<Problem>> {
        parse::parse(text, source)
    }

    /// Reads and parses a policy file; an unreadable file is one problem.
    pub fn load(path: &Path) -> Result<Policy, Vec<Problem>> {
        let source = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Policy::parse(&text, &source),
            Err(e) => Err(vec![Problem {
                file: source,
                model: None,
                key: None,
                message: format!("cannot read the policy file: {e}"),
            }]),
        }
    }

    /// `policies/read-only.toml`, compiled into the binary. A unit test proves it parses; should
    /// it ever not, this fails closed to a policy that allows nothing.
    pub fn read_only_default() -> Policy {
        Policy::parse(READ_ONLY_TOML, "policies/read-only.toml (built in)").unwrap_or_else(|_| {
            Policy {
                source: "deny-all (the built-in read-only policy did not parse)".into(),
                max_records: parse::DEFAULT_MAX_RECORDS,
                default_confirm: Confirm::Approver,
                models: BTreeMap::new(),
                warnings: Vec::new(),
            }
        })
    }

    /// What `policy check` warns about: allowed, but worth a reviewer's second look.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// Where the policy came from (the path it was loaded from, or the `source` given to parse).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Cap on the number of records any read returns.
    pub fn max_records(&self) -> u64 {
        self.max_records
    }

    /// Confirmation for writes and methods whose rule does not say.
    pub fn default_confirm(&self) -> Confirm {
        self.default_confirm
    }

    /// The rules for a model, if the policy names it. A named model may still allow nothing:
    /// use [`Policy::is_visible`] to decide whether to show it.
    pub fn model(&self, name: &str) -> Option<&ModelPolicy> {
        self.models.get(name)
    }

    /// Every model the policy names, sorted by name.
    pub fn models(&self) -> impl Iterator<Item = (&str, &ModelPolicy)> {
        self.models.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether the policy allows at least one operation or method on `model`.
    pub fn is_visible(&self, model: &str) -> bool {
        self.model(model).is_some_and(ModelPolicy::is_visible)
    }

    /// Whether some model allows `op` (to decide which tools `tools/list` shows).
    pub fn allows_anywhere(&self, op: Op) -> bool {
        self.models.values().any(|m| m.allows(op))
    }

    /// Whether some model allowlists a method (to decide whether `call_method` is listed).
    pub fn any_methods(&self) -> bool {
        self.models.values().any(|m| !m.methods.is_empty())
    }
}

/// Rules for one CRUD operation after validation.
#[derive(Debug, Clone, Default)]
struct Rule {
    /// Writable fields (`None` = any non-hidden field). Only for create and update.
    fields: Option<BTreeSet<String>>,
    /// Normalised restriction of this rule alone (read's domain is ANDed in by `restriction`).
    domain: Vec<Value>,
    confirm: Option<Confirm>,
}

/// The rules for one model.
#[derive(Debug, Clone)]
pub struct ModelPolicy {
    name: String,
    /// `read = true` or `{ domain }`.
    read: bool,
    /// Normalised `read.domain`, `[]` when none; ANDed into update, delete and methods even when
    /// `read` itself is not allowed.
    read_domain: Vec<Value>,
    create: Option<Rule>,
    update: Option<Rule>,
    delete: Option<Rule>,
    hidden: BTreeSet<String>,
    /// `derived.<field>`: sources of a computed field stated not to reach the assistant.
    derived: BTreeMap<String, Exception>,
    /// `labels = true`: other models' values may show the display name of any of its records.
    labels: bool,
    /// Allowlisted methods with their rules.
    methods: BTreeMap<String, MethodRule>,
    /// The policy file's `[defaults] confirm`, used by [`ModelPolicy::method`].
    default_confirm: Confirm,
}

/// Returned as the writable set of an operation that allows no writes.
static NOTHING: BTreeSet<String> = BTreeSet::new();

/// `derived.<field> = { ignore = [...], reason = "..." }`.
#[derive(Debug, Clone)]
pub struct Exception {
    /// Sources (as `fields_get` `depends` names them) that do not reach the assistant.
    pub ignore: BTreeSet<String>,
    /// Why, in the policy author's words (shown by `policy check` and in the docs of the field).
    pub reason: String,
}

/// An allowlisted method: who confirms it and which keyword arguments it may take.
#[derive(Debug, Clone, Default)]
pub struct MethodRule {
    pub confirm: Option<Confirm>,
    /// Keyword arguments the caller may pass (none by default).
    pub arguments: BTreeSet<String>,
}

impl ModelPolicy {
    /// The model's technical name (`res.partner`).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn rule(&self, op: Op) -> Option<&Rule> {
        match op {
            Op::Read => None,
            Op::Create => self.create.as_ref(),
            Op::Update => self.update.as_ref(),
            Op::Delete => self.delete.as_ref(),
        }
    }

    pub fn allows(&self, op: Op) -> bool {
        match op {
            Op::Read => self.read,
            _ => self.rule(op).is_some(),
        }
    }

    /// Whether anything at all is allowed on this model.
    pub fn is_visible(&self) -> bool {
        Op::ALL.iter().any(|op| self.allows(*op)) || !self.methods.is_empty()
    }

    /// Allowed operations, in the order read, create, update, delete.
    pub fn operations(&self) -> Vec<&'static str> {
        Op::ALL
            .iter()
            .filter(|op| self.allows(**op))
            .map(|op| op.as_str())
            .collect()
    }

    pub fn is_hidden(&self, field: &str) -> bool {
        self.hidden.contains(field)
    }

    pub fn hidden_fields(&self) -> &BTreeSet<String> {
        &self.hidden
    }

    /// Sources of `field` the policy states do not reach the assistant (`derived.<field>.ignore`).
    pub fn ignored_sources(&self, field: &str) -> &BTreeSet<String> {
        self.derived.get(field).map_or(&NOTHING, |e| &e.ignore)
    }

    /// The stated exceptions, by field.
    pub fn exceptions(&self) -> impl Iterator<Item = (&str, &Exception)> {
        self.derived.iter().map(|(f, e)| (f.as_str(), e))
    }

    /// `labels = true`: values of other models (a many2one's `[id, name]`, a group's label) may
    /// show the display name of any record of this model, even one outside its read domain or
    /// when the model itself is not readable.
    pub fn labels_allowed(&self) -> bool {
        self.labels
    }

    /// Fields writable by `op` (Create/Update): `None` = any non-hidden field. Fails closed: an
    /// operation that is not allowed, and Read and Delete, give the empty set.
    pub fn writable(&self, op: Op) -> Option<&BTreeSet<String>> {
        match op {
            Op::Create | Op::Update => match self.rule(op) {
                Some(rule) => rule.fields.as_ref(),
                None => Some(&NOTHING),
            },
            Op::Read | Op::Delete => Some(&NOTHING),
        }
    }

    /// Whether `field` may be written by `op`: allowed, not hidden, not `id`, and in the
    /// allowlist when there is one.
    pub fn may_write(&self, op: Op, field: &str) -> bool {
        field != "id"
            && self.allows(op)
            && !self.is_hidden(field)
            && self.writable(op).is_none_or(|set| set.contains(field))
    }

    /// The restriction for `op` as one normalised domain (a single Polish-notation term, or `[]`):
    /// Read = `read.domain`; Update/Delete = `read.domain` AND the rule's own domain;
    /// Create = `[]` (a new record has no ids to check; its fields allowlist is its restriction).
    /// An operation that is not allowed gives the FALSE leaf `[[0, "=", 1]]`.
    pub fn restriction(&self, op: Op) -> Value {
        if !self.allows(op) {
            return Value::Array(domain::normalize(&Value::Null));
        }
        let read = Value::Array(self.read_domain.clone());
        match self.rule(op) {
            None => read,
            Some(_) if op == Op::Create => Value::Array(Vec::new()),
            Some(rule) => domain::and(&read, &Value::Array(rule.domain.clone())),
        }
    }

    /// Whether reads are limited by a domain (some records of the model stay out of sight).
    pub fn has_read_domain(&self) -> bool {
        !self.read_domain.is_empty()
    }

    /// The restriction for method calls: `read.domain` (`[]` when none). Whether a method is
    /// allowed at all is [`ModelPolicy::method_confirm`]'s question.
    pub fn method_restriction(&self) -> Value {
        Value::Array(self.read_domain.clone())
    }

    /// Confirmation for a write: the rule's `confirm`, else `default`. Read needs none; an
    /// operation the policy does not allow answers the strictest, `Approver` (callers check
    /// [`ModelPolicy::allows`] first).
    pub fn confirm(&self, op: Op, default: Confirm) -> Confirm {
        match op {
            Op::Read => Confirm::None,
            _ => match self.rule(op) {
                Some(rule) => rule.confirm.unwrap_or(default),
                None => Confirm::Approver,
            },
        }
    }

    /// `None` when `name` is not allowlisted; else the rule's confirmation, or the policy file's
    /// `[defaults] confirm` when the rule does not say.
    pub fn method(&self, name: &str) -> Option<Confirm> {
        self.method_confirm(name, self.default_confirm)
    }

    /// `None` when `name` is not allowlisted; else the rule's confirmation, or `default`.
    pub fn method_confirm(&self, name: &str, default: Confirm) -> Option<Confirm> {
        self.methods.get(name).map(|r| r.confirm.unwrap_or(default))
    }

    /// The keyword arguments an allowlisted method may take (empty when none, or not allowlisted).
    pub fn method_arguments(&self, name: &str) -> &BTreeSet<String> {
        self.methods.get(name).map_or(&NOTHING, |r| &r.arguments)
    }

    /// Allowlisted method names, sorted.
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        self.methods.keys().map(String::as_str)
    }

    /// Every field the rules name (hidden fields, allowlists, first components of domain paths),
    /// for `policy check --odoo` to confirm they exist.
    pub fn referenced_fields(&self) -> BTreeSet<String> {
        let mut out = self.hidden.clone();
        let mut domains = vec![&self.read_domain];
        for rule in [&self.create, &self.update, &self.delete]
            .into_iter()
            .flatten()
        {
            out.extend(rule.fields.iter().flatten().cloned());
            domains.push(&rule.domain);
        }
        for d in domains {
            for item in d {
                if let Some(path) = item
                    .as_array()
                    .and_then(|l| l.first())
                    .and_then(Value::as_str)
                {
                    out.extend(path.split('.').next().map(str::to_string));
                }
            }
        }
        out
    }
}

/// Whether `name` is a plain field name (`[a-z0-9_]+`).
pub fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Checks the context a caller passes: only `lang`, `tz` (strings), `allowed_company_ids` (list
/// of integers), `active_test` (boolean) and `default_<field>`. The message names the refused key.
/// For writes use [`check_context_for`], which also limits `default_<field>` to writable fields.
pub fn check_context(ctx: &serde_json::Map<String, Value>) -> Result<(), String> {
    for (key, value) in ctx {
        let ok = match key.as_str() {
            "lang" | "tz" => value.is_string(),
            "active_test" => value.is_boolean(),
            "allowed_company_ids" => value
                .as_array()
                .is_some_and(|ids| ids.iter().all(|id| id.as_u64().is_some())),
            other => match other.strip_prefix("default_") {
                Some(field) if is_field_name(field) => true,
                _ => {
                    return Err(format!(
                        "context key `{key}` is not allowed (allowed: lang, tz, allowed_company_ids, active_test, default_<field>)"
                    ));
                }
            },
        };
        if !ok {
            let want = match key.as_str() {
                "active_test" => "true or false",
                "allowed_company_ids" => "a list of company ids",
                _ => "a string",
            };
            return Err(format!("context key `{key}` must be {want}"));
        }
    }
    Ok(())
}

/// [`check_context`], and for writes on `mp`: a `default_<field>` key sets a value on created
/// records, so `<field>` must be one `create` may write (not hidden, in the allowlist). Without
/// this, `default_credit_limit` would bypass the create rule's field allowlist.
pub fn check_context_for(
    ctx: &serde_json::Map<String, Value>,
    mp: &ModelPolicy,
) -> Result<(), String> {
    check_context(ctx)?;
    for key in ctx.keys() {
        if let Some(field) = key.strip_prefix("default_")
            && !mp.may_write(Op::Create, field)
        {
            return Err(format!(
                "context key `{key}` is not allowed: `{field}` is not writable on `{}`",
                mp.name
            ));
        }
    }
    Ok(())
}

/// `policy check`: every problem of every file (an unreadable file is a problem).
pub fn check_files(paths: &[PathBuf]) -> Vec<Problem> {
    paths
        .iter()
        .filter_map(|p| Policy::load(p).err())
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests;
