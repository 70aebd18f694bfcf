//! Discovery: RFC 9728 protected resource metadata and RFC 8414 authorization server metadata.
//! Both are public, the same for everyone, and cacheable for a few minutes.

use super::SignIn;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use std::sync::Arc;

fn public_json(body: Value) -> Response {
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// `/.well-known/oauth-protected-resource` and its `/mcp`-suffixed form.
pub(super) async fn protected_resource(State(st): State<Arc<SignIn>>) -> Response {
    public_json(json!({
        "resource": st.resource,
        "authorization_servers": [st.issuer],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["mcp"],
        "resource_name": "odoo-warden (Odoo through a governance proxy)",
    }))
}

/// `/.well-known/oauth-authorization-server`.
pub(super) async fn authorization_server(State(st): State<Arc<SignIn>>) -> Response {
    let at = |path: &str| format!("{}{path}", st.issuer);
    let auth_methods = ["none", "client_secret_post", "client_secret_basic"];
    public_json(json!({
        "issuer": st.issuer,
        "authorization_endpoint": at("/oauth/authorize"),
        "token_endpoint": at("/oauth/token"),
        "registration_endpoint": at("/oauth/register"),
        "revocation_endpoint": at("/oauth/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": ["mcp"],
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
    }))
}
