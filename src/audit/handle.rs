//! The audit draft of one HTTP request: the audit layer puts an [`AuditHandle`] into the request
//! extensions; inner layers and handlers enrich it (who called, which MCP method), and the layer
//! (or a tool call that claims the request) writes the record from it.

use super::{AuditLog, Event};
use std::sync::{Arc, Mutex};

/// What is known of a request so far.
#[derive(Debug, Default, Clone)]
pub struct Draft {
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub key_id: Option<String>,
    pub key_name: Option<String>,
    pub profile: Option<String>,
    pub odoo_uid: Option<i64>,
    pub person: Option<String>,
    pub oauth_client: Option<String>,
    pub mcp_method: Option<String>,
    pub protocol_version: Option<String>,
    /// A JSON-RPC error answered, if any.
    pub rpc_error: Option<String>,
    /// A handler records this request itself.
    pub claimed: bool,
}

/// Shared by the layer and the handlers of one request.
#[derive(Clone, Default)]
pub struct AuditHandle(Arc<Mutex<Draft>>);

impl AuditHandle {
    pub fn update(&self, f: impl FnOnce(&mut Draft)) {
        if let Ok(mut d) = self.0.lock() {
            f(&mut d);
        }
    }

    pub fn draft(&self) -> Draft {
        self.0.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// A record carrying what the draft knows.
    pub fn event(&self, log: &AuditLog, kind: super::Kind) -> Event {
        let d = self.draft();
        let mut e = log.event(kind);
        e.request_id = d.request_id;
        e.client_ip = d.client_ip;
        e.key_id = d.key_id;
        e.key_name = d.key_name;
        e.profile = d.profile;
        e.odoo_uid = d.odoo_uid;
        e.person = d.person;
        e.oauth_client = d.oauth_client;
        e.mcp_method = d.mcp_method;
        e.protocol_version = d.protocol_version;
        e
    }
}
