//! Every refusal of a request before or around a tool call, in one type: a missing or bad key, a
//! missing scope, a rate limit, a foreign Origin or Host, the kill switch, an audit trail that
//! cannot take records, a malformed request. Each knows its HTTP status, its audit kind and
//! reason, and its answer. The layer that refuses puts the [`Refusal`] into the response
//! extensions ([`Refusal::response`] does), and the audit layer reads that one type to write the
//! record (docs/architecture.md, "Refusals").
//!
//! The kill switch refuses tool calls inside the MCP answer (a tool result with `isError`, which
//! the assistant reads); the MCP core puts [`Refusal::KillSwitch`] beside that answer.

use crate::audit::{Kind, kind};
use crate::auth::Scope;
use axum::body::Body;
use http::{HeaderValue, Response, StatusCode, header};

/// JSON-RPC error code of an authentication refusal on `/mcp` (server-defined range).
pub const UNAUTHORIZED_RPC: i64 = -32001;

/// JSON-RPC "Invalid Request", for the other refusals on `/mcp`.
const INVALID_REQUEST_RPC: i64 = -32600;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No usable key: missing, malformed, unknown, expired, revoked, a wrong secret, or the key
    /// store unreachable (all but the last answer the same `401`).
    Key(crate::auth::Refusal),
    /// A valid key without the scope the route needs.
    Scope { key_id: String, needed: Scope },
    /// Over a rate limit; retry after this many seconds.
    RateLimited { limit: Limit, retry_after: u64 },
    /// A browser Origin that `[server] allowed_origins` does not list.
    ForeignOrigin(String),
    /// A Host this server does not answer for (`[server] public_url`).
    ForeignHost(String),
    /// The kill switch is `read-only` (a write tool) or `closed`: its mode.
    KillSwitch(&'static str),
    /// The audit trail cannot take records: nothing is answered unrecorded.
    AuditUnavailable,
    /// A request that is not one (too large, not JSON-RPC, missing headers): what is wrong.
    Malformed(String),
    /// A person signed in with OAuth who cannot act now: `status` 401 (sign in again), 403 (not
    /// allowed here) or 503 (Odoo or the store unreachable). The message is for the person.
    Person { status: u16, message: String },
}

/// Which rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    /// Per client address, before authentication.
    Address,
    /// Per key (its profile's `rate_limit`): the key id.
    Key(String),
}

