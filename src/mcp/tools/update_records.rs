//! `update_records`: write values on records by id, under the policy's update rule.

use super::guard::{self, allowed, check_ids, check_values, write_context_arg};
use super::{
    ProfileState, ToolKind, ToolOutput, ToolSpec, context_schema, ids_arg, ids_schema, model_arg,
    model_schema, write_output_schema,
};
use crate::mcp::server::CallContext;
use crate::policy::Op;
use serde_json::{Map, Value, json};

pub fn spec() -> ToolSpec {
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

pub async fn call(p: &ProfileState, args: &Map<String, Value>, ctx: &CallContext) -> ToolOutput {
    let model = model_arg(args);
    let (pol, mp) = match allowed(p, model, Op::Update) {
        Ok(x) => x,
        Err(refusal) => return refusal,
    };
    let context = match write_context_arg(args, &mp) {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let ids = ids_arg(args);
    if let Err(refusal) = guard::check_defaults(p, model, Op::Update, &context, &[]).await {
        return refusal;
    }
    let values = args
        .get("values")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let nested = match check_values(p, &pol, model, Op::Update, &values).await {
        Ok(n) => n,
        Err(refusal) => return refusal,
    };
    let confirm = guard::write_confirm(&pol, &mp, Op::Update, &nested);
    // One request checks the ids against the restriction and reads what the preview shows.
    let read =
        guard::preview_fields(p, &pol, model, values.keys(), guard::asks(confirm, args)).await;
    let rows = match check_ids(p, &pol, model, Op::Update, &ids, &read).await {
        Ok(rows) => rows,
        Err(refusal) => return refusal,
    };
    if let Err(refusal) = guard::check_nested_ids(p, &pol, &nested).await {
        return refusal;
    }
    let preview = guard::preview(
        p,
        &pol,
        model,
        "update",
        &ids,
        rows,
        guard::Changes::Update(values.clone()),
    )
    .await;
    if let Err(answer) = guard::confirmed(p, ctx, "update_records", args, confirm, preview).await {
        return answer;
    }
    // The intent is committed before Odoo is called; no record, no write.
    if let Err(refusal) = super::guard::intent(ctx).await {
        return refusal;
    }
    match p
        .user
        .with_context(&context)
        .write(model, &ids, values)
        .await
    {
        Ok(_) => ToolOutput::Structured(json!({"model": model, "ids": ids})),
        Err(e) => guard::odoo(e),
    }
}
