//! `create_records`: create one or many records, under the policy's create rule.

use super::guard::{self, allowed, check_values, write_context_arg};
use super::{
    ProfileState, ToolKind, ToolOutput, ToolSpec, context_schema, model_arg, model_schema,
    write_output_schema,
};
use crate::mcp::server::CallContext;
use crate::policy::Op;
use serde_json::{Map, Value, json};

pub fn spec() -> ToolSpec {
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

pub async fn call(p: &ProfileState, args: &Map<String, Value>, ctx: &CallContext) -> ToolOutput {
    let model = model_arg(args);
    let (pol, mp) = match allowed(p, model, Op::Create) {
        Ok(x) => x,
        Err(refusal) => return refusal,
    };
    let context = match write_context_arg(args, &mp) {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let records: Vec<Map<String, Value>> = args
        .get("records")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|r| r.as_object().cloned()).collect())
        .unwrap_or_default();
    let all: Vec<&Map<String, Value>> = records.iter().collect();
    if let Err(refusal) = guard::check_defaults(p, model, Op::Create, &context, &all).await {
        return refusal;
    }
    let mut nested = Vec::new();
    for values in &records {
        match check_values(p, &pol, model, Op::Create, values).await {
            Ok(n) => nested.extend(n),
            Err(refusal) => return refusal,
        };
    }
    if let Err(refusal) = guard::check_nested_ids(p, &pol, &nested).await {
        return refusal;
    }
    let confirm = guard::write_confirm(&pol, &mp, Op::Create, &nested);
    let preview = guard::preview(
        p,
        &pol,
        model,
        "create",
        &[],
        Vec::new(),
        guard::Changes::Create(records.clone()),
    )
    .await;
    if let Err(answer) = guard::confirmed(p, ctx, "create_records", args, confirm, preview).await {
        return answer;
    }
    // The intent is committed before Odoo is called; no record, no write.
    if let Err(refusal) = super::guard::intent(ctx).await {
        return refusal;
    }
    match p.user.with_context(&context).create(model, records).await {
        Ok(ids) => ToolOutput::Structured(json!({"model": model, "ids": ids})),
        Err(e) => guard::odoo(e),
    }
}
