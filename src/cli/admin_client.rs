//! The one client of the admin API. Every command that talks to a running server (`audit`,
//! `approvals`, `kill`) goes through [`AdminClient`]: it alone builds requests (the base URL from
//! `--admin-url` or the config's `[server] admin_listen`, the bearer key from `--key` or
//! `$ODOO_WARDEN_KEY`) and it alone turns an HTTP status into a message that says what to fix,
//! naming the scope the command at hand needs.

use odoo_warden::auth::Scope;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::fmt;
use std::path::PathBuf;

/// An admin API route a command calls: its method and path, the scopes the server requires for
/// it, and the command that calls it (so that a refusal names what that command needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `GET /admin/v1/audit`
    AuditQuery,
    /// `GET /admin/v1/audit/verify`
    AuditVerify,
    /// `GET /admin/v1/audit/export`
    AuditExport,
    /// `GET /admin/v1/approvals`
    ApprovalsList,
    /// `POST /admin/v1/approvals/{id}/approve`
    Approve(&'a str),
    /// `POST /admin/v1/approvals/{id}/deny`
    Deny(&'a str),
    /// `GET /admin/v1/killswitch`
    KillStatus,
    /// `PUT /admin/v1/killswitch`
    KillSet,
    /// `GET /admin/v1/people`
    PeopleList,
    /// `POST /admin/v1/people/{login}/revoke`
    PeopleRevoke(&'a str),
    /// `POST /admin/v1/people/{login}/restore`
    PeopleRestore(&'a str),
}

impl Endpoint<'_> {
    fn method(self) -> Method {
        match self {
            Endpoint::Approve(_)
            | Endpoint::Deny(_)
            | Endpoint::PeopleRevoke(_)
            | Endpoint::PeopleRestore(_) => Method::POST,
            Endpoint::KillSet => Method::PUT,
            _ => Method::GET,
        }
    }

    /// The path's segments below the base URL (an approval id is one segment).
    fn segments(self) -> Vec<String> {
        let fixed: &[&str] = match self {
            Endpoint::AuditQuery => &["admin", "v1", "audit"],
            Endpoint::AuditVerify => &["admin", "v1", "audit", "verify"],
            Endpoint::AuditExport => &["admin", "v1", "audit", "export"],
            Endpoint::ApprovalsList | Endpoint::Approve(_) | Endpoint::Deny(_) => {
                &["admin", "v1", "approvals"]
            }
            Endpoint::KillStatus | Endpoint::KillSet => &["admin", "v1", "killswitch"],
            Endpoint::PeopleList | Endpoint::PeopleRevoke(_) | Endpoint::PeopleRestore(_) => {
                &["admin", "v1", "people"]
            }
        };
        let mut segments: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
        match self {
            Endpoint::Approve(id) => segments.extend([id.to_string(), "approve".into()]),
            Endpoint::Deny(id) => segments.extend([id.to_string(), "deny".into()]),
            Endpoint::PeopleRevoke(login) => segments.extend([login.to_string(), "revoke".into()]),
            Endpoint::PeopleRestore(login) => {
                segments.extend([login.to_string(), "restore".into()])
            }
            _ => {}
        }
        segments
    }

    /// The path, as people read it.
    fn path(self) -> String {
        format!("/{}", self.segments().join("/"))
    }

    /// The scopes the admin API requires for this route, any one of which will do: the
    /// `AuthLayer` each route sits behind in `src/admin/mod.rs`. The first is the one to create
    /// a key with (the least that suffices).
    pub fn scopes(self) -> &'static [Scope] {
        match self {
            Endpoint::AuditQuery | Endpoint::AuditVerify | Endpoint::AuditExport => &[Scope::Audit],
            Endpoint::ApprovalsList | Endpoint::Approve(_) | Endpoint::Deny(_) => &[Scope::Approve],
            // Reading the switch takes admin or audit; changing it, admin.
            Endpoint::KillStatus => &[Scope::Audit, Scope::Admin],
            Endpoint::KillSet => &[Scope::Admin],
            Endpoint::PeopleList => &[Scope::Audit, Scope::Admin],
            Endpoint::PeopleRevoke(_) | Endpoint::PeopleRestore(_) => &[Scope::Admin],
        }
    }

    /// The command that calls this route.
    pub fn command(self) -> &'static str {
        match self {
            Endpoint::AuditQuery => "audit query",
            Endpoint::AuditVerify => "audit verify",
            Endpoint::AuditExport => "audit export",
            Endpoint::ApprovalsList => "approvals list",
            Endpoint::Approve(_) => "approvals approve",
            Endpoint::Deny(_) => "approvals deny",
            Endpoint::KillStatus => "kill --status",
            Endpoint::KillSet => "kill",
            Endpoint::PeopleList => "people list",
            Endpoint::PeopleRevoke(_) => "people revoke",
            Endpoint::PeopleRestore(_) => "people restore",
        }
    }
}

