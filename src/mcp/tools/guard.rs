//! Policy enforcement shared by the tools. The decisions that need no Odoo are the policy
//! module's (pure); what needs Odoo's field definitions (relation paths, x2many targets,
//! `res_model` indirection) or its records (ids inside a restriction domain) is done here, as the
//! profile's own Odoo user.
//!
//! Every refusal is a [`ToolOutput::Error`] whose text says what is refused and under which
//! profile, never anything about a hidden field's values.

use super::{ProfileState, ToolError, labels};
use crate::odoo::OdooError;
use crate::policy::{self, Confirm, ModelPolicy, Op, Policy};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Records an x2many command touches on its target model: (model, operation, ids). Creates
/// carry no ids.
pub type Nested = (String, Op, Vec<i64>);

/// Refuses nested updates and deletes of records outside their model's restriction: one Odoo
/// request per target model and operation, whatever the number of lines.
pub async fn check_nested_ids(
    p: &ProfileState,
    pol: &Policy,
    nested: &[Nested],
) -> Result<(), ToolError> {
    let mut grouped: Vec<(&str, Op, Vec<i64>)> = Vec::new();
    for (target, op, ids) in nested {
        if *op == Op::Create {
            continue;
        }
        match grouped.iter_mut().find(|(t, o, _)| t == target && o == op) {
            Some((_, _, all)) => all.extend(ids),
            None => grouped.push((target.as_str(), *op, ids.clone())),
        }
    }
    for (target, op, mut ids) in grouped {
        ids.sort_unstable();
        ids.dedup();
        check_ids(p, pol, target, op, &ids, &[]).await?;
    }
    Ok(())
}

/// The confirmation a write needs: the strictest of its own rule's and those of every record it
/// creates, changes or deletes through x2many commands (a line added through its order needs what
/// adding it directly would).
pub fn write_confirm(pol: &Policy, mp: &ModelPolicy, op: Op, nested: &[Nested]) -> Confirm {
    let default = pol.default_confirm();
    nested
        .iter()
        .map(|(target, op, _)| {
            pol.model(target)
                .map_or(Confirm::Approver, |m| m.confirm(*op, default))
        })
        .fold(mp.confirm(op, default), Confirm::max)
}

/// `check_values` recurses through x2many commands, so its future is boxed.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A refusal, as the tool result the assistant reads.
pub fn deny(message: impl Into<String>) -> ToolError {
    ToolError::Denied(message.into())
}

/// The policy in force and the model's rules, if `op` is allowed on `model`.
pub fn allowed(
    p: &ProfileState,
    model: &str,
    op: Op,
) -> Result<(Arc<Policy>, ModelPolicy), ToolError> {
    let pol = p.policy();
    let Some(mp) = pol.model(model) else {
        return Err(deny(format!(
            "model \"{model}\" is not available under profile \"{}\": call list_models for the models you may use",
            p.name
        )));
    };
    if !mp.allows(op) {
        return Err(deny(format!(
            "{} on \"{model}\" is not allowed under profile \"{}\" (allowed: {})",
            op.as_str(),
            p.name,
            mp.operations().join(", ")
        )));
    }
    let mp = mp.clone();
    Ok((pol, mp))
}

/// As [`context_arg`] for writes: `default_<field>` keys must also name fields the model's
/// create rule may write (a default is a value written by another name).
pub fn write_context_arg(
    args: &Map<String, Value>,
    mp: &ModelPolicy,
) -> Result<Map<String, Value>, ToolError> {
    match args.get("context") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(ctx)) => {
            policy::check_context_for(ctx, mp)
                .map_err(|e| deny(format!("invalid argument \"context\": {e}")))?;
            Ok(ctx.clone())
        }
        Some(_) => Err(deny("invalid argument \"context\": must be an object")),
    }
}

