//! The last hour at a glance (the console's dashboard, `GET /admin/v1/dashboard`): calls,
//! refusals by reason, writes by outcome, pending approvals and the clients a rate limit stopped,
//! from the trail (every instance sharing the store), and Odoo's latency as this instance saw it.
//! Counts come from one grouped query; the reasons and clients from the latest records (at most
//! [`SAMPLE`] of each), so that a busy hour costs the store the same as a quiet one.

use crate::store::{AuditFilter, Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// How many of the latest refusals and rate-limited requests are read for their reasons and
/// clients.
pub const SAMPLE: u32 = 500;

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// Tool calls, and of those allowed, refused by the policy, refused for their arguments.
    pub calls: u64,
    pub calls_allowed: u64,
    /// Other MCP requests (initialize, lists, pings).
    pub requests: u64,
    /// Refusals by reason, most first.
    pub refusals: Vec<Count>,
    /// Policy refusals' own reasons (from the latest [`SAMPLE`]), most first.
    pub denial_reasons: Vec<Count>,
    /// Write outcomes by outcome (`ok`, `error`, `unknown`, ...).
    pub writes: Vec<Count>,
    pub writes_total: u64,
    pub pending_approvals: u64,
    /// Keys or addresses a rate limit refused (from the latest [`SAMPLE`]), most first.
    pub rate_limited: Vec<Count>,
    pub odoo_latency: crate::metrics::LatencySummary,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Count {
    pub what: String,
    pub count: u64,
}

/// What a refusal of each kind means, for people.
fn refusal_label(kind: &str, decision: Option<&str>) -> Option<&'static str> {
    Some(match (kind, decision) {
        ("auth_failure", _) => "no valid key or token",
        ("rate_limited", _) => "over a rate limit",
        ("origin_refused", _) => "foreign origin or host",
        ("malformed", _) => "malformed request",
        ("kill_switch_refused", _) => "kill switch",
        ("tool_call", Some("deny")) => "refused by the policy",
        ("tool_call", Some("invalid")) => "invalid arguments",
        ("tool_call", Some("refuse")) => "refused by the server",
        ("request", Some("refuse")) => "other refused requests (not allowed, not found, failed)",
        _ => return None,
    })
}

fn sorted(map: BTreeMap<String, u64>) -> Vec<Count> {
    let mut v: Vec<Count> = map
        .into_iter()
        .map(|(what, count)| Count { what, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.what.cmp(&b.what)));
    v
}

/// A reason with its particulars (ids, numbers) taken out, so that alike refusals group.
fn reason_class(reason: &str) -> String {
    let mut out = String::new();
    let mut in_number = false;
    for c in reason.chars().take(160) {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// The hour before `now`.
pub async fn last_hour(store: &Store, now: OffsetDateTime) -> Result<Dashboard, StoreError> {
    let since = now - time::Duration::hours(1);
    let tallies = store.audit_tally(since).await?;
    let mut d = Dashboard {
        since,
        calls: 0,
        calls_allowed: 0,
        requests: 0,
        refusals: Vec::new(),
        denial_reasons: Vec::new(),
        writes: Vec::new(),
        writes_total: 0,
        pending_approvals: 0,
        rate_limited: Vec::new(),
        odoo_latency: crate::metrics::LatencySummary::default(),
    };
    let mut refusals = BTreeMap::new();
    let mut writes = BTreeMap::new();
    for t in &tallies {
        let n = u64::try_from(t.count).unwrap_or(0);
        match t.kind.as_str() {
            "tool_call" => {
                d.calls += n;
                if t.decision.as_deref() == Some("allow") {
                    d.calls_allowed += n;
                }
            }
            "request" => d.requests += n,
            "write_outcome" => {
                d.writes_total += n;
                *writes
                    .entry(t.outcome.clone().unwrap_or_else(|| "none".into()))
                    .or_insert(0) += n;
            }
            _ => {}
        }
        if let Some(label) = refusal_label(&t.kind, t.decision.as_deref()) {
            *refusals.entry(label.to_string()).or_insert(0) += n;
        }
    }
    d.refusals = sorted(refusals);
    d.writes = sorted(writes);
    let recent = |kind: &str, decision: Option<&str>| AuditFilter {
        since: Some(since),
        kind: Some(kind.into()),
        decision: decision.map(str::to_string),
        ..AuditFilter::default()
    };
    let denied = store
        .query_audit_desc(&recent("tool_call", Some("deny")), None, SAMPLE)
        .await?;
    let mut reasons = BTreeMap::new();
    for row in &denied {
        let reason = row
            .record
            .get("reason")
            .and_then(|r| r.as_str())
            .unwrap_or("");
        *reasons.entry(reason_class(reason)).or_insert(0) += 1;
    }
    d.denial_reasons = sorted(reasons);
    d.denial_reasons.truncate(10);
    let limited = store
        .query_audit_desc(&recent("rate_limited", None), None, SAMPLE)
        .await?;
    let mut clients = BTreeMap::new();
    for row in &limited {
        let text = |k: &str| {
            row.record
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let who = match (text("key_id"), text("key_name"), text("client_ip")) {
            (Some(id), Some(name), _) => format!("key {name} ({id})"),
            (Some(id), None, _) => format!("key {id}"),
            (None, _, Some(ip)) => format!("address {ip}"),
            _ => "unknown".into(),
        };
        *clients.entry(who).or_insert(0) += 1;
    }
    d.rate_limited = sorted(clients);
    d.rate_limited.truncate(10);
    d.pending_approvals = u64::try_from(store.count_pending_approvals(now).await?).unwrap_or(0);
    d.odoo_latency = crate::metrics::odoo_last_hour();
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alike_reasons_group() {
        assert_eq!(
            reason_class("record 42 of res.partner is outside the read domain"),
            reason_class("record 7 of res.partner is outside the read domain")
        );
        assert_ne!(
            reason_class("field email is hidden"),
            reason_class("field phone is hidden")
        );
        assert_eq!(refusal_label("tool_call", Some("allow")), None);
        assert_eq!(
            refusal_label("auth_failure", Some("refuse")),
            Some("no valid key or token")
        );
    }
}
