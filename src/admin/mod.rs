//! The admin listener: `/healthz`, `/readyz` and the admin API (`/admin/v1/...`), each route
//! behind a key with the scope it needs. `mcp` keys are refused everywhere here.

use crate::auth::keys::{KeyRequest, KeyView, create_key};
use crate::auth::{Principal, Scope, Verifier};
use crate::middleware::auth::AuthLayer;
use crate::store::Store;
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
    pub reloader: Arc<crate::app::PolicyReloader>,
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": code, "message": message.into()})),
    )
        .into_response()
}

pub fn router(state: AdminState) -> Router {
    let keys = Router::new()
        .route("/admin/v1/keys", get(list_keys).post(post_key))
        .route("/admin/v1/keys/{id}", delete(revoke_key))
        .route("/admin/v1/policy/reload", post(reload_policies))
        .layer(AuthLayer::new(state.verifier.clone(), Scope::Admin));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(keys)
        .with_state(state)
}

async fn readyz(State(s): State<AdminState>) -> Response {
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"ready": true}))).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("store: {e}"),
        ),
    }
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
            let mut body = serde_json::to_value(&created.view).unwrap_or_else(|_| json!({}));
            // The only time the secret is ever shown.
            body["token"] = json!(created.token.expose());
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(message) => error(StatusCode::BAD_REQUEST, "bad_request", message),
    }
}

async fn revoke_key(
    State(s): State<AdminState>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    match s.store.revoke_key(&id, OffsetDateTime::now_utc()).await {
        Ok(true) => {
            // At once on this instance; other instances follow within about a second.
            s.verifier.evict(&id);
            tracing::info!(key.id = %id, by = %by.key_id, "key revoked");
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

async fn reload_policies(
    State(s): State<AdminState>,
    Extension(by): Extension<Principal>,
) -> Response {
    match s.reloader.reload() {
        Ok(done) => {
            tracing::info!(by = %by.key_id, profiles = ?done, "policies reloaded");
            let reloaded: Vec<_> = done
                .iter()
                .map(|(profile, source)| json!({"profile": profile, "policy": source}))
                .collect();
            Json(json!({"reloaded": reloaded})).into_response()
        }
        Err(problems) => {
            tracing::error!(by = %by.key_id, problems = ?problems, "policy reload refused");
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
