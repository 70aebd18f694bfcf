//! The OAuth 2.1 authorization server on the MCP listener (issue 17): discovery documents
//! (RFC 9728, RFC 8414), client registration (RFC 7591) and client ID metadata documents, the
//! sign-in page (people enter their own Odoo login and API key), the token and revocation
//! endpoints. Grants, tokens and people live in `crate::oauth`; this module is their HTTP face.
//!
//! | path | what |
//! |------|------|
//! | `GET /.well-known/oauth-protected-resource[/mcp]` | RFC 9728 metadata of `/mcp` |
//! | `GET /.well-known/oauth-authorization-server` | RFC 8414 metadata |
//! | `POST /oauth/register` | RFC 7591 dynamic client registration |
//! | `GET, POST /oauth/authorize` | the sign-in and consent page |
//! | `POST /oauth/token` | code exchange and refresh |
//! | `POST /oauth/revoke` | RFC 7009 revocation |
//!
//! Every answer is audited (kinds `oauth_sign_in`, `oauth_token`, `oauth_client`); an answer
//! the trail cannot take becomes a `503`.

// Handlers' helpers return the answer to send instead as their error (`Result<_, Response>`).
#![allow(clippy::result_large_err)]

mod authorize;
pub mod cimd;
mod clients;
mod metadata;
mod token;

use crate::audit::{AuditHandle, AuditLog, Decision, Kind, Outcome};
use crate::auth::Verifier;
use crate::oauth::grants::Grants;
use crate::oauth::people::People;
use crate::store::Store;
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use std::sync::Arc;

/// What the endpoints share.
pub struct SignIn {
    /// The issuer: the public URL without a trailing slash.
    issuer: String,
    /// The protected resource: `<issuer>/mcp`.
    resource: String,
    secure_cookies: bool,
    store: Arc<Store>,
    grants: Grants,
    people: Arc<People>,
    verifier: Arc<Verifier>,
    audit: Arc<AuditLog>,
    clients: clients::Clients,
    failures: Arc<crate::auth::failures::Failures>,
    pages: authorize::Pages,
}

impl SignIn {
    /// `public_url`: the URL clients use (`[server] public_url`, or the listen address).
    pub fn new(
        public_url: &url::Url,
        store: Arc<Store>,
        people: Arc<People>,
        verifier: Arc<Verifier>,
        audit: Arc<AuditLog>,
        failures: Arc<crate::auth::failures::Failures>,
    ) -> Result<Arc<Self>, String> {
        let issuer = public_url.as_str().trim_end_matches('/').to_string();
        let config = people.config();
        let grants = Grants::new(
            store.clone(),
            crate::oauth::grants::Lifetimes {
                access: config.access_ttl,
                refresh: config.refresh_ttl,
            },
        );
        let clients = clients::Clients::new(
            store.clone(),
            cimd::Fetcher::new(config.allow_private_client_metadata)?,
        );
        Ok(Arc::new(Self {
            resource: format!("{issuer}/mcp"),
            secure_cookies: public_url.scheme() == "https",
            issuer,
            store,
            grants,
            people,
            verifier,
            audit,
            clients,
            failures,
            pages: authorize::Pages::new()?,
        }))
    }

    /// The protected resource this server issues tokens for (`<issuer>/mcp`).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// `WWW-Authenticate` of a 401 on `/mcp`: where the resource metadata is.
    pub fn challenge(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            self.issuer
        ))
        .ok()
    }

    /// The resource a client named, as this server's (a trailing slash is forgiven).
    fn our_resource(&self, asked: Option<&str>) -> Result<String, String> {
        match asked.map(str::trim) {
            None | Some("") => Ok(self.resource.clone()),
            Some(r) if r.trim_end_matches('/') == self.resource => Ok(self.resource.clone()),
            Some(r) => Err(format!(
                "resource \"{r}\" is not served here; this server's resource is {}",
                self.resource
            )),
        }
    }

    /// Writes the audit record of an OAuth request (claimed: the audit layer writes no other).
    /// `Err` is the `503` to answer instead when the trail cannot take it.
    async fn record(&self, handle: Option<&AuditHandle>, r: Record) -> Result<(), Response> {
        let mut e = match handle {
            Some(h) => {
                h.update(|d| d.claimed = true);
                h.event(&self.audit, r.kind)
            }
            None => self.audit.event(r.kind),
        };
        e.decision = Some(r.decision);
        e.outcome = Some(r.outcome);
        e.reason = Some(r.reason);
        e.person = r.person.or(e.person);
        e.oauth_client = r.client.or(e.oauth_client);
        e.profile = r.profile.or(e.profile);
        e.odoo_uid = r.uid.or(e.odoo_uid);
        e.http_status = Some(r.status);
        match self.audit.record(e).await {
            Ok(()) => Ok(()),
            Err(err) => {
                tracing::error!(error = %err, "audit record not taken; answering 503");
                Err(crate::refusal::Refusal::AuditUnavailable
                    .response(crate::refusal::BodyStyle::Plain))
            }
        }
    }
}

/// One OAuth audit record.
struct Record {
    kind: Kind,
    decision: Decision,
    outcome: Outcome,
    reason: String,
    status: u16,
    person: Option<String>,
    client: Option<String>,
    profile: Option<String>,
    uid: Option<i64>,
}

impl Record {
    fn new(kind: Kind, ok: bool, status: u16, reason: impl Into<String>) -> Self {
        Self {
            kind,
            decision: if ok {
                Decision::Allow
            } else {
                Decision::Refuse
            },
            outcome: if ok { Outcome::Ok } else { Outcome::Refused },
            reason: reason.into(),
            status,
            person: None,
            client: None,
            profile: None,
            uid: None,
        }
    }

    fn client(mut self, client: &str) -> Self {
        if !client.is_empty() {
            self.client = Some(client.chars().take(300).collect());
        }
        self
    }
}

/// The routes, mounted beside `/mcp` (outside its key authentication).
pub fn router(state: Arc<SignIn>) -> Router {
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(metadata::protected_resource),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(metadata::protected_resource),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::authorization_server),
        )
        .route("/oauth/register", post(clients::register))
        .route(
            "/oauth/authorize",
            get(authorize::show).post(authorize::submit),
        )
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(token::revoke))
        .with_state(state)
}

/// An OAuth JSON answer (`Cache-Control: no-store`, as RFC 6749 §5.1 asks of token answers).
fn oauth_json(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// An OAuth error answer: `{"error", "error_description"}`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    oauth_json(
        status,
        json!({"error": error, "error_description": description}),
    )
}
