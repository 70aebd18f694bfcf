//! The console's operator and approver pages: pending approvals (preview, approve or deny with
//! a comment; never the requester's own) for `approve` keys, and the kill switch (a reason and
//! an explicit confirmation step to change it) for `admin` keys. Every decision and change goes
//! through the same code as the admin API and is audited the same way.

use super::{Console, page_ctx, posted, require, see_other};
use crate::audit::{AuditHandle, kind};
use crate::auth::Scope;
use crate::killswitch::Mode;
use crate::store::ApprovalRecord;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use minijinja::context;
use serde::Serialize;
use std::sync::Arc;
use time::OffsetDateTime;

use super::session;

#[derive(Serialize)]
struct ApprovalView {
    id: String,
    tool: String,
    profile: String,
    requester: String,
    status: String,
    preview: String,
    created_at: String,
    created_short: String,
    expires_at: String,
    expires_short: String,
    decided_by: String,
    decided_at: String,
    decided_short: String,
    comment: String,
    own: bool,
}

fn rfc3339(t: Option<OffsetDateTime>) -> (String, String) {
    let full = t
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let short = full.get(..19).unwrap_or(&full).replace('T', " ");
    (full, short)
}

/// The id requests carry for the signed-in viewer: their key's, or for a person who also signed
/// in to an assistant, `person:<id>` (so that four eyes hold across both ways in); `None` when
/// the store cannot say.
async fn actor_id(c: &Console, s: &session::Session) -> Option<String> {
    match &s.person {
        None => Some(s.key_id.clone()),
        Some(p) => match c.store.oauth_person_by_login(&p.login).await {
            Ok(Some(row)) => Some(format!("person:{}", row.id)),
            Ok(None) => Some(s.key_id.clone()),
            Err(_) => None,
        },
    }
}

fn approval_view(a: &ApprovalRecord, viewer: Option<&str>, now: OffsetDateTime) -> ApprovalView {
    let (created_at, created_short) = rfc3339(Some(a.created_at));
    let (expires_at, expires_short) = rfc3339(Some(a.expires_at));
    let (decided_at, decided_short) = rfc3339(a.decided_at);
    ApprovalView {
        id: a.id.clone(),
        tool: a.tool.clone(),
        profile: a.profile.clone(),
        requester: match a.key_id.strip_prefix("person:") {
            Some(person) => format!("person {person}"),
            None => format!("key {}", a.key_id),
        },
        status: a.effective_status(now).to_string(),
        preview: a.preview.clone(),
        created_at,
        created_short,
        expires_at,
        expires_short,
        decided_by: a.decided_by.clone().unwrap_or_default(),
        decided_at,
        decided_short,
        comment: a.reason.clone().unwrap_or_default(),
        own: viewer.is_none_or(|v| a.key_id == v),
    }
}

fn query_of(query: Option<String>) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(super) async fn approvals(
    State(c): State<Arc<Console>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let s = match require(&c, &headers, audit.as_ref().map(|a| &a.0), Scope::Approve).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = query_of(query);
    // Only an id comes back in the URL: the notice is worded from the stored request.
    let notice = match q.get("decided") {
        Some(id) => match c.store.get_approval(id).await {
            Ok(Some(a)) => {
                let verb = match a.effective_status(OffsetDateTime::now_utc()) {
                    "approved" | "used" => "Approved",
                    "denied" => "Denied",
                    _ => "Decided",
                };
                Some(format!(
                    "{verb} {} ({}, profile {}).",
                    a.id, a.tool, a.profile
                ))
            }
            _ => None,
        },
        None => None,
    };
    approvals_page(&c, &s, StatusCode::OK, notice, None).await
}

async fn approvals_page(
    c: &Console,
    s: &session::Session,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let (list, error) = match c.store.list_approvals(None, 200).await {
        Ok(list) => (list, error),
        Err(e) => (
            Vec::new(),
            Some(format!("The approvals cannot be read right now: {e}")),
        ),
    };
    // Unknown (the store did not answer): every request counts as the viewer's own.
    let me = actor_id(c, s).await;
    let (pending, decided): (Vec<_>, Vec<_>) = list
        .iter()
        .map(|a| approval_view(a, me.as_deref(), now))
        .partition(|a| a.status == "pending");
    let decided: Vec<ApprovalView> = decided.into_iter().take(50).collect();
    c.render(
        status,
        "approvals.html",
        context! { pending => pending, decided => decided, notice => notice, error => error, ..page_ctx(s, "approvals") },
    )
}

