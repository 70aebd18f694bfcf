//! OAuth clients: registered with RFC 7591 (stored), or named by a client ID metadata document
//! (an `https` URL, fetched by [`super::cimd`]); redirect URI rules; client authentication at the
//! token and revocation endpoints.

use super::{Record, SignIn, cimd, oauth_error, oauth_json};
use crate::audit::{AuditHandle, kind};
use crate::store::{ClientRow, Store};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, StatusCode, header};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// A client as the authorization endpoint needs it.
#[derive(Debug, Clone)]
pub(super) struct Client {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
}

pub(super) struct Clients {
    store: Arc<Store>,
    documents: cimd::Fetcher,
}

/// Redirect URIs a registration may carry at most.
const MAX_REDIRECT_URIS: usize = 10;
const MAX_URI_LEN: usize = 2000;
const MAX_NAME_LEN: usize = 200;

impl Clients {
    pub fn new(store: Arc<Store>, documents: cimd::Fetcher) -> Self {
        Self { store, documents }
    }

    /// The client `client_id` names: a registered one, or the one its metadata document
    /// describes. `Err`: why it is not usable (for the person, on the error page).
    pub async fn find(&self, client_id: &str) -> Result<Client, String> {
        if cimd::is_document_url(client_id) {
            let doc = self.documents.get(client_id).await?;
            return Ok(Client {
                id: client_id.to_string(),
                name: doc.client_name,
                redirect_uris: doc.redirect_uris,
            });
        }
        match self.store.oauth_get_client(client_id).await {
            Ok(Some(c)) => Ok(Client {
                id: c.client_id,
                name: c.name,
                redirect_uris: c.redirect_uris,
            }),
            Ok(None) => Err(format!(
                "the client \"{}\" is not registered here (it may have been registered with another odoo-warden); remove the connection in your assistant and add it again",
                client_id.chars().take(100).collect::<String>()
            )),
            Err(_) => {
                Err("odoo-warden cannot reach its store right now; try again in a moment".into())
            }
        }
    }

    /// Authenticates the client of a token or revocation request (RFC 6749 §2.3): HTTP Basic, or
    /// `client_id` (+ `client_secret`) in the form. A public client sends its id only; a client
    /// named by a metadata document is public. `Err`: the `invalid_client` answer.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<String, Response> {
        let refuse = |why: &str| {
            let mut r = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", why);
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Basic realm=\"odoo-warden\""),
            );
            r
        };
        let basic = basic_credentials(headers);
        let (id, secret) = match (&basic, form.get("client_id")) {
            (Some((id, secret)), form_id) => {
                if form_id.is_some_and(|f| f != id) {
                    return Err(refuse("client_id differs from the Basic credentials"));
                }
                (id.clone(), Some(secret.clone()))
            }
            (None, Some(id)) => (id.clone(), form.get("client_secret").cloned()),
            (None, None) => return Err(refuse("client_id is required")),
        };
        if cimd::is_document_url(&id) {
            return Ok(id);
        }
        let client = match self.store.oauth_get_client(&id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(refuse("unknown client")),
            Err(_) => {
                return Err(oauth_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the store cannot be reached; try again",
                ));
            }
        };
        match (&client.secret_hash, secret) {
            (None, _) => Ok(id),
            (Some(hash), Some(secret)) if crate::oauth::token::hash(&secret) == *hash => Ok(id),
            (Some(_), _) => Err(refuse("client authentication failed")),
        }
    }
}

/// `Authorization: Basic` client credentials (form-urlencoded id and secret, RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((dec(id)?, dec(secret)?))
}

/// Whether a redirect URI may be registered: `https`, `http` on a loopback address (native
/// apps, RFC 8252 §7.3), or an app's private-use scheme (`com.example.app:/cb`, §7.1; desktop
/// assistants also use short ones such as `cursor://`). Never a fragment, never a scheme a
/// browser would run or read locally (`javascript:`, `data:`, `file:`, ...).
pub(super) fn redirect_uri_problem(uri: &str) -> Option<String> {
    if uri.len() > MAX_URI_LEN {
        return Some(format!(
            "a redirect URI is longer than {MAX_URI_LEN} characters"
        ));
    }
    let Ok(u) = url::Url::parse(uri) else {
        return Some(format!("\"{uri}\" is not an absolute URI"));
    };
    if u.fragment().is_some() {
        return Some(format!(
            "\"{uri}\" has a fragment, which redirect URIs may not"
        ));
    }
    match u.scheme() {
        "https" => None,
        "http" if is_loopback(&u) => None,
        "http" => Some(format!(
            "\"{uri}\": plain http is accepted only on a loopback address (127.0.0.1, [::1], localhost); use https"
        )),
        "javascript" | "data" | "file" | "about" | "blob" | "vbscript" | "ftp" | "ws" | "wss"
        | "mailto" | "tel" | "sms" | "intent" | "filesystem" | "view-source" | "chrome"
        | "chrome-extension" | "ms-settings" => Some(format!(
            "\"{uri}\": the {} scheme is not a redirect URI",
            u.scheme()
        )),
        // Private-use schemes of desktop and mobile apps (`cursor://`, `com.example.app:/`).
        _ => None,
    }
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The metadata a client registers with (RFC 7591 §2); unknown members are ignored.
#[derive(Debug, Deserialize)]
struct Registration {
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    scope: Option<String>,
    client_uri: Option<String>,
    software_id: Option<String>,
    software_version: Option<String>,
}

/// A name fit to show: control characters out, bounded length.
pub(super) fn clean_name(name: Option<&str>) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_LEN)
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        "an unnamed client".to_string()
    } else {
        trimmed.to_string()
    }
}

