//! The console's overview pages: the last hour's dashboard (`audit` or `admin`), every
//! profile's effective policy (`audit` or `admin`, as `GET /admin/v1/profiles`) and the policy
//! reload (`admin`), whose problems are shown as `policy check` words them.

use super::{Console, page_ctx, posted, require_any};
use crate::audit::{AuditHandle, kind};
use crate::auth::Scope;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use minijinja::context;
use std::sync::Arc;
use time::OffsetDateTime;

/// Who may read the overview pages.
const READERS: [Scope; 2] = [Scope::Audit, Scope::Admin];

pub(super) async fn dashboard(
    State(c): State<Arc<Console>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
) -> Response {
    let s = match require_any(&c, &headers, audit.as_ref().map(|a| &a.0), &READERS).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = OffsetDateTime::now_utc();
    match crate::audit::dashboard::last_hour(&c.store, now).await {
        Ok(d) => {
            let since = d
                .since
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            c.render(
                StatusCode::OK,
                "dashboard.html",
                context! { d => d, since => since, sample => crate::audit::dashboard::SAMPLE, kill => c.kill.state().mode.as_str(), ..page_ctx(&s, "dashboard") },
            )
        }
        Err(e) => c.render(
            StatusCode::SERVICE_UNAVAILABLE,
            "message.html",
            context! { heading => "The trail cannot be read", message => format!("The store did not answer ({e}); the dashboard is drawn from it. Try again shortly."), is_error => true, ..page_ctx(&s, "dashboard") },
        ),
    }
}

/// A result of a reload, to show on the profiles page.
struct Reloaded {
    status: StatusCode,
    notice: Option<String>,
    problems: Vec<String>,
}

async fn profiles_page(
    c: &Console,
    s: &super::session::Session,
    selected: Option<String>,
    reloaded: Reloaded,
) -> Response {
    let names: Vec<String> = c.reloader.profiles().map(|p| p.name.clone()).collect();
    let state = c
        .reloader
        .profiles()
        .find(|p| Some(&p.name) == selected.as_ref())
        .or_else(|| c.reloader.profiles().next());
    let (status, effective) = match (state, &selected) {
        (Some(p), Some(name)) if &p.name != name => (StatusCode::NOT_FOUND, None),
        (Some(p), _) => (reloaded.status, Some(p.effective().await)),
        (None, _) => (reloaded.status, None),
    };
    let unknown = match (&effective, &selected) {
        (None, Some(name)) => Some(format!("No profile is named \"{name}\".")),
        _ => None,
    };
    c.render(
        status,
        "profiles.html",
        context! { names => names, p => effective, unknown => unknown, notice => reloaded.notice, problems => reloaded.problems, ..page_ctx(s, "profiles") },
    )
}

pub(super) async fn profiles(
    State(c): State<Arc<Console>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let s = match require_any(&c, &headers, audit.as_ref().map(|a| &a.0), &READERS).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = query.unwrap_or_default();
    let selected = url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty());
    let ok = Reloaded {
        status: StatusCode::OK,
        notice: None,
        problems: Vec::new(),
    };
    profiles_page(&c, &s, selected, ok).await
}

/// Reloads every profile's policy file: all valid, all swapped in; any problem, none is.
pub(super) async fn reload(
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
        kind::POLICY_RELOAD,
        "policies not reloaded",
    )
    .await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    let selected = form.get("name").cloned().filter(|n| !n.is_empty());
    let result = match c.reloader.reload() {
        Ok(done) => {
            let list = done
                .iter()
                .map(|(profile, source)| format!("{profile} ({source})"))
                .collect::<Vec<_>>()
                .join(", ");
            let reason = format!("policies reloaded: {list}");
            if c.done(audit.as_ref(), &s, kind::POLICY_RELOAD, reason)
                .await
            {
                Reloaded {
                    status: StatusCode::OK,
                    notice: Some(format!("Policies reloaded: {list}.")),
                    problems: Vec::new(),
                }
            } else {
                Reloaded {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    notice: None,
                    problems: vec![format!(
                        "The policies were reloaded ({list}), but the audit trail has not stored its record yet."
                    )],
                }
            }
        }
        Err(problems) => {
            c.refused(
                audit.as_ref(),
                &s,
                kind::POLICY_RELOAD,
                format!(
                    "policy reload refused, the policies in force stay: {}",
                    problems.join("; ")
                ),
            )
            .await;
            Reloaded {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                notice: None,
                problems,
            }
        }
    };
    profiles_page(&c, &s, selected, result).await
}