/// Checks the `default_<field>` keys of a write's context. A default is a value written by another
/// name, to every record the call creates (nested ones, and records other calls create as a side
/// effect), so: on `create_records` only; only for a field the create rule may write, that exists
/// and is neither an x2many nor part of a record reference (`res_model`/`res_id`); and never
/// together with x2many commands.
pub async fn check_defaults(
    p: &ProfileState,
    model: &str,
    op: Op,
    context: &Map<String, Value>,
    values: &[&Map<String, Value>],
) -> Result<(), ToolError> {
    let defaults: Vec<&str> = context
        .keys()
        .filter_map(|k| k.strip_prefix("default_"))
        .collect();
    if defaults.is_empty() {
        return Ok(());
    }
    if op != Op::Create {
        return Err(deny(format!(
            "invalid argument \"context\": default_* keys are accepted on create_records only (profile \"{}\")",
            p.name
        )));
    }
    let view = p.view(model).await.map_err(ToolError::from)?;
    let x2many = |name: &str| matches!(view.field_type(name), "one2many" | "many2many");
    for field in defaults {
        if !view.has(field)
            || x2many(field)
            || view.reference_of(field).is_some()
            || view.is_hidden(field)
        {
            return Err(deny(format!(
                "invalid argument \"context\": default_{field} is not accepted (defaults may set existing, visible scalar or many2one fields only, not references to other records)"
            )));
        }
    }
    if values.iter().any(|v| v.keys().any(|k| x2many(k))) {
        return Err(deny(
            "invalid argument \"context\": default_* keys cannot be combined with one2many/many2many commands (the defaults would apply to the nested records too)",
        ));
    }
    Ok(())
}

/// Refuses caller context keys outside the allowlist.
pub fn context_arg(args: &Map<String, Value>) -> Result<Map<String, Value>, ToolError> {
    match args.get("context") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(ctx)) => {
            policy::check_context(ctx)
                .map_err(|e| deny(format!("invalid argument \"context\": {e}")))?;
            Ok(ctx.clone())
        }
        Some(_) => Err(deny("invalid argument \"context\": must be an object")),
    }
}

/// Checks field paths a read uses (fields, order, groupby, aggregates): no hidden field on any
/// hop, whether the policy names it or Odoo derives it from one it names, and every model a path
/// goes through must be readable under the policy, with no read domain (Odoo would follow the
/// path into records outside it). A related field (or one inherited through `_inherits`) is
/// another model's value under a new name: its path is checked the same.
pub async fn check_paths(
    p: &ProfileState,
    pol: &Policy,
    model: &str,
    paths: &[String],
    what: &str,
) -> Result<(), ToolError> {
    for path in paths {
        check_path(p, pol, model, path, what, 0).await?;
    }
    Ok(())
}

/// Checks a caller's domain: every leaf's path as [`check_paths`] does, and every leaf that makes
/// Odoo search another model by name. A text operand on a relational field (`["partner_id",
/// "ilike", "..."]`, `=`, `in` with names, `child_of` a name) is a name search on the comodel, and
/// a leaf on `display_name` one on the model itself; Odoo's name search matches fields that
/// `fields_get` does not name (on `res.partner`: email, VAT, reference), so it is allowed only
/// where it can reveal nothing: the searched model is readable, has no read domain (unless it is
/// the searched model's own records, which the restriction bounds) and hides no field a name
/// search could match.
pub async fn check_domain(
    p: &ProfileState,
    pol: &Policy,
    model: &str,
    domain: &Value,
) -> Result<(), ToolError> {
    for (path, op, operand) in crate::odoo::domain::leaves(domain) {
        let (last_model, last_field) = check_path(p, pol, model, path, "domain field", 0).await?;
        let names = match operand {
            Value::String(_) => true,
            Value::Array(items) => items.iter().any(Value::is_string),
            _ => false,
        };
        if !names {
            continue;
        }
        let view = p.view(&last_model).await.map_err(ToolError::from)?;
        let own = last_field == "display_name"
            || (last_field == "id" && matches!(op, "child_of" | "parent_of"));
        let leaf = format!("[\"{path}\", \"{op}\", ...]");
        if own {
            if view.hides_searchable() {
                return Err(deny(format!(
                    "domain {leaf} makes Odoo search \"{last_model}\" by name, which also matches fields profile \"{}\" may not see: match a field such as \"name\" instead",
                    p.name
                )));
            }
            continue;
        }
        let Some(target) = view.relation(&last_field).map(str::to_string) else {
            continue;
        };
        let explicit = format!("{path}.name");
        let refusal = |why: String| {
            deny(format!(
                "domain {leaf} makes Odoo search \"{target}\" by name, {why}: name the field to match (e.g. [\"{explicit}\", \"{op}\", ...]) or search \"{target}\" first and use the ids ([\"{path}\", \"in\", ids])"
            ))
        };
        let Some(tp) = pol.model(&target).filter(|m| m.allows(Op::Read)) else {
            return Err(refusal(format!(
                "which profile \"{}\" may not read",
                p.name
            )));
        };
        if tp.has_read_domain() {
            return Err(refusal(format!(
                "also among records outside what profile \"{}\" may read",
                p.name
            )));
        }
        let target_view = p.view(&target).await.map_err(ToolError::from)?;
        if target_view.hides_searchable() {
            return Err(refusal(format!(
                "which also matches fields profile \"{}\" may not see there",
                p.name
            )));
        }
    }
    Ok(())
}