/// `POST /oauth/register` (RFC 7591).
pub(super) async fn register(
    State(st): State<Arc<SignIn>>,
    audit: Option<axum::Extension<AuditHandle>>,
    body: Bytes,
) -> Response {
    let audit = audit.map(|a| a.0);
    let refused = |error: &str, why: String| (error.to_string(), why);
    let checked = (|| {
        let reg: Registration = serde_json::from_slice(&body).map_err(|e| {
            refused(
                "invalid_client_metadata",
                format!("the registration is not a JSON object of client metadata: {e}"),
            )
        })?;
        if reg.redirect_uris.is_empty() {
            return Err(refused(
                "invalid_redirect_uri",
                "redirect_uris is required (at least one)".into(),
            ));
        }
        if reg.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(refused(
                "invalid_redirect_uri",
                format!("at most {MAX_REDIRECT_URIS} redirect_uris"),
            ));
        }
        if let Some(why) = reg
            .redirect_uris
            .iter()
            .find_map(|u| redirect_uri_problem(u))
        {
            return Err(refused("invalid_redirect_uri", why));
        }
        let method = reg
            .token_endpoint_auth_method
            .clone()
            .unwrap_or_else(|| "client_secret_basic".into());
        if !["none", "client_secret_post", "client_secret_basic"].contains(&method.as_str()) {
            return Err(refused(
                "invalid_client_metadata",
                format!(
                    "token_endpoint_auth_method \"{method}\" is not supported (none, client_secret_post, client_secret_basic)"
                ),
            ));
        }
        let grants = reg
            .grant_types
            .clone()
            .unwrap_or_else(|| vec!["authorization_code".into()]);
        if let Some(g) = grants
            .iter()
            .find(|g| !["authorization_code", "refresh_token"].contains(&g.as_str()))
        {
            return Err(refused(
                "invalid_client_metadata",
                format!("grant type \"{g}\" is not supported (authorization_code, refresh_token)"),
            ));
        }
        if let Some(r) = reg
            .response_types
            .as_ref()
            .and_then(|rs| rs.iter().find(|r| *r != "code"))
        {
            return Err(refused(
                "invalid_client_metadata",
                format!("response type \"{r}\" is not supported (code)"),
            ));
        }
        Ok((reg, method, grants))
    })();
    let (reg, method, grants) = match checked {
        Ok(x) => x,
        Err((error, why)) => {
            let rec = Record::new(
                kind::OAUTH_CLIENT,
                false,
                400,
                format!("registration refused: {why}"),
            );
            if let Err(r) = st.record(audit.as_ref(), rec).await {
                return r;
            }
            return oauth_error(StatusCode::BAD_REQUEST, &error, &why);
        }
    };
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let client_id = format!("owcl_{}", URL_SAFE_NO_PAD.encode(raw));
    let secret = (method != "none").then(|| {
        let mut s = [0u8; 32];
        rand::rng().fill_bytes(&mut s);
        format!("owcs_{}", URL_SAFE_NO_PAD.encode(s))
    });
    let name = clean_name(reg.client_name.as_deref());
    let now = OffsetDateTime::now_utc();
    let row = ClientRow {
        client_id: client_id.clone(),
        name: name.clone(),
        redirect_uris: reg.redirect_uris.clone(),
        auth_method: method.clone(),
        secret_hash: secret.as_deref().map(crate::oauth::token::hash),
        created_at: now,
    };
    if st.store.oauth_insert_client(&row).await.is_err() {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the store cannot be reached; try again",
        );
    }
    let rec = Record::new(
        kind::OAUTH_CLIENT,
        true,
        201,
        format!(
            "client registered: \"{name}\", redirect URIs {:?}, auth {method}",
            reg.redirect_uris
        ),
    )
    .client(&client_id);
    if let Err(r) = st.record(audit.as_ref(), rec).await {
        return r;
    }
    let mut body = json!({
        "client_id": client_id,
        "client_id_issued_at": now.unix_timestamp(),
        "client_name": name,
        "redirect_uris": reg.redirect_uris,
        "token_endpoint_auth_method": method,
        "grant_types": grants,
        "response_types": ["code"],
        "scope": "mcp",
    });
    for (k, v) in [
        ("client_uri", &reg.client_uri),
        ("software_id", &reg.software_id),
        ("software_version", &reg.software_version),
    ] {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    let _ = reg.scope;
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
        body["client_secret_expires_at"] = json!(0);
    }
    oauth_json(StatusCode::CREATED, body)
}
