//! The admin listener: `/healthz`, `/readyz` and the admin API (`/admin/v1/...`), each route
//! behind a key with the scope it needs. `mcp` keys are refused everywhere here.

use crate::audit::AuditHandle;
use crate::audit::{AuditLog, kind};
use crate::auth::keys::{CreateKeyError, KeyRequest, KeyView, create_key};
use crate::auth::{Principal, Scope, Verifier};
use crate::middleware::auth::AuthLayer;
use crate::store::Store;
use crate::store::{AuditFilter, AuditRow};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde_json::json;
use std::sync::Arc;
use time::OffsetDateTime;

#[derive(Clone)]
pub struct AdminState {
    pub store: Arc<Store>,
    pub verifier: Arc<Verifier>,
    /// Configured profile names (mcp keys must name one).
    pub profiles: Vec<String>,
    pub reloader: Arc<crate::profile::PolicyReloader>,
    pub audit: Arc<AuditLog>,
    pub kill: Arc<crate::killswitch::KillSwitch>,
    pub odoo: crate::odoo::OdooClient,
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": code, "message": message.into()})),
    )
        .into_response()
}

/// The admin listener's routes: the probes (`/healthz`, `/readyz`, `/metrics`, no key) and the
/// API, with `api_layers` (the per-address limit) wrapped around the API only, so that probes
/// and scrapes are never limited.
pub fn router<L>(state: AdminState, api_layers: L) -> Router
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service: tower::Service<axum::extract::Request, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Response:
        axum::response::IntoResponse + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
{
    let keys = Router::new()
        .route("/admin/v1/keys", get(list_keys).post(post_key))
        .route("/admin/v1/keys/{id}", delete(revoke_key))
        .route("/admin/v1/policy/reload", post(reload_policies))
        .route("/admin/v1/people/{login}/revoke", post(revoke_person))
        .route("/admin/v1/people/{login}/restore", post(restore_person))
        .layer(AuthLayer::new(state.verifier.clone(), Scope::Admin));
    let kill_read = Router::new()
        .route("/admin/v1/killswitch", get(get_kill))
        .route("/admin/v1/people", get(list_people))
        .route("/admin/v1/profiles", get(list_profiles))
        .route("/admin/v1/dashboard", get(dashboard))
        .layer(AuthLayer::any_of(
            state.verifier.clone(),
            &[Scope::Admin, Scope::Audit],
        ));
    let kill_write = Router::new()
        .route("/admin/v1/killswitch", axum::routing::put(put_kill))
        .layer(AuthLayer::new(state.verifier.clone(), Scope::Admin));
    let approvals = Router::new()
        .route("/admin/v1/approvals", get(list_approvals))
        .route("/admin/v1/approvals/{id}/approve", post(approve))
        .route("/admin/v1/approvals/{id}/deny", post(deny))
        .layer(AuthLayer::new(state.verifier.clone(), Scope::Approve));
    let audit = Router::new()
        .route("/admin/v1/audit", get(query_audit))
        .route("/admin/v1/audit/verify", get(verify_audit))
        .route("/admin/v1/audit/export", get(export_audit))
        .layer(AuthLayer::new(state.verifier.clone(), Scope::Audit));
    let api = Router::new()
        .merge(keys)
        .merge(kill_read)
        .merge(kill_write)
        .merge(approvals)
        .merge(audit)
        .layer(api_layers);
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(api)
        .with_state(state)
}

/// How long `/readyz` waits for the store's answer (probes have timeouts of their own).
const STORE_PING: std::time::Duration = std::time::Duration::from_secs(2);

