//! The call contract: what a tool call may use besides its arguments ([`CallContext`]), and the
//! way back to the client during the call ([`ClientChannel`]). Tools depend on this, not on the
//! transport.

use super::session::Session;
use crate::confirm::ConfirmSettings;
use crate::confirm::state::Sealer;
use crate::killswitch::KillSwitch;
use crate::mcp::tools::audit::CallAudit;
use crate::store::Store;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A way to talk to the client during a tool call: notifications always, requests only on a
/// handshake session that streams its answer (SSE).
#[derive(Clone)]
pub struct ClientChannel {
    pub(super) tx: mpsc::Sender<Value>,
    pub(super) session: Option<Arc<Session>>,
    pub(super) timeout: Duration,
}

impl ClientChannel {
    /// Sends a notification on the call's stream (progress, log messages).
    pub async fn notify(&self, method: &str, params: Value) {
        let _ = self
            .tx
            .send(json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .await;
    }

    /// Sends a request to the client and waits for its answer (the `result`).
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, AskError> {
        self.request_with_timeout(method, params, self.timeout)
            .await
    }

    /// As [`request`](Self::request), waiting at most `timeout`.
    pub async fn request_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, AskError> {
        let Some(session) = &self.session else {
            return Err(AskError::CannotAsk);
        };
        let (id, rx) = session.expect_answer();
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        if self.tx.send(message).await.is_err() {
            session.forget_answer(&id);
            return Err(AskError::StreamClosed);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(mut answer)) => match answer.get_mut("result") {
                Some(result) => Ok(result.take()),
                None => Err(AskError::Refused {
                    method: method.to_string(),
                    error: answer.get("error").cloned().unwrap_or(Value::Null),
                }),
            },
            Ok(Err(_)) => Err(AskError::SessionEnded),
            Err(_) => {
                session.forget_answer(&id);
                Err(AskError::Timeout {
                    method: method.to_string(),
                    secs: timeout.as_secs(),
                })
            }
        }
    }
}

/// Why a question to the client got no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum AskError {
    /// No handshake session streaming this call: nothing can be asked.
    CannotAsk,
    StreamClosed,
    /// The client answered with a JSON-RPC error.
    Refused {
        method: String,
        error: Value,
    },
    SessionEnded,
    Timeout {
        method: String,
        secs: u64,
    },
}

impl std::fmt::Display for AskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AskError::CannotAsk => write!(f, "this client cannot be asked anything during a call"),
            AskError::StreamClosed => write!(f, "the client closed the call's stream"),
            AskError::Refused { method, error } => {
                write!(f, "the client answered {method} with an error: {error}")
            }
            AskError::SessionEnded => write!(f, "the session ended before the client answered"),
            AskError::Timeout { method, secs } => {
                write!(f, "the client did not answer {method} within {secs} s")
            }
        }
    }
}

impl std::error::Error for AskError {}

/// What a tool call may use besides its arguments.
#[derive(Clone)]
pub struct CallContext {
    pub progress_token: Option<Value>,
    pub channel: Option<ClientChannel>,
    pub session: Option<Arc<Session>>,
    /// Capabilities the client declared (in `initialize`, or in this request's `_meta`).
    pub client_capabilities: Value,
    pub stateless: bool,
    /// The caller's key id (empty before keys exist), for binding state to it.
    pub principal: String,
    /// 2026-07-28 multi-round-trip requests: the client's answers and the state it echoes.
    pub input_responses: Option<Value>,
    pub request_state: Option<String>,
    /// 2026-07-28: `_meta["io.modelcontextprotocol/logLevel"]`.
    pub log_level: Option<String>,
    pub sealer: Arc<Sealer>,
    /// The call's audit record (absent only where no audit trail is configured, in unit tests).
    pub audit: Arc<CallAudit>,
    pub confirm: Arc<ConfirmSettings>,
    /// Where approvals are kept.
    pub store: Arc<Store>,
    /// Checked again just before a write (a confirmation may have taken minutes).
    pub kill: Arc<KillSwitch>,
}

impl CallContext {
    /// Whether the client declared a capability (`"elicitation"`, `"sampling"`, `"roots"`).
    pub fn client_supports(&self, capability: &str) -> bool {
        self.client_capabilities
            .get(capability)
            .is_some_and(|c| !c.is_null())
    }
}
