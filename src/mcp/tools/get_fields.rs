//! `get_fields`: a model's fields with their type, label and constraints.

use super::{
    ProfileState, ToolError, ToolKind, ToolResult, ToolSpec, model_arg, model_schema, opt_strings,
};
use crate::odoo::FieldInfo;
use serde_json::{Map, Value, json};

fn spec() -> ToolSpec {
    ToolSpec {
        name: "get_fields",
        title: "Describe a model's fields",
        description: "Returns the fields of an Odoo model: type, label (string), required, readonly, and where relevant the related model, the selection values and help. Pass `fields` to describe only some.",
        kind: ToolKind::Read,
        input_schema: json!({
            "type": "object",
            "properties": {
                "model": model_schema(),
                "fields": {"type": "array", "items": {"type": "string", "pattern": "^[a-z0-9_]+$"}, "maxItems": 500,
                           "description": "Only these fields (default: all)"}
            },
            "required": ["model"],
            "additionalProperties": false
        }),
        output_schema: Some(json!({
            "type": "object",
            "properties": {
                "model": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "string": {"type": "string"},
                        "required": {"type": "boolean"},
                        "readonly": {"type": "boolean"},
                        "relation": {"type": "string"},
                        "selection": {"type": "array"},
                        "help": {"type": "string"}
                    },
                    "required": ["type", "string", "required", "readonly"]
                }}
            },
            "required": ["model", "fields"]
        })),
    }
}

tool!(
    GetFields,
    |policy| policy.models().next().is_some(),
    |p, args, _ctx| call(p, args).await
);

async fn call(p: &ProfileState, args: &Map<String, Value>) -> ToolResult {
    let model = model_arg(args);
    let pol = p.policy();
    if pol.model(model).is_none() {
        return Err(ToolError::Denied(format!(
            "model \"{model}\" is not available under profile \"{}\": call list_models for the models you may use",
            p.name
        )));
    };
    let view = p.view(model).await?;
    let all = &view.fields;
    let wanted = opt_strings(args, "fields");
    if let Some(wanted) = &wanted {
        if let Some((hidden, why)) = wanted
            .iter()
            .find_map(|f| view.why_hidden(f).map(|w| (f, w)))
        {
            let why = match why {
                crate::policy::derive::Why::Listed => String::new(),
                other => format!(": {}", other.explain()),
            };
            return Err(ToolError::Denied(format!(
                "field \"{hidden}\" of \"{model}\" is not available under profile \"{}\"{why}",
                p.name
            )));
        }
        if let Some(unknown) = wanted.iter().find(|f| !all.contains_key(f.as_str())) {
            return Err(ToolError::Invalid(format!(
                "model \"{model}\" has no field \"{unknown}\"; call get_fields without `fields` to see them all"
            )));
        }
    }
    let mut fields = Map::new();
    for (name, raw) in all.iter() {
        if view.is_hidden(name) || wanted.as_ref().is_some_and(|w| !w.contains(name)) {
            continue;
        }
        // A copy of another model's field is listed only if that field may be read here.
        if raw.get("related").is_some()
            && super::guard::check_paths(p, &pol, model, std::slice::from_ref(name), "field")
                .await
                .is_err()
        {
            if wanted.is_some() {
                return Err(ToolError::Denied(format!(
                    "field \"{name}\" of \"{model}\" copies a field that is not available under profile \"{}\"",
                    p.name
                )));
            }
            continue;
        }
        // Normalise through FieldInfo: only the documented attributes, with their types.
        if let Ok(info) = serde_json::from_value::<FieldInfo>(raw.clone()) {
            fields.insert(name.clone(), json!(info));
        }
    }
    Ok(json!({"model": model, "fields": fields}))
}
