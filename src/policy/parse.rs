//! From TOML text to a validated [`Policy`], collecting every problem on the way.

use super::{
    Confirm, Exception, MethodRule, ModelPolicy, Policy, Problem, Rule, domain, is_field_name,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub(super) const DEFAULT_MAX_RECORDS: u64 = 200;
const MAX_RECORDS_LIMIT: i64 = 10_000;

const MODEL_KEYS: &str = "read, hidden_fields, derived, labels, create, update, delete, methods";

/// Methods a policy may allowlist but that read or write records generically, past the field
/// allowlists, hidden fields and restriction domains of the CRUD rules: `policy check` warns.
const GENERIC_METHODS: &[&str] = &[
    "copy_data",
    "web_name_search",
    "onchange",
    "web_onchange",
    "mapped",
    "filtered",
    "filtered_domain",
    "default_get",
    "toggle_active",
    "action_archive",
    "action_unarchive",
    "message_post",
    "message_post_with_source",
    "message_notify",
    "message_subscribe",
    "message_unsubscribe",
    "get_field_translations",
    "update_field_translations",
    "web_override_translations",
    "read_progress_bar",
    "search_panel_select_range",
    "search_panel_select_multi_range",
    "web_resequence",
    "get_metadata",
    "get_views",
    "get_view",
];

/// Method names a policy may never allowlist, with the reason. The ORM's own CRUD and read
/// methods would bypass the field allowlists, hidden fields and restriction domains that the
/// create/update/delete/read rules enforce; the environment switches change who Odoo thinks is
/// calling.
const REFUSED_METHODS: &[(&str, &str)] = &[
    ("create", "use the create/update/delete rules"),
    ("write", "use the create/update/delete rules"),
    ("unlink", "use the create/update/delete rules"),
    ("update", "use the create/update/delete rules"),
    ("web_save", "use the create/update/delete rules"),
    ("name_create", "use the create/update/delete rules"),
    ("load", "use the create/update/delete rules"),
    (
        "copy",
        "it creates records outside the create rule's field allowlist; use the create rule",
    ),
    ("read", "use the read rule"),
    ("search", "use the read rule"),
    ("search_read", "use the read rule"),
    ("search_count", "use the read rule"),
    ("search_fetch", "use the read rule"),
    ("fetch", "use the read rule"),
    ("name_search", "use the read rule"),
    ("name_get", "use the read rule"),
    ("read_group", "use the read rule"),
    ("formatted_read_group", "use the read rule"),
    ("web_read", "use the read rule"),
    ("web_search_read", "use the read rule"),
    ("web_read_group", "use the read rule"),
    ("export_data", "use the read rule"),
    ("sudo", "it would run as the superuser"),
    ("with_user", "it would change the calling user"),
    ("with_env", "it would change the calling user"),
    ("with_context", "it would change the context"),
    ("with_company", "it would change the company"),
];

struct Cx<'a> {
    file: &'a str,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Cx<'_> {
    fn at(&self, model: Option<&str>, key: Option<&str>, message: impl Into<String>) -> Problem {
        Problem {
            file: self.file.to_string(),
            model: model.map(str::to_string),
            key: key.map(str::to_string),
            message: message.into(),
        }
    }

    fn problem(&mut self, model: Option<&str>, key: Option<&str>, message: impl Into<String>) {
        let p = self.at(model, key, message);
        self.problems.push(p);
    }

    /// Something allowed but worth a reviewer's second look (`policy check` prints it).
    fn warning(&mut self, model: Option<&str>, key: Option<&str>, message: impl Into<String>) {
        let p = self.at(model, key, message);
        self.warnings.push(p);
    }
}

fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

pub(super) fn parse(text: &str, source: &str) -> Result<Policy, Vec<Problem>> {
    let mut cx = Cx {
        file: source,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let e: toml::de::Error = e;
            let at = e.span().map(|s| line_col(text, s.start));
            let message = match at {
                Some((line, col)) => {
                    format!("line {line}, column {col}: {}", e.message().trim_end())
                }
                None => e.message().trim_end().to_string(),
            };
            cx.problem(None, None, format!("not valid TOML: {message}"));
            return Err(cx.problems);
        }
    };

    let mut max_records = DEFAULT_MAX_RECORDS;
    let mut default_confirm = Confirm::User;
    if let Some(v) = table.get("defaults") {
        match v.as_table() {
            None => cx.problem(
                None,
                Some("defaults"),
                format!("must be a table, not {}", type_name(v)),
            ),
            Some(defaults) => {
                for (key, v) in defaults {
                    let at = format!("defaults.{key}");
                    match key.as_str() {
                        "max_records" => match v.as_integer() {
                            Some(n) if (1..=MAX_RECORDS_LIMIT).contains(&n) => {
                                max_records = u64::try_from(n).unwrap_or(DEFAULT_MAX_RECORDS);
                            }
                            Some(n) => cx.problem(
                                None,
                                Some(&at),
                                format!("must be between 1 and {MAX_RECORDS_LIMIT}, not {n}"),
                            ),
                            None => cx.problem(
                                None,
                                Some(&at),
                                format!("must be an integer, not {}", type_name(v)),
                            ),
                        },
                        "confirm" => {
                            if let Some(c) = confirm_value(&mut cx, None, &at, v) {
                                default_confirm = c;
                            }
                        }
                        _ => cx.problem(
                            None,
                            Some(&at),
                            "unknown key (allowed in [defaults]: max_records, confirm)",
                        ),
                    }
                }
            }
        }
    }

    let mut models = BTreeMap::new();
    if let Some(v) = table.get("models") {
        match v.as_table() {
            None => cx.problem(
                None,
                Some("models"),
                format!("must be a table, not {}", type_name(v)),
            ),
            Some(entries) => {
                for (name, v) in entries {
                    let name_ok = is_model_name(name);
                    if !name_ok {
                        cx.problem(
                            Some(name),
                            None,
                            "is not a model name (lower-case letters, digits, _ and inner dots, such as \"res.partner\")",
                        );
                    }
                    match v.as_table() {
                        None => cx.problem(
                            Some(name),
                            None,
                            format!("must be a table, not {}", type_name(v)),
                        ),
                        Some(t) => {
                            let mp = model(&mut cx, name, t, default_confirm);
                            if name_ok {
                                models.insert(name.clone(), mp);
                            }
                        }
                    }
                }
            }
        }
    }

    for key in table.keys() {
        if key != "defaults" && key != "models" {
            cx.problem(
                None,
                Some(key),
                "unknown key (a policy has [defaults] and [models.\"<model>\"] tables)",
            );
        }
    }

    if cx.problems.is_empty() {
        Ok(Policy {
            source: source.to_string(),
            max_records,
            default_confirm,
            models,
            warnings: cx.warnings,
        })
    } else {
        Err(cx.problems)
    }
}