/// How many related fields deep a path is followed before it is refused.
const MAX_RELATED_DEPTH: usize = 4;

/// Checks one path; returns the model and field of its last hop.
fn check_path<'a>(
    p: &'a ProfileState,
    pol: &'a Policy,
    model: &'a str,
    path: &'a str,
    what: &'a str,
    depth: usize,
) -> BoxFuture<'a, Result<(String, String), ToolError>> {
    Box::pin(async move {
        let mut current = model.to_string();
        if path.is_empty() {
            return Ok((current, String::new()));
        }
        let hops: Vec<&str> = path.split('.').collect();
        for (i, field) in hops.iter().enumerate() {
            let Some(mp) = pol.model(&current) else {
                return Err(deny(format!(
                    "{what} \"{path}\" goes through model \"{current}\", which profile \"{}\" may not read",
                    p.name
                )));
            };
            if i > 0 && !mp.allows(Op::Read) {
                return Err(deny(format!(
                    "{what} \"{path}\" goes through model \"{current}\", which profile \"{}\" may not read",
                    p.name
                )));
            }
            let view = p.view(&current).await.map_err(ToolError::from)?;
            if let Some(why) = view.why_hidden(field) {
                let why = match why {
                    crate::policy::derive::Why::Listed => String::new(),
                    other => format!(": {}", other.explain()),
                };
                return Err(deny(format!(
                    "field \"{field}\" of \"{current}\" is not available under profile \"{}\" ({what} \"{path}\"){why}",
                    p.name
                )));
            }
            // Odoo would answer the path for every record of `current`, not only those the
            // policy's read domain lets this key see: it could probe the others.
            if i > 0 && mp.has_read_domain() {
                return Err(deny(format!(
                    "{what} \"{path}\" goes through model \"{current}\", which profile \"{}\" may read only within a restriction: search \"{current}\" first and use the ids (e.g. [\"{}\", \"in\", ids])",
                    p.name, hops[0]
                )));
            }
            if let Some(related) = view.related(field) {
                if depth >= MAX_RELATED_DEPTH {
                    return Err(deny(format!(
                        "field \"{field}\" of \"{current}\" copies another field through too many related fields to check ({what} \"{path}\")"
                    )));
                }
                let label = format!("field \"{field}\" of \"{current}\", a copy of \"{related}\",");
                check_path(p, pol, &current, related, &label, depth + 1).await?;
            }
            if i + 1 < hops.len() {
                match view
                    .def(field)
                    .and_then(|f| f.get("relation"))
                    .and_then(Value::as_str)
                {
                    Some(next) => current = next.to_string(),
                    None => {
                        return Err(deny(format!(
                            "{what} \"{path}\": \"{field}\" of \"{current}\" is not a relational field"
                        )));
                    }
                }
            } else {
                return Ok((current, field.to_string()));
            }
        }
        Ok((current, String::new()))
    })
}

/// Record ids a caller's domain pins a reference to (`["res_id", "in", [..]]` or `=` at the top
/// level): the read-domain check of referenced models then looks at those records only.
pub fn pinned_ids(domain: &Value, id_field: &str) -> Option<Vec<i64>> {
    let items = domain.as_array()?;
    // Only a conjunction pins anything: with an operator at the top, any leaf may be skipped.
    if items.iter().any(Value::is_string) {
        return None;
    }
    crate::odoo::domain::leaves(domain).find_map(|(path, op, value)| {
        if path != id_field {
            return None;
        }
        match (op, value) {
            ("=", Value::Number(n)) => n.as_i64().map(|i| vec![i]),
            ("in", Value::Array(ids)) => ids.iter().map(Value::as_i64).collect(),
            _ => None,
        }
    })
}