/// Ready when the store answers, the audit trail takes records, Odoo answers, and the profiles
/// (with their policies) are loaded.
async fn readyz(State(s): State<AdminState>) -> Response {
    let store = match tokio::time::timeout(STORE_PING, s.store.ping()).await {
        Ok(answer) => answer.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "the store did not answer within {} s",
            STORE_PING.as_secs()
        )),
    };
    let trail = s.audit.status();
    let odoo = s.odoo.ping().await.map_err(|e| e.to_string());
    let body = json!({
        "ready": store.is_ok() && !trail.is_down() && odoo.is_ok() && !s.profiles.is_empty(),
        "store": store.as_ref().map(|_| "ok").unwrap_or_else(|e| e.as_str()),
        "audit": if trail.is_down() { trail.describe() } else { "ok".into() },
        "odoo": odoo.as_ref().map(|_| "ok").unwrap_or_else(|e| e.as_str()),
        "odoo_circuit": s.odoo.circuit().as_str(),
        "profiles": s.profiles,
    });
    let status = if body["ready"] == true {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus metrics; the gauges are read now.
async fn metrics(State(s): State<AdminState>) -> Response {
    let m = crate::metrics::metrics();
    m.kill_switch.set(match s.kill.state().mode {
        crate::killswitch::Mode::Open => 0,
        crate::killswitch::Mode::ReadOnly => 1,
        crate::killswitch::Mode::Closed => 2,
    });
    m.audit_queue
        .set(i64::try_from(s.audit.queue_depth()).unwrap_or(i64::MAX));
    m.audit_trail_up.set(i64::from(!s.audit.status().is_down()));
    crate::metrics::odoo_circuit(s.odoo.circuit());
    m.tasks.set(
        i64::try_from(
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
        )
        .unwrap_or(i64::MAX),
    );
    // A store that does not answer leaves the last count (a scrape must not wait on it).
    if let Ok(Ok(pending)) = tokio::time::timeout(
        STORE_PING,
        s.store.count_pending_approvals(OffsetDateTime::now_utc()),
    )
    .await
    {
        m.pending_approvals.set(pending);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
        .into_response()
}

async fn list_keys(State(s): State<AdminState>) -> Response {
    match s.store.list_keys().await {
        Ok(keys) => {
            Json(json!({"keys": keys.iter().map(KeyView::of).collect::<Vec<_>>()})).into_response()
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    scopes: Vec<String>,
    profile: Option<String>,
    expires_in: Option<String>,
}

async fn post_key(
    State(s): State<AdminState>,
    Extension(by): Extension<Principal>,
    handle: Option<Extension<AuditHandle>>,
    body: Result<Json<CreateKey>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.body_text()),
    };
    let request = KeyRequest {
        name: &req.name,
        scopes: &req.scopes,
        profile: req.profile.as_deref(),
        expires_in: req.expires_in.as_deref(),
    };
    match create_key(&s.store, &request, &s.profiles).await {
        Ok(created) => {
            tracing::info!(key.id = %created.view.id, by = %by.key_id, scopes = ?created.view.scopes, "key created");
            let reason = format!(
                "key {} created ({}, scopes {}{})",
                created.view.id,
                created.view.name,
                created.view.scopes.join(","),
                created
                    .view
                    .profile
                    .as_deref()
                    .map(|p| format!(", profile {p}"))
                    .unwrap_or_default()
            );
            if let Err(r) =
                record_admin(&s, handle.map(|h| h.0), &by, kind::KEY_CHANGE, reason).await
            {
                return r;
            }
            let mut body = serde_json::to_value(&created.view).unwrap_or_else(|_| json!({}));
            // The only time the secret is ever shown.
            body["token"] = json!(created.token.expose());
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(CreateKeyError::Invalid(message)) => {
            error(StatusCode::BAD_REQUEST, "bad_request", message)
        }
        Err(e @ CreateKeyError::Store(_)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        ),
        Err(e @ CreateKeyError::Key(_)) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        }
    }
}

async fn revoke_key(
    State(s): State<AdminState>,
    Extension(by): Extension<Principal>,
    handle: Option<Extension<AuditHandle>>,
    Path(id): Path<String>,
) -> Response {
    match s.store.revoke_key(&id, OffsetDateTime::now_utc()).await {
        Ok(true) => {
            // At once on this instance; other instances follow within about a second.
            s.verifier.evict(&id);
            tracing::info!(key.id = %id, by = %by.key_id, "key revoked");
            if let Err(r) = record_admin(
                &s,
                handle.map(|h| h.0),
                &by,
                kind::KEY_CHANGE,
                format!("key {id} revoked"),
            )
            .await
            {
                return r;
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no active key with id {id}"),
        ),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
    }
}

/// People who signed in with OAuth (never their sealed keys).
async fn list_people(State(s): State<AdminState>) -> Response {
    let people = match s.store.oauth_list_people().await {
        Ok(p) => p,
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            );
        }
    };
    let mut out = Vec::new();
    for p in people {
        let grants = s.store.oauth_person_grants(&p.id).await.unwrap_or_default();
        let fmt = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        out.push(json!({
            "login": p.login,
            "uid": p.uid,
            "name": p.name,
            "profile": p.profile,
            "first_sign_in": fmt(p.created_at),
            "last_sign_in": fmt(p.signed_in_at),
            "revoked_at": p.blocked_at.map(fmt),
            "revoked_reason": p.blocked_reason,
            "active_grants": grants.iter().filter(|g| g.revoked_at.is_none()).count(),
            "clients": grants.iter().filter(|g| g.revoked_at.is_none()).map(|g| g.client_id.clone()).collect::<Vec<_>>(),
        }));
    }
    Json(json!({"people": out})).into_response()
}

/// Revokes a person: every grant they hold ends (within about a second on every instance) and
/// they cannot sign in again until restored.
async fn revoke_person(
    State(s): State<AdminState>,
    Extension(by): Extension<Principal>,
    handle: Option<Extension<AuditHandle>>,
    Path(login): Path<String>,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let reason = format!("revoked by an operator (key \"{}\")", by.name);
    // The grants about to end (active ones), to evict here at once; other instances follow
    // through their revocation poll.
    let ending: Vec<String> = match s.store.oauth_person_by_login(&login).await {
        Ok(Some(p)) => s
            .store
            .oauth_person_grants(&p.id)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|g| g.id)
            .collect(),
        _ => Vec::new(),
    };
    match s.store.oauth_block_person(&login, now, &reason).await {
        Ok(Some(n)) => {
            s.verifier.evict_grants(&ending);
            tracing::info!(person = %login, by = %by.key_id, grants = n, "person revoked");
            if let Err(r) = record_admin(
                &s,
                handle.map(|h| h.0),
                &by,
                kind::ADMIN,
                format!("person {login} revoked ({n} grants ended); sign-in blocked"),
            )
            .await
            {
                return r;
            }
            Json(json!({"login": login, "revoked": true, "grants_revoked": n})).into_response()
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("nobody with the Odoo login \"{login}\" has signed in here"),
        ),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
    }
}

