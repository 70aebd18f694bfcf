//! The console's keys page (`admin` scope): every key with its scopes, profile, status and last
//! use; a new key (its secret shown once, on the answer to the form, never in a URL); revoking
//! one (with a confirming tick). Through the same code as the CLI and the admin API, audited.

use super::{Console, page_ctx, posted, require, see_other};
use crate::audit::{AuditHandle, kind};
use crate::auth::Scope;
use crate::auth::keys::{CreateKeyError, KeyRequest, KeyView, create_key};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use minijinja::context;
use serde::Serialize;
use std::sync::Arc;
use time::OffsetDateTime;

use super::session::Session;

#[derive(Serialize)]
struct KeyRow {
    id: String,
    name: String,
    scopes: String,
    profile: String,
    status: &'static str,
    created_at: String,
    created_short: String,
    last_used_at: String,
    last_used_short: String,
    expires_at: String,
    expires_short: String,
}

fn when(t: Option<OffsetDateTime>) -> (String, String) {
    let full = t
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let short = full.get(..19).unwrap_or(&full).replace('T', " ");
    (full, short)
}

fn row(k: &KeyView) -> KeyRow {
    let (created_at, created_short) = when(Some(k.created_at));
    let (last_used_at, last_used_short) = when(k.last_used_at);
    let (expires_at, expires_short) = when(k.expires_at);
    KeyRow {
        id: k.id.clone(),
        name: k.name.clone(),
        scopes: k.scopes.join(", "),
        profile: k.profile.clone().unwrap_or_default(),
        status: k.status,
        created_at,
        created_short,
        last_used_at,
        last_used_short,
        expires_at,
        expires_short,
    }
}

const SCOPES: [(&str, &str); 4] = [
    ("mcp", "an assistant's key: tool calls through its profile"),
    ("audit", "reads the trail"),
    ("approve", "decides approvals"),
    ("admin", "keys, the kill switch, policy reload"),
];

async fn page(
    c: &Console,
    s: &Session,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    created: Option<minijinja::Value>,
) -> Response {
    let (keys, error) = match c.store.list_keys().await {
        Ok(keys) => (keys, error),
        Err(e) => (
            Vec::new(),
            Some(format!("The keys cannot be read right now: {e}")),
        ),
    };
    let rows: Vec<KeyRow> = keys.iter().map(KeyView::of).map(|k| row(&k)).collect();
    let scopes: Vec<minijinja::Value> = SCOPES
        .iter()
        .map(|(name, means)| context! { name => name, means => means })
        .collect();
    c.render(
        status,
        "keys.html",
        context! { keys => rows, scopes => scopes, profiles => c.profiles.clone(), created => created, notice => notice, error => error, ..page_ctx(s, "keys") },
    )
}

pub(super) async fn keys(
    State(c): State<Arc<Console>>,
    audit: Option<axum::Extension<AuditHandle>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let s = match require(&c, &headers, audit.as_ref().map(|a| &a.0), Scope::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // Only an id comes back in the URL: the notice is worded from the stored key.
    let id = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "revoked")
        .map(|(_, v)| v.into_owned());
    let revoked = match id {
        Some(id) => match c.store.get_key(&id).await {
            Ok(Some(k)) if k.revoked_at.is_some() => {
                Some(format!("Key {} ({}) revoked.", k.name, k.id))
            }
            _ => None,
        },
        None => None,
    };
    page(&c, &s, StatusCode::OK, revoked, None, None).await
}

pub(super) async fn create(
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
        kind::KEY_CHANGE,
        "key not created",
    )
    .await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    // Checkboxes repeat their name: read every `scope`.
    let scopes: Vec<String> = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .collect();
    let name = form.get("name").map(String::as_str).unwrap_or("");
    let profile = form
        .get("profile")
        .map(|p| p.trim())
        .filter(|p| !p.is_empty());
    let expires_in = form
        .get("expires_in")
        .map(|p| p.trim())
        .filter(|p| !p.is_empty());
    let request = KeyRequest {
        name,
        scopes: &scopes,
        profile,
        expires_in,
    };
    match create_key(&c.store, &request, &c.profiles).await {
        Ok(made) => {
            let v = &made.view;
            let reason = format!(
                "key {} created ({}, scopes {}{})",
                v.id,
                v.name,
                v.scopes.join(","),
                v.profile
                    .as_deref()
                    .map(|p| format!(", profile {p}"))
                    .unwrap_or_default()
            );
            if !c.done(audit.as_ref(), &s, kind::KEY_CHANGE, reason).await {
                // Not shown: a key whose making is not on the trail is taken back.
                let _ = c.store.revoke_key(&v.id, OffsetDateTime::now_utc()).await;
                return page(&c, &s, StatusCode::SERVICE_UNAVAILABLE, None, Some("The audit trail cannot take records right now, so no key was made. Try again later.".into()), None).await;
            }
            let created = context! { id => v.id.clone(), name => v.name.clone(), scopes => v.scopes.join(", "), profile => v.profile.clone(), token => made.token.expose().to_string() };
            page(&c, &s, StatusCode::CREATED, None, None, Some(created)).await
        }
        Err(CreateKeyError::Invalid(message)) => {
            c.refused(
                audit.as_ref(),
                &s,
                kind::KEY_CHANGE,
                format!("key not created: {message}"),
            )
            .await;
            page(&c, &s, StatusCode::BAD_REQUEST, None, Some(message), None).await
        }
        Err(e) => {
            page(
                &c,
                &s,
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                Some(e.to_string()),
                None,
            )
            .await
        }
    }
}

pub(super) async fn revoke(
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
        Scope::Admin,
        &body,
        kind::KEY_CHANGE,
        &format!("key {id} not revoked"),
    )
    .await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    if form.get("confirm").map(String::as_str) != Some("yes") {
        return page(
            &c,
            &s,
            StatusCode::BAD_REQUEST,
            None,
            Some("Tick the box next to the key to confirm: revoking cannot be undone.".into()),
            None,
        )
        .await;
    }
    match c.store.revoke_key(&id, OffsetDateTime::now_utc()).await {
        Ok(true) => {
            c.verifier.evict(&id);
            if !c
                .done(
                    audit.as_ref(),
                    &s,
                    kind::KEY_CHANGE,
                    format!("key {id} revoked"),
                )
                .await
            {
                return page(
                    &c,
                    &s,
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    Some(format!(
                        "Key {id} was revoked, but the audit trail has not stored its record yet."
                    )),
                    None,
                )
                .await;
            }
            let qs: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("revoked", &id)
                .finish();
            see_other(&format!("/console/keys?{qs}"))
        }
        Ok(false) => {
            page(
                &c,
                &s,
                StatusCode::NOT_FOUND,
                None,
                Some(format!("No active key with id {id}.")),
                None,
            )
            .await
        }
        Err(e) => {
            page(
                &c,
                &s,
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                Some(format!(
                    "Key {id} was not revoked: the store is unavailable ({e})."
                )),
                None,
            )
            .await
        }
    }
}
