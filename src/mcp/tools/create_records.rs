//! `create_records`: create one or many records, under the policy's create rule.

use super::guard::{self, allowed, check_values, write_context_arg};
use super::write::{self, Call, Ids, Plan};
use super::{
    ProfileState, ToolError, ToolKind, ToolSpec, context_schema, model_arg, model_schema,
    write_output_schema,
};
use crate::policy::Op;
use serde_json::{Map, Value, json};

fn spec() -> ToolSpec {
    ToolSpec {
        name: "create_records",
        title: "Create records",
        description: "Creates one or more records of an Odoo model. `records` is a list of {field: value} objects; one2many/many2many fields take Odoo commands ([[0, 0, {...}]] creates a line). Only fields the key's policy allows are accepted. Returns the new ids.",
        kind: ToolKind::Write,
        input_schema: json!({
            "type": "object",
            "properties": {
                "model": model_schema(),
                "records": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "object"},
                            "description": "Records to create, e.g. [{\"name\": \"Acme\", \"email\": \"info@acme.test\"}]"},
                "context": context_schema(),
                "approval_id": {"type": "string", "maxLength": 128, "description": "The id of an approved request, when the write needed an approver"}
            },
            "required": ["model", "records"],
            "additionalProperties": false
        }),
        output_schema: Some(write_output_schema()),
    }
}

tool!(
    CreateRecords,
    |policy| policy.allows_anywhere(Op::Create),
    |p, args, ctx| write::run(p, ctx, args, plan(p, args).await?).await
);

/// Allowed, context, defaults, values: then the common sequence ([`write::run`]).
async fn plan(p: &ProfileState, args: &Map<String, Value>) -> Result<Plan, ToolError> {
    let model = model_arg(args);
    let (pol, mp) = allowed(p, model, Op::Create)?;
    let context = write_context_arg(args, &mp)?;
    let records: Vec<Map<String, Value>> = args
        .get("records")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|r| r.as_object().cloned()).collect())
        .unwrap_or_default();
    let all: Vec<&Map<String, Value>> = records.iter().collect();
    guard::check_defaults(p, model, Op::Create, &context, &all).await?;
    let mut nested = Vec::new();
    for values in &records {
        nested.extend(check_values(p, &pol, model, Op::Create, values).await?);
    }
    let confirm = guard::write_confirm(&pol, &mp, Op::Create, &nested);
    Ok(Plan {
        tool: "create_records",
        model: model.to_string(),
        ids: Vec::new(),
        check: Ids::None,
        confirm,
        nested,
        context,
        call: Call::Create(records),
        policy: pol,
    })
}