/// `res.partner`, `x_custom`, `account.move.line`: `[a-z0-9_.]`, no empty part.
fn is_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

fn confirm_value(cx: &mut Cx, model: Option<&str>, key: &str, v: &toml::Value) -> Option<Confirm> {
    let parsed = v.as_str().and_then(Confirm::parse);
    if parsed.is_none() {
        let shown = match v.as_str() {
            Some(s) => format!("{s:?}"),
            None => type_name(v).to_string(),
        };
        cx.problem(
            model,
            Some(key),
            format!("{shown} is not a confirmation (use \"none\", \"user\" or \"approver\")"),
        );
    }
    parsed
}

fn model(cx: &mut Cx, name: &str, t: &toml::Table, default_confirm: Confirm) -> ModelPolicy {
    let m = Some(name);
    let mut mp = ModelPolicy {
        name: name.to_string(),
        read: false,
        read_domain: Vec::new(),
        create: None,
        update: None,
        delete: None,
        hidden: BTreeSet::new(),
        derived: BTreeMap::new(),
        labels: false,
        methods: BTreeMap::new(),
        default_confirm,
    };

    // Hidden fields first: the other rules are checked against them.
    if let Some(v) = t.get("hidden_fields") {
        match v.as_array() {
            None => cx.problem(
                m,
                Some("hidden_fields"),
                format!("must be a list of field names, not {}", type_name(v)),
            ),
            Some(items) => {
                for item in items {
                    match item.as_str() {
                        Some("id") => cx.problem(
                            m,
                            Some("hidden_fields"),
                            "\"id\" cannot be hidden: every tool works with record ids",
                        ),
                        Some(f) if is_field_name(f) => {
                            mp.hidden.insert(f.to_string());
                        }
                        Some(f) => cx.problem(
                            m,
                            Some("hidden_fields"),
                            format!("{f:?} is not a field name (lower-case letters, digits and _)"),
                        ),
                        None => cx.problem(
                            m,
                            Some("hidden_fields"),
                            format!("must list field names, found {}", type_name(item)),
                        ),
                    }
                }
            }
        }
    }

    for (key, v) in t {
        match key.as_str() {
            "hidden_fields" => {}
            "read" => {
                if let Some(rule) = rule(cx, name, &mp.hidden, "read", v, &["domain"]) {
                    mp.read = true;
                    mp.read_domain = rule.domain;
                }
            }
            "create" => mp.create = rule(cx, name, &mp.hidden, "create", v, &["fields", "confirm"]),
            "update" => {
                mp.update = rule(
                    cx,
                    name,
                    &mp.hidden,
                    "update",
                    v,
                    &["fields", "domain", "confirm"],
                );
            }
            "delete" => {
                mp.delete = rule(cx, name, &mp.hidden, "delete", v, &["domain", "confirm"]);
            }
            "methods" => mp.methods = methods(cx, name, v),
            "derived" => mp.derived = derived(cx, name, &mp.hidden, v),
            "labels" => match v.as_bool() {
                Some(b) => mp.labels = b,
                None => cx.problem(
                    m,
                    Some("labels"),
                    format!(
                        "must be true or false (true: other models' values may show the display name of any record of this model), not {}",
                        type_name(v)
                    ),
                ),
            },
            _ => {
                let hint = if v.is_table() {
                    format!(
                        "; a model name with dots must be quoted, as in [models.\"{name}.{key}\"]"
                    )
                } else {
                    String::new()
                };
                cx.problem(
                    m,
                    Some(key),
                    format!("unknown key (allowed: {MODEL_KEYS}){hint}"),
                );
            }
        }
    }
    mp
}