/// Lets a revoked person sign in again (their old grants stay revoked).
async fn restore_person(
    State(s): State<AdminState>,
    Extension(by): Extension<Principal>,
    handle: Option<Extension<AuditHandle>>,
    Path(login): Path<String>,
) -> Response {
    match s.store.oauth_unblock_person(&login).await {
        Ok(true) => {
            if let Err(r) = record_admin(
                &s,
                handle.map(|h| h.0),
                &by,
                kind::ADMIN,
                format!("person {login} restored: may sign in again"),
            )
            .await
            {
                return r;
            }
            Json(json!({"login": login, "revoked": false})).into_response()
        }
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("nobody with the Odoo login \"{login}\" has signed in here"),
        ),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
    }
}

async fn reload_policies(
    State(s): State<AdminState>,
    Extension(by): Extension<Principal>,
    handle: Option<Extension<AuditHandle>>,
) -> Response {
    let handle = handle.map(|h| h.0);
    match s.reloader.reload() {
        Ok(done) => {
            tracing::info!(by = %by.key_id, profiles = ?done, "policies reloaded");
            let reason = format!("policies reloaded: {done:?}");
            if let Err(r) = record_admin(&s, handle, &by, kind::POLICY_RELOAD, reason).await {
                return r;
            }
            let reloaded: Vec<_> = done
                .iter()
                .map(|(profile, source)| json!({"profile": profile, "policy": source}))
                .collect();
            Json(json!({"reloaded": reloaded})).into_response()
        }
        Err(problems) => {
            tracing::error!(by = %by.key_id, problems = ?problems, "policy reload refused");
            let reason = format!("policy reload refused, the policies in force stay: {problems:?}");
            if let Err(r) = record_admin(&s, handle, &by, kind::POLICY_RELOAD, reason).await {
                return r;
            }
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": "invalid_policy",
                            "message": "no policy was changed: the policies in force stay until every file is valid",
                            "problems": problems})),
            )
                .into_response()
        }
    }
}

