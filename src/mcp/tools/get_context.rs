//! `get_context`: who odoo-warden acts as, and what this key may do. Meant to be called first.

use super::{ProfileState, ToolKind, ToolResult, ToolSpec};
use serde_json::json;

fn spec() -> ToolSpec {
    let company = json!({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
                         "required": ["id", "name"]});
    ToolSpec {
        name: "get_context",
        title: "Get Odoo context",
        description: "Call this first. Returns the Odoo user this key acts as (uid, name, login; for a person signed in with OAuth, that person's own Odoo user, acting_as: person), its time zone and language, current and allowed companies, the current UTC time, the Odoo version, the profile, and per model the operations this key may perform.",
        kind: ToolKind::Read,
        input_schema: json!({"type": "object", "properties": {}, "additionalProperties": false}),
        output_schema: Some(json!({
            "type": "object",
            "properties": {
                "uid": {"type": "integer"},
                "name": {"type": "string"},
                "login": {"type": "string"},
                "tz": {"type": ["string", "null"]},
                "lang": {"type": ["string", "null"]},
                "company": {"type": ["object", "null"], "properties": company["properties"].clone()},
                "companies": {"type": "array", "items": company},
                "utc_now": {"type": "string"},
                "odoo_version": {"type": "string"},
                "profile": {"type": "string"},
                "acting_as": {"type": "string", "enum": ["person", "profile"], "description": "person: a person signed in as themselves (OAuth); profile: the profile's own Odoo user (an API key)"},
                "permissions": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
            },
            "required": ["uid", "name", "login", "tz", "lang", "company", "companies", "utc_now", "odoo_version", "profile", "permissions"]
        })),
    }
}

tool!(GetContext, |_policy| true, |p, _args, _ctx| call(p).await);

async fn call(p: &ProfileState) -> ToolResult {
    let access = p.model_access().await?;
    let permissions: serde_json::Map<_, _> = access
        .iter()
        .map(|m| (m.model.clone(), json!(m.operations)))
        .collect();
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let utc_now = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let id = p.current_identity().await?;
    Ok(json!({
        "uid": id.uid,
        "name": id.name,
        "login": id.login,
        "tz": id.tz,
        "lang": id.lang,
        "company": id.company,
        "companies": id.companies,
        "utc_now": utc_now,
        "odoo_version": p.server.version.raw,
        "profile": p.name,
        "acting_as": if p.is_person() { "person" } else { "profile" },
        "permissions": permissions,
    }))
}
