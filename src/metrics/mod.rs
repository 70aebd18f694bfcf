//! Prometheus metrics (`GET /metrics` on the admin listener), with the official
//! `prometheus-client` crate.
//!
//! Counters and the Odoo latency histogram are updated where things happen; gauges (kill switch,
//! audit queue, pending approvals) are read when scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::OnceLock;

mod window;
pub use window::Summary as LatencySummary;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabels {
    pub tool: String,
    pub model: String,
    pub decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    pub listener: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    pub listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub method: String,
}

/// Every metric odoo-warden exports.
pub struct Metrics {
    pub requests: Family<RequestLabels, Counter>,
    pub tool_calls: Family<ToolLabels, Counter>,
    pub odoo_latency: Family<MethodLabels, Histogram>,
    pub auth_failures: Family<ReasonLabels, Counter>,
    pub rate_limited: Family<ReasonLabels, Counter>,
    pub kill_switch: Gauge,
    pub audit_queue: Gauge,
    /// 1 while the audit trail takes records, 0 while its store fails or stalls.
    pub audit_trail_up: Gauge,
    /// Batches the audit store failed to take.
    pub audit_append_failures: Counter,
    pub pending_approvals: Gauge,
    pub connections_dropped: Family<ConnectionLabels, Counter>,
    pub connections_open: Family<ListenerLabels, Gauge>,
    pub tls_handshake_failures: Family<ListenerLabels, Counter>,
    /// The circuit breaker in front of Odoo: 0 closed, 1 open, 2 probing.
    pub odoo_circuit: Gauge,
    /// Tasks alive on the runtime (read when scraped): flat under a steady load.
    pub tasks: Gauge,
    /// Requests the open circuit refused without sending them.
    pub odoo_circuit_refused: Counter,
    /// Odoo latency over the last hour, for the console's dashboard.
    odoo_recent: window::Window,
    registry: Registry,
}