/// Records an administrative change, committed before the answer (the request-level record is
/// claimed). A trail that cannot take it turns the answer into a 503 (the change itself is made;
/// the record stays queued).
async fn record_admin(
    s: &AdminState,
    handle: Option<AuditHandle>,
    by: &Principal,
    what: crate::audit::Kind,
    reason: String,
) -> Result<(), Response> {
    let mut e = match &handle {
        Some(h) => {
            h.update(|d| {
                d.claimed = true;
                d.key_id = Some(by.key_id.clone());
                d.key_name = Some(by.name.clone());
            });
            h.event(&s.audit, what)
        }
        None => s.audit.event(what),
    };
    e.key_id = Some(by.key_id.clone());
    e.key_name = Some(by.name.clone());
    e.decision = Some(crate::audit::Decision::Allow);
    e.outcome = Some(crate::audit::Outcome::Ok);
    e.reason = Some(reason);
    s.audit.record_durable(e).await.map(|_| ()).map_err(|e| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            format!(
                "the change was made, but the audit trail has not stored its record yet ({}); \
                 it stays queued and is written when the store takes records again",
                e.for_client()
            ),
        )
    })
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    since: Option<String>,
    until: Option<String>,
    key_id: Option<String>,
    profile: Option<String>,
    /// A person's Odoo login (records made with their OAuth token).
    person: Option<String>,
    model: Option<String>,
    operation: Option<String>,
    decision: Option<String>,
    outcome: Option<String>,
    kind: Option<String>,
    record_id: Option<i64>,
    call_id: Option<String>,
    limit: Option<u32>,
    cursor: Option<i64>,
    /// `desc` (newest first, default) or `asc`.
    order: Option<String>,
    /// export only: `jsonl` (default) or `csv`.
    format: Option<String>,
}

pub(crate) fn parse_time(name: &str, v: &Option<String>) -> Result<Option<OffsetDateTime>, String> {
    match v {
        None => Ok(None),
        Some(t) => OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map(Some)
            .map_err(|_| format!("{name} must be an RFC 3339 time such as 2026-11-24T00:00:00Z")),
    }
}

/// A filter on one of the trail's words: refused, naming the words there are, when it is none
/// of them (a typo would otherwise silently match nothing).
pub(crate) fn word<W: crate::audit::Word>(
    name: &str,
    value: &Option<String>,
) -> Result<Option<String>, String> {
    let words = || W::all().iter().map(|w| w.word());
    match value.as_deref() {
        None => Ok(None),
        Some(v) if words().any(|w| w == v) => Ok(Some(v.to_string())),
        Some(v) => Err(format!(
            "{name} \"{v}\" is not one the trail uses ({})",
            words().collect::<Vec<_>>().join(", ")
        )),
    }
}

fn filter_of(q: &AuditQuery) -> Result<AuditFilter, String> {
    Ok(AuditFilter {
        since: parse_time("since", &q.since)?,
        until: parse_time("until", &q.until)?,
        key_id: q.key_id.clone(),
        profile: q.profile.clone(),
        person: q.person.clone(),
        model: q.model.clone(),
        operation: q.operation.clone(),
        decision: word::<crate::audit::Decision>("decision", &q.decision)?,
        outcome: word::<crate::audit::Outcome>("outcome", &q.outcome)?,
        kind: word::<crate::audit::Kind>("kind", &q.kind)?,
        record_id: q.record_id,
        call_id: q.call_id.clone(),
    })
}

/// A stored record as the API shows it: its place in the chain, then its content.
fn row_json(row: &AuditRow) -> serde_json::Value {
    json!({"seq": row.seq, "hash": row.hash, "prev_hash": row.prev_hash, "record": row.record})
}

fn bad_query(e: axum::extract::rejection::QueryRejection) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", e.body_text())
}