/// "the approve scope", "the audit or admin scope".
fn scope_phrase(scopes: &[Scope]) -> String {
    let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    format!("the {} scope", names.join(" or "))
}

/// A request the admin API did not carry out, or that could not be sent: what to tell the
/// person (refusals name their HTTP status).
#[derive(Debug)]
pub struct AdminError(String);

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AdminError {}

/// Where the base URL came from: named when the server cannot be reached there.
#[derive(Debug, Clone)]
enum Source {
    /// `--admin-url`.
    Flag,
    /// `[server] admin_listen` in this config file.
    Config(PathBuf),
}

/// The admin API as the person holding one key sees it.
pub struct AdminClient {
    http: reqwest::Client,
    /// The base URL as given (for messages), without a trailing `/`.
    shown: String,
    base: url::Url,
    source: Source,
    key: String,
}

impl AdminClient {
    /// A client for the key from `--key` or `$ODOO_WARDEN_KEY` (`key`), at `--admin-url`
    /// (`admin_url`) or else at the config's `[server] admin_listen`. `needs` is the scope the
    /// command group's key holds, named when no key is given.
    pub fn new(
        config: Option<PathBuf>,
        key: Option<String>,
        admin_url: Option<String>,
        needs: Scope,
    ) -> anyhow::Result<Self> {
        let key = key
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!("an {needs} key is needed: --key or $ODOO_WARDEN_KEY")
            })?;
        let (url, source) = match admin_url {
            Some(url) => (url, Source::Flag),
            None => {
                let path = super::config_path(config);
                let config = super::load_config_without_secrets(&path).map_err(|e| {
                    anyhow::anyhow!(
                        "{e:#}\n  hint: the admin API's URL comes from [server] admin_listen in the config; --admin-url gives it instead"
                    )
                })?;
                (
                    format!("http://{}", config.server.admin_listen),
                    Source::Config(path),
                )
            }
        };
        Self::at(&url, source, key).map_err(Into::into)
    }

    fn at(url: &str, source: Source, key: String) -> Result<Self, AdminError> {
        let shown = url.trim().trim_end_matches('/').to_string();
        let not_http = || {
            AdminError(format!(
                "--admin-url \"{url}\" is not an http:// or https:// URL (e.g. http://127.0.0.1:8809, the address `serve` prints as \"admin listening on\")"
            ))
        };
        let base = url::Url::parse(&shown).map_err(|_| not_http())?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(not_http());
        }
        if HeaderValue::from_str(&format!("Bearer {key}")).is_err() {
            return Err(AdminError(
                "the key given with --key or $ODOO_WARDEN_KEY holds characters no odoo-warden key has: pass the key exactly as `keys create` printed it".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| AdminError(format!("cannot set up an HTTP client: {e}")))?;
        Ok(Self {
            http,
            shown,
            base,
            source,
            key,
        })
    }

    /// `GET`s `endpoint` and returns its JSON answer.
    pub async fn get_json(
        &self,
        endpoint: Endpoint<'_>,
        query: &[(&str, String)],
    ) -> anyhow::Result<Value> {
        let r = self.send(endpoint, query, None).await?;
        Ok(self.json(endpoint, r).await?)
    }

    /// Sends `body` to `endpoint` (a `POST` or `PUT`) and returns its JSON answer.
    pub async fn send_json(&self, endpoint: Endpoint<'_>, body: &Value) -> anyhow::Result<Value> {
        let r = self.send(endpoint, &[], Some(body)).await?;
        Ok(self.json(endpoint, r).await?)
    }

    /// `GET`s `endpoint` and copies its answer to `out` as it arrives.
    pub async fn get_to(
        &self,
        endpoint: Endpoint<'_>,
        query: &[(&str, String)],
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<()> {
        let mut r = self.send(endpoint, query, None).await?;
        loop {
            let chunk = r.chunk().await.map_err(|e| {
                anyhow::anyhow!(
                    "the answer from {} was cut off: {}; what was written is incomplete",
                    self.shown,
                    root_cause(&e)
                )
            })?;
            let Some(chunk) = chunk else {
                break;
            };
            out.write_all(&chunk)
                .map_err(|e| anyhow::anyhow!("cannot write the output: {e}"))?;
        }
        out.flush()
            .map_err(|e| anyhow::anyhow!("cannot write the output: {e}"))?;
        Ok(())
    }

    /// The URL of `endpoint` below the base URL (which may carry a path prefix).
    fn url(&self, endpoint: Endpoint<'_>) -> url::Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        // Cannot fail: `at` accepts only http(s) URLs, which can be a base.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(endpoint.segments());
        }
        url
    }

    /// Sends one request as the key's holder; the response when it is a success, else what the
    /// refusal means for this command.
    async fn send(
        &self,
        endpoint: Endpoint<'_>,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<reqwest::Response, AdminError> {
        let mut request = self
            .http
            .request(endpoint.method(), self.url(endpoint))
            .bearer_auth(&self.key);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let r = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = r.status();
        if status.is_success() {
            return Ok(r);
        }
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        Err(self.refusal(endpoint, status, &headers, &text))
    }

    async fn json(
        &self,
        endpoint: Endpoint<'_>,
        r: reqwest::Response,
    ) -> Result<Value, AdminError> {
        let status = r.status();
        r.json().await.map_err(|e| {
            AdminError(format!(
                    "{}{} answered {status} but not with JSON ({}): is {} odoo-warden's admin listener?",
                    self.shown,
                    endpoint.path(),
                    root_cause(&e),
                    self.shown
            ))
        })
    }

    /// Where the base URL came from, as the person can change it.
    fn source(&self) -> String {
        match &self.source {
            Source::Flag => "--admin-url".into(),
            Source::Config(path) => format!("[server] admin_listen in {}", path.display()),
        }
    }

    /// The request never got an answer.
    fn unreachable(&self, e: &reqwest::Error) -> AdminError {
        let mut message = format!(
            "cannot reach the admin API at {}: {}",
            self.shown,
            root_cause(e)
        );
        if e.is_connect() || e.is_timeout() {
            let printed = "`serve` prints it at start as \"odoo-warden admin listening on URL\"";
            let hint = match &self.source {
                Source::Config(path) if self.base.port() == Some(0) => format!(
                    "[server] admin_listen in {} has port 0 (a port chosen at each start): pass --admin-url with the server's address ({printed})",
                    path.display()
                ),
                Source::Config(path) => format!(
                    "is `odoo-warden serve` running? This URL comes from [server] admin_listen in {}; if the server listens elsewhere, pass --admin-url ({printed})",
                    path.display()
                ),
                Source::Flag => format!(
                    "is `odoo-warden serve` running, and is --admin-url its admin listener? ({printed})"
                ),
            };
            message.push_str("\n  hint: ");
            message.push_str(&hint);
        }
        AdminError(message)
    }

    /// What a refusal (`status`, with the server's `body`) means for the person running the
    /// command that called `endpoint`: every status is explained here and only here.
    fn refusal(
        &self,
        endpoint: Endpoint<'_>,
        status: StatusCode,
        headers: &HeaderMap,
        body: &str,
    ) -> AdminError {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        // The admin API's refusals are `{"error", "message"}`; anything else is shown as sent.
        let message: Option<String> = parsed
            .as_ref()
            .and_then(|v| v.get("message"))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string);
        let said: String = message.clone().unwrap_or_else(|| {
            let text = body.trim();
            if text.is_empty() {
                "no reason given".into()
            } else if parsed.is_some() || text.chars().count() <= 300 {
                text.to_string()
            } else {
                format!("{}...", text.chars().take(300).collect::<String>())
            }
        });
        let code = status.as_u16();
        let command = endpoint.command();
        let scopes = endpoint.scopes();
        let text = match code {
            401 => format!(
                "the admin API refused the key (401): it is missing, malformed, unknown, expired or revoked. Pass a valid odoo-warden key holding {} with --key or $ODOO_WARDEN_KEY (`odoo-warden keys list` shows which keys are active)",
                scope_phrase(scopes)
            ),
            // The server's scope refusal says "scope" (pinned by the tests below, against the
            // server's own key check); any other 403 (an approval decided by the key that
            // asked for it) says itself what is wrong.
            403 if message.as_deref().is_some_and(|m| !m.contains("scope")) => {
                format!("{said} (403)")
            }
            403 => format!(
                "the key lacks {} that `odoo-warden {command}` needs (403): pass a key that holds it, or create one with `odoo-warden keys create --name NAME --scope {}` (mcp keys are never accepted by the admin API)",
                scope_phrase(scopes),
                scopes.first().copied().unwrap_or(Scope::Admin)
            ),
            // An approval that does not exist (the server names it); any other 404 is a route
            // the server does not have: the URL is not the admin listener's.
            404 => match (&message, endpoint) {
                (Some(m), Endpoint::Approve(id) | Endpoint::Deny(id)) if names(m, id) => {
                    format!("{m} (404)")
                }
                _ => format!(
                    "the admin API at {} has no {} (404{}): check that {} names odoo-warden's admin listener (not its MCP listener) and that the server is the same version as this command",
                    self.shown,
                    endpoint.path(),
                    message
                        .as_deref()
                        .map(|m| format!(", \"{m}\""))
                        .unwrap_or_default(),
                    self.source()
                ),
            },
            409 => format!(
                "{} (409)",
                message
                    .as_deref()
                    .unwrap_or("the request conflicts with the current state")
            ),
            422 => {
                let mut text = format!(
                    "{} (422)",
                    message
                        .as_deref()
                        .unwrap_or("the admin API could not carry out the request")
                );
                let problems = parsed
                    .as_ref()
                    .and_then(|v| v.get("problems"))
                    .and_then(Value::as_array);
                for problem in problems.into_iter().flatten() {
                    text.push_str("\n  - ");
                    match problem.as_str() {
                        Some(p) => text.push_str(p),
                        None => text.push_str(&problem.to_string()),
                    }
                }
                text
            }
            400 => format!("the admin API refused the request (400): {said}"),
            429 => match &message {
                Some(m) => format!("{m} (429)"),
                None => format!(
                    "too many requests; retry in {} s (429)",
                    headers
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("a few")
                ),
            },
            503 => format!("the admin API is unavailable (503): {said}"),
            500..=599 => {
                format!("the admin API failed ({code}): {said}; the server's log says more")
            }
            _ => format!("the admin API answered {code}: {said}"),
        };
        AdminError(text)
    }
}

