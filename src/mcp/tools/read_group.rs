//! `read_group`: grouped aggregates for simple analytics, one shape on every Odoo version.

use super::{
    ProfileState, ToolError, ToolKind, ToolResult, ToolSpec, domain_schema, model_arg,
    model_schema, opt_strings, opt_u64,
};
use super::{guard, labels};
use crate::odoo::{GroupedRead, domain};
use crate::policy::{self, Op};
use serde_json::{Map, Value, json};

const AGGREGATORS: [&str; 8] = [
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "count_distinct",
    "bool_and",
    "bool_or",
];
const GRANULARITIES: [&str; 5] = ["day", "week", "month", "quarter", "year"];

fn spec() -> ToolSpec {
    ToolSpec {
        name: "read_group",
        title: "Aggregate records by group",
        description: "Groups records of an Odoo model and aggregates them, like a pivot table. `groupby`: fields to group by (dates may take a granularity, e.g. \"date_order:month\"). `aggregates`: \"field:sum\" (also avg, min, max, count, count_distinct) or \"__count\". Each group holds its groupby values, `__count` and each aggregate under its spec.",
        kind: ToolKind::Read,
        input_schema: json!({
            "type": "object",
            "properties": {
                "model": model_schema(),
                "groupby": {"type": "array", "minItems": 1, "maxItems": 5,
                            "items": {"type": "string", "pattern": "^[a-z0-9_]+(:[a-z]+)?$"},
                            "description": "Fields to group by, e.g. [\"state\"] or [\"date_order:month\"]"},
                "aggregates": {"type": "array", "maxItems": 20,
                               "items": {"type": "string", "pattern": "^([a-z0-9_]+:[a-z_]+|__count)$"},
                               "description": "e.g. [\"amount_total:sum\", \"__count\"] (default [\"__count\"])"},
                "domain": domain_schema(),
                "limit": {"type": "integer", "minimum": 1, "description": "Maximum number of groups"},
                "order": {"type": "string", "maxLength": 256, "description": "Order of groups, e.g. \"amount_total desc\""}
            },
            "required": ["model", "groupby"],
            "additionalProperties": false
        }),
        output_schema: Some(json!({
            "type": "object",
            "properties": {
                "model": {"type": "string"},
                "groups": {"type": "array", "items": {"type": "object"}}
            },
            "required": ["model", "groups"]
        })),
    }
}

tool!(
    ReadGroup,
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
    let groupby = opt_strings(args, "groupby").unwrap_or_default();
    for g in &groupby {
        if let Some((_, gran)) = g.split_once(':') {
            if !GRANULARITIES.contains(&gran) {
                return Err(ToolError::Invalid(format!(
                    "invalid argument \"groupby\": \"{g}\": the granularity must be one of {}",
                    GRANULARITIES.join(", ")
                )));
            }
        }
    }
    let aggregates = opt_strings(args, "aggregates")
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| vec!["__count".to_string()]);
    for a in &aggregates {
        if let Some((_, agg)) = a.split_once(':') {
            if !AGGREGATORS.contains(&agg) {
                return Err(ToolError::Invalid(format!(
                    "invalid argument \"aggregates\": \"{a}\": the aggregate must be one of {}",
                    AGGREGATORS.join(", ")
                )));
            }
        }
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
    let field_of = |spec: &String| spec.split(':').next().unwrap_or_default().to_string();
    let grouped: Vec<String> = groupby.iter().map(field_of).collect();
    let measured: Vec<String> = aggregates
        .iter()
        .filter(|a| *a != "__count")
        .map(field_of)
        .collect();
    let ordered: Vec<String> = order_paths.into_iter().filter(|o| o != "__count").collect();
    for (paths, what) in [
        (&grouped, "groupby field"),
        (&measured, "aggregated field"),
        (&ordered, "order field"),
    ] {
        guard::check_paths(p, &pol, model, paths, what).await?;
    }
    guard::check_domain(p, &pol, model, &domain_value).await?;
    let view = p.view(model).await?;
    let pinned = view
        .references
        .first()
        .and_then(|(_, id)| guard::pinned_ids(&domain_value, id));
    let restriction = guard::restriction(p, &pol, &mp, model, Op::Read, pinned.as_deref()).await?;
    let q = GroupedRead {
        domain: policy::and(&restriction, &domain_value),
        groupby,
        aggregates,
        limit: Some(
            opt_u64(args, "limit")
                .unwrap_or(pol.max_records())
                .min(pol.max_records()),
        ),
        offset: None,
        order,
    };
    let mut groups = match p.user.grouped_read(model, &q).await {
        Ok(groups) => groups,
        Err(e) => return Err(e.into()),
    };
    labels::sanitize(p, &pol, &view, &mut groups, &q.groupby).await?;
    Ok(json!({"model": model, "groups": groups}))
}
