//! The listeners' accept loop: HTTP/1.1 connections, each bounded in what a slow or idle client
//! may hold on to, and a cap on how many are open at once.
//!
//! - A connection waiting for a request's headers (its first request, or the next one once bytes
//!   of it arrived) is closed after `header_read_timeout`: a half-sent request cannot hold a
//!   descriptor for ever.
//! - A request body that is not all there after `body_read_timeout` fails the request, and the
//!   connection is closed.
//! - A keep-alive connection with no request for `idle_timeout` is closed.
//! - At `max_connections` open connections, a new client takes the place of the connection that
//!   has waited longest without a request in flight (half-sent or idle): slow clients cannot
//!   keep others out. Only when every connection is busy with a request is a new one closed at
//!   once (so the kernel's queue never fills with clients that would only time out). `accept`
//!   failing (out of descriptors) is retried after a pause rather than spun on.
//!
//! - With TLS (`[server] tls_cert_file`, `crate::tls`), the handshake runs inside the
//!   connection's task: it holds a place under `max_connections` (and may be evicted like any
//!   connection without a request), and must finish within `header_read_timeout`, which keeps
//!   running from the connection's start until its first request's headers arrive. A failed or
//!   timed-out handshake is logged at debug and counted
//!   (`odoo_warden_tls_handshake_failures_total{listener}`); the connection is closed.
//!
//! Every connection the server drops is counted in `/metrics`
//! (`odoo_warden_connections_dropped_total{listener, reason}`). Requests carry the peer address
//! as axum's `ConnectInfo`, as `axum::serve` would.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// What a client may hold on a listener (`[server]` in the config; README "Slow clients").
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Serves `router` on `listener` until `stop` turns true; then stops accepting, asks every
/// connection to finish its request and close, and returns once all are closed (the caller
/// bounds how long it waits). With `tls`, every connection is HTTPS.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    name: &'static str,
    mut stop: watch::Receiver<bool>,
    tls: Option<TlsAcceptor>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let open: Arc<Open> = Arc::default();
    let mut connections = tokio::task::JoinSet::new();
    let for_connections = stop.clone();
    let mut next_id: u64 = 0;
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let permit = match permits.clone().try_acquire_owned() {
                        Ok(p) => Some(p),
                        // Full: make room by closing the connection waiting longest.
                        Err(_) if open.evict_one(name) => {
                            tokio::time::timeout(Duration::from_secs(1), permits.clone().acquire_owned())
                                .await
                                .ok()
                                .and_then(Result::ok)
                        }
                        Err(_) => None,
                    };
                    let Some(permit) = permit else {
                        crate::metrics::connection_dropped(name, "over_capacity");
                        tracing::warn!(listener = name, max = limits.max_connections, "every connection is busy: a new one was closed");
                        drop(stream);
                        continue;
                    };
                    next_id += 1;
                    let id = next_id;
                    let router = router.clone();
                    let stop = for_connections.clone();
                    let open = open.clone();
                    let tls = tls.clone();
                    connections.spawn(async move {
                        connection(stream, peer, router, limits, name, stop, &open, id, tls).await;
                        open.remove(id);
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of descriptors, most likely: others are closing; do not spin.
                    crate::metrics::connection_dropped(name, "accept_error");
                    tracing::warn!(listener = name, error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}

/// An open connection, and how to tell it to close.
type Entry = (Arc<Conn>, Arc<tokio::sync::Notify>);

/// The open connections of a listener, so that a new client can take the place of a slow one.
#[derive(Default)]
struct Open {
    conns: std::sync::Mutex<std::collections::HashMap<u64, Entry>>,
}

impl Open {
    fn add(&self, id: u64, conn: Arc<Conn>, evict: Arc<tokio::sync::Notify>) {
        if let Ok(mut m) = self.conns.lock() {
            m.insert(id, (conn, evict));
        }
    }

    fn remove(&self, id: u64) {
        if let Ok(mut m) = self.conns.lock() {
            m.remove(&id);
        }
    }

    /// Tells the connection that has waited longest without a request in flight to close;
    /// false when every connection is busy.
    fn evict_one(&self, name: &str) -> bool {
        let Ok(mut m) = self.conns.lock() else {
            return false;
        };
        let victim = m
            .iter()
            .filter_map(|(id, (c, _))| c.waiting_since().map(|at| (*id, at)))
            .min_by_key(|(_, at)| *at)
            .map(|(id, _)| id);
        match victim.and_then(|id| m.remove(&id)) {
            Some((_, evict)) => {
                evict.notify_one();
                crate::metrics::connection_dropped(name, "evicted");
                true
            }
            None => false,
        }
    }
}

/// Resolves once `stop` turns true; never, if nobody can stop it any more (sender gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What the watchdog of one connection knows of it.
struct Conn {
    started: Instant,
    /// Requests whose response is not finished yet.
    inflight: AtomicUsize,
    /// When the connection last became free for a request (ms since `started`).
    free_since: AtomicU64,
    /// Whether it has served a request (then waiting without any byte is keep-alive idleness).
    served: AtomicUsize,
    /// When the first byte of the next request arrived while free (ms + 1; 0: none yet).
    next_request_at: AtomicU64,
}

impl Conn {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Since when (as an instant) the connection has waited without a request in flight.
    fn waiting_since(&self) -> Option<Instant> {
        if self.inflight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let ms = match self.next_request_at.load(Ordering::SeqCst) {
            0 if self.served.load(Ordering::SeqCst) > 0 => self.free_since.load(Ordering::SeqCst),
            0 => 0,
            at => at - 1,
        };
        Some(self.started + Duration::from_millis(ms))
    }

    /// Why the connection should be closed now, if it should.
    fn overdue(&self, limits: &Limits) -> Option<&'static str> {
        if self.inflight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let now = self.now_ms();
        let ms = |d: Duration| d.as_millis() as u64;
        match self.next_request_at.load(Ordering::SeqCst) {
            0 if self.served.load(Ordering::SeqCst) > 0 => {
                let idle = now.saturating_sub(self.free_since.load(Ordering::SeqCst));
                (idle > ms(limits.idle_timeout)).then_some("idle")
            }
            // A new connection waits for its first request's headers.
            0 => (now > ms(limits.header_read_timeout)).then_some("header_timeout"),
            at => {
                let waiting = now.saturating_sub(at - 1);
                (waiting > ms(limits.header_read_timeout)).then_some("header_timeout")
            }
        }
    }
}

/// The socket (or the TLS stream over it: what it reads is the request's own bytes), noting
/// when a request's first bytes arrive.
struct Watched<S> {
    inner: S,
    conn: Arc<Conn>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before && self.conn.inflight.load(Ordering::SeqCst) == 0 {
            let at = self.conn.now_ms() + 1;
            let _ = self.conn.next_request_at.compare_exchange(
                0,
                at,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    name: &'static str,
    mut stop: watch::Receiver<bool>,
    open: &Open,
    id: u64,
    tls: Option<TlsAcceptor>,
) {
    let _ = stream.set_nodelay(true);
    crate::metrics::connections_open(name, 1);
    let conn = Arc::new(Conn {
        started: Instant::now(),
        inflight: AtomicUsize::new(0),
        free_since: AtomicU64::new(0),
        served: AtomicUsize::new(0),
        next_request_at: AtomicU64::new(0),
    });
    let evict = Arc::new(tokio::sync::Notify::new());
    open.add(id, conn.clone(), evict.clone());
    match tls {
        None => http(stream, peer, router, limits, name, stop, conn, &evict).await,
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream));
            // Evicted or stopping meanwhile: closed without a word, as a waiting connection.
            let accepted = tokio::select! {
                r = handshake => Some(r),
                _ = evict.notified() => None,
                _ = stopped(&mut stop) => None,
            };
            match accepted {
                Some(Ok(Ok(stream))) => {
                    http(stream, peer, router, limits, name, stop, conn, &evict).await
                }
                Some(Ok(Err(e))) => {
                    crate::metrics::tls_handshake_failed(name);
                    tracing::debug!(listener = name, peer = %peer, error = %e, "TLS handshake failed");
                }
                Some(Err(_)) => {
                    crate::metrics::tls_handshake_failed(name);
                    crate::metrics::connection_dropped(name, "header_timeout");
                    tracing::debug!(listener = name, peer = %peer, "TLS handshake not finished within [server] header_read_timeout_secs");
                }
                None => {}
            }
        }
    }
    crate::metrics::connections_open(name, -1);
}

