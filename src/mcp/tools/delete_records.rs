//! `delete_records`: unlink records by id, under the policy's delete rule.

use super::guard::{self, allowed, write_context_arg};
use super::write::{self, Call, Ids, Plan};
use super::{
    ProfileState, ToolError, ToolKind, ToolSpec, context_schema, ids_arg, ids_schema, model_arg,
    model_schema, write_output_schema,
};
use crate::policy::Op;
use serde_json::{Map, Value, json};

fn spec() -> ToolSpec {
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

tool!(
    DeleteRecords,
    |policy| policy.allows_anywhere(Op::Delete),
    |p, args, ctx| write::run(p, ctx, args, plan(p, args).await?).await
);

/// Allowed, context, defaults: then the common sequence ([`write::run`]).
async fn plan(p: &ProfileState, args: &Map<String, Value>) -> Result<Plan, ToolError> {
    let model = model_arg(args);
    let (pol, mp) = allowed(p, model, Op::Delete)?;
    let context = write_context_arg(args, &mp)?;
    guard::check_defaults(p, model, Op::Delete, &context, &[]).await?;
    let confirm = mp.confirm(Op::Delete, pol.default_confirm());
    Ok(Plan {
        tool: "delete_records",
        model: model.to_string(),
        ids: ids_arg(args),
        check: Ids::Restricted(Op::Delete),
        confirm,
        nested: Vec::new(),
        context,
        call: Call::Unlink,
        policy: pol,
    })
}
