//! The confirmation gate every write passes through after the policy allowed it.
//!
//! - `confirm = "none"`: the write runs.
//! - `confirm = "user"`: the person behind the client is asked, with a preview: `elicitation/create`
//!   on the call's SSE stream (2025 revisions, when the client declared elicitation), or an
//!   `input_required` result with a sealed, single-use `requestState` (2026-07-28). A client that
//!   cannot ask escalates to an approver (or is refused, per `[confirm] without_elicitation`):
//!   never a silent yes.
//! - `confirm = "approver"`: a pending approval bound to the SHA-256 of the payload and the key is
//!   created; a different person approves or denies it; the assistant re-issues the same call with
//!   the `approval_id`, which then runs once.
//!
//! Every step leaves an audit record (asked, answered, approval created, executed or refused).

use super::{ProfileState, ToolError};
use crate::audit::kind;
use crate::confirm::{Preview, WithoutElicitation, payload, payload_hash};
use crate::mcp::context::CallContext;
use crate::policy::Confirm;
use crate::store::NewApproval;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

/// What the gate decided.
pub enum Gate {
    /// Run the write; `confirmed_by` says who confirmed it (for the trail), if anyone.
    Proceed { confirmed_by: Option<String> },
    /// Do not run it: the tool answers this (a refusal, a pending approval, an `input_required`).
    Stop(ToolError),
}

fn denied(message: String) -> Gate {
    Gate::Stop(ToolError::Denied(message))
}

const CONFIRM_KEY: &str = "confirm";

fn requested_schema(preview: &Preview) -> Value {
    json!({
        "type": "object",
        "properties": {
            CONFIRM_KEY: {
                "type": "boolean",
                "title": "Apply this change",
                "description": preview.text(),
                "default": false
            }
        },
        "required": [CONFIRM_KEY]
    })
}

fn question(preview: &Preview, profile: &str) -> String {
    format!(
        "An assistant asks to make this change in Odoo (profile \"{profile}\"):\n{}\nApply it?",
        preview.text()
    )
}

/// Decides whether a write may run now.
pub async fn gate(
    p: &ProfileState,
    ctx: &CallContext,
    tool: &str,
    args: &Map<String, Value>,
    confirm: Confirm,
    preview: Preview,
) -> Gate {
    if let Some(approval_id) = args.get("approval_id").and_then(Value::as_str) {
        return use_approval(p, ctx, tool, args, approval_id).await;
    }
    match confirm {
        Confirm::None => Gate::Proceed { confirmed_by: None },
        Confirm::Approver => request_approval(p, ctx, tool, args, &preview, None).await,
        Confirm::User => ask_user(p, ctx, tool, args, &preview).await,
    }
}

async fn ask_user(
    p: &ProfileState,
    ctx: &CallContext,
    tool: &str,
    args: &Map<String, Value>,
    preview: &Preview,
) -> Gate {
    if !ctx.client_supports("elicitation") {
        return match ctx.confirm.without_elicitation {
            WithoutElicitation::Approver => {
                request_approval(
                    p,
                    ctx,
                    tool,
                    args,
                    preview,
                    Some("this client cannot ask its user to confirm, so an approver must"),
                )
                .await
            }
            WithoutElicitation::Refuse => denied(format!(
                "this write needs the user's confirmation, and this client cannot ask for it (it did not declare elicitation); profile \"{}\" refuses such writes",
                p.name
            )),
        };
    }
    if ctx.stateless {
        return mrtr(p, ctx, tool, args, preview).await;
    }
    let Some(channel) = &ctx.channel else {
        // Declared elicitation but takes no streamed answer: it cannot be asked after all.
        return match ctx.confirm.without_elicitation {
            WithoutElicitation::Approver => {
                request_approval(p, ctx, tool, args, preview, Some("this client did not accept a streamed answer, so it cannot be asked; an approver must")).await
            }
            WithoutElicitation::Refuse => denied(format!(
                "this write needs the user's confirmation, and this client cannot be asked (it does not accept text/event-stream); profile \"{}\" refuses such writes",
                p.name
            )),
        };
    };
    let old_revision = ctx
        .session
        .as_ref()
        .is_some_and(|s| s.protocol_version == crate::mcp::protocol::V2025_06_18);
    let mut params = json!({"message": question(preview, &p.name), "requestedSchema": requested_schema(preview)});
    if !old_revision {
        params["mode"] = json!("form");
    }
    step(ctx, kind::CONFIRMATION, "asked the user (elicitation)").await;
    let answer = channel
        .request_with_timeout(
            "elicitation/create",
            params,
            ctx.confirm.elicitation_timeout,
        )
        .await;
    let (confirmed, how) = match &answer {
        Ok(a) => {
            let action = a.get("action").and_then(Value::as_str).unwrap_or("?");
            let yes = action == "accept"
                && a.get("content").and_then(|c| c.get(CONFIRM_KEY)) == Some(&Value::Bool(true));
            (
                yes,
                if action == "accept" && !yes {
                    "accept without confirming".to_string()
                } else {
                    action.to_string()
                },
            )
        }
        Err(e) => (false, format!("timeout or error: {e}")),
    };
    step(ctx, kind::CONFIRMATION, &format!("user answered: {how}")).await;
    if confirmed {
        Gate::Proceed {
            confirmed_by: Some("user (elicitation)".into()),
        }
    } else {
        denied(format!(
            "the person declined ({how}): nothing was changed. Do not retry this write unless they ask for it."
        ))
    }
}

