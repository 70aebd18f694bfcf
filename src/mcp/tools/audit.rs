//! The audit of one tool call: the record written when the call ends, and for writes the intent
//! committed before Odoo is called.

use super::{ToolKind, ToolResult, audit_terms};
use crate::audit::{AuditError, AuditLog, Event, Outcome, kind};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What is known of a tool call for the trail.
pub struct CallAudit {
    log: Arc<AuditLog>,
    base: Event,
    /// The arguments as sent: kept in memory only, redacted once, when the first record is made
    /// (by then the call has learnt which fields its policy hides).
    raw: Value,
    redactor: Redactor,
    arguments: std::sync::OnceLock<Value>,
    started: Instant,
    intent: Mutex<Option<i64>>,
    confirmed_by: Mutex<Option<String>>,
    cut_off: Mutex<Option<CutOff>>,
    finished: std::sync::atomic::AtomicBool,
    /// The write's intent was handed to the trail (it may be committed later, even if the
    /// trail refused it in time or the call is cut off before it hears): without a committed
    /// intent, the call's outcome must close it.
    intent_asked: std::sync::atomic::AtomicBool,
}

/// How a call that did not finish was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutOff {
    /// It ran past `[server] request_timeout_secs`.
    Timeout,
    /// The client cancelled it (`notifications/cancelled`) or went away.
    Cancelled,
}

impl CutOff {
    fn as_str(self) -> &'static str {
        match self {
            CutOff::Timeout => "timeout",
            CutOff::Cancelled => "cancelled",
        }
    }
}

impl Drop for CallAudit {
    /// A call that never reached its end still leaves its outcome: `timeout` or `cancelled`; and
    /// after its write intent was committed, `unknown` (Odoo may have made the change), so the
    /// trail never ends at a bare intent.
    fn drop(&mut self) {
        if self.finished.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let how = self
            .cut_off
            .lock()
            .ok()
            .and_then(|c| *c)
            .unwrap_or(CutOff::Cancelled);
        let had_intent = self.has_intent();
        let intent_asked = self.intent_asked.load(std::sync::atomic::Ordering::SeqCst);
        let mut e = self.event();
        e.time = time::OffsetDateTime::now_utc();
        e.duration_ms = Some(self.started.elapsed().as_secs_f64() * 1000.0);
        e.confirmed_by = self.confirmed();
        if intent_asked && !had_intent {
            // Cut off while its intent was being recorded: Odoo was never called, and the
            // intent, if it is committed later, is closed by this.
            e.kind = kind::WRITE_OUTCOME;
            e.decision = Some(crate::audit::Decision::Allow);
            e.outcome = Some(match how {
                CutOff::Timeout => Outcome::Timeout,
                CutOff::Cancelled => Outcome::Cancelled,
            });
            e.reason = Some(format!(
                "the call was cut off ({}) while its intent was being recorded: nothing was sent to Odoo",
                how.as_str()
            ));
        } else if had_intent {
            e.kind = kind::WRITE_OUTCOME;
            e.decision = Some(crate::audit::Decision::Allow);
            e.outcome = Some(crate::audit::Outcome::Unknown);
            e.reason = Some(format!(
                "the call was cut off ({}) after its intent: whether Odoo made the change is unknown",
                how.as_str()
            ));
        } else {
            e.kind = kind::TOOL_CALL;
            e.outcome = Some(match how {
                CutOff::Timeout => Outcome::Timeout,
                CutOff::Cancelled => Outcome::Cancelled,
            });
            e.reason = Some(match how {
                CutOff::Timeout => "the call did not finish within the request timeout and was stopped; nothing was written".into(),
                CutOff::Cancelled => "the client cancelled the call (or went away) before it finished; nothing was written".into(),
            });
        }
        crate::metrics::tool_call(
            e.tool.as_deref().unwrap_or(""),
            e.model.as_deref().unwrap_or(""),
            how.as_str(),
        );
        self.log.record_nowait(e);
    }
}

/// Turns the arguments as sent into what the trail may keep.
pub type Redactor = Box<dyn Fn(&Value) -> Value + Send + Sync>;

/// The operation a tool performs, as the trail names it.
fn operation(tool: &str, args: &Map<String, Value>) -> Option<String> {
    Some(match tool {
        "search_records" | "read_group" | "get_fields" => "read".to_string(),
        "create_records" => "create".to_string(),
        "update_records" => "update".to_string(),
        "delete_records" => "delete".to_string(),
        "call_method" => format!(
            "method:{}",
            args.get("method").and_then(Value::as_str).unwrap_or("")
        ),
        _ => return None,
    })
}