/// HTTP/1.1 on an open connection (plain, or after its TLS handshake), until it ends, is cut by
/// the watchdog, is evicted, or finishes after `stop`.
#[allow(clippy::too_many_arguments)]
async fn http<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    name: &'static str,
    mut stop: watch::Receiver<bool>,
    conn: Arc<Conn>,
    evict: &tokio::sync::Notify,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(Watched {
        inner: stream,
        conn: conn.clone(),
    });
    let service_conn = conn.clone();
    let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let conn = service_conn.clone();
        let router = router.clone();
        conn.inflight.fetch_add(1, Ordering::SeqCst);
        conn.next_request_at.store(0, Ordering::SeqCst);
        async move {
            let (mut parts, body) = req.into_parts();
            parts.extensions.insert(ConnectInfo(peer));
            let body = Deadline::new(body, limits.body_read_timeout, name);
            let read_all = body.read_all.clone();
            let response = router
                .oneshot(http::Request::from_parts(parts, Body::new(body)))
                .await
                .unwrap_or_else(|never| match never {});
            let (mut parts, body) = response.into_parts();
            // Answered before the request body was read to its end (a refusal, most often):
            // hyper closes the connection after this response, so say so. Unannounced, a client
            // reusing the connection for its next request races the close and sees it dropped
            // without an answer.
            if !read_all.load(Ordering::SeqCst) {
                parts.headers.insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            Ok::<_, std::convert::Infallible>(http::Response::from_parts(
                parts,
                Body::new(Finished {
                    inner: body,
                    conn: Some(conn),
                }),
            ))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The watchdog below times the headers (hyper's own timer would also cut keep-alive).
        .header_read_timeout(None)
        .keep_alive(true);
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    let tick = limits
        .header_read_timeout
        .min(limits.idle_timeout)
        .div_f64(4.0)
        .max(Duration::from_millis(50));
    let mut watchdog = tokio::time::interval(tick);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(listener = name, error = %e, "connection ended with an error");
                }
                break;
            }
            _ = watchdog.tick() => {
                if let Some(reason) = conn.overdue(&limits) {
                    crate::metrics::connection_dropped(name, reason);
                    tracing::debug!(listener = name, reason, "closing a connection");
                    break;
                }
            }
            _ = evict.notified() => {
                tracing::debug!(listener = name, "closing a waiting connection to make room for a new one");
                break;
            }
            _ = stopped(&mut stop), if !stopping => {
                stopping = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
}

/// A request body that must arrive within a deadline; past it, reading fails (the request
/// fails, and hyper closes the connection since the body was not read to its end).
struct Deadline {
    inner: Incoming,
    sleep: Pin<Box<tokio::time::Sleep>>,
    name: &'static str,
    /// Whether the body has been read to its end (or had none): if not when the response is
    /// ready, the connection cannot serve another request.
    read_all: Arc<AtomicBool>,
}

impl Deadline {
    fn new(inner: Incoming, within: Duration, name: &'static str) -> Self {
        let read_all = Arc::new(AtomicBool::new(inner.is_end_stream()));
        Deadline {
            inner,
            sleep: Box::pin(tokio::time::sleep(within)),
            name,
            read_all,
        }
    }
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                if r.is_none() || self.inner.is_end_stream() {
                    self.read_all.store(true, Ordering::SeqCst);
                }
                Poll::Ready(r.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if self.sleep.as_mut().poll(cx).is_ready() {
                    crate::metrics::connection_dropped(self.name, "body_timeout");
                    return Poll::Ready(Some(Err(
                        "the request body did not arrive within [server] body_read_timeout_secs"
                            .into(),
                    )));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that tells the connection when it is done (sent, or dropped), so that the
/// connection counts as free again (an SSE stream keeps it busy while it lasts).
struct Finished {
    inner: Body,
    conn: Option<Arc<Conn>>,
}

impl Finished {
    fn done(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.free_since.store(conn.now_ms(), Ordering::SeqCst);
            conn.served.fetch_add(1, Ordering::SeqCst);
            conn.inflight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.done();
    }
}

impl HttpBody for Finished {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = r {
            self.done();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(age: Duration) -> Conn {
        Conn {
            started: Instant::now() - age,
            inflight: AtomicUsize::new(0),
            free_since: AtomicU64::new(0),
            served: AtomicUsize::new(0),
            next_request_at: AtomicU64::new(0),
        }
    }

    #[test]
    fn what_is_overdue() {
        let limits = Limits {
            header_read_timeout: Duration::from_secs(2),
            body_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(10),
            max_connections: 4,
        };
        // A new connection waits for its first headers.
        assert_eq!(conn(Duration::from_secs(1)).overdue(&limits), None);
        assert_eq!(
            conn(Duration::from_secs(3)).overdue(&limits),
            Some("header_timeout")
        );
        // A request in flight is never cut by the watchdog (the body has its own deadline).
        let c = conn(Duration::from_secs(30));
        c.inflight.store(1, Ordering::SeqCst);
        assert_eq!(c.overdue(&limits), None);
        // Keep-alive: idle after a served request, until a new request's bytes arrive.
        let c = conn(Duration::from_secs(30));
        c.served.store(1, Ordering::SeqCst);
        c.free_since.store(25_000, Ordering::SeqCst);
        assert_eq!(c.overdue(&limits), None);
        c.free_since.store(15_000, Ordering::SeqCst);
        assert_eq!(c.overdue(&limits), Some("idle"));
        c.next_request_at.store(29_500 + 1, Ordering::SeqCst);
        assert_eq!(c.overdue(&limits), None);
        c.next_request_at.store(27_000 + 1, Ordering::SeqCst);
        assert_eq!(c.overdue(&limits), Some("header_timeout"));
    }
}