/// 2026-07-28: ask through an `input_required` result; the retry carries the answer and the
/// sealed state (bound to key, tool, arguments and expiry; single use).
async fn mrtr(
    p: &ProfileState,
    ctx: &CallContext,
    tool: &str,
    args: &Map<String, Value>,
    preview: &Preview,
) -> Gate {
    let args_value = Value::Object(args.clone());
    match &ctx.request_state {
        None => {
            step(ctx, kind::CONFIRMATION, "asked the user (input_required)").await;
            let state = ctx.sealer.seal(
                &ctx.principal,
                tool,
                &args_value,
                0,
                json!({"confirm": true}),
            );
            Gate::Stop(ToolError::InputRequired(json!({
                "resultType": "input_required",
                "inputRequests": {CONFIRM_KEY: {"method": "elicitation/create", "params": {
                    "mode": "form", "message": question(preview, &p.name), "requestedSchema": requested_schema(preview)}}},
                "requestState": state,
            })))
        }
        Some(token) => {
            let opened = match ctx.sealer.open(token, &ctx.principal, tool, &args_value) {
                Ok(claims) => used_once(ctx, &claims).await,
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = opened {
                step(
                    ctx,
                    kind::CONFIRMATION,
                    &format!("requestState refused: {e}"),
                )
                .await;
                return denied(format!(
                    "{e}: nothing was changed; call the tool again without requestState to be asked anew"
                ));
            }
            let answer = ctx
                .input_responses
                .as_ref()
                .and_then(|r| r.get(CONFIRM_KEY));
            let action = answer
                .and_then(|a| a.get("action"))
                .and_then(Value::as_str)
                .unwrap_or("none");
            let yes = action == "accept"
                && answer
                    .and_then(|a| a.get("content"))
                    .and_then(|c| c.get(CONFIRM_KEY))
                    == Some(&Value::Bool(true));
            step(
                ctx,
                kind::CONFIRMATION,
                &format!(
                    "user answered: {action}{}",
                    if action == "accept" && !yes {
                        " without confirming"
                    } else {
                        ""
                    }
                ),
            )
            .await;
            if yes {
                Gate::Proceed {
                    confirmed_by: Some("user (input_required)".into()),
                }
            } else {
                denied(format!(
                    "the person declined ({action}): nothing was changed"
                ))
            }
        }
    }
}

/// A state opened on this instance is also checked against the store, so that no instance
/// sharing it accepts the same state twice. A store that cannot tell refuses (fail closed).
async fn used_once(
    ctx: &CallContext,
    claims: &crate::confirm::state::Claims,
) -> Result<(), String> {
    let store = &ctx.store;
    match store
        .use_request_state(&claims.nonce, claims.expires_at)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(crate::confirm::state::StateError::Replayed.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "cannot check that a requestState is unused");
            Err(
                "requestState cannot be checked as unused right now (the store did not answer)"
                    .into(),
            )
        }
    }
}

async fn request_approval(
    p: &ProfileState,
    ctx: &CallContext,
    tool: &str,
    args: &Map<String, Value>,
    preview: &Preview,
    why: Option<&str>,
) -> Gate {
    let store = &ctx.store;
    let body = payload(tool, args, &ctx.principal);
    let now = OffsetDateTime::now_utc();
    let expires_at = now + ctx.confirm.approval_ttl;
    let id = format!("apr_{}", hex::encode(rand::random::<[u8; 12]>()));
    // Bound to the hash of the whole payload; stored (and shown to approvers) redacted.
    let stored = payload(
        tool,
        p.redact_arguments(&Value::Object(args.clone()))
            .as_object()
            .unwrap_or(&Map::new()),
        &ctx.principal,
    );
    let approval = NewApproval {
        id: id.clone(),
        key_id: ctx.principal.clone(),
        profile: p.name.clone(),
        tool: tool.to_string(),
        payload_hash: payload_hash(&body),
        payload: stored,
        preview: preview.text(),
        created_at: now,
        expires_at,
    };
    if let Err(e) = store.insert_approval(&approval).await {
        return Gate::Stop(ToolError::Failed {
            message: format!("the approval request could not be stored ({e}); nothing was changed"),
            class: None,
            unknown: false,
        });
    }
    let expires = expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    step(
        ctx,
        kind::APPROVAL,
        &format!("approval {id} requested, expires {expires}"),
    )
    .await;
    if !ctx.confirm.approval_wait.is_zero()
        && let Some(decided) = wait_for_decision(ctx, &id, ctx.confirm.approval_wait).await
    {
        return decided;
    }
    Gate::Stop(ToolError::Pending(json!({
        "status": "pending_approval",
        "approval_id": id,
        "expires_at": expires,
        "message": format!(
            "{}An approver must approve this change before it runs. Once approved, call {tool} again with exactly the same arguments plus \"approval_id\": \"{id}\". Nothing was changed yet.",
            why.map(|w| format!("{w}. ")).unwrap_or_default()
        ),
    })))
}

