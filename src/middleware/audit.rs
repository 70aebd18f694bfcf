//! The audit layer: every request leaves a record, including the ones refused before the MCP core
//! (authentication, origin, body limit, malformed requests).
//!
//! The layer puts an [`AuditHandle`] into the request extensions; inner layers and handlers
//! enrich it (who called, which MCP method). When the response is ready the layer writes one
//! record, unless a handler claimed the request to record it itself (tool calls record their own,
//! richer records, writes an intent and an outcome). If the trail cannot take the record, the
//! answer is replaced by a `503`: nothing is answered unrecorded.

use crate::audit::{AuditHandle, AuditLog, Decision, Outcome, kind};
use crate::middleware::ratelimit::{ClientAddr, client_ip};
use crate::refusal::{BodyStyle, Refusal};
use axum::body::Body;
use http::{Request, Response, StatusCode};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

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
                metric_label(draft.mcp_method.as_deref(), &path),
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
            // Refused by a layer (or the kill switch): the refusal says what to record. A
            // request refused before it was one (too large, not JSON-RPC) is malformed.
            let malformed = (status == StatusCode::PAYLOAD_TOO_LARGE
                || (draft.mcp_method.is_none() && status.is_client_error()))
            .then(|| {
                Refusal::Malformed(
                    draft
                        .rpc_error
                        .clone()
                        .unwrap_or_else(|| format!("HTTP {}", status.as_u16())),
                )
            });
            let refusal = ext.get::<Refusal>().or(malformed.as_ref());
            let (kind, decision, reason) = match refusal {
                Some(r) => (r.audit_kind(), Decision::Refuse, Some(r.reason())),
                None => {
                    // A redirect (the console's "see the page") refuses nothing.
                    let decision = if status.is_success() || status.is_redirection() {
                        Decision::Allow
                    } else {
                        Decision::Refuse
                    };
                    (kind::REQUEST, decision, draft.rpc_error.clone())
                }
            };
            let mut e = handle.event(&log, kind);
            e.decision = Some(decision);
            e.reason = reason.or_else(|| Some(format!("{method} {path}")));
            // A refusal answered in band (the kill switch's tool result is a 200) is refused too.
            e.outcome = Some(
                if (status.is_success() || status.is_redirection()) && refusal.is_none() {
                    Outcome::Ok
                } else {
                    Outcome::Refused
                },
            );
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
    Refusal::AuditUnavailable.response(BodyStyle::Plain)
}

/// The `method` label of a request's metric: an MCP method, or the kind of path; bounded, so
/// that made-up methods and paths cannot grow the metrics without end.
fn metric_label<'a>(mcp_method: Option<&'a str>, path: &str) -> &'a str {
    const MCP: [&str; 14] = [
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/read",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
        "notifications/initialized",
        "notifications/cancelled",
        "notifications/roots/list_changed",
        "server/discover",
    ];
    if let Some(m) = mcp_method {
        return MCP.iter().copied().find(|k| *k == m).unwrap_or("other");
    }
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "mcp" => "/mcp",
        "admin" => "/admin",
        "console" => "/console",
        "oauth" => "/oauth",
        ".well-known" => "/.well-known",
        "healthz" => "/healthz",
        "readyz" => "/readyz",
        "metrics" => "/metrics",
        _ => "other",
    }
}

#[cfg(test)]
mod label_tests {
    use super::metric_label;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(metric_label(Some("tools/call"), "/mcp"), "tools/call");
        assert_eq!(metric_label(Some("made/up/7"), "/mcp"), "other");
        assert_eq!(metric_label(None, "/console/trail/123"), "/console");
        assert_eq!(metric_label(None, "/x/y/z"), "other");
        assert_eq!(metric_label(None, "/"), "other");
    }
}