async fn query_audit(
    State(s): State<AdminState>,
    q: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(q) => q.0,
        Err(e) => return bad_query(e),
    };
    let filter = match filter_of(&q) {
        Ok(f) => f,
        Err(message) => return error(StatusCode::BAD_REQUEST, "bad_request", message),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let desc = !matches!(q.order.as_deref(), Some("asc"));
    let rows = if desc {
        s.store.query_audit_desc(&filter, q.cursor, limit).await
    } else {
        s.store.query_audit(&filter, q.cursor, limit).await
    };
    match rows {
        Ok(rows) => {
            let next = if rows.len() as u32 == limit {
                rows.last().map(|r| r.seq)
            } else {
                None
            };
            Json(json!({"records": rows.iter().map(row_json).collect::<Vec<_>>(), "next_cursor": next}))
                .into_response()
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerifyQuery {
    /// `SEQ:HASH` of a record seen earlier (a head kept outside the store).
    expect_head: Option<String>,
}

async fn verify_audit(
    State(s): State<AdminState>,
    q: Result<axum::extract::Query<VerifyQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(q) => q.0,
        Err(e) => return bad_query(e),
    };
    let kept = match q
        .expect_head
        .as_deref()
        .map(str::parse::<crate::audit::KeptHead>)
    {
        None => None,
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("expect_head: {e}"),
            );
        }
    };
    match crate::audit::verify(&s.store, kept.as_ref()).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
    }
}

/// Streams every matching record, oldest first, as JSON lines or CSV.
async fn export_audit(
    State(s): State<AdminState>,
    q: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(q) => q.0,
        Err(e) => return bad_query(e),
    };
    let filter = match filter_of(&q) {
        Ok(f) => f,
        Err(message) => return error(StatusCode::BAD_REQUEST, "bad_request", message),
    };
    let csv = match q.format.as_deref() {
        None | Some("jsonl") => false,
        Some("csv") => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("format \"{other}\": use jsonl or csv"),
            );
        }
    };
    export_response(s.store.clone(), filter, csv)
}

/// Every record `filter` matches, oldest first, streamed as JSON lines or CSV (the admin API's
/// export and the console's).
pub(crate) fn export_response(
    store: std::sync::Arc<crate::store::Store>,
    filter: crate::store::AuditFilter,
    csv: bool,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(8);
    tokio::spawn(async move {
        if csv {
            let header = format!("{}\n", crate::audit::export::CSV_HEADER);
            let _ = tx.send(Ok(bytes::Bytes::from(header))).await;
        }
        let mut cursor = None;
        loop {
            let rows = match store.query_audit(&filter, cursor, 1000).await {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            if rows.is_empty() {
                return;
            }
            cursor = rows.last().map(|r| r.seq);
            let mut chunk = String::new();
            for row in &rows {
                if csv {
                    chunk.push_str(&crate::audit::export::csv_line(row));
                } else {
                    chunk.push_str(&row_json(row).to_string());
                }
                chunk.push('\n');
            }
            if tx.send(Ok(bytes::Bytes::from(chunk))).await.is_err() {
                return;
            }
        }
    });
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let content_type = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalsQuery {
    status: Option<String>,
    limit: Option<u32>,
}

/// An approval request as approvers see it (the status as of now).
fn approval_json(a: &crate::store::ApprovalRecord) -> serde_json::Value {
    let mut v = serde_json::to_value(a).unwrap_or_else(|_| json!({}));
    v["status"] = json!(a.effective_status(OffsetDateTime::now_utc()));
    v
}

async fn list_approvals(
    State(s): State<AdminState>,
    q: Result<axum::extract::Query<ApprovalsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(q) => q.0,
        Err(e) => return bad_query(e),
    };
    match s
        .store
        .list_approvals(q.status.as_deref(), q.limit.unwrap_or(100).clamp(1, 1000))
        .await
    {
        Ok(list) => Json(json!({"approvals": list.iter().map(approval_json).collect::<Vec<_>>()}))
            .into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Decision {
    reason: Option<String>,
}

async fn approve(
    State(s): State<AdminState>,
    Extension(by): Extension<Principal>,
    handle: Option<Extension<AuditHandle>>,
    Path(id): Path<String>,
    body: Option<Json<Decision>>,
) -> Response {
    decide(
        s,
        by,
        handle.map(|h| h.0),
        id,
        true,
        body.map(|b| b.0).unwrap_or_default(),
    )
    .await
}

async fn deny(
    State(s): State<AdminState>,
    Extension(by): Extension<Principal>,
    handle: Option<Extension<AuditHandle>>,
    Path(id): Path<String>,
    body: Option<Json<Decision>>,
) -> Response {
    decide(
        s,
        by,
        handle.map(|h| h.0),
        id,
        false,
        body.map(|b| b.0).unwrap_or_default(),
    )
    .await
}

async fn decide(
    s: AdminState,
    by: Principal,
    handle: Option<AuditHandle>,
    id: String,
    approve: bool,
    d: Decision,
) -> Response {
    let who = format!("{} ({})", by.name, by.key_id);
    let reason = d.reason.as_deref();
    let decided = match decide_approval(&s.store, &by.key_id, &who, &id, approve, reason).await {
        Ok(a) => a,
        Err((status, code, message)) => return error(status, code, message),
    };
    let what = decision_reason(&decided, approve, &who, reason);
    if let Err(r) = record_admin(&s, handle, &by, kind::APPROVAL_DECISION, what).await {
        return r;
    }
    Json(approval_json(&decided)).into_response()
}

/// Approves or denies a pending request for the admin API and the console alike: never by the
/// key that made it (four eyes), only while it is pending.
pub(crate) async fn decide_approval(
    store: &crate::store::Store,
    by_key_id: &str,
    who: &str,
    id: &str,
    approve: bool,
    reason: Option<&str>,
) -> Result<crate::store::ApprovalRecord, (StatusCode, &'static str, String)> {
    let unavailable = |e: crate::store::StoreError| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        )
    };
    let current = store
        .get_approval(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no approval request {id}"),
            )
        })?;
    // Four eyes: never the key that asked (an mcp key cannot hold the approve scope anyway).
    if current.key_id == by_key_id {
        return Err((
            StatusCode::FORBIDDEN,
            "forbidden",
            "a request cannot be decided by the key that made it".into(),
        ));
    }
    let now = OffsetDateTime::now_utc();
    store
        .decide_approval(id, approve, who, reason, now)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            (
                StatusCode::CONFLICT,
                "not_pending",
                format!(
                    "approval {id} is {}, not pending: it cannot be decided",
                    current.effective_status(now)
                ),
            )
        })
}

