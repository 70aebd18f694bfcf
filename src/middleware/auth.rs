//! API-key authentication: `Authorization: Bearer owk_...`, verified by [`Verifier`], checked
//! against the scope a route needs. On success the [`Principal`] goes into the request extensions.
//!
//! A missing, malformed, unknown, expired or revoked key, or a wrong secret, is one and the same
//! `401` with `WWW-Authenticate: Bearer`: no hint which. A valid key without the route's scope is
//! `403`. An unreachable key store is `503` (fail closed). The precise reason is put into the
//! response extensions ([`Refusal`](crate::refusal::Refusal)) for logging and the audit trail,
//! never into the answer.

use crate::auth::{Principal, Refusal as KeyRefusal, Scope, Verifier};
use crate::refusal::{BodyStyle, Refusal};
use axum::body::Body;
use http::{Request, Response, header};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<Verifier>,
    scopes: &'static [Scope],
    style: BodyStyle,
}

impl AuthLayer {
    /// Requires a key holding `scope`.
    pub fn new(verifier: Arc<Verifier>, scope: Scope) -> Self {
        let scopes: &'static [Scope] = match scope {
            Scope::Mcp => &[Scope::Mcp],
            Scope::Audit => &[Scope::Audit],
            Scope::Approve => &[Scope::Approve],
            Scope::Admin => &[Scope::Admin],
        };
        Self {
            verifier,
            scopes,
            style: BodyStyle::Plain,
        }
    }

    /// Requires a key holding any of `scopes`.
    pub fn any_of(verifier: Arc<Verifier>, scopes: &'static [Scope]) -> Self {
        Self {
            verifier,
            scopes,
            style: BodyStyle::Plain,
        }
    }

    /// Refusals are JSON-RPC error objects (for `/mcp`).
    pub fn json_rpc(mut self) -> Self {
        self.style = BodyStyle::JsonRpc;
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            verifier: self.verifier.clone(),
            scopes: self.scopes,
            style: self.style,
        }
    }
}

#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    verifier: Arc<Verifier>,
    scopes: &'static [Scope],
    style: BodyStyle,
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl<S> Service<Request<Body>> for Auth<S>
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
        // The clone that was made ready serves this request; a fresh clone stays for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        let scopes = self.scopes;
        let style = self.style;
        Box::pin(async move {
            let Some(token) = bearer(req.headers()).map(str::to_string) else {
                return Ok(Refusal::Key(KeyRefusal::Missing).response(style));
            };
            let principal = match verifier.verify(&token).await {
                Ok(p) => p,
                Err(r) => return Ok(Refusal::Key(r).response(style)),
            };
            if !scopes.iter().any(|s| principal.has(*s)) {
                return Ok(Refusal::Scope {
                    key_id: principal.key_id.clone(),
                    needed: scopes.first().copied().unwrap_or(Scope::Admin),
                }
                .response(style));
            }
            req.extensions_mut().insert(Principal::clone(&principal));
            inner.call(req).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn bearer_parsing() {
        let mut h = http::HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer owk_a_b"),
        );
        assert_eq!(bearer(&h), Some("owk_a_b"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer   owk_a_b "),
        );
        assert_eq!(bearer(&h), Some("owk_a_b"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert_eq!(bearer(&h), None);
    }
}