/// At most this many records of a read-restricted model are listed to bound references to it.
const MAX_REFERENCED: u64 = 1000;

/// The domain that bounds `op` on `model`: the policy's restriction, and for models that point at
/// records of other models by name (`res_model`/`res_id`, as `ir.attachment` does), only records
/// this policy lets the key read, read domains included. `pinned`: the referenced ids the call is
/// about, when known (see [`pinned_ids`]).
pub async fn restriction(
    p: &ProfileState,
    pol: &Policy,
    mp: &ModelPolicy,
    model: &str,
    op: Op,
    pinned: Option<&[i64]>,
) -> Result<Value, ToolError> {
    bounded(p, pol, model, mp.restriction(op), pinned).await
}

/// Adds the reference bounds to a restriction (see [`restriction`]).
async fn bounded(
    p: &ProfileState,
    pol: &Policy,
    model: &str,
    mut r: Value,
    pinned: Option<&[i64]>,
) -> Result<Value, ToolError> {
    let view = p.view(model).await.map_err(ToolError::from)?;
    for (model_field, id_field) in &view.references {
        let open: Vec<&str> = pol
            .models()
            .filter(|(_, m)| m.allows(Op::Read) && !m.has_read_domain())
            .map(|(n, _)| n)
            .collect();
        let mut bound = json!(["|", [model_field, "=", false], [model_field, "in", open]]);
        if !id_field.is_empty() {
            for (target, tp) in pol
                .models()
                .filter(|(_, m)| m.allows(Op::Read) && m.has_read_domain())
            {
                let mut within = tp.restriction(Op::Read);
                if let Some(ids) = pinned {
                    within = policy::and(&within, &json!([["id", "in", ids]]));
                }
                let ids = p
                    .user
                    .search(target, &within, Some(MAX_REFERENCED + 1))
                    .await
                    .map_err(ToolError::from)?;
                if ids.len() as u64 > MAX_REFERENCED {
                    return Err(deny(format!(
                        "\"{model}\" records may point at \"{target}\" records, which profile \"{}\" may read only within a restriction, and more than {MAX_REFERENCED} of them would have to be checked: filter by the records you mean, e.g. [[\"{model_field}\", \"=\", \"{target}\"], [\"{id_field}\", \"in\", ids]]",
                        p.name
                    )));
                }
                let term = json!(["&", [model_field, "=", target], [id_field, "in", ids]]);
                let mut or = vec![json!("|")];
                or.extend(bound.as_array().cloned().unwrap_or_default());
                or.extend(term.as_array().cloned().unwrap_or_default());
                bound = Value::Array(or);
            }
        }
        r = policy::and(&r, &bound);
    }
    Ok(r)
}

