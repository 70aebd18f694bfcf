//! `update_records`: write values on records by id, under the policy's update rule.

use super::guard::{self, allowed, check_values, write_context_arg};
use super::write::{self, Call, Ids, Plan};
use super::{
    ProfileState, ToolError, ToolKind, ToolSpec, context_schema, ids_arg, ids_schema, model_arg,
    model_schema, write_output_schema,
};
use crate::policy::Op;
use serde_json::{Map, Value, json};

fn spec() -> ToolSpec {
    ToolSpec {
        name: "update_records",
        title: "Update records",
        description: "Writes `values` on the records with the given `ids`. Only fields the key's policy allows are accepted, and only on records inside what the policy lets this key change.",
        kind: ToolKind::Write,
        input_schema: json!({
            "type": "object",
            "properties": {
                "model": model_schema(),
                "ids": ids_schema(),
                "values": {"type": "object", "minProperties": 1, "description": "Field values, e.g. {\"phone\": \"+32 2 555 01 00\"}"},
                "context": context_schema(),
                "approval_id": {"type": "string", "maxLength": 128, "description": "The id of an approved request, when the write needed an approver"}
            },
            "required": ["model", "ids", "values"],
            "additionalProperties": false
        }),
        output_schema: Some(write_output_schema()),
    }
}

tool!(
    UpdateRecords,
    |policy| policy.allows_anywhere(Op::Update),
    |p, args, ctx| write::run(p, ctx, args, plan(p, args).await?).await
);

/// Allowed, context, defaults, values: then the common sequence ([`write::run`]).
async fn plan(p: &ProfileState, args: &Map<String, Value>) -> Result<Plan, ToolError> {
    let model = model_arg(args);
    let (pol, mp) = allowed(p, model, Op::Update)?;
    let context = write_context_arg(args, &mp)?;
    guard::check_defaults(p, model, Op::Update, &context, &[]).await?;
    let values = args
        .get("values")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let nested = check_values(p, &pol, model, Op::Update, &values).await?;
    let confirm = guard::write_confirm(&pol, &mp, Op::Update, &nested);
    Ok(Plan {
        tool: "update_records",
        model: model.to_string(),
        ids: ids_arg(args),
        check: Ids::Restricted(Op::Update),
        confirm,
        nested,
        context,
        call: Call::Write(values),
        policy: pol,
    })
}