fn odoo_buckets() -> Histogram {
    // 1 ms .. ~16 s.
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
    ])
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("odoo_warden");
        let requests = Family::<RequestLabels, Counter>::default();
        let tool_calls = Family::<ToolLabels, Counter>::default();
        let odoo_latency = Family::<MethodLabels, Histogram>::new_with_constructor(
            odoo_buckets as fn() -> Histogram,
        );
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        let rate_limited = Family::<ReasonLabels, Counter>::default();
        let kill_switch = Gauge::default();
        let audit_queue = Gauge::default();
        let audit_trail_up = Gauge::default();
        let audit_append_failures = Counter::default();
        let pending_approvals = Gauge::default();
        let connections_dropped = Family::<ConnectionLabels, Counter>::default();
        let connections_open = Family::<ListenerLabels, Gauge>::default();
        let tls_handshake_failures = Family::<ListenerLabels, Counter>::default();
        let odoo_circuit = Gauge::default();
        let tasks = Gauge::default();
        registry.register("tasks", "Tasks alive on the async runtime", tasks.clone());
        let odoo_circuit_refused = Counter::default();
        registry.register(
            "odoo_circuit",
            "The circuit breaker in front of Odoo: 0 closed, 1 open (Odoo unreachable: requests refused at once), 2 probing",
            odoo_circuit.clone(),
        );
        registry.register(
            "odoo_circuit_refused",
            "Requests to Odoo refused, unsent, while the circuit was open",
            odoo_circuit_refused.clone(),
        );
        registry.register(
            "connections_dropped",
            "Connections the server closed or refused: header_timeout, body_timeout, idle, over_capacity, accept_error",
            connections_dropped.clone(),
        );
        registry.register(
            "connections_open",
            "Open client connections by listener",
            connections_open.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or did not finish within the header timeout, by listener",
            tls_handshake_failures.clone(),
        );
        registry.register(
            "requests",
            "Requests by MCP method and outcome",
            requests.clone(),
        );
        registry.register(
            "tool_calls",
            "Tool calls by tool, model and decision",
            tool_calls.clone(),
        );
        registry.register(
            "odoo_request_duration_seconds",
            "Odoo call latency by Odoo method",
            odoo_latency.clone(),
        );
        registry.register(
            "auth_failures",
            "Refused API keys by reason",
            auth_failures.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit",
            rate_limited.clone(),
        );
        registry.register(
            "kill_switch_mode",
            "Kill switch: 0 open, 1 read-only, 2 closed",
            kill_switch.clone(),
        );
        registry.register(
            "audit_queue_depth",
            "Audit records waiting for the writer",
            audit_queue.clone(),
        );
        registry.register(
            "audit_trail_up",
            "1 while the audit trail takes records; 0 while its store fails or stalls (writes are refused, reads wait for their record, then fail)",
            audit_trail_up.clone(),
        );
        registry.register(
            "audit_append_failures",
            "Batches of audit records the store failed to take (each is retried until taken)",
            audit_append_failures.clone(),
        );
        registry.register(
            "pending_approvals",
            "Approval requests waiting for an approver",
            pending_approvals.clone(),
        );
        Self {
            requests,
            tool_calls,
            odoo_latency,
            auth_failures,
            rate_limited,
            kill_switch,
            audit_queue,
            audit_trail_up,
            audit_append_failures,
            pending_approvals,
            connections_dropped,
            connections_open,
            tls_handshake_failures,
            odoo_circuit,
            tasks,
            odoo_circuit_refused,
            odoo_recent: window::Window::default(),
            registry,
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

pub fn request(method: &str, outcome: &str) {
    metrics()
        .requests
        .get_or_create(&RequestLabels {
            method: method.to_string(),
            outcome: outcome.to_string(),
        })
        .inc();
}

pub fn tool_call(tool: &str, model: &str, decision: &str) {
    metrics()
        .tool_calls
        .get_or_create(&ToolLabels {
            tool: tool.to_string(),
            model: model.to_string(),
            decision: decision.to_string(),
        })
        .inc();
}

pub fn odoo_call(method: &str, seconds: f64) {
    metrics()
        .odoo_latency
        .get_or_create(&MethodLabels {
            method: method.to_string(),
        })
        .observe(seconds);
    metrics()
        .odoo_recent
        .record(seconds, std::time::SystemTime::now());
}

/// The circuit breaker's state now.
pub fn odoo_circuit(state: crate::odoo::CircuitState) {
    metrics().odoo_circuit.set(match state {
        crate::odoo::CircuitState::Closed => 0,
        crate::odoo::CircuitState::Open => 1,
        crate::odoo::CircuitState::Probing => 2,
    });
}

/// A request the open circuit refused.
pub fn odoo_refused_by_circuit() {
    metrics().odoo_circuit_refused.inc();
}

/// Odoo's latency over the last hour as this instance saw it.
pub fn odoo_last_hour() -> LatencySummary {
    metrics()
        .odoo_recent
        .last_hour(std::time::SystemTime::now())
}

pub fn auth_failure(reason: &str) {
    metrics()
        .auth_failures
        .get_or_create(&ReasonLabels {
            reason: reason.to_string(),
        })
        .inc();
}

pub fn rate_limited(limit: &str) {
    metrics()
        .rate_limited
        .get_or_create(&ReasonLabels {
            reason: limit.to_string(),
        })
        .inc();
}

/// A connection the server closed (or refused) on a listener (`mcp`, `admin`), and why.
pub fn connection_dropped(listener: &str, reason: &str) {
    metrics()
        .connections_dropped
        .get_or_create(&ConnectionLabels {
            listener: listener.to_string(),
            reason: reason.to_string(),
        })
        .inc();
}

/// Open connections on a listener (`delta`: +1 opened, -1 closed).
pub fn connections_open(listener: &str, delta: i64) {
    metrics()
        .connections_open
        .get_or_create(&ListenerLabels {
            listener: listener.to_string(),
        })
        .inc_by(delta);
}

/// A TLS handshake on a listener (`mcp`, `admin`) that failed or timed out.
pub fn tls_handshake_failed(listener: &str) {
    metrics()
        .tls_handshake_failures
        .get_or_create(&ListenerLabels {
            listener: listener.to_string(),
        })
        .inc();
}