/// Whether a value holds a NUL character anywhere (PostgreSQL text cannot).
fn holds_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(holds_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// Checks values written to `model` by `op`: no hidden field (named or derived), only writable
/// ones, references (`res_model`/`res_id`) only to records the key may read, and x2many
/// commands checked against their target's policy.
/// Returns what the x2many commands do on their targets, as (model, op, ids): updates and deletes
/// to check for ids ([`check_nested_ids`]), and all of them for the confirmation
/// ([`write_confirm`]).
pub fn check_values<'a>(
    p: &'a ProfileState,
    pol: &'a Policy,
    model: &'a str,
    op: Op,
    values: &'a Map<String, Value>,
) -> BoxFuture<'a, Result<Vec<Nested>, ToolError>> {
    Box::pin(async move {
        let Some(mp) = pol.model(model) else {
            return Err(deny(format!(
                "model \"{model}\" is not available under profile \"{}\"",
                p.name
            )));
        };
        if !mp.allows(op) {
            return Err(deny(format!(
                "{} on \"{model}\" is not allowed under profile \"{}\"",
                op.as_str(),
                p.name
            )));
        }
        let view = p.view(model).await.map_err(ToolError::from)?;
        let writable = mp.writable(op);
        let mut nested = Vec::new();
        let mut references_checked = Vec::new();
        for (name, value) in values {
            let refusal = || {
                deny(format!(
                    "field \"{name}\" on \"{model}\" is not writable under profile \"{}\"",
                    p.name
                ))
            };
            if name == "id" || view.is_hidden(name) || writable.is_some_and(|w| !w.contains(name)) {
                return Err(refusal());
            }
            if !view.has(name) {
                return Err(deny(format!("\"{model}\" has no field \"{name}\"")));
            }
            if holds_nul(value) {
                return Err(ToolError::Invalid(format!(
                    "field \"{name}\" on \"{model}\": text cannot hold NUL characters (\\u0000): Odoo's database refuses them"
                )));
            }
            // Writing a related field writes the other model's record, outside its own rules.
            if let Some(related) = view.related(name) {
                return Err(deny(format!(
                    "field \"{name}\" on \"{model}\" is a copy of \"{related}\" (another model's field): it cannot be written through \"{model}\""
                )));
            }
            if let Some(pair) = view.reference_of(name)
                && !references_checked.contains(&pair)
            {
                references_checked.push(pair);
                check_reference(p, pol, model, op, pair, values).await?;
            }
            let ftype = view.field_type(name);
            if matches!(ftype, "one2many" | "many2many") {
                let target = view.relation(name).unwrap_or("");
                nested.extend(
                    check_commands(p, pol, model, name, ftype == "one2many", target, value).await?,
                );
            }
        }
        Ok(nested)
    })
}

/// A record reference written as (model field, id field): both together on an update (the id
/// means nothing without its model), a model this profile may read, and a record inside its read
/// domain (one `search`, when it has one).
async fn check_reference(
    p: &ProfileState,
    pol: &Policy,
    model: &str,
    op: Op,
    (model_field, id_field): &(String, String),
    values: &Map<String, Value>,
) -> Result<(), ToolError> {
    let falsy = |v: Option<&Value>| {
        v.is_none_or(|v| v.is_null() || v == &Value::Bool(false) || v.as_i64() == Some(0))
    };
    let target = values.get(model_field.as_str());
    let id = (!id_field.is_empty())
        .then(|| values.get(id_field.as_str()))
        .flatten();
    let together = format!(
        "\"{model_field}\" and \"{id_field}\" on \"{model}\" name a record together: set both in the same call"
    );
    if !id_field.is_empty()
        && ((op == Op::Update && (target.is_none() || id.is_none()))
            || (target.is_none() && !falsy(id)))
    {
        return Err(deny(together));
    }
    let Some(target) = target.filter(|t| !falsy(Some(t))) else {
        if !falsy(id) {
            return Err(deny(together));
        }
        return Ok(());
    };
    let target = target.as_str().unwrap_or("");
    let Some(tp) = pol.model(target).filter(|m| m.allows(Op::Read)) else {
        return Err(deny(format!(
            "\"{model_field}\" may only name a model profile \"{}\" may read; \"{target}\" is not",
            p.name
        )));
    };
    match id.and_then(Value::as_i64) {
        Some(rid) if rid > 0 => {
            let r = restriction(p, pol, tp, target, Op::Read, Some(&[rid])).await?;
            check_ids_within(p, target, r, "point at", &[rid]).await
        }
        _ if falsy(id) => Ok(()),
        _ => Err(deny(format!(
            "\"{id_field}\" on \"{model}\" must be a record id (an integer)"
        ))),
    }
}