/// Whether `message` names `id` as a word of its own.
fn names(message: &str, id: &str) -> bool {
    message
        .split_whitespace()
        .any(|w| w.trim_matches(|c: char| c.is_ascii_punctuation() && c != '_' && c != '-') == id)
}

/// The innermost cause of an error ("Connection refused (os error 111)"), which says more than
/// reqwest's own "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::header::AUTHORIZATION;
    use axum::routing::{any, get};
    use odoo_warden::auth::Verifier;
    use odoo_warden::auth::keys::{KeyRequest, create_key};
    use odoo_warden::middleware::auth::AuthLayer;
    use odoo_warden::store::Store;
    use serde_json::json;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Serves `router` on 127.0.0.1 at a port of its own; the base URL.
    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }

    /// A server that answers every request with `status` and `body` (JSON when it parses).
    async fn answering(status: u16, body: &'static str) -> String {
        serve(Router::new().fallback(any(move || async move {
            let status = axum::http::StatusCode::from_u16(status).unwrap();
            let mut r = axum::response::IntoResponse::into_response((status, body));
            if serde_json::from_str::<Value>(body).is_ok() {
                r.headers_mut().insert(
                    axum::http::header::CONTENT_TYPE,
                    axum::http::HeaderValue::from_static("application/json"),
                );
            }
            r
        })))
        .await
    }

    fn client(base: &str, needs: Scope) -> AdminClient {
        AdminClient::new(None, Some("owk_test_key".into()), Some(base.into()), needs).unwrap()
    }

    /// The error a call to `endpoint` gets from a server answering `status` and `body`.
    async fn refused(endpoint: Endpoint<'_>, status: u16, body: &'static str) -> AdminError {
        let base = answering(status, body).await;
        let c = client(&base, Scope::Admin);
        let e = match endpoint.method() {
            Method::GET => c.get_json(endpoint, &[]).await.unwrap_err(),
            _ => c.send_json(endpoint, &json!({})).await.unwrap_err(),
        };
        let e = e.downcast::<AdminError>().unwrap();
        assert!(e.to_string().contains(&format!("({status}")), "{e}");
        e
    }

    const SCOPE_REFUSAL: &str = r#"{"error":"forbidden","message":"this key does not hold the approve scope this endpoint requires"}"#;

    #[tokio::test]
    async fn a_403_on_approvals_names_the_approve_scope_not_audit() {
        for endpoint in [
            Endpoint::ApprovalsList,
            Endpoint::Approve("a1"),
            Endpoint::Deny("a1"),
        ] {
            let e = refused(endpoint, 403, SCOPE_REFUSAL).await.to_string();
            assert!(e.contains("approve scope"), "{e}");
            assert!(
                e.contains(&format!("`odoo-warden {}`", endpoint.command())),
                "{e}"
            );
            assert!(e.contains("--scope approve"), "{e}");
            assert!(!e.contains("audit"), "{e}");
        }
    }

    #[tokio::test]
    async fn a_403_names_the_scope_of_each_command() {
        let body = r#"{"error":"forbidden","message":"this key does not hold the audit scope this endpoint requires"}"#;
        for endpoint in [
            Endpoint::AuditQuery,
            Endpoint::AuditVerify,
            Endpoint::AuditExport,
        ] {
            let e = refused(endpoint, 403, body).await.to_string();
            assert!(e.contains("lacks the audit scope"), "{e}");
            assert!(e.contains("--scope audit"), "{e}");
        }
        let e = refused(Endpoint::KillSet, 403, "").await.to_string();
        assert!(
            e.contains("lacks the admin scope that `odoo-warden kill` needs"),
            "{e}"
        );
        let e = refused(Endpoint::KillStatus, 403, "").await.to_string();
        assert!(e.contains("the audit or admin scope"), "{e}");
    }

    #[tokio::test]
    async fn a_403_that_is_not_about_scopes_says_what_the_server_said() {
        let body = r#"{"error":"forbidden","message":"a request cannot be decided by the key that made it"}"#;
        let e = refused(Endpoint::Approve("a1"), 403, body)
            .await
            .to_string();
        assert_eq!(
            e,
            "a request cannot be decided by the key that made it (403)"
        );
    }

    #[tokio::test]
    async fn every_other_status_is_explained() {
        let e = refused(
            Endpoint::AuditQuery,
            401,
            r#"{"error":"unauthorized","message":"a valid odoo-warden API key is required"}"#,
        )
        .await
        .to_string();
        assert!(e.contains("refused the key (401)"), "{e}");
        assert!(e.contains("expired or revoked"), "{e}");
        assert!(e.contains("--key or $ODOO_WARDEN_KEY"), "{e}");
        assert!(e.contains("the audit scope"), "{e}");

        let e = refused(
            Endpoint::Approve("a1"),
            404,
            r#"{"error":"not_found","message":"no approval request a1"}"#,
        )
        .await
        .to_string();
        assert_eq!(e, "no approval request a1 (404)");
        // A route the server does not have (axum's bare 404): the URL is probably wrong.
        let e = refused(Endpoint::ApprovalsList, 404, "").await.to_string();
        assert!(e.contains("has no /admin/v1/approvals (404)"), "{e}");
        assert!(
            e.contains("--admin-url names odoo-warden's admin listener"),
            "{e}"
        );
        // The MCP listener's own 404 (its JSON message is about /mcp, not about this command).
        let body = r#"{"error":"not_found","message":"not found: the MCP endpoint is /mcp"}"#;
        let e = refused(Endpoint::Approve("a1"), 404, body)
            .await
            .to_string();
        assert!(
            e.contains(
                "has no /admin/v1/approvals/a1/approve (404, \"not found: the MCP endpoint is /mcp\")"
            ),
            "{e}"
        );
        assert!(e.contains("not its MCP listener"), "{e}");

        let e = refused(Endpoint::Deny("a1"), 409, r#"{"error":"not_pending","message":"approval a1 is approved, not pending: it cannot be decided"}"#).await.to_string();
        assert_eq!(
            e,
            "approval a1 is approved, not pending: it cannot be decided (409)"
        );

        let e = refused(Endpoint::KillSet, 422, r#"{"error":"invalid_policy","message":"no policy was changed","problems":["a.toml: line 3: unknown key \"raed\"","b.toml: missing [defaults]"]}"#).await.to_string();
        assert_eq!(
            e,
            "no policy was changed (422)\n  - a.toml: line 3: unknown key \"raed\"\n  - b.toml: missing [defaults]"
        );

        let e = refused(
            Endpoint::AuditQuery,
            400,
            r#"{"error":"bad_request","message":"since: not an RFC 3339 time"}"#,
        )
        .await
        .to_string();
        assert_eq!(
            e,
            "the admin API refused the request (400): since: not an RFC 3339 time"
        );

        let e = refused(Endpoint::AuditQuery, 429, r#"{"error":"rate_limited","message":"too many requests from this address; retry in 3 s"}"#).await.to_string();
        assert_eq!(e, "too many requests from this address; retry in 3 s (429)");

        let e = refused(
            Endpoint::KillStatus,
            503,
            r#"{"error":"store_unavailable","message":"the store does not answer"}"#,
        )
        .await
        .to_string();
        assert_eq!(
            e,
            "the admin API is unavailable (503): the store does not answer"
        );

        let e = refused(Endpoint::AuditVerify, 500, "boom")
            .await
            .to_string();
        assert_eq!(
            e,
            "the admin API failed (500): boom; the server's log says more"
        );
        let e = refused(Endpoint::AuditVerify, 502, "").await.to_string();
        assert!(
            e.starts_with("the admin API failed (502): no reason given"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_server_that_is_not_running_is_named_by_its_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let e = client(&base, Scope::Approve)
            .get_json(Endpoint::ApprovalsList, &[])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("cannot reach the admin API at {base}: ")),
            "{e}"
        );
        assert!(e.to_lowercase().contains("refused"), "{e}");
        assert!(e.contains("is `odoo-warden serve` running"), "{e}");
        assert!(e.contains("--admin-url"), "{e}");
    }

    #[tokio::test]
    async fn an_admin_listen_with_port_0_asks_for_the_url() {
        let dir = std::env::temp_dir().join(format!("ow-cli-admin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("odoo-warden.toml");
        std::fs::write(
            &path,
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n[store]\nurl = \"sqlite::memory:\"\n[odoo]\nurl = \"http://127.0.0.1:1\"\ndatabase = \"lab\"\n[profiles.sales]\nodoo_login = \"u\"\nodoo_api_key_env = \"OW_CLI_TEST_UNSET\"\n",
        )
        .unwrap();
        let c =
            AdminClient::new(Some(path.clone()), Some("owk_x".into()), None, Scope::Audit).unwrap();
        let e = c
            .get_json(Endpoint::AuditQuery, &[])
            .await
            .unwrap_err()
            .to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            e.starts_with("cannot reach the admin API at http://127.0.0.1:0"),
            "{e}"
        );
        assert!(
            e.contains(&format!(
                "[server] admin_listen in {} has port 0",
                path.display()
            )),
            "{e}"
        );
        assert!(e.contains("pass --admin-url"), "{e}");
    }

    #[test]
    fn a_missing_key_or_a_bad_url_is_caught_before_any_request() {
        let e = AdminClient::new(
            None,
            None,
            Some("http://127.0.0.1:1".into()),
            Scope::Approve,
        )
        .err()
        .unwrap()
        .to_string();
        assert_eq!(e, "an approve key is needed: --key or $ODOO_WARDEN_KEY");
        let e = AdminClient::new(
            None,
            Some("  ".into()),
            Some("http://h".into()),
            Scope::Audit,
        )
        .err()
        .unwrap()
        .to_string();
        assert_eq!(e, "an audit key is needed: --key or $ODOO_WARDEN_KEY");
        for url in ["localhost:8809", "127.0.0.1:8809", "ftp://h/"] {
            let e = AdminClient::new(None, Some("k".into()), Some(url.into()), Scope::Admin)
                .err()
                .unwrap()
                .to_string();
            assert!(
                e.contains("is not an http:// or https:// URL"),
                "{url}: {e}"
            );
        }
        let e = AdminClient::new(
            None,
            Some("k\u{7}".into()),
            Some("http://h".into()),
            Scope::Admin,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("holds characters no odoo-warden key has"), "{e}");
    }

    /// What the tiny server saw: method, path and query, Authorization, body.
    type Seen = Arc<Mutex<Vec<(String, String, String, String)>>>;

    #[tokio::test]
    async fn requests_carry_the_key_below_the_base_url() {
        let seen: Seen = Arc::default();
        let s = seen.clone();
        let base = serve(Router::new().fallback(any(
            move |req: axum::extract::Request| async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 16)
                    .await
                    .unwrap_or_default();
                s.lock().unwrap().push((
                    parts.method.to_string(),
                    parts.uri.to_string(),
                    parts
                        .headers
                        .get(AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string(),
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                axum::Json(json!({"status": "approved"}))
            },
        )))
        .await;
        // A base with a path prefix (a reverse proxy) and a trailing slash.
        let c = client(&format!("{base}/warden/"), Scope::Approve);
        let v = c
            .get_json(Endpoint::ApprovalsList, &[("status", "pending".into())])
            .await
            .unwrap();
        assert_eq!(v["status"], "approved");
        c.send_json(Endpoint::Approve("a 1/x"), &json!({"reason": "ok"}))
            .await
            .unwrap();
        c.send_json(Endpoint::KillSet, &json!({"mode": "open"}))
            .await
            .unwrap();
        let mut out = Vec::new();
        c.get_to(Endpoint::AuditExport, &[("format", "csv".into())], &mut out)
            .await
            .unwrap();
        assert_eq!(out, br#"{"status":"approved"}"#);
        let seen = seen.lock().unwrap().clone();
        let bearer = "Bearer owk_test_key".to_string();
        assert_eq!(
            seen,
            vec![
                (
                    "GET".into(),
                    "/warden/admin/v1/approvals?status=pending".into(),
                    bearer.clone(),
                    String::new()
                ),
                (
                    "POST".into(),
                    "/warden/admin/v1/approvals/a%201%2Fx/approve".into(),
                    bearer.clone(),
                    r#"{"reason":"ok"}"#.into()
                ),
                (
                    "PUT".into(),
                    "/warden/admin/v1/killswitch".into(),
                    bearer.clone(),
                    r#"{"mode":"open"}"#.into()
                ),
                (
                    "GET".into(),
                    "/warden/admin/v1/audit/export?format=csv".into(),
                    bearer,
                    String::new()
                ),
            ]
        );
    }

    #[tokio::test]
    async fn an_answer_that_is_not_json_is_named() {
        let base = answering(200, "<html>hello</html>").await;
        let e = client(&base, Scope::Audit)
            .get_json(Endpoint::AuditVerify, &[])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/admin/v1/audit/verify answered 200 OK but not with JSON"),
            "{e}"
        );
        assert!(e.contains("admin listener"), "{e}");
    }

    /// The server's own key check (the layer the admin API's routes sit behind) in front of
    /// stand-in routes: an audit key on `approvals list` is told about the approve scope.
    #[tokio::test]
    async fn the_servers_own_refusals_are_explained() {
        let store = Arc::new(Store::connect("sqlite::memory:").await.unwrap());
        let profiles = vec!["sales".to_string()];
        let mut keys = Vec::new();
        for (name, scope, profile) in [
            ("auditor", "audit", None),
            ("assistant", "mcp", Some("sales")),
            ("approver", "approve", None),
        ] {
            let req = KeyRequest {
                name,
                scopes: &[scope.to_string()],
                profile,
                expires_in: None,
            };
            let made = create_key(&store, &req, &profiles).await.unwrap();
            keys.push(made.token.expose().to_string());
        }
        let verifier = Verifier::new(store, Duration::from_secs(60)).await.unwrap();
        let approvals = Router::new()
            .route(
                "/admin/v1/approvals",
                get(|| async { axum::Json(json!({"approvals": []})) }),
            )
            .layer(AuthLayer::new(verifier.clone(), Scope::Approve));
        let kill = Router::new()
            .route(
                "/admin/v1/killswitch",
                get(|| async { axum::Json(json!({"mode": "open"})) }),
            )
            .layer(AuthLayer::any_of(verifier, &[Scope::Admin, Scope::Audit]));
        let base = serve(approvals.merge(kill)).await;
        let as_key = |key: &str| {
            AdminClient::new(None, Some(key.into()), Some(base.clone()), Scope::Approve).unwrap()
        };
        let (auditor, assistant, approver) = (&keys[0], &keys[1], &keys[2]);

        for key in [auditor, assistant] {
            let e = as_key(key)
                .get_json(Endpoint::ApprovalsList, &[("status", "pending".into())])
                .await
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(
                    "the key lacks the approve scope that `odoo-warden approvals list` needs (403)"
                ),
                "{e}"
            );
            assert!(!e.contains("audit"), "{e}");
        }
        let listed = as_key(approver)
            .get_json(Endpoint::ApprovalsList, &[("status", "pending".into())])
            .await
            .unwrap();
        assert_eq!(listed, json!({"approvals": []}));

        let e = as_key(approver)
            .get_json(Endpoint::KillStatus, &[])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "lacks the audit or admin scope that `odoo-warden kill --status` needs (403)"
            ),
            "{e}"
        );
        let status = as_key(auditor)
            .get_json(Endpoint::KillStatus, &[])
            .await
            .unwrap();
        assert_eq!(status["mode"], "open");

        let last = if approver.ends_with('x') { "y" } else { "x" };
        let wrong = format!("{}{last}", &approver[..approver.len() - 1]);
        let e = as_key(&wrong)
            .get_json(Endpoint::ApprovalsList, &[])
            .await
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("the admin API refused the key (401)"), "{e}");
    }
}
