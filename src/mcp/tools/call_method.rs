//! `call_method`: call a business method the policy allowlists, on records inside the policy's
//! read restriction.

use super::guard::{self, deny, write_context_arg};
use super::write::{self, Call, Ids, Plan};
use super::{
    ProfileState, ToolError, ToolKind, ToolSpec, context_schema, ids_arg, ids_schema, model_arg,
    model_schema,
};
use crate::policy::Op;
use serde_json::{Map, Value, json};

fn spec() -> ToolSpec {
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

tool!(CallMethod, |policy| policy.any_methods(), |p, args, ctx| {
    write::run(p, ctx, args, plan(p, args).await?).await
});

/// Allowed (the method allowlist), context, defaults, arguments: then the common sequence
/// ([`write::run`]).
async fn plan(p: &ProfileState, args: &Map<String, Value>) -> Result<Plan, ToolError> {
    let model = model_arg(args);
    let method = args
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let pol = p.policy();
    let Some(mp) = pol.model(model).cloned() else {
        return Err(deny(format!(
            "model \"{model}\" is not available under profile \"{}\": call list_models for the models you may use",
            p.name
        )));
    };
    let Some(confirm) = mp.method_confirm(method, pol.default_confirm()) else {
        let allowed: Vec<&str> = mp.methods().collect();
        return Err(deny(format!(
            "method \"{method}\" on \"{model}\" is not allowed under profile \"{}\" (allowed: {})",
            p.name,
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        )));
    };
    let context = write_context_arg(args, &mp)?;
    let ids = ids_arg(args);
    guard::check_defaults(p, model, Op::Update, &context, &[]).await?;
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
        return Err(deny(format!(
            "invalid argument \"arguments\": \"{bad}\" may not be passed to a method; use the tool's own \"context\" and \"ids\""
        )));
    }
    // Keyword arguments: only those the method's rule allowlists; values given as objects are
    // field values (a method that takes `vals` writes them) and are checked as an update's.
    let kwargs = args
        .get("arguments")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let allowed_args = mp.method_arguments(method);
    if let Some(bad) = kwargs.keys().find(|k| !allowed_args.contains(*k)) {
        let allowed: Vec<&str> = allowed_args.iter().map(String::as_str).collect();
        return Err(deny(format!(
            "argument \"{bad}\" of method \"{method}\" on \"{model}\" is not allowed under profile \"{}\" (allowed: {})",
            p.name,
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        )));
    }
    let mut nested = Vec::new();
    let mut writes_values = false;
    for value in kwargs.values() {
        match check_argument_values(p, &pol, model, value).await {
            Ok(Some(n)) => {
                writes_values = true;
                nested.extend(n);
            }
            Ok(None) => {}
            Err(refusal) => return Err(refusal),
        }
    }
    // Values written through a method need what writing them directly would.
    let confirm = if writes_values {
        guard::write_confirm(&pol, &mp, Op::Update, &nested).max(confirm)
    } else {
        confirm
    };
    // Methods act on records inside the model's read domain, even without a read rule.
    Ok(Plan {
        tool: "call_method",
        model: model.to_string(),
        ids,
        check: Ids::Method,
        confirm,
        nested,
        context,
        call: Call::Method {
            method: method.to_string(),
            kwargs,
        },
        policy: pol,
    })
}

/// Objects anywhere in an argument are field values of the model (`vals`, `default`): checked as
/// an update's values (hidden fields, writable allowlist, x2many commands, references). `None`
/// when the argument holds no values; else what its x2many commands do.
fn check_argument_values<'a>(
    p: &'a ProfileState,
    pol: &'a crate::policy::Policy,
    model: &'a str,
    value: &'a Value,
) -> guard::BoxFuture<'a, Result<Option<Vec<guard::Nested>>, ToolError>> {
    Box::pin(async move {
        match value {
            Value::Object(values) => {
                guard::check_values(p, pol, model, crate::policy::Op::Update, values)
                    .await
                    .map(Some)
            }
            Value::Array(items) => {
                let mut out: Option<Vec<guard::Nested>> = None;
                for item in items {
                    if let Some(n) = check_argument_values(p, pol, model, item).await? {
                        out.get_or_insert_with(Vec::new).extend(n);
                    }
                }
                Ok(out)
            }
            _ => Ok(None),
        }
    })
}