/// How a refusal's body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyStyle {
    /// `{"error", "message"}` (the admin API).
    Plain,
    /// A JSON-RPC error object (`/mcp`: SDK clients show its message).
    JsonRpc,
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Key(crate::auth::Refusal::StoreUnavailable) | Refusal::AuditUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Refusal::Key(_) => StatusCode::UNAUTHORIZED,
            Refusal::Scope { .. } | Refusal::ForeignOrigin(_) | Refusal::ForeignHost(_) => {
                StatusCode::FORBIDDEN
            }
            Refusal::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            // Answered inside the MCP result.
            Refusal::KillSwitch(_) => StatusCode::OK,
            Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
            Refusal::Person { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::FORBIDDEN)
            }
        }
    }

    /// The audit record's kind.
    pub fn audit_kind(&self) -> Kind {
        match self {
            Refusal::Key(_) | Refusal::Scope { .. } => kind::AUTH_FAILURE,
            Refusal::RateLimited { .. } => kind::RATE_LIMITED,
            Refusal::ForeignOrigin(_) | Refusal::ForeignHost(_) => kind::ORIGIN_REFUSED,
            Refusal::KillSwitch(_) => kind::KILL_SWITCH_REFUSED,
            Refusal::Malformed(_) => kind::MALFORMED,
            Refusal::AuditUnavailable => kind::REQUEST,
            Refusal::Person { status, .. } if *status >= 500 => kind::REQUEST,
            Refusal::Person { .. } => kind::AUTH_FAILURE,
        }
    }

    /// The audit record's reason: precise (which key check failed), for auditors, never sent to
    /// the caller.
    pub fn reason(&self) -> String {
        match self {
            Refusal::Key(k) => format!("key {}", k.as_str()),
            Refusal::Scope { needed, .. } => format!("key lacks the {needed} scope"),
            Refusal::RateLimited {
                limit: Limit::Address,
                ..
            } => "per-address rate limit".into(),
            Refusal::RateLimited {
                limit: Limit::Key(k),
                ..
            } => format!("per-key rate limit ({k})"),
            Refusal::ForeignOrigin(o) => format!("foreign Origin {o}"),
            Refusal::ForeignHost(h) => format!("foreign Host {h}"),
            Refusal::KillSwitch(mode) => format!("kill switch {mode}"),
            Refusal::AuditUnavailable => "the audit trail cannot take records".into(),
            Refusal::Malformed(what) => what.clone(),
            Refusal::Person { message, .. } => format!("person refused: {message}"),
        }
    }

    /// What the caller is told: what to do, never which key check failed.
    fn message(&self) -> String {
        match self {
            Refusal::Key(crate::auth::Refusal::StoreUnavailable) => {
                "keys cannot be checked right now (the key store is unavailable); try again later"
                    .into()
            }
            Refusal::Key(_) => "a valid odoo-warden API key is required: send Authorization: Bearer owk_... (keys are made with `odoo-warden keys create --scope mcp`; ask whoever operates odoo-warden)".into(),
            Refusal::Scope { needed, .. } => {
                format!("this key does not hold the {needed} scope this endpoint requires")
            }
            Refusal::RateLimited { limit, retry_after } => {
                let what = match limit {
                    Limit::Address => "too many requests from this address",
                    Limit::Key(_) => "too many requests with this key (its profile's rate_limit)",
                };
                format!("{what}; retry in {retry_after} s")
            }
            Refusal::ForeignOrigin(_) => {
                "Forbidden: this Origin is not allowed (add it to [server] allowed_origins)".into()
            }
            Refusal::ForeignHost(_) => "Forbidden: this Host is not served here (set [server] public_url to the name clients use)".into(),
            Refusal::KillSwitch(mode) => format!("odoo-warden's kill switch is {mode}"),
            Refusal::AuditUnavailable => "the audit trail cannot take records right now; nothing was done. Try again later.".into(),
            Refusal::Malformed(what) => what.clone(),
            Refusal::Person { message, .. } => message.clone(),
        }
    }

    /// The `error` word of a plain body.
    fn error_word(&self) -> &'static str {
        match self {
            Refusal::Key(crate::auth::Refusal::StoreUnavailable) | Refusal::AuditUnavailable => {
                "unavailable"
            }
            Refusal::Key(_) => "unauthorized",
            Refusal::Scope { .. } | Refusal::ForeignOrigin(_) | Refusal::ForeignHost(_) => {
                "forbidden"
            }
            Refusal::RateLimited { .. } => "rate_limited",
            Refusal::KillSwitch(_) => "kill_switch",
            Refusal::Malformed(_) => "bad_request",
            Refusal::Person { status: 401, .. } => "unauthorized",
            Refusal::Person { status, .. } if *status >= 500 => "unavailable",
            Refusal::Person { .. } => "forbidden",
        }
    }

    /// The answer, carrying this refusal in its extensions; counted in `/metrics` and logged
    /// (without secrets) once, here.
    pub fn response(self, style: BodyStyle) -> Response<Body> {
        match &self {
            Refusal::Key(r) => {
                crate::metrics::auth_failure(r.as_str());
                tracing::info!(reason = r.as_str(), "authentication refused");
            }
            Refusal::Scope { key_id, needed } => {
                crate::metrics::auth_failure("scope");
                tracing::info!(key.id = %key_id, needed = %needed, "key lacks the scope");
            }
            Refusal::RateLimited { limit, .. } => crate::metrics::rate_limited(match limit {
                Limit::Address => "address",
                Limit::Key(_) => "key",
            }),
            _ => {}
        }
        let message = self.message();
        let body = match style {
            BodyStyle::Plain => {
                let mut b = serde_json::json!({"error": self.error_word(), "message": message});
                if let Refusal::RateLimited { retry_after, .. } = &self {
                    b["retry_after"] = serde_json::json!(retry_after);
                }
                b
            }
            BodyStyle::JsonRpc => {
                let (code, data) = match &self {
                    Refusal::Key(_) | Refusal::Scope { .. } | Refusal::Person { .. } => (
                        UNAUTHORIZED_RPC,
                        Some(serde_json::json!({"error": self.error_word()})),
                    ),
                    _ => (INVALID_REQUEST_RPC, None),
                };
                let mut error = serde_json::json!({"code": code, "message": message});
                if let Some(data) = data {
                    error["data"] = data;
                }
                serde_json::json!({"jsonrpc": "2.0", "id": null, "error": error})
            }
        };
        let mut r = Response::new(Body::from(body.to_string()));
        *r.status_mut() = self.status();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match &self {
            Refusal::Key(k) if *k != crate::auth::Refusal::StoreUnavailable => {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"odoo-warden\""),
                );
            }
            Refusal::Person { status: 401, .. } => {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"odoo-warden\""),
                );
            }
            Refusal::RateLimited { retry_after, .. } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after.max(&1).to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            _ => {}
        }
        r.extensions_mut().insert(self);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_status_kind_and_answer() {
        let cases = [
            (
                Refusal::Key(crate::auth::Refusal::Revoked),
                401,
                kind::AUTH_FAILURE,
            ),
            (
                Refusal::Key(crate::auth::Refusal::StoreUnavailable),
                503,
                kind::AUTH_FAILURE,
            ),
            (
                Refusal::Scope {
                    key_id: "k".into(),
                    needed: Scope::Approve,
                },
                403,
                kind::AUTH_FAILURE,
            ),
            (
                Refusal::RateLimited {
                    limit: Limit::Key("k".into()),
                    retry_after: 0,
                },
                429,
                kind::RATE_LIMITED,
            ),
            (
                Refusal::ForeignOrigin("https://evil.example".into()),
                403,
                kind::ORIGIN_REFUSED,
            ),
            (Refusal::AuditUnavailable, 503, kind::REQUEST),
            (Refusal::Malformed("HTTP 413".into()), 400, kind::MALFORMED),
        ];
        for (refusal, status, k) in cases {
            assert_eq!(refusal.status().as_u16(), status, "{refusal:?}");
            assert_eq!(refusal.audit_kind(), k, "{refusal:?}");
            let r = refusal.clone().response(BodyStyle::Plain);
            assert_eq!(r.status().as_u16(), status);
            assert_eq!(r.extensions().get::<Refusal>(), Some(&refusal));
        }
        // The precise key reason is for the trail, never the answer: one 401 for every key fault.
        let a = Refusal::Key(crate::auth::Refusal::Revoked).message();
        let b = Refusal::Key(crate::auth::Refusal::Missing).message();
        assert_eq!(a, b);
        let r = Refusal::RateLimited {
            limit: Limit::Address,
            retry_after: 0,
        }
        .response(BodyStyle::Plain);
        assert_eq!(
            r.headers()[header::RETRY_AFTER],
            "1",
            "never Retry-After: 0"
        );
        let r = Refusal::Key(crate::auth::Refusal::Missing).response(BodyStyle::JsonRpc);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