/// The trail's reason for a decision.
pub(crate) fn decision_reason(
    decided: &crate::store::ApprovalRecord,
    approve: bool,
    who: &str,
    reason: Option<&str>,
) -> String {
    format!(
        "approval {} {} by {who} for key {} (profile {}, {}){}",
        decided.id,
        if approve { "approved" } else { "denied" },
        decided.key_id,
        decided.profile,
        decided.tool,
        reason.map(|r| format!(": {r}")).unwrap_or_default()
    )
}

/// Every profile's effective policy (as the console's profiles page shows it).
async fn list_profiles(State(s): State<AdminState>) -> Response {
    let all = futures_util::future::join_all(s.reloader.profiles().map(|p| p.effective())).await;
    Json(json!({ "profiles": all })).into_response()
}

/// The last hour (as the console's dashboard shows it).
async fn dashboard(State(s): State<AdminState>) -> Response {
    match crate::audit::dashboard::last_hour(&s.store, OffsetDateTime::now_utc()).await {
        Ok(d) => Json(d).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("the audit trail cannot be read: {e}"),
        ),
    }
}

async fn get_kill(State(s): State<AdminState>) -> Response {
    Json(s.kill.state()).into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KillChange {
    mode: String,
    #[serde(default)]
    reason: String,
}

async fn put_kill(
    State(s): State<AdminState>,
    Extension(by): Extension<Principal>,
    handle: Option<Extension<AuditHandle>>,
    body: Result<Json<KillChange>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(change) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.body_text()),
    };
    let Some(mode) = crate::killswitch::Mode::parse(&change.mode) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "mode must be open, read-only or closed",
        );
    };
    if mode != crate::killswitch::Mode::Open && change.reason.trim().is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "say why: a reason is required to close or restrict",
        );
    }
    let who = format!("{} ({})", by.name, by.key_id);
    let state = match s.kill.set(mode, change.reason.trim(), &who).await {
        Ok(state) => state,
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            );
        }
    };
    tracing::warn!(mode = mode.as_str(), reason = %change.reason, by = %who, "kill switch set");
    let reason = format!(
        "kill switch set to {} by {who}: {}",
        mode.as_str(),
        change.reason.trim()
    );
    if let Err(r) = record_admin(
        &s,
        handle.map(|h| h.0),
        &by,
        kind::KILL_SWITCH_CHANGE,
        reason,
    )
    .await
    {
        return r;
    }
    Json(state).into_response()
}
