//! Rate limits of the HTTP stack.
//!
//! - Per client address, before authentication ([`per_ip_layer`], tower-governor): caps key
//!   guessing and the argon2 work unknown keys cost. The address is the TCP peer's; a proxy's
//!   `X-Forwarded-For` is believed only when the peer is one of `[limits] trusted_proxies`.
//! - Per key, after authentication ([`KeyRateLimitLayer`], governor): each profile's
//!   `rate_limit.per_minute` and `burst`, per key.
//!
//! Refusals are `429` with `Retry-After`; the reason goes into the response extensions
//! ([`Refusal::RateLimited`]) so the audit layer records it. Old limiter entries are dropped every minute,
//! so memory stays bounded whatever addresses and keys are seen.

use crate::auth::Principal;
use crate::refusal::{BodyStyle, Limit, Refusal};
use axum::body::Body;
use axum::extract::ConnectInfo;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Layer, Service};
use tower_governor::GovernorError;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;

/// A `429` with `Retry-After`.
fn too_many(retry_after: u64, limit: Limit) -> Response<Body> {
    Refusal::RateLimited { limit, retry_after }.response(BodyStyle::Plain)
}

/// Whether `ip` lies in one of `ranges` (address, prefix length).
pub fn in_ranges(ip: IpAddr, ranges: &[(IpAddr, u8)]) -> bool {
    ranges.iter().any(|(net, bits)| match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if *bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(*bits))
            };
            (u32::from(a) & mask) == (u32::from(*n) & mask)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if *bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(*bits))
            };
            (u128::from(a) & mask) == (u128::from(*n) & mask)
        }
        _ => false,
    })
}

/// The client address of a request: the TCP peer, or (from a trusted proxy) the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip<T>(req: &Request<T>, trusted: &[(IpAddr, u8)]) -> Option<IpAddr> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    if trusted.is_empty() || !in_ranges(peer, trusted) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !in_ranges(*ip, trusted))
            .unwrap_or(peer),
    )
}

/// The client address of a request, computed once (trusted proxies applied) by the outermost
/// layer that knows it, and read by the others from the request extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// tower-governor key: the client address (`None` when the server runs without peer addresses,
/// as in-process tests do: one shared bucket).
#[derive(Clone)]
pub struct ClientIp {
    trusted: Arc<Vec<(IpAddr, u8)>>,
}

impl KeyExtractor for ClientIp {
    type Key = Option<IpAddr>;

    fn extract<T>(&self, req: &Request<T>) -> Result<Self::Key, GovernorError> {
        Ok(req
            .extensions()
            .get::<ClientAddr>()
            .map(|c| c.0)
            .or_else(|| client_ip(req, &self.trusted)))
    }
}

/// The per-address limit, with its cleanup task.
pub fn per_ip_layer(
    per_minute: u32,
    burst: u32,
    trusted: Vec<(IpAddr, u8)>,
) -> Option<
    tower_governor::GovernorLayer<
        ClientIp,
        governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>,
        Body,
    >,
> {
    let period = Duration::from_secs(60) / per_minute.max(1);
    let config = GovernorConfigBuilder::default()
        .period(period)
        .burst_size(burst.max(1))
        .key_extractor(ClientIp {
            trusted: Arc::new(trusted),
        })
        .finish()?;
    let config = Arc::new(config);
    let limiter = config.limiter().clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    });
    Some(
        tower_governor::GovernorLayer::new(config).error_handler(|e: GovernorError| match e {
            GovernorError::TooManyRequests { wait_time, .. } => too_many(wait_time, Limit::Address),
            other => {
                let mut r = Response::new(Body::from(other.to_string()));
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                r
            }
        }),
    )
}

/// Per-key limits, one keyed limiter per profile.
#[derive(Clone)]
pub struct KeyRateLimitLayer {
    limiters: Arc<HashMap<String, DefaultKeyedRateLimiter<String>>>,
}

impl KeyRateLimitLayer {
    /// `profiles`: (profile, requests per minute, burst).
    pub fn new(profiles: &[(String, u32, u32)]) -> Self {
        let mut limiters = HashMap::new();
        for (name, per_minute, burst) in profiles {
            if let (Some(rate), Some(burst)) =
                (NonZeroU32::new(*per_minute), NonZeroU32::new(*burst))
            {
                limiters.insert(
                    name.clone(),
                    RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)),
                );
            }
        }
        let limiters = Arc::new(limiters);
        let weak = Arc::downgrade(&limiters);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(l) = weak.upgrade() else { return };
                for limiter in l.values() {
                    limiter.retain_recent();
                    limiter.shrink_to_fit();
                }
            }
        });
        Self { limiters }
    }
}

impl<S> Layer<S> for KeyRateLimitLayer {
    type Service = KeyRateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyRateLimit {
            inner,
            limiters: self.limiters.clone(),
        }
    }
}

#[derive(Clone)]
pub struct KeyRateLimit<S> {
    inner: S,
    limiters: Arc<HashMap<String, DefaultKeyedRateLimiter<String>>>,
}

impl<S> Service<Request<Body>> for KeyRateLimit<S>
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

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let refused = req.extensions().get::<Principal>().and_then(|p| {
            let limiter = self.limiters.get(p.profile.as_deref()?)?;
            limiter.check_key(&p.key_id).err().map(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                (
                    wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                    p.key_id.clone(),
                )
            })
        });
        if let Some((wait, key)) = refused {
            return Box::pin(std::future::ready(Ok(too_many(wait, Limit::Key(key)))));
        }
        Box::pin(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(peer: &str, xff: Option<&str>) -> Request<()> {
        let mut r = Request::builder().uri("/mcp");
        if let Some(x) = xff {
            r = r.header("x-forwarded-for", x);
        }
        let mut r = r.body(()).unwrap();
        r.extensions_mut()
            .insert(ConnectInfo::<SocketAddr>(peer.parse().unwrap()));
        r
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = vec![
            ("10.0.0.0".parse().unwrap(), 8),
            ("127.0.0.1".parse().unwrap(), 32),
        ];
        let ip = |p: &str, x: Option<&str>| client_ip(&req(p, x), &trusted).unwrap().to_string();
        assert_eq!(
            ip("203.0.113.9:1", Some("1.2.3.4")),
            "203.0.113.9",
            "an untrusted peer's header is ignored"
        );
        assert_eq!(ip("10.1.2.3:1", Some("1.2.3.4")), "1.2.3.4");
        assert_eq!(
            ip("10.1.2.3:1", Some("6.6.6.6, 1.2.3.4, 10.9.9.9")),
            "1.2.3.4",
            "right-most untrusted hop"
        );
        assert_eq!(ip("127.0.0.1:1", None), "127.0.0.1");
        assert_eq!(ip("10.1.2.3:1", Some("garbage")), "10.1.2.3");
        assert!(!in_ranges("11.0.0.1".parse().unwrap(), &trusted));
        assert!(in_ranges(
            "::1".parse().unwrap(),
            &[("::1".parse().unwrap(), 128)]
        ));
    }
}
