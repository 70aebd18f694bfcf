//! `call_method`: call a business method the policy allowlists, on records inside the policy's
//! read restriction.

use super::guard::{self, check_method_ids, deny, write_context_arg};
use super::{
    ProfileState, ToolKind, ToolOutput, ToolSpec, context_schema, ids_arg, ids_schema, model_arg,
    model_schema,
};
use crate::mcp::server::CallContext;
use serde_json::{Map, Value, json};

pub fn spec() -> ToolSpec {
    ToolSpec {
        name: "call_method",
        title: "Call a business method",
        description: "Calls a business method the key's policy allowlists (for example sale.order action_confirm) on the records with the given `ids`. `arguments` are the method's keyword arguments.",
        kind: ToolKind::Write,
        input_schema: json!({
            "type": "object",
            "properties": {
                "model": model_schema(),
                "method": {"type": "string", "pattern": "^[a-zA-Z][a-zA-Z0-9_]*$", "maxLength": 128, "description": "A public method name, e.g. action_confirm"},
                "ids": ids_schema(),
                "arguments": {"type": "object", "description": "Keyword arguments of the method"},
                "context": context_schema(),
                "approval_id": {"type": "string", "maxLength": 128, "description": "The id of an approved request, when the call needed an approver"}
            },
            "required": ["model", "method", "ids"],
            "additionalProperties": false
        }),
        output_schema: Some(json!({
            "type": "object",
            "properties": {"model": {"type": "string"}, "method": {"type": "string"}, "result": {}},
            "required": ["model", "method", "result"]
        })),
    }
}

pub async fn call(p: &ProfileState, args: &Map<String, Value>, ctx: &CallContext) -> ToolOutput {
    let model = model_arg(args);
    let method = args
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let pol = p.policy();
    let Some(mp) = pol.model(model) else {
        return deny(format!(
            "model \"{model}\" is not available under profile \"{}\": call list_models for the models you may use",
            p.name
        ));
    };
    let Some(confirm) = mp.method_confirm(method, pol.default_confirm()) else {
        let allowed: Vec<&str> = mp.methods().collect();
        return deny(format!(
            "method \"{method}\" on \"{model}\" is not allowed under profile \"{}\" (allowed: {})",
            p.name,
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        ));
    };
    let context = match write_context_arg(args, mp) {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let ids = ids_arg(args);
    if let Err(refusal) =
        guard::check_defaults(p, model, crate::policy::Op::Update, &context, &[]).await
    {
        return refusal;
    }
    // The method's keyword arguments must not carry their own context (it would override the
    // checked one) nor records (the checked ids are the ones acted on).
    if let Some(bad) = args
        .get("arguments")
        .and_then(Value::as_object)
        .and_then(|a| {
            ["context", "ids", "self"]
                .into_iter()
                .find(|k| a.contains_key(*k))
        })
    {
        return deny(format!(
            "invalid argument \"arguments\": \"{bad}\" may not be passed to a method; use the tool's own \"context\" and \"ids\""
        ));
    }
    // Methods act on records inside the model's read domain (even without a read rule).
    if let Err(refusal) = check_method_ids(p, &pol, model, method, &ids).await {
        return refusal;
    }
    let preview = guard::preview(
        p,
        model,
        &format!("call {method} on"),
        &ids,
        ids.len(),
        args.get("arguments").cloned(),
        guard::asks(confirm, args),
    )
    .await;
    if let Err(answer) = guard::confirmed(p, ctx, "call_method", args, confirm, preview).await {
        return answer;
    }
    let kwargs = args
        .get("arguments")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    // The intent is committed before Odoo is called; no record, no write.
    if let Err(refusal) = super::guard::intent(ctx).await {
        return refusal;
    }
    match p
        .user
        .with_context(&context)
        .call_method(model, method, &ids, kwargs)
        .await
    {
        Ok(result) => {
            ToolOutput::Structured(json!({"model": model, "method": method, "result": result}))
        }
        Err(e) => guard::odoo(e),
    }
}
