//! The audit layer: every request leaves a record, including the ones refused before the MCP core
//! (authentication, origin, body limit, malformed requests).
//!
//! The layer puts an [`AuditHandle`] into the request extensions; inner layers and handlers
//! enrich it (who called, which MCP method). When the response is ready the layer writes one
//! record, unless a handler claimed the request to record it itself (tool calls record their own,
//! richer records, writes an intent and an outcome). If the trail cannot take the record, the
//! answer is replaced by a `503`: nothing is answered unrecorded.

use crate::audit::{AuditLog, Event, kind};
use crate::middleware::auth::AuthRefusal;
use crate::middleware::origin::OriginRefusal;
use crate::middleware::ratelimit::{ClientAddr, client_ip};
use axum::body::Body;
use http::{HeaderValue, Request, Response, StatusCode, header};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

/// What is known of a request so far.
#[derive(Debug, Default, Clone)]
pub struct Draft {
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub key_id: Option<String>,
    pub key_name: Option<String>,
    pub profile: Option<String>,
    pub odoo_uid: Option<i64>,
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
    pub fn event(&self, log: &AuditLog, kind: &str) -> Event {
        let d = self.draft();
        let mut e = log.event(kind);
        e.request_id = d.request_id;
        e.client_ip = d.client_ip;
        e.key_id = d.key_id;
        e.key_name = d.key_name;
        e.profile = d.profile;
        e.odoo_uid = d.odoo_uid;
        e.mcp_method = d.mcp_method;
        e.protocol_version = d.protocol_version;
        e
    }
}

#[derive(Clone)]
pub struct AuditLayer {
    log: Arc<AuditLog>,
    /// Paths not worth a record (health probes).
    skip: &'static [&'static str],
    /// Proxies whose `X-Forwarded-For` names the client (`[limits] trusted_proxies`).
    trusted: Arc<Vec<(IpAddr, u8)>>,
}

impl AuditLayer {
    pub fn new(log: Arc<AuditLog>) -> Self {
        Self {
            log,
            skip: &[],
            trusted: Arc::new(Vec::new()),
        }
    }

    /// Believes `X-Forwarded-For` from these proxies: the trail records the address the rate
    /// limiter keys on, which inner layers read from the request extensions ([`ClientAddr`]).
    pub fn trusting(mut self, trusted: Vec<(IpAddr, u8)>) -> Self {
        self.trusted = Arc::new(trusted);
        self
    }

    /// Paths that leave no record (health and readiness probes).
    pub fn skipping(mut self, paths: &'static [&'static str]) -> Self {
        self.skip = paths;
        self
    }
}

impl<S> Layer<S> for AuditLayer {
    type Service = Audit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Audit {
            inner,
            log: self.log.clone(),
            skip: self.skip,
            trusted: self.trusted.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Audit<S> {
    inner: S,
    log: Arc<AuditLog>,
    skip: &'static [&'static str],
    trusted: Arc<Vec<(IpAddr, u8)>>,
}

impl<S> Service<Request<Body>> for Audit<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if self.skip.contains(&req.uri().path()) {
            return Box::pin(inner.call(req));
        }
        let log = self.log.clone();
        let handle = AuditHandle::default();
        let started = Instant::now();
        let path = req.uri().path().to_string();
        let method = req.method().to_string();
        handle.update(|d| {
            d.request_id = req
                .headers()
                .get(super::request_id::HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
        });
        if let Some(ip) = client_ip(&req, &self.trusted) {
            handle.update(|d| d.client_ip = Some(ip.to_string()));
            req.extensions_mut().insert(ClientAddr(ip));
        }
        req.extensions_mut().insert(handle.clone());
        Box::pin(async move {
            let response = inner.call(req).await?;
            let draft = handle.draft();
            let status = response.status();
            crate::metrics::request(
                draft.mcp_method.as_deref().unwrap_or(&path),
                if status.is_success() {
                    "ok"
                } else if status.is_server_error() {
                    "error"
                } else {
                    "refused"
                },
            );
            if draft.claimed {
                return Ok(response);
            }
            // One line per request (tool calls log their own): never arguments or values.
            tracing::info!(
                target: "odoo_warden::request",
                request_id = draft.request_id.as_deref().unwrap_or("-"),
                key.id = draft.key_id.as_deref().unwrap_or("-"),
                method = draft.mcp_method.as_deref().unwrap_or(&method),
                path = %path,
                status = status.as_u16(),
                duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                "request"
            );
            let ext = response.extensions();
            let (kind, decision, reason) = if let Some(r) = ext.get::<AuthRefusal>() {
                let reason = match r {
                    AuthRefusal::Key(k) => format!("key {}", k.as_str()),
                    AuthRefusal::Scope { needed, .. } => format!("key lacks the {needed} scope"),
                };
                (kind::AUTH_FAILURE, "refuse", Some(reason))
            } else if let Some(r) = ext.get::<crate::middleware::ratelimit::RateLimited>() {
                let reason = match r {
                    crate::middleware::ratelimit::RateLimited::Address(_) => {
                        "per-address rate limit".to_string()
                    }
                    crate::middleware::ratelimit::RateLimited::Key(k) => {
                        format!("per-key rate limit ({k})")
                    }
                };
                (kind::RATE_LIMITED, "refuse", Some(reason))
            } else if let Some(r) = ext.get::<crate::mcp::server::KillSwitchRefused>() {
                (
                    kind::KILL_SWITCH_REFUSED,
                    "refuse",
                    Some(format!("kill switch {}", r.0)),
                )
            } else if let Some(r) = ext.get::<OriginRefusal>() {
                let reason = match r {
                    OriginRefusal::ForeignOrigin(o) => format!("foreign Origin {o}"),
                    OriginRefusal::ForeignHost(h) => format!("foreign Host {h}"),
                };
                (kind::ORIGIN_REFUSED, "refuse", Some(reason))
            } else if status == StatusCode::PAYLOAD_TOO_LARGE
                || (draft.mcp_method.is_none() && status.is_client_error())
            {
                (
                    kind::MALFORMED,
                    "refuse",
                    draft
                        .rpc_error
                        .clone()
                        .or(Some(format!("HTTP {}", status.as_u16()))),
                )
            } else {
                let decision = if status.is_success() {
                    "allow"
                } else {
                    "refuse"
                };
                (kind::REQUEST, decision, draft.rpc_error.clone())
            };
            let mut e = handle.event(&log, kind);
            e.decision = Some(decision.into());
            e.reason = reason.or_else(|| Some(format!("{method} {path}")));
            e.outcome = Some(if status.is_success() { "ok" } else { "refused" }.into());
            e.http_status = Some(status.as_u16());
            e.duration_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
            match log.record(e).await {
                Ok(()) => Ok(response),
                Err(err) => {
                    tracing::error!(error = %err, "audit record not taken; answering 503");
                    Ok(unavailable())
                }
            }
        })
    }
}

fn unavailable() -> Response<Body> {
    let body = serde_json::json!({"error": "unavailable", "message": "the audit trail cannot take records right now; nothing was done. Try again later."});
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