/// x2many commands. `[0, _, vals]` creates on the target, `[1, id, vals]` updates it, `[2, id]`
/// deletes it: each under the target's policy (ids checked against its restriction).
///
/// On a many2many field, `[3, id]`, `[4, id]`, `[5]`, `[6, _, ids]` and bare ids only (un)link
/// existing records, which the parent's field permission covers. On a one2many field they are
/// refused: unlinking a line whose inverse field cascades deletes it, and linking moves it from
/// another parent, neither under the target's policy.
async fn check_commands(
    p: &ProfileState,
    pol: &Policy,
    model: &str,
    field: &str,
    one2many: bool,
    target: &str,
    value: &Value,
) -> Result<Vec<Nested>, ToolError> {
    let bad = || {
        deny(format!(
            "field \"{field}\" on \"{model}\" takes a list of commands such as [[0, 0, {{...}}]], [[1, id, {{...}}]] or [[2, id]] (ids are integers)"
        ))
    };
    let one2many_only = || {
        deny(format!(
            "field \"{field}\" on \"{model}\" is a one2many: use [0, 0, {{...}}] to add a line, [1, id, {{...}}] to change one and [2, id] to delete one; unlink, link, clear and replace commands are refused (they delete or move lines outside the policy)"
        ))
    };
    let Value::Array(commands) = value else {
        return Err(bad());
    };
    let mut nested = Vec::new();
    for c in commands {
        // A bare id list is Odoo's shorthand for [6, 0, ids].
        if c.is_i64() {
            if one2many {
                return Err(one2many_only());
            }
            continue;
        }
        let Some(parts) = c.as_array() else {
            return Err(bad());
        };
        let code = parts.first().and_then(Value::as_i64).ok_or_else(bad)?;
        let id = || parts.get(1).and_then(Value::as_i64).ok_or_else(bad);
        match code {
            0 => {
                let vals = parts.get(2).and_then(Value::as_object).ok_or_else(bad)?;
                nested.extend(check_values(p, pol, target, Op::Create, vals).await?);
                nested.push((target.to_string(), Op::Create, Vec::new()));
            }
            1 => {
                let id = id()?;
                let vals = parts.get(2).and_then(Value::as_object).ok_or_else(bad)?;
                nested.extend(check_values(p, pol, target, Op::Update, vals).await?);
                nested.push((target.to_string(), Op::Update, vec![id]));
            }
            2 => {
                let id = id()?;
                if !pol.model(target).is_some_and(|m| m.allows(Op::Delete)) {
                    return Err(deny(format!(
                        "deleting \"{target}\" records through \"{field}\" is not allowed under profile \"{}\"",
                        p.name
                    )));
                }
                nested.push((target.to_string(), Op::Delete, vec![id]));
            }
            3..=6 if one2many => return Err(one2many_only()),
            3 | 4 => {
                id()?;
            }
            5 => {}
            6 => {
                let ok = parts
                    .get(2)
                    .and_then(Value::as_array)
                    .is_some_and(|ids| ids.iter().all(Value::is_i64));
                if !ok {
                    return Err(bad());
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(nested)
}

/// Refuses ids outside the restriction of `op` on `model` (or that do not exist), by asking Odoo
/// as the profile's user, and reads `read` of them in the same request ([`inspect`]).
pub async fn check_ids(
    p: &ProfileState,
    pol: &Policy,
    model: &str,
    op: Op,
    ids: &[i64],
    read: &[String],
) -> Result<Vec<Map<String, Value>>, ToolError> {
    let Some(mp) = pol.model(model) else {
        return Err(deny(format!(
            "model \"{model}\" is not available under profile \"{}\"",
            p.name
        )));
    };
    let pinned = referenced_ids(p, model, ids).await?;
    let r = restriction(p, pol, mp, model, op, pinned.as_deref()).await?;
    inspect(p, model, r, op.as_str(), ids, read).await
}

/// For a model with references (`res_model`/`res_id`), the ids its records `ids` point at, so
/// that the reference bound checks those records only (one `read`); `None` for other models.
async fn referenced_ids(
    p: &ProfileState,
    model: &str,
    ids: &[i64],
) -> Result<Option<Vec<i64>>, ToolError> {
    let view = p.view(model).await.map_err(ToolError::from)?;
    let id_fields: Vec<&str> = view
        .references
        .iter()
        .map(|(_, id)| id.as_str())
        .filter(|id| !id.is_empty())
        .collect();
    if id_fields.is_empty() {
        return Ok(None);
    }
    let rows = p
        .user
        .read(model, ids, &id_fields)
        .await
        .map_err(ToolError::from)?;
    Ok(Some(
        rows.iter()
            .flat_map(|r| id_fields.iter().filter_map(|f| r.get(*f)?.as_i64()))
            .collect(),
    ))
}

/// Refuses ids a method may not act on: outside the model's read domain (the method
/// restriction), which also holds on models the policy does not let the key read.
pub async fn check_method_ids(
    p: &ProfileState,
    pol: &Policy,
    model: &str,
    method: &str,
    ids: &[i64],
    read: &[String],
) -> Result<Vec<Map<String, Value>>, ToolError> {
    let Some(mp) = pol.model(model) else {
        return Err(deny(format!(
            "model \"{model}\" is not available under profile \"{}\"",
            p.name
        )));
    };
    let pinned = referenced_ids(p, model, ids).await?;
    let r = bounded(p, pol, model, mp.method_restriction(), pinned.as_deref()).await?;
    inspect(p, model, r, &format!("call {method} on"), ids, read).await
}

async fn check_ids_within(
    p: &ProfileState,
    model: &str,
    r: Value,
    what: &str,
    ids: &[i64],
) -> Result<(), ToolError> {
    inspect(p, model, r, what, ids, &[]).await.map(|_| ())
}

/// The records a write touches: refused when one is outside `r` (the restriction of the
/// operation) or does not exist, and read (`read`: their display name and the current values the
/// preview shows) in the same Odoo request. No request when there is nothing to check or read.
pub async fn inspect(
    p: &ProfileState,
    model: &str,
    r: Value,
    what: &str,
    ids: &[i64],
    read: &[String],
) -> Result<Vec<Map<String, Value>>, ToolError> {
    let unrestricted = r.as_array().is_some_and(|a| a.is_empty());
    if read.is_empty() && unrestricted {
        return Ok(Vec::new());
    }
    let domain = policy::and(&r, &json!([["id", "in", ids]]));
    let (found, rows): (BTreeSet<i64>, Vec<Map<String, Value>>) = if read.is_empty() {
        let found = p
            .user
            .search(model, &domain, None)
            .await
            .map_err(ToolError::from)?;
        (found.into_iter().collect(), Vec::new())
    } else {
        let q = crate::odoo::SearchRead::new(domain, read.iter().cloned()).limit(ids.len() as u64);
        let rows = p
            .user
            .search_read(model, &q)
            .await
            .map_err(ToolError::from)?;
        let found = rows
            .iter()
            .filter_map(|r| r.get("id").and_then(Value::as_i64))
            .collect();
        (found, rows)
    };
    let outside: Vec<i64> = ids.iter().copied().filter(|i| !found.contains(i)).collect();
    if outside.is_empty() {
        Ok(rows)
    } else {
        Err(deny(format!(
            "records {outside:?} of \"{model}\" are outside what profile \"{}\" may {what} (or do not exist)",
            p.name
        )))
    }
}

/// What a preview reads of the records a write touches, when someone will be asked: their
/// display name and the current values of `changed` fields, only where the policy lets the key
/// read them (a readable model, fields not hidden).
pub async fn preview_fields(
    p: &ProfileState,
    pol: &Policy,
    model: &str,
    changed: impl Iterator<Item = &String>,
    asks: bool,
) -> Vec<String> {
    if !asks || !pol.model(model).is_some_and(|m| m.allows(Op::Read)) {
        return Vec::new();
    }
    let Ok(view) = p.view(model).await else {
        return Vec::new();
    };
    let mut fields: Vec<String> = Vec::new();
    if !view.is_hidden("display_name") {
        fields.push("display_name".into());
    }
    fields.extend(
        changed
            .filter(|f| view.has(f) && !view.is_hidden(f) && view.related(f).is_none())
            .cloned(),
    );
    if fields.is_empty() {
        // Still a read of the ids, so the one request checks the restriction too.
        fields.push("id".into());
    }
    fields
}

/// The label of a record in a preview: `Deco Addict (#10)`, or `#10` where its name may not be
/// shown.
fn record_label(id: i64, row: Option<&Map<String, Value>>) -> String {
    match row
        .and_then(|r| r.get("display_name"))
        .and_then(Value::as_str)
    {
        Some(name) => format!("{name} (#{id})"),
        None => format!("#{id}"),
    }
}

/// What a person is shown before a write: the records (by display name where the key may read
/// it; `rows` are what [`inspect`] read), and every field that changes, new values redacted as the
/// trail redacts them, current values next to them for an update.
pub async fn preview(
    p: &ProfileState,
    pol: &Policy,
    model: &str,
    operation: &str,
    ids: &[i64],
    mut rows: Vec<Map<String, Value>>,
    changes: Changes,
) -> crate::confirm::Preview {
    let count = match &changes {
        Changes::Create(records) => records.len(),
        _ => ids.len(),
    };
    use crate::confirm::Changes as C;
    if let Ok(view) = p.view(model).await {
        let keys: Vec<String> = rows
            .first()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default();
        if labels::sanitize(p, pol, &view, &mut rows, &keys)
            .await
            .is_err()
        {
            rows.clear();
        }
    }
    let by_id = |id: i64| {
        rows.iter()
            .find(|r| r.get("id").and_then(Value::as_i64) == Some(id))
    };
    let records: Vec<String> = ids.iter().map(|id| record_label(*id, by_id(*id))).collect();
    let redact =
        |key: &str, v: Value| p.redact_values(&json!({"model": model, key: v}))[key].take();
    let current = |field: &str| -> Vec<(String, Value)> {
        rows.iter()
            .filter_map(|r| {
                let id = r.get("id").and_then(Value::as_i64)?;
                Some((record_label(id, Some(r)), r.get(field)?.clone()))
            })
            .collect()
    };
    let changes = match changes {
        Changes::None => Vec::new(),
        Changes::Update(values) => {
            let values = redact("values", Value::Object(values));
            let values = values.as_object().cloned().unwrap_or_default();
            vec![C::of(None, &values, current)]
        }
        Changes::Create(records) => {
            let n = records.len();
            let records = redact(
                "records",
                Value::Array(records.into_iter().map(Value::Object).collect()),
            );
            records
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, r)| {
                    let title = (n > 1).then(|| format!("record {} of {n}", i + 1));
                    Some(C::of(title, r.as_object()?, |_| Vec::new()))
                })
                .collect()
        }
        Changes::Arguments(args) => {
            if args.is_empty() {
                Vec::new()
            } else {
                let args = redact("arguments", Value::Object(args));
                let args = args.as_object().cloned().unwrap_or_default();
                vec![C::of(Some("arguments".into()), &args, |_| Vec::new())]
            }
        }
    };
    crate::confirm::Preview {
        model: model.to_string(),
        operation: operation.to_string(),
        records,
        count,
        changes,
    }
}

/// What a write changes, for its preview.
pub enum Changes {
    None,
    Update(Map<String, Value>),
    Create(Vec<Map<String, Value>>),
    Arguments(Map<String, Value>),
}

/// Runs the confirmation gate: Ok to proceed (recording who confirmed), or the answer to give.
/// Whether a write will ask someone (so its preview needs the records' names).
pub fn asks(confirm: Confirm, args: &Map<String, Value>) -> bool {
    confirm != Confirm::None && !args.contains_key("approval_id")
}

pub async fn confirmed(
    p: &ProfileState,
    ctx: &crate::mcp::context::CallContext,
    tool: &str,
    args: &Map<String, Value>,
    confirm: Confirm,
    preview: crate::confirm::Preview,
) -> Result<(), ToolError> {
    match super::confirm::gate(p, ctx, tool, args, confirm, preview).await {
        super::confirm::Gate::Proceed { confirmed_by } => {
            ctx.audit.set_confirmed_by(confirmed_by);
            Ok(())
        }
        super::confirm::Gate::Stop(out) => Err(out),
    }
}

/// Commits a write's intent to the audit trail before Odoo is called; refuses the write when the
/// trail cannot take it (fail closed).
pub async fn intent(ctx: &crate::mcp::context::CallContext) -> Result<(), ToolError> {
    // The kill switch again, right before the write: a confirmation may have taken minutes.
    let state = ctx.kill.state();
    if state.mode != crate::killswitch::Mode::Open {
        return Err(ToolError::Denied(format!(
            "odoo-warden's kill switch is {} ({}): the write was not made",
            state.mode.as_str(),
            state.reason
        )));
    }
    ctx.audit
        .write_intent()
        .await
        .map_err(|e| ToolError::Failed {
            message: format!(
                "the write was refused: {}, and no write is made unrecorded. Nothing was changed; \
             try again later.",
                e.for_client()
            ),
            class: None,
            unknown: false,
        })
}

/// Odoo errors stay Odoo errors (distinct from policy denials).
pub fn odoo(e: OdooError) -> ToolError {
    ToolError::from(e)
}
