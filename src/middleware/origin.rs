//! Origin and Host validation: protection against DNS rebinding and cross-site requests.
//!
//! A browser page on another site can make a victim's browser send requests to a server on
//! localhost; with DNS rebinding it can even read the answers. Two checks stop that:
//! - `Host` must name this server (its public URL, or its loopback address and port);
//! - `Origin`, when present (browsers always send it on cross-origin POSTs), must be the public
//!   URL's origin or one configured in `allowed_origins`.
//!
//! Refusals are `403 Forbidden` with a JSON-RPC error body; the reason is put into the response
//! extensions ([`Refusal`]) for the layers above.
//!
//! ```
//! use odoo_warden::middleware::origin::OriginLayer;
//! use tower::ServiceBuilder;
//! let layer = OriginLayer::new(
//!     vec!["http://127.0.0.1:8808".into()],
//!     vec!["127.0.0.1:8808".into()],
//! );
//! let _svc = ServiceBuilder::new().layer(layer).service(tower::service_fn(|_req: http::Request<axum::body::Body>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
//! }));
//! ```

use crate::refusal::{BodyStyle, Refusal};
use axum::body::Body;
use http::{Request, Response, header};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

#[derive(Debug)]
struct Allowed {
    origins: Vec<String>,
    hosts: Vec<String>,
}

/// Layer applying [`OriginCheck`].
#[derive(Debug, Clone)]
pub struct OriginLayer {
    allowed: Arc<Allowed>,
}

impl OriginLayer {
    /// `origins`: `scheme://host[:port]` in lower case; `hosts`: `host[:port]` values accepted in
    /// the `Host` header, lower case.
    pub fn new(origins: Vec<String>, hosts: Vec<String>) -> Self {
        Self {
            allowed: Arc::new(Allowed { origins, hosts }),
        }
    }
}

impl<S> Layer<S> for OriginLayer {
    type Service = OriginCheck<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OriginCheck {
            inner,
            allowed: self.allowed.clone(),
        }
    }
}

/// Refuses requests from foreign origins or to foreign host names.
#[derive(Debug, Clone)]
pub struct OriginCheck<S> {
    inner: S,
    allowed: Arc<Allowed>,
}

impl<S, B> Service<Request<B>> for OriginCheck<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match check(&self.allowed, &req) {
            Ok(()) => ResponseFuture::Inner(Box::pin(self.inner.call(req))),
            Err(refusal) => ResponseFuture::Refused(Some(refuse(refusal))),
        }
    }
}

fn check<B>(allowed: &Allowed, req: &Request<B>) -> Result<(), Refusal> {
    // HTTP/2 carries the host in the URI authority, HTTP/1.1 in the Host header.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    if let Some(host) = host {
        let host = host.trim().to_ascii_lowercase();
        if !allowed.hosts.contains(&host) {
            return Err(Refusal::ForeignHost(host));
        }
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("").trim().to_ascii_lowercase();
        if !allowed.origins.contains(&origin) {
            return Err(Refusal::ForeignOrigin(origin));
        }
    }
    Ok(())
}

fn refuse(refusal: Refusal) -> Response<Body> {
    refusal.response(BodyStyle::JsonRpc)
}

/// Response future of [`OriginCheck`]: the inner service's, or a ready refusal.
pub enum ResponseFuture<F> {
    Inner(Pin<Box<F>>),
    Refused(Option<Response<Body>>),
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            ResponseFuture::Inner(f) => f.as_mut().poll(cx),
            ResponseFuture::Refused(r) => match r.take() {
                Some(r) => Poll::Ready(Ok(r)),
                None => Poll::Pending,
            },
        }
    }
}

