//! The one sequence every write follows, in order. Before it (in [`super::Toolbox`] and the MCP
//! core): the kill switch, the arguments' schema, the key's write budget. The tool's own
//! [`Plan`] step then decides, from its arguments: is the operation allowed on the model, the
//! context, the `default_*` keys, the values (hidden and writable fields, x2many lines,
//! references). Then, here:
//!
//! 1. the ids: inside the operation's restriction (and the preview's current values, read in the
//!    same Odoo request);
//! 2. the ids of nested lines, one request per target model and operation;
//! 3. the confirmation: the person behind the client, or an approver, sees the preview;
//! 4. the kill switch again (a confirmation may take minutes), then the write intent, committed
//!    to the audit trail before Odoo is called (no record, no write);
//! 5. the Odoo call.
//!
//! The outcome is recorded by the toolbox when the call returns.

use super::guard::{self, Changes, Nested};
use super::{CallContext, ProfileState, ToolError, ToolResult};
use crate::policy::{Confirm, Op, Policy};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// What a write does in Odoo.
pub enum Call {
    Create(Vec<Map<String, Value>>),
    Write(Map<String, Value>),
    Unlink,
    Method {
        method: String,
        kwargs: Map<String, Value>,
    },
}

/// How the ids a write acts on are checked.
pub enum Ids {
    /// None to check (a create).
    None,
    /// Inside the restriction of this operation.
    Restricted(Op),
    /// Inside the model's method restriction (its read domain).
    Method,
}

/// A write its tool has checked so far: what the rest of the sequence needs.
pub struct Plan {
    pub tool: &'static str,
    pub model: String,
    pub policy: Arc<Policy>,
    pub ids: Vec<i64>,
    pub check: Ids,
    pub confirm: Confirm,
    pub nested: Vec<Nested>,
    /// The checked context the call runs with.
    pub context: Map<String, Value>,
    pub call: Call,
}

impl Plan {
    /// The verb of the preview ("update", "call action_confirm on").
    fn verb(&self) -> String {
        match &self.call {
            Call::Create(_) => "create".into(),
            Call::Write(_) => "update".into(),
            Call::Unlink => "delete".into(),
            Call::Method { method, .. } => format!("call {method} on"),
        }
    }

    fn changes(&self) -> Changes {
        match &self.call {
            Call::Create(records) => Changes::Create(records.clone()),
            Call::Write(values) => Changes::Update(values.clone()),
            Call::Unlink => Changes::None,
            Call::Method { kwargs, .. } => Changes::Arguments(kwargs.clone()),
        }
    }
}

/// Steps 1 to 5 above.
pub async fn run(
    p: &ProfileState,
    ctx: &CallContext,
    args: &Map<String, Value>,
    plan: Plan,
) -> ToolResult {
    let (pol, model) = (&plan.policy, plan.model.as_str());
    // 1. The ids, and what the preview shows of them, in one request.
    let changed: Vec<String> = match &plan.call {
        Call::Write(values) => values.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let asks = guard::asks(plan.confirm, args);
    let read = guard::preview_fields(p, pol, model, changed.iter(), asks).await;
    let rows = match &plan.check {
        Ids::None => Vec::new(),
        Ids::Restricted(op) => guard::check_ids(p, pol, model, *op, &plan.ids, &read).await?,
        Ids::Method => {
            let Call::Method { method, .. } = &plan.call else {
                return Err(ToolError::Invalid("a method check needs a method".into()));
            };
            guard::check_method_ids(p, pol, model, method, &plan.ids, &read).await?
        }
    };
    // 2. Nested lines.
    guard::check_nested_ids(p, pol, &plan.nested).await?;
    // 3. The person.
    let preview =
        guard::preview(p, pol, model, &plan.verb(), &plan.ids, rows, plan.changes()).await;
    guard::confirmed(p, ctx, plan.tool, args, plan.confirm, preview).await?;
    // 4. The kill switch again, and the intent: no record, no write.
    guard::intent(ctx).await?;
    // 5. Odoo.
    let user = p.user.with_context(&plan.context);
    match plan.call {
        Call::Create(records) => user
            .create(model, records)
            .await
            .map(|ids| json!({"model": model, "ids": ids})),
        Call::Write(values) => user
            .write(model, &plan.ids, values)
            .await
            .map(|_| json!({"model": model, "ids": plan.ids})),
        Call::Unlink => user
            .unlink(model, &plan.ids)
            .await
            .map(|_| json!({"model": model, "ids": plan.ids})),
        Call::Method { method, kwargs } => user
            .call_method(model, &method, &plan.ids, kwargs)
            .await
            .map(|result| json!({"model": model, "method": method, "result": result})),
    }
    .map_err(guard::odoo)
}
