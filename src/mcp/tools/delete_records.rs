//! `delete_records`: unlink records by id, under the policy's delete rule.

use super::guard::{self, allowed, check_ids, write_context_arg};
use super::{
    ProfileState, ToolKind, ToolOutput, ToolSpec, context_schema, ids_arg, ids_schema, model_arg,
    model_schema, write_output_schema,
};
use crate::mcp::server::CallContext;
use crate::policy::Op;
use serde_json::{Map, Value, json};

pub fn spec() -> ToolSpec {
    ToolSpec {
        name: "delete_records",
        title: "Delete records",
        description: "Deletes (unlinks) the records with the given `ids`, if the key's policy allows deleting them. This cannot be undone.",
        kind: ToolKind::Destructive,
        input_schema: json!({
            "type": "object",
            "properties": {
                "model": model_schema(),
                "ids": ids_schema(),
                "context": context_schema(),
                "approval_id": {"type": "string", "maxLength": 128, "description": "The id of an approved request, when the delete needed an approver"}
            },
            "required": ["model", "ids"],
            "additionalProperties": false
        }),
        output_schema: Some(write_output_schema()),
    }
}

pub async fn call(p: &ProfileState, args: &Map<String, Value>, ctx: &CallContext) -> ToolOutput {
    let model = model_arg(args);
    let (pol, mp) = match allowed(p, model, Op::Delete) {
        Ok(x) => x,
        Err(refusal) => return refusal,
    };
    let context = match write_context_arg(args, &mp) {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let ids = ids_arg(args);
    if let Err(refusal) = guard::check_defaults(p, model, Op::Delete, &context, &[]).await {
        return refusal;
    }
    let confirm = mp.confirm(Op::Delete, pol.default_confirm());
    let read = guard::preview_fields(
        p,
        &pol,
        model,
        std::iter::empty(),
        guard::asks(confirm, args),
    )
    .await;
    let rows = match check_ids(p, &pol, model, Op::Delete, &ids, &read).await {
        Ok(rows) => rows,
        Err(refusal) => return refusal,
    };
    let preview = guard::preview(p, &pol, model, "delete", &ids, rows, guard::Changes::None).await;
    if let Err(answer) = guard::confirmed(p, ctx, "delete_records", args, confirm, preview).await {
        return answer;
    }
    // The intent is committed before Odoo is called; no record, no write.
    if let Err(refusal) = super::guard::intent(ctx).await {
        return refusal;
    }
    match p.user.with_context(&context).unlink(model, &ids).await {
        Ok(_) => ToolOutput::Structured(json!({"model": model, "ids": ids})),
        Err(e) => guard::odoo(e),
    }
}