/// `true` -> an unrestricted rule, `false` -> none, a table -> a rule with the `allowed` keys.
fn rule(
    cx: &mut Cx,
    model: &str,
    hidden: &BTreeSet<String>,
    op: &str,
    v: &toml::Value,
    allowed: &[&str],
) -> Option<Rule> {
    let m = Some(model);
    let t = match v {
        toml::Value::Boolean(true) => return Some(Rule::default()),
        toml::Value::Boolean(false) => return None,
        toml::Value::Table(t) => t,
        other => {
            cx.problem(
                m,
                Some(op),
                format!(
                    "must be true, false or a table {{ {} }}, not {}",
                    allowed.join(", "),
                    type_name(other)
                ),
            );
            return None;
        }
    };
    let mut rule = Rule::default();
    for (key, v) in t {
        let at = format!("{op}.{key}");
        if !allowed.contains(&key.as_str()) {
            cx.problem(
                m,
                Some(&at),
                format!("unknown key ({op} takes {})", allowed.join(", ")),
            );
            continue;
        }
        match key.as_str() {
            "confirm" => rule.confirm = confirm_value(cx, m, &at, v),
            "fields" => rule.fields = Some(fields(cx, model, hidden, &at, v)),
            "domain" => rule.domain = domain_value(cx, model, hidden, &at, v),
            _ => {}
        }
    }
    Some(rule)
}

/// A writable-fields allowlist.
fn fields(
    cx: &mut Cx,
    model: &str,
    hidden: &BTreeSet<String>,
    at: &str,
    v: &toml::Value,
) -> BTreeSet<String> {
    let m = Some(model);
    let mut out = BTreeSet::new();
    let Some(items) = v.as_array() else {
        cx.problem(
            m,
            Some(at),
            format!("must be a list of field names, not {}", type_name(v)),
        );
        return out;
    };
    if items.is_empty() {
        cx.problem(
            m,
            Some(at),
            "an empty list allows no field; to refuse the operation say false",
        );
    }
    for item in items {
        match item.as_str() {
            Some("id") => cx.problem(m, Some(at), "\"id\" cannot be writable"),
            Some(f) if !is_field_name(f) => cx.problem(
                m,
                Some(at),
                format!("{f:?} is not a field name (lower-case letters, digits and _)"),
            ),
            Some(f) if hidden.contains(f) => {
                cx.problem(m, Some(at), format!("{f:?} is also hidden"));
            }
            Some(f) => {
                out.insert(f.to_string());
            }
            None => cx.problem(
                m,
                Some(at),
                format!("must list field names, found {}", type_name(item)),
            ),
        }
    }
    out
}

