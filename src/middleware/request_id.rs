//! Request ids: a short random prefix per process and a counter, cheap and unique per instance.

use http::Request;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tower_http::request_id::{MakeRequestId, RequestId};

pub const HEADER: &str = "x-request-id";

/// Makes ids such as `3f9a1c-000042`.
#[derive(Clone)]
pub struct Counter {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl Default for Counter {
    fn default() -> Self {
        let prefix: u32 = rand::random();
        Self {
            prefix: format!("{:06x}", prefix & 0xff_ffff).into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        http::HeaderValue::from_str(&format!("{}-{n:06}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}