impl CallAudit {
    /// `base` carries the request's identity (request id, key, profile, client, protocol);
    /// `redactor` removes what the policy hides (those values are never stored). `read`: the
    /// tool only reads (no intent, no confirmation, so no call id to link records by; a random id
    /// would also cost a random insert into its index for every read).
    pub fn new(
        log: Arc<AuditLog>,
        mut base: Event,
        tool: &str,
        read: bool,
        args: &Value,
        redactor: Redactor,
    ) -> Self {
        let map = args.as_object().cloned().unwrap_or_default();
        base.tool = Some(tool.to_string());
        // Indexed columns take validated names only (the arguments are not validated yet).
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        };
        base.model = map
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| name_ok(m))
            .map(str::to_string);
        base.operation = operation(tool, &map).filter(|o| name_ok(o.trim_start_matches("method:")));
        base.record_ids = map
            .get("ids")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        // One call id links a write's intent, confirmation steps and outcome.
        if !read {
            base.call_id = Some(hex::encode(rand::random::<[u8; 16]>()));
        }
        Self {
            log,
            base,
            raw: args.clone(),
            redactor,
            arguments: std::sync::OnceLock::new(),
            started: Instant::now(),
            intent: Mutex::new(None),
            confirmed_by: Mutex::new(None),
            cut_off: Mutex::new(None),
            finished: std::sync::atomic::AtomicBool::new(false),
            intent_asked: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the write's intent is committed (Odoo may be acting on it).
    pub fn has_intent(&self) -> bool {
        self.intent.lock().map(|i| i.is_some()).unwrap_or(false)
    }

    /// Says how the call is being cut off, for the record its end leaves.
    pub fn cut_off(&self, how: CutOff) {
        if let Ok(mut c) = self.cut_off.lock() {
            c.get_or_insert(how);
        }
    }

    /// The arguments as the trail keeps them (redacted).
    pub fn arguments(&self) -> &Value {
        self.arguments.get_or_init(|| (self.redactor)(&self.raw))
    }

    /// A record of this call, arguments included.
    fn event(&self) -> Event {
        let mut e = self.base.clone();
        e.arguments = Some(self.arguments().clone());
        e
    }

    /// Who confirmed the write (the intent and outcome carry it).
    pub fn set_confirmed_by(&self, by: Option<String>) {
        if let Ok(mut c) = self.confirmed_by.lock() {
            *c = by;
        }
    }

    fn confirmed(&self) -> Option<String> {
        self.confirmed_by.lock().ok().and_then(|c| c.clone())
    }

    /// A confirmation step (asked, answered, approval requested or refused): queued.
    pub async fn step(&self, what: crate::audit::Kind, reason: &str) {
        let mut e = self.event();
        e.kind = what;
        e.time = time::OffsetDateTime::now_utc();
        e.reason = Some(reason.to_string());
        e.confirmed_by = self.confirmed();
        if let Err(err) = self.log.record(e).await {
            tracing::error!(error = %err, "the audit trail did not take a confirmation step");
        }
    }

    /// Commits the intent of a write before Odoo is called. An error means the write must not
    /// happen (fail closed).
    pub async fn write_intent(&self) -> Result<(), AuditError> {
        let mut e = self.event();
        e.kind = kind::WRITE_INTENT;
        e.time = time::OffsetDateTime::now_utc();
        e.decision = Some(crate::audit::Decision::Allow);
        e.outcome = Some(crate::audit::Outcome::Pending);
        e.confirmed_by = self.confirmed();
        self.intent_asked
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let seq = self.log.record_intent(e).await?;
        if let Ok(mut i) = self.intent.lock() {
            *i = Some(seq);
        }
        Ok(())
    }

    /// Records how the call ended. Writes wait for the commit; reads are queued. Err: the record
    /// could not be taken (the caller fails the call rather than answer unrecorded).
    pub async fn finish(&self, tool_kind: ToolKind, out: &ToolResult) -> Result<(), AuditError> {
        let had_intent = self.intent.lock().map(|i| i.is_some()).unwrap_or(false);
        self.finished
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let mut e = self.event();
        e.time = time::OffsetDateTime::now_utc();
        let intent_refused =
            !had_intent && self.intent_asked.load(std::sync::atomic::Ordering::SeqCst);
        // An intent the trail did not take in time may be committed later: this outcome closes
        // it, so that `audit verify` does not name a write that was never sent.
        e.kind = if had_intent || intent_refused {
            kind::WRITE_OUTCOME
        } else {
            kind::TOOL_CALL
        };
        let (decision, mut outcome, reason, class) = audit_terms(out);
        if outcome == Outcome::Unknown && !had_intent {
            // A read that timed out changed nothing.
            outcome = Outcome::Error;
        }
        e.decision = Some(decision);
        e.outcome = Some(outcome);
        e.reason = reason;
        e.odoo_error_class = class;
        e.confirmed_by = self.confirmed();
        e.duration_ms = Some(self.started.elapsed().as_secs_f64() * 1000.0);
        if let Ok(v) = out {
            if e.record_ids.is_empty() {
                if let Some(ids) = v.get("ids").and_then(Value::as_array) {
                    e.record_ids = ids.iter().filter_map(Value::as_i64).collect();
                }
            }
        }
        crate::metrics::tool_call(
            e.tool.as_deref().unwrap_or(""),
            e.model.as_deref().unwrap_or(""),
            decision.as_str(),
        );
        // One line per tool call: never arguments or values.
        tracing::info!(
            target: "odoo_warden::request",
            request_id = e.request_id.as_deref().unwrap_or("-"),
            key.id = e.key_id.as_deref().unwrap_or("-"),
            tool = e.tool.as_deref().unwrap_or("-"),
            model = e.model.as_deref().unwrap_or("-"),
            decision = decision.as_str(),
            outcome = outcome.as_str(),
            duration_ms = e.duration_ms.unwrap_or_default(),
            "tool call"
        );
        if tool_kind == ToolKind::Read {
            self.log.record(e).await.map(|_| ())
        } else if intent_refused {
            // Nothing was done; the answer says so without waiting on the failing trail again.
            self.log.queue(e).await
        } else {
            self.log.record_durable(e).await.map(|_| ())
        }
    }
}
