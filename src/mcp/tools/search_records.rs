//! `search_records`: records matching a domain, and how many match in all.

use super::{
    ProfileState, ToolError, ToolKind, ToolResult, ToolSpec, domain_schema, model_arg,
    model_schema, opt_strings, opt_u64,
};
use super::{guard, labels};
use crate::odoo::{SearchRead, domain};
use crate::policy::{self, Op};
use serde_json::{Map, Value, json};

/// The field returned when the caller names none: cheap, and readable by every user.
const DEFAULT_FIELD: &str = "display_name";

fn spec() -> ToolSpec {
    ToolSpec {
        name: "search_records",
        title: "Search records",
        description: "Searches records of an Odoo model. Returns the matching records (with `id` and the requested fields) and `total`, the number of records matching the domain. Name the fields you need (call get_fields first); the default is display_name only. `limit` is capped by the key's profile.",
        kind: ToolKind::Read,
        input_schema: json!({
            "type": "object",
            "properties": {
                "model": model_schema(),
                "domain": domain_schema(),
                "fields": {"type": "array", "items": {"type": "string", "pattern": "^[a-z0-9_]+$"}, "maxItems": 200,
                           "description": "Field names to return (default: [\"display_name\"])"},
                "limit": {"type": "integer", "minimum": 1, "description": "Maximum number of records (default 80, capped by the profile)"},
                "offset": {"type": "integer", "minimum": 0, "maximum": 2147483647, "description": "Number of records to skip (default 0)"},
                "order": {"type": "string", "maxLength": 256, "description": "Sort order, e.g. \"date_order desc, id\""},
                "context": super::context_schema()
            },
            "required": ["model"],
            "additionalProperties": false
        }),
        output_schema: Some(json!({
            "type": "object",
            "properties": {
                "model": {"type": "string"},
                "records": {"type": "array", "items": {"type": "object"}},
                "total": {"type": "integer"}
            },
            "required": ["model", "records", "total"]
        })),
    }
}

tool!(
    SearchRecords,
    |policy| policy.allows_anywhere(crate::policy::Op::Read),
    |p, args, _ctx| call(p, args).await
);

async fn call(p: &ProfileState, args: &Map<String, Value>) -> ToolResult {
    let model = model_arg(args);
    let domain_value = args.get("domain").cloned().unwrap_or_else(|| json!([]));
    if let Err(e) = domain::validate(&domain_value) {
        return Err(ToolError::Invalid(format!(
            "invalid argument \"domain\": {e}"
        )));
    }
    let order = args
        .get("order")
        .and_then(Value::as_str)
        .map(str::to_string);
    let order_paths = match &order {
        Some(order) => match domain::validate_order(order) {
            Ok(paths) => paths,
            Err(e) => {
                return Err(ToolError::Invalid(format!(
                    "invalid argument \"order\": {e}"
                )));
            }
        },
        None => Vec::new(),
    };
    let (pol, mp) = guard::allowed(p, model, Op::Read)?;
    let context = guard::context_arg(args)?;
    let view = p.view(model).await?;
    // The default field may itself be hidden (derived from a hidden field): then ids only.
    let fields = opt_strings(args, "fields")
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| {
            let default = if view.is_hidden(DEFAULT_FIELD) {
                "id"
            } else {
                DEFAULT_FIELD
            };
            vec![default.to_string()]
        });
    for (paths, what) in [(&fields, "field"), (&order_paths, "order field")] {
        guard::check_paths(p, &pol, model, paths, what).await?;
    }
    guard::check_domain(p, &pol, model, &domain_value).await?;
    // The policy's restriction is ANDed in as its own term: no caller domain can widen it.
    let pinned = view
        .references
        .first()
        .and_then(|(_, id)| guard::pinned_ids(&domain_value, id));
    let restriction = guard::restriction(p, &pol, &mp, model, Op::Read, pinned.as_deref()).await?;
    let domain_value = policy::and(&restriction, &domain_value);
    let limit = opt_u64(args, "limit").unwrap_or(80).min(pol.max_records());
    let offset = opt_u64(args, "offset").unwrap_or(0);
    // Which labels may be shown is known before the read: Odoo is not asked for the others.
    let labels = labels::plan(p, &pol, &view, &fields).await?;
    let mut q = SearchRead::new(domain_value, fields)
        .limit(limit)
        .offset(offset);
    q.order = order;
    q.context = context;
    q.many2one = labels.many2one();
    // One Odoo request: the page and the total together.
    let (mut records, total) = p.user.search_page(model, &q).await?;
    labels.apply(p, &mut records).await?;
    Ok(json!({"model": model, "records": records, "total": total}))
}
