//! The `/mcp` endpoint: Streamable HTTP for the handshake revisions (2025-06-18, 2025-11-25) and
//! stateless requests of 2026-07-28, on one route. [`McpServer`] holds what every request
//! shares; [`super::http`] handles HTTP, [`super::dispatch`] the protocol eras,
//! [`super::call`] tool calls, [`super::context`] the call contract (docs/architecture.md).

use super::protocol::Era;
use super::session::SessionStore;
use super::tools::Toolbox;
use crate::audit::AuditLog;
use crate::confirm::ConfirmSettings;
use crate::confirm::state::Sealer;
use crate::killswitch::KillSwitch;
use crate::profile::ProfileState;
use crate::store::Store;
use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub(super) const INSTRUCTIONS: &str = "odoo-warden gives governed access to an Odoo database. Call get_context first: it says which Odoo user you act as and which models and operations this key allows. Use list_models and get_fields before searching; name the fields you need.";

/// Settings of the MCP endpoint.
#[derive(Debug, Clone)]
pub struct McpSettings {
    /// A tool call that runs longer is stopped with an error.
    pub request_timeout: Duration,
    /// How long a server-to-client request (elicitation) waits for its answer.
    pub client_request_timeout: Duration,
    pub confirm: ConfirmSettings,
    /// The key sealing MRTR `requestState` (shared by instances when configured; random otherwise).
    pub state_key: Option<[u8; 32]>,
}

/// State shared by every request to `/mcp`.
pub struct McpServer {
    pub(super) toolbox: Toolbox,
    /// Logged-in profiles by name; each call runs as its key's profile.
    pub(super) profiles: HashMap<String, Arc<ProfileState>>,
    pub sessions: SessionStore,
    pub(super) settings: McpSettings,
    pub(super) sealer: Arc<Sealer>,
    pub(super) audit: Arc<AuditLog>,
    pub(super) confirm: Arc<ConfirmSettings>,
    pub(super) store: Arc<Store>,
    pub(super) kill: Arc<KillSwitch>,
    /// With OAuth on: people's sessions (a person's calls run as their own Odoo user).
    pub(super) people: Option<Arc<crate::oauth::people::People>>,
}

/// What every call must reach: the audit trail (no call goes unrecorded, no write without its
/// intent), the store (approvals, request states) and the kill switch.
#[derive(Clone)]
pub struct Handles {
    pub audit: Arc<AuditLog>,
    pub store: Arc<Store>,
    pub kill: Arc<KillSwitch>,
}

impl McpServer {
    pub fn new(
        toolbox: Toolbox,
        profiles: HashMap<String, Arc<ProfileState>>,
        settings: McpSettings,
        handles: Handles,
    ) -> Self {
        let sealer = Arc::new(Sealer::new(
            settings.state_key,
            settings
                .confirm
                .elicitation_timeout
                .max(Duration::from_secs(600)),
        ));
        let confirm = Arc::new(settings.confirm.clone());
        Self {
            toolbox,
            profiles,
            sessions: SessionStore::new(10_000, Duration::from_secs(3600)),
            settings,
            sealer,
            confirm,
            audit: handles.audit,
            store: handles.store,
            kill: handles.kill,
            people: None,
        }
    }

    /// Serves people signed in with OAuth, through `people`.
    pub fn with_people(mut self, people: Arc<crate::oauth::people::People>) -> Self {
        self.people = Some(people);
        self
    }
}

/// The `/mcp` route: POST for messages, GET (no standalone stream: 405), DELETE to end a session.
pub fn router(server: Arc<McpServer>) -> Router {
    {
        let mut changes = server.kill.changes();
        let weak = Arc::downgrade(&server);
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let Some(server) = weak.upgrade() else { return };
                let note = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
                let told = server
                    .sessions
                    .all()
                    .iter()
                    .filter(|s| s.push(note.clone()))
                    .count();
                tracing::info!(
                    sessions = told,
                    "kill switch changed: told open sessions their tool list changed"
                );
            }
        });
    }
    Router::new()
        .route(
            "/mcp",
            post(super::http::handle_post)
                .get(super::http::handle_get)
                .delete(super::http::handle_delete),
        )
        .with_state(server)
}

/// Server capabilities: tools only (the conformance build adds logging for its fixtures). The
/// tool list changes with the kill switch (`read-only` hides the write tools): 2025 sessions with
/// a standalone stream (`GET /mcp`) are told. The stateless revision has no stream to tell them
/// on (its `subscriptions/listen` is not offered), so it does not claim `listChanged`; its
/// `tools/list` answers carry `ttlMs: 0` instead.
pub(super) fn server_capabilities(era: Era) -> Value {
    let list_changed = era == Era::Handshake;
    #[cfg(feature = "conformance-fixtures")]
    return json!({"tools": {"listChanged": list_changed}, "logging": {}});
    #[cfg(not(feature = "conformance-fixtures"))]
    json!({"tools": {"listChanged": list_changed}})
}

pub(super) fn server_info() -> Value {
    json!({"name": "odoo-warden", "title": "odoo-warden", "version": env!("CARGO_PKG_VERSION")})
}