/// The `Host` values that name a server reachable at `public_url` and listening on `listen`.
pub fn allowed_hosts(public_url: &url::Url, listen: std::net::SocketAddr) -> Vec<String> {
    let mut hosts = Vec::new();
    if let Some(h) = public_url.host_str() {
        let h = h.to_ascii_lowercase();
        match public_url.port() {
            Some(p) => hosts.push(format!("{h}:{p}")),
            None => {
                hosts.push(h.clone());
                if let Some(p) = public_url.port_or_known_default() {
                    hosts.push(format!("{h}:{p}"));
                }
            }
        }
    }
    let port = listen.port();
    if listen.ip().is_loopback() || listen.ip().is_unspecified() {
        for h in ["127.0.0.1", "localhost", "[::1]"] {
            hosts.push(format!("{h}:{port}"));
        }
    } else if listen.is_ipv6() {
        hosts.push(format!("[{}]:{port}", listen.ip()));
    } else {
        hosts.push(format!("{}:{port}", listen.ip()));
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Origins equivalent to the public one on a loopback listener (`http://localhost:PORT` for
/// `http://127.0.0.1:PORT`); `scheme` is how the listener speaks (`https` with TLS on).
pub fn loopback_origins(listen: std::net::SocketAddr, scheme: &str) -> Vec<String> {
    if !listen.ip().is_loopback() {
        return Vec::new();
    }
    let port = listen.port();
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .map(|h| format!("{scheme}://{h}:{port}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Allowed {
        Allowed {
            origins: vec!["http://127.0.0.1:8808".into(), "https://claude.ai".into()],
            hosts: allowed_hosts(
                &"http://127.0.0.1:8808".parse().unwrap(),
                "127.0.0.1:8808".parse().unwrap(),
            ),
        }
    }

    fn req(host: Option<&str>, origin: Option<&str>) -> Request<()> {
        let mut b = Request::builder().uri("/mcp");
        if let Some(h) = host {
            b = b.header(header::HOST, h);
        }
        if let Some(o) = origin {
            b = b.header(header::ORIGIN, o);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn hosts_and_origins() {
        let a = allowed();
        assert!(check(&a, &req(Some("127.0.0.1:8808"), None)).is_ok());
        assert!(check(&a, &req(Some("localhost:8808"), Some("https://claude.ai"))).is_ok());
        assert!(
            check(
                &a,
                &req(Some("LOCALHOST:8808"), Some("http://127.0.0.1:8808"))
            )
            .is_ok()
        );
        assert!(matches!(
            check(
                &a,
                &req(Some("evil.example.com"), Some("http://evil.example.com"))
            ),
            Err(Refusal::ForeignHost(_))
        ));
        assert!(matches!(
            check(
                &a,
                &req(Some("127.0.0.1:8808"), Some("http://evil.example.com"))
            ),
            Err(Refusal::ForeignOrigin(_))
        ));
        assert!(matches!(
            check(&a, &req(Some("127.0.0.1:9999"), None)),
            Err(Refusal::ForeignHost(_))
        ));
        assert!(check(&a, &req(Some("127.0.0.1:8808"), Some("null"))).is_err());
    }

    #[test]
    fn loopback_origins_follow_the_scheme() {
        let listen = "127.0.0.1:8808".parse().unwrap();
        assert!(loopback_origins(listen, "http").contains(&"http://localhost:8808".to_string()));
        let tls = loopback_origins(listen, "https");
        assert!(tls.contains(&"https://localhost:8808".to_string()));
        assert!(tls.contains(&"https://127.0.0.1:8808".to_string()));
        assert!(tls.iter().all(|o| o.starts_with("https://")), "{tls:?}");
        assert!(loopback_origins("10.0.0.5:8808".parse().unwrap(), "https").is_empty());
    }

    #[test]
    fn public_url_without_port() {
        let h = allowed_hosts(
            &"https://mcp.example.com".parse().unwrap(),
            "10.0.0.5:8808".parse().unwrap(),
        );
        assert!(h.contains(&"mcp.example.com".to_string()));
        assert!(h.contains(&"mcp.example.com:443".to_string()));
        assert!(h.contains(&"10.0.0.5:8808".to_string()));
    }
}