/// How often a waiting call looks for its approval's decision.
const DECISION_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Waits up to `wait` for an approver to decide request `id` (the call holds its request open
/// meanwhile): approved, the approval is used and the write goes on; denied, the call is refused
/// with the approver's comment. Still pending at the end (or a store that cannot tell): `None`,
/// and the call answers `pending_approval` as without a wait.
async fn wait_for_decision(ctx: &CallContext, id: &str, wait: std::time::Duration) -> Option<Gate> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut tick = tokio::time::interval(DECISION_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        let record = match ctx.store.get_approval(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, approval = id, "cannot read an approval while a call waits for it");
                continue;
            }
        };
        let now = OffsetDateTime::now_utc();
        match record.effective_status(now) {
            "pending" => continue,
            "approved" => {
                return Some(match ctx.store.consume_approval(id, now).await {
                    Ok(true) => {
                        let by = record.decided_by.unwrap_or_default();
                        step(
                            ctx,
                            kind::APPROVAL,
                            &format!("approval {id} used, approved by {by}"),
                        )
                        .await;
                        Gate::Proceed {
                            confirmed_by: Some(format!("approver {by} ({id})")),
                        }
                    }
                    Ok(false) => denied(format!(
                        "approval {id} cannot be used: it was already used (each approval runs once). Nothing was changed."
                    )),
                    Err(e) => denied(format!(
                        "approval {id} cannot be used: the approval store is unavailable ({e}). Nothing was changed."
                    )),
                });
            }
            "denied" => {
                let why = format!(
                    "it was denied by {}{}",
                    record.decided_by.clone().unwrap_or_default(),
                    record
                        .reason
                        .clone()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
                step(
                    ctx,
                    kind::APPROVAL,
                    &format!("approval {id} refused: {why}"),
                )
                .await;
                return Some(denied(format!(
                    "approval {id} was not given: {why}. Nothing was changed."
                )));
            }
            _ => return None,
        }
    }
}

async fn use_approval(
    p: &ProfileState,
    ctx: &CallContext,
    tool: &str,
    args: &Map<String, Value>,
    id: &str,
) -> Gate {
    let store = &ctx.store;
    let refuse = |why: String| async move {
        step(
            ctx,
            kind::APPROVAL,
            &format!("approval {id} refused: {why}"),
        )
        .await;
        denied(format!(
            "approval {id} cannot be used: {why}. Nothing was changed."
        ))
    };
    let record = match store.get_approval(id).await {
        Ok(Some(r)) => r,
        Ok(None) => return refuse("it does not exist".into()).await,
        Err(e) => return refuse(format!("the approval store is unavailable ({e})")).await,
    };
    if record.key_id != ctx.principal || record.profile != p.name {
        return refuse("it was requested by another key".into()).await;
    }
    if record.payload_hash != payload_hash(&payload(tool, args, &ctx.principal)) {
        return refuse(
            "this call differs from the one that was approved (tool or arguments changed)".into(),
        )
        .await;
    }
    let now = OffsetDateTime::now_utc();
    match record.status.as_str() {
        "approved" if record.expires_at > now => {}
        "approved" | "pending" if record.expires_at <= now => {
            return refuse("it has expired".into()).await;
        }
        "pending" => return refuse("it is still waiting for an approver".into()).await,
        "denied" => {
            return refuse(format!(
                "it was denied by {}{}",
                record.decided_by.clone().unwrap_or_default(),
                record
                    .reason
                    .clone()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ))
            .await;
        }
        "used" => return refuse("it was already used (each approval runs once)".into()).await,
        other => return refuse(format!("its status is {other}")).await,
    }
    match store.consume_approval(id, now).await {
        Ok(true) => {
            let by = record.decided_by.unwrap_or_default();
            step(
                ctx,
                kind::APPROVAL,
                &format!("approval {id} used, approved by {by}"),
            )
            .await;
            Gate::Proceed {
                confirmed_by: Some(format!("approver {by} ({id})")),
            }
        }
        Ok(false) => refuse("it was already used (each approval runs once)".into()).await,
        Err(e) => refuse(format!("the approval store is unavailable ({e})")).await,
    }
}

/// A confirmation step in the audit trail (queued; the call's own record follows).
async fn step(ctx: &CallContext, what: crate::audit::Kind, reason: &str) {
    ctx.audit.step(what, reason).await;
}