fn to_json(v: &toml::Value) -> Option<Value> {
    Some(match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::Number(serde_json::Number::from_f64(*f)?),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => {
            Value::Array(items.iter().map(to_json).collect::<Option<_>>()?)
        }
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| Some((k.clone(), to_json(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// A restriction domain: structurally valid, not naming hidden fields; returned normalised.
fn domain_value(
    cx: &mut Cx,
    model: &str,
    hidden: &BTreeSet<String>,
    at: &str,
    v: &toml::Value,
) -> Vec<Value> {
    let m = Some(model);
    let Some(json) = to_json(v) else {
        cx.problem(m, Some(at), "a domain cannot hold nan or inf");
        return Vec::new();
    };
    match crate::odoo::domain::validate(&json) {
        Err(e) => {
            cx.problem(m, Some(at), e);
            Vec::new()
        }
        Ok(paths) => {
            let mut ok = true;
            for path in &paths {
                let head = path.split('.').next().unwrap_or(path);
                if hidden.contains(head) {
                    ok = false;
                    cx.problem(
                        m,
                        Some(at),
                        format!("{path:?} uses the hidden field {head:?}"),
                    );
                }
            }
            if ok {
                domain::normalize(&json)
            } else {
                Vec::new()
            }
        }
    }
}

fn is_method_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn methods(cx: &mut Cx, model: &str, v: &toml::Value) -> BTreeMap<String, MethodRule> {
    let m = Some(model);
    let mut out = BTreeMap::new();
    let Some(t) = v.as_table() else {
        cx.problem(
            m,
            Some("methods"),
            format!(
                "must be a table such as methods.action_confirm = true, not {}",
                type_name(v)
            ),
        );
        return out;
    };
    for (name, v) in t {
        let at = if is_method_name(name) {
            format!("methods.{name}")
        } else {
            format!("methods.{name:?}")
        };
        let mut ok = true;
        if !is_method_name(name) {
            ok = false;
            cx.problem(m, Some(&at), "is not a method name (letters, digits and _)");
        } else if name.starts_with('_') {
            ok = false;
            cx.problem(
                m,
                Some(&at),
                "private methods (leading _) cannot be allowlisted",
            );
        } else if let Some((_, why)) = REFUSED_METHODS.iter().find(|(n, _)| n == name) {
            ok = false;
            cx.problem(m, Some(&at), format!("cannot be allowlisted: {why}"));
        }
        let rule = match v {
            toml::Value::Boolean(true) => Some(MethodRule::default()),
            // An explicit "no": the same as not naming the method.
            toml::Value::Boolean(false) => None,
            toml::Value::Table(t) => {
                let mut rule = MethodRule::default();
                for (key, v) in t {
                    let key_at = format!("{at}.{key}");
                    match key.as_str() {
                        "confirm" => rule.confirm = confirm_value(cx, m, &key_at, v),
                        "arguments" => rule.arguments = arguments(cx, model, &key_at, v),
                        _ => cx.problem(
                            m,
                            Some(&key_at),
                            "unknown key (a method rule takes confirm and arguments)",
                        ),
                    }
                }
                Some(rule)
            }
            other => {
                cx.problem(
                    m,
                    Some(&at),
                    format!(
                        "must be true, false or {{ confirm = \"...\", arguments = [...] }}, not {}",
                        type_name(other)
                    ),
                );
                None
            }
        };
        if ok && rule.is_some() && GENERIC_METHODS.contains(&name.as_str()) {
            cx.warning(
                m,
                Some(&at),
                "reads or writes records generically: the CRUD rules' field allowlists, hidden fields and domains do not bound what it does; allowlist it only if you have read what it does on this model",
            );
        }
        if let (true, Some(rule)) = (ok, rule) {
            out.insert(name.clone(), rule);
        }
    }
    out
}

/// A method's allowlisted keyword arguments.
fn arguments(cx: &mut Cx, model: &str, at: &str, v: &toml::Value) -> BTreeSet<String> {
    let m = Some(model);
    let mut out = BTreeSet::new();
    let Some(items) = v.as_array() else {
        cx.problem(
            m,
            Some(at),
            format!(
                "must be a list of keyword argument names, not {}",
                type_name(v)
            ),
        );
        return out;
    };
    for item in items {
        match item.as_str() {
            Some(a @ ("context" | "ids" | "self")) => cx.problem(
                m,
                Some(at),
                format!(
                    "{a:?} cannot be allowlisted: the tool's own context and ids are the ones used"
                ),
            ),
            Some(a) if is_field_name(a) => {
                out.insert(a.to_string());
            }
            Some(a) => cx.problem(
                m,
                Some(at),
                format!("{a:?} is not an argument name (lower-case letters, digits and _)"),
            ),
            None => cx.problem(
                m,
                Some(at),
                format!("must list argument names, found {}", type_name(item)),
            ),
        }
    }
    out
}

/// `derived.<field> = { ignore = [...], reason = "..." }`: sources of a computed field that do not
/// reach the assistant, stated with the reason.
fn derived(
    cx: &mut Cx,
    model: &str,
    hidden: &BTreeSet<String>,
    v: &toml::Value,
) -> BTreeMap<String, Exception> {
    let m = Some(model);
    let mut out = BTreeMap::new();
    let Some(t) = v.as_table() else {
        cx.problem(
            m,
            Some("derived"),
            format!(
                "must be a table such as [models.\"{model}\".derived.display_name], not {}",
                type_name(v)
            ),
        );
        return out;
    };
    for (field, v) in t {
        let at = format!("derived.{field}");
        if !is_field_name(field) {
            cx.problem(
                m,
                Some(&at),
                format!("{field:?} is not a field name (lower-case letters, digits and _)"),
            );
            continue;
        }
        if hidden.contains(field) {
            cx.problem(
                m,
                Some(&at),
                format!("{field:?} is itself hidden; an exception cannot show it"),
            );
            continue;
        }
        let Some(rule) = v.as_table() else {
            cx.problem(
                m,
                Some(&at),
                format!(
                    "must be a table {{ ignore = [\"<source>\", ...], reason = \"...\" }}, not {}",
                    type_name(v)
                ),
            );
            continue;
        };
        let mut ignore = BTreeSet::new();
        let mut reason = None;
        for (key, v) in rule {
            let key_at = format!("{at}.{key}");
            match key.as_str() {
                "ignore" => match v.as_array() {
                    Some(items) if !items.is_empty() => {
                        for item in items {
                            match item.as_str() {
                                Some("name") if field == "display_name" => cx.problem(
                                    m,
                                    Some(&key_at),
                                    "display_name shows the record's name: it cannot ignore \"name\"",
                                ),
                                Some(path) if crate::odoo::domain::is_field_path(path) => {
                                    ignore.insert(path.to_string());
                                }
                                _ => cx.problem(
                                    m,
                                    Some(&key_at),
                                    format!(
                                        "must list sources as Odoo's fields_get `depends` names them (\"email\", \"parent_id.name\"), found {item}"
                                    ),
                                ),
                            }
                        }
                    }
                    _ => cx.problem(
                        m,
                        Some(&key_at),
                        "must be a non-empty list of the sources to ignore",
                    ),
                },
                "reason" => match v.as_str().map(str::trim) {
                    Some(r) if r.len() >= 10 => reason = Some(r.to_string()),
                    _ => cx.problem(
                        m,
                        Some(&key_at),
                        "must say, in a sentence, why these sources do not reach the assistant",
                    ),
                },
                _ => cx.problem(
                    m,
                    Some(&key_at),
                    "unknown key (an exception takes ignore and reason)",
                ),
            }
        }
        if !rule.contains_key("ignore") {
            cx.problem(
                m,
                Some(&at),
                "needs ignore: the sources of the field that do not reach the assistant",
            );
        }
        match reason {
            Some(reason) if !ignore.is_empty() => {
                out.insert(field.clone(), Exception { ignore, reason });
            }
            None if !rule.contains_key("reason") => cx.problem(
                m,
                Some(&at),
                "needs a reason: say why these sources do not reach the assistant",
            ),
            _ => {}
        }
    }
    out
}