pub(super) async fn decide(
    State(c): State<Arc<Console>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let audit = audit.map(|a| a.0);
    let (s, form) = match posted(
        &c,
        &headers,
        audit.as_ref(),
        Scope::Approve,
        &body,
        kind::APPROVAL_DECISION,
        &format!("approval {id} not decided"),
    )
    .await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    let approve = match form.get("decision").map(String::as_str) {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return approvals_page(
                &c,
                &s,
                StatusCode::BAD_REQUEST,
                None,
                Some("Choose Approve or Deny.".into()),
            )
            .await;
        }
    };
    let comment = form
        .get("comment")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(1000).collect::<String>());
    let who = s.who();
    let Some(by) = actor_id(&c, &s).await else {
        return approvals_page(
            &c,
            &s,
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            Some("The store cannot be read right now, so nothing was decided. Try again.".into()),
        )
        .await;
    };
    match crate::admin::decide_approval(&c.store, &by, &who, &id, approve, comment.as_deref()).await
    {
        Ok(decided) => {
            let reason = crate::admin::decision_reason(&decided, approve, &who, comment.as_deref());
            if !c
                .done(audit.as_ref(), &s, kind::APPROVAL_DECISION, reason)
                .await
            {
                return approvals_page(
                    &c,
                    &s,
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    Some(format!(
                        "The request was {}, but the audit trail has not stored its record yet.",
                        if approve { "approved" } else { "denied" }
                    )),
                )
                .await;
            }
            let qs: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("decided", &decided.id)
                .finish();
            see_other(&format!("/console/approvals?{qs}"))
        }
        Err((status, _, message)) => {
            c.refused(
                audit.as_ref(),
                &s,
                kind::APPROVAL_DECISION,
                format!("approval {id} not decided: {message}"),
            )
            .await;
            approvals_page(&c, &s, status, None, Some(message)).await
        }
    }
}

#[derive(Serialize)]
struct ModeView {
    mode: &'static str,
    means: &'static str,
}

fn means(m: Mode) -> &'static str {
    match m {
        Mode::Open => "Assistants work as their policy allows.",
        Mode::ReadOnly => "Every write is refused; reads go on.",
        Mode::Closed => "Every tool call is refused.",
    }
}

#[derive(Serialize)]
struct StateView {
    mode: &'static str,
    reason: String,
    set_by: String,
    set_at: String,
    local: bool,
}

async fn kill_page(
    c: &Console,
    s: &session::Session,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    confirm: Option<(Mode, String)>,
) -> Response {
    let st = c.kill.state();
    let state = StateView {
        mode: st.mode.as_str(),
        reason: st.reason.clone(),
        set_by: st.changed_by.clone(),
        set_at: rfc3339(st.changed_at).0,
        local: st.local,
    };
    let modes: Vec<ModeView> = [Mode::Open, Mode::ReadOnly, Mode::Closed]
        .into_iter()
        .map(|m| ModeView {
            mode: m.as_str(),
            means: means(m),
        })
        .collect();
    let confirm = confirm
        .map(|(m, reason)| context! { mode => m.as_str(), means => means(m), reason => reason });
    c.render(
        status,
        "kill_switch.html",
        context! { state => state, means => means(st.mode), modes => modes, confirm => confirm, notice => notice, error => error, ..page_ctx(s, "kill-switch") },
    )
}

pub(super) async fn kill_switch(
    State(c): State<Arc<Console>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let s = match require(&c, &headers, audit.as_ref().map(|a| &a.0), Scope::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = query_of(query);
    let notice = q
        .contains_key("changed")
        .then(|| format!("The switch is now {}.", c.kill.state().mode.as_str()));
    kill_page(&c, &s, StatusCode::OK, notice, None, None).await
}

pub(super) async fn set_kill_switch(
    State(c): State<Arc<Console>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let audit = audit.map(|a| a.0);
    let (s, form) = match posted(
        &c,
        &headers,
        audit.as_ref(),
        Scope::Admin,
        &body,
        kind::KILL_SWITCH_CHANGE,
        "kill switch not changed",
    )
    .await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(mode) = form.get("mode").and_then(|m| Mode::parse(m)) else {
        return kill_page(
            &c,
            &s,
            StatusCode::BAD_REQUEST,
            None,
            Some("Choose a mode: open, read-only or closed.".into()),
            None,
        )
        .await;
    };
    let reason: String = form
        .get("reason")
        .map(|r| r.trim())
        .unwrap_or("")
        .chars()
        .take(500)
        .collect();
    if reason.is_empty() {
        return kill_page(
            &c,
            &s,
            StatusCode::BAD_REQUEST,
            None,
            Some("Say why: a reason is required to change the switch.".into()),
            None,
        )
        .await;
    }
    // The first post only shows what would change; the second, from that page, changes it.
    if form.get("step").map(String::as_str) != Some("confirm") {
        return kill_page(&c, &s, StatusCode::OK, None, None, Some((mode, reason))).await;
    }
    let who = s.who();
    if let Err(e) = c.kill.set(mode, &reason, &who).await {
        c.refused(
            audit.as_ref(),
            &s,
            kind::KILL_SWITCH_CHANGE,
            format!("kill switch not changed: the store is unavailable ({e})"),
        )
        .await;
        return kill_page(
            &c,
            &s,
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            Some(format!(
                "The switch was not changed: the store is unavailable ({e})."
            )),
            None,
        )
        .await;
    }
    tracing::warn!(mode = mode.as_str(), reason = %reason, by = %who, "kill switch set from the console");
    let record = format!("kill switch set to {} by {who}: {reason}", mode.as_str());
    if !c
        .done(audit.as_ref(), &s, kind::KILL_SWITCH_CHANGE, record)
        .await
    {
        return kill_page(
            &c,
            &s,
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            Some(
                "The switch was changed, but the audit trail has not stored its record yet.".into(),
            ),
            None,
        )
        .await;
    }
    see_other("/console/kill-switch?changed=1")
}
