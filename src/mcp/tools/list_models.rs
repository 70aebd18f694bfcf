//! `list_models`: the models this key may reach, with the operations allowed on each. Does not
//! read `ir.model` (a least-privilege user cannot): the profile's models intersected with Odoo's
//! own access check.

use super::{ProfileState, ToolKind, ToolResult, ToolSpec};
use serde_json::json;

fn spec() -> ToolSpec {
    ToolSpec {
        name: "list_models",
        title: "List available models",
        description: "Lists the Odoo models this key may use, with a human name and the allowed operations for each. Use the technical name (e.g. res.partner) in the other tools.",
        kind: ToolKind::Read,
        input_schema: json!({"type": "object", "properties": {}, "additionalProperties": false}),
        output_schema: Some(json!({
            "type": "object",
            "properties": {"models": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "model": {"type": "string"},
                    "name": {"type": "string"},
                    "operations": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["model", "name", "operations"]
            }}},
            "required": ["models"]
        })),
    }
}

tool!(ListModels, |_policy| true, |p, _args, _ctx| call(p).await);

async fn call(p: &ProfileState) -> ToolResult {
    match p.model_access().await {
        Ok(list) => Ok(json!({"models": *list})),
        Err(e) => Err(e.into()),
    }
}
