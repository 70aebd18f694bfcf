//! The audit trail: one record per request (and two per write: the intent, committed before Odoo
//! is called, and the outcome), chained by SHA-256 so that any change, removal, insertion or
//! reordering is found by [`verify`].
//!
//! Records go through one batching writer per instance ([`AuditLog`]): reads are queued (bounded;
//! a full queue makes the request wait, then fail — records are never dropped); write intents and
//! outcomes wait for their commit, and a store that cannot take them refuses the write.

pub mod dashboard;
pub mod export;
mod handle;
mod redact;
mod verify;
mod writer;

pub use handle::{AuditHandle, Draft};
pub use redact::{Hidden, redact};
pub use verify::{KeptHead, VerifyReport, verify};
pub use writer::{AuditError, AuditLog, TrailStatus};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// A stable word of the trail (a kind, a decision, an outcome).
pub trait Word: Copy + 'static {
    /// Every value.
    fn all() -> &'static [Self];
    fn word(self) -> &'static str;
}

/// Stable words of the trail, as enums: each serializes (and is stored) as its `as_str` word.
macro_rules! words {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $word)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }

            /// The value a word names (`None`: not one of [`Self::ALL`]).
            pub fn parse(word: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == word)
            }
        }

        impl Word for $name {
            fn all() -> &'static [Self] {
                Self::ALL
            }
            fn word(self) -> &'static str {
                self.as_str()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words! {
    /// What was decided about a request or a call.
    Decision {
        Allow = "allow",
        /// The policy refused it.
        Deny = "deny",
        /// Arguments refused before any decision.
        Invalid = "invalid",
        /// Refused by the HTTP stack (key, scope, limit, origin, kill switch, malformed).
        Refuse = "refuse",
        /// Waiting on a person (an approver, or the user behind the client).
        Pending = "pending",
    }
}

words! {
    /// How a request or a call ended.
    Outcome {
        Ok = "ok",
        /// Odoo failed.
        Error = "error",
        Refused = "refused",
        /// A write intent, before Odoo is called.
        Pending = "pending",
        /// Odoo may or may not have carried a write out.
        Unknown = "unknown",
        PendingApproval = "pending_approval",
        InputRequired = "input_required",
        /// Stopped at the request timeout.
        Timeout = "timeout",
        /// The client cancelled it or went away.
        Cancelled = "cancelled",
    }
}

words! {
    /// What happened. Stable words: auditors filter on them.
    Kind {
        Request = "request",
        ToolCall = "tool_call",
        WriteIntent = "write_intent",
        WriteOutcome = "write_outcome",
        AuthFailure = "auth_failure",
        OriginRefused = "origin_refused",
        Malformed = "malformed",
        RateLimited = "rate_limited",
        KillSwitchRefused = "kill_switch_refused",
        PolicyReload = "policy_reload",
        KeyChange = "key_change",
        KillSwitchChange = "kill_switch_change",
        Admin = "admin",
        /// A person was asked to confirm a write, or answered.
        Confirmation = "confirmation",
        /// An approval was requested, used, or refused.
        Approval = "approval",
        /// An approver approved or denied a request.
        ApprovalDecision = "approval_decision",
        /// A person's sign-in (OAuth authorization page): allowed, denied, or refused.
        OauthSignIn = "oauth_sign_in",
        /// Tokens issued, refreshed or revoked at the OAuth token and revocation endpoints.
        OauthToken = "oauth_token",
        /// An OAuth client registered (RFC 7591), or refused.
        OauthClient = "oauth_client",
        /// A console sign-in or sign-out, or a refused sign-in.
        ConsoleSignIn = "console_sign_in",
        /// Stands in for a record the store refused (the trail stays gapless).
        AuditError = "audit_error",
        /// The listeners' TLS certificate read again (SIGHUP), or the attempt refused.
        TlsReload = "tls_reload",
    }
}

/// The kinds by their old constant names.
pub mod kind {
    use super::Kind;
    pub const REQUEST: Kind = Kind::Request;
    pub const TOOL_CALL: Kind = Kind::ToolCall;
    pub const WRITE_INTENT: Kind = Kind::WriteIntent;
    pub const WRITE_OUTCOME: Kind = Kind::WriteOutcome;
    pub const AUTH_FAILURE: Kind = Kind::AuthFailure;
    pub const ORIGIN_REFUSED: Kind = Kind::OriginRefused;
    pub const MALFORMED: Kind = Kind::Malformed;
    pub const RATE_LIMITED: Kind = Kind::RateLimited;
    pub const KILL_SWITCH_REFUSED: Kind = Kind::KillSwitchRefused;
    pub const POLICY_RELOAD: Kind = Kind::PolicyReload;
    pub const KEY_CHANGE: Kind = Kind::KeyChange;
    pub const KILL_SWITCH_CHANGE: Kind = Kind::KillSwitchChange;
    pub const ADMIN: Kind = Kind::Admin;
    pub const CONFIRMATION: Kind = Kind::Confirmation;
    pub const APPROVAL: Kind = Kind::Approval;
    pub const APPROVAL_DECISION: Kind = Kind::ApprovalDecision;
    pub const OAUTH_SIGN_IN: Kind = Kind::OauthSignIn;
    pub const OAUTH_TOKEN: Kind = Kind::OauthToken;
    pub const OAUTH_CLIENT: Kind = Kind::OauthClient;
    pub const CONSOLE_SIGN_IN: Kind = Kind::ConsoleSignIn;
    pub const TLS_RELOAD: Kind = Kind::TlsReload;
}

/// One audit record. Field order is the serialization order; every field is always present
/// (null when unknown) so the shape is the same for every record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub kind: Kind,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub instance: String,
    pub request_id: Option<String>,
    pub key_id: Option<String>,
    pub key_name: Option<String>,
    pub profile: Option<String>,
    pub odoo_uid: Option<i64>,
    /// The person (their Odoo login) when the request came with an OAuth token; `odoo_uid` is
    /// then theirs. Absent from records written before people could sign in.
    #[serde(default)]
    pub person: Option<String>,
    /// The OAuth client the person signed in with (its client id).
    #[serde(default)]
    pub oauth_client: Option<String>,
    pub client_ip: Option<String>,
    pub mcp_method: Option<String>,
    pub protocol_version: Option<String>,
    pub tool: Option<String>,
    pub model: Option<String>,
    pub operation: Option<String>,
    pub record_ids: Vec<i64>,
    /// Redacted ([`redact`]): hidden fields and secret-looking values removed, large values cut.
    pub arguments: Option<Value>,
    /// `allow`, `deny`, `invalid` (arguments refused before any decision), `refuse` (stack).
    pub decision: Option<Decision>,
    pub reason: Option<String>,
    pub confirmed_by: Option<String>,
    /// `ok`, `error` (Odoo failed), `refused`, `pending` (an intent), `unknown`.
    pub outcome: Option<Outcome>,
    pub odoo_error_class: Option<String>,
    pub http_status: Option<u16>,
    pub duration_ms: Option<f64>,
    /// Links a write's intent, confirmation steps and outcome; null for read tools.
    pub call_id: Option<String>,
}

impl Event {
    pub fn new(kind: Kind, instance: &str) -> Self {
        Self {
            kind,
            time: OffsetDateTime::now_utc(),
            instance: instance.to_string(),
            request_id: None,
            key_id: None,
            key_name: None,
            profile: None,
            odoo_uid: None,
            person: None,
            oauth_client: None,
            client_ip: None,
            mcp_method: None,
            protocol_version: None,
            tool: None,
            model: None,
            operation: None,
            record_ids: Vec::new(),
            arguments: None,
            decision: None,
            reason: None,
            confirmed_by: None,
            outcome: None,
            odoo_error_class: None,
            http_status: None,
            duration_ms: None,
            call_id: None,
        }
    }

    /// The JSON the store keeps (and the hash covers).
    pub fn to_record(&self) -> Value {
        let mut e = self.clone();
        // Microseconds, as the store keeps times.
        e.time = crate::store::stored_time(e.time);
        serde_json::to_value(&e).unwrap_or(Value::Null)
    }

    pub fn to_insert(&self) -> crate::store::AuditInsert {
        // Indexed columns: no NUL byte, at most 200 bytes (the record itself keeps everything,
        // JSON-escaped).
        let col = |v: &Option<String>| {
            v.as_ref().map(|s| {
                let mut s: String = s.chars().filter(|c| *c != '\0').collect();
                if s.len() > 200 {
                    let mut end = 200;
                    while !s.is_char_boundary(end) {
                        end -= 1;
                    }
                    s.truncate(end);
                }
                s
            })
        };
        crate::store::AuditInsert {
            time: crate::store::stored_time(self.time),
            kind: self.kind.as_str().to_string(),
            key_id: col(&self.key_id),
            profile: col(&self.profile),
            person: col(&self.person),
            model: col(&self.model),
            operation: col(&self.operation),
            decision: self.decision.map(|d| d.as_str().to_string()),
            outcome: self.outcome.map(|o| o.as_str().to_string()),
            call_id: col(&self.call_id),
            record_ids: self.record_ids.clone(),
            record: self.to_record(),
        }
    }
}

/// Records one event straight into the store (commands that run without a server: `keys`,
/// `init`). Returns its sequence number.
pub async fn record_direct(
    store: &crate::store::Store,
    event: &Event,
) -> Result<i64, crate::store::StoreError> {
    let seqs = store.append_audit(&[event.to_insert()], &chain).await?;
    seqs.first()
        .copied()
        .ok_or_else(|| crate::store::StoreError::Query("no sequence number".into()))
}

/// The name commands running without a server use in audit records.
pub fn cli_instance() -> String {
    format!("cli:{}", std::process::id())
}

/// The chain: `hash = SHA-256(prev_hash "\n" seq "\n" canonical(record))`, hex. Canonical JSON
/// sorts object keys, so the hash does not depend on how the record was serialized.
pub fn chain(prev_hash: &str, seq: i64, record: &Value) -> String {
    let mut buf = Vec::with_capacity(1024);
    buf.extend_from_slice(prev_hash.as_bytes());
    buf.push(b'\n');
    buf.extend_from_slice(seq.to_string().as_bytes());
    buf.push(b'\n');
    canonical(record, &mut buf);
    hex::encode(Sha256::digest(&buf))
}

/// Canonical JSON: compact, object keys in byte order, strings and numbers exactly as serde_json
/// writes them. The chain hashes it; confirmation states and approvals digest it.
pub fn canonical_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    canonical(v, &mut out);
    out
}

fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                scalar(k, out);
                out.push(b':');
                canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(x, out);
            }
            out.push(b']');
        }
        other => scalar(other, out),
    }
}

fn scalar<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // Writing a string, number, bool or null into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chain_depends_on_everything_but_key_order() {
        let a = json!({"b": 1, "a": [1, {"y": 2, "x": "é"}]});
        let b = json!({"a": [1, {"x": "é", "y": 2}], "b": 1});
        assert_eq!(chain("p", 1, &a), chain("p", 1, &b));
        assert_ne!(chain("p", 1, &a), chain("q", 1, &a));
        assert_ne!(chain("p", 1, &a), chain("p", 2, &a));
        assert_ne!(
            chain("p", 1, &a),
            chain("p", 1, &json!({"b": 2, "a": [1, {"y": 2, "x": "é"}]}))
        );
    }

    #[test]
    fn chain_is_stable_across_releases() {
        // Trails written by earlier versions must keep verifying: this hash was computed by the
        // first implementation of the chain and may never change.
        let v = json!({"kind": "tool_call", "z": null,
            "a": [1, -2, 3.5, 1e300, true, false, null, "x\"\\\n\u{1}é😀"],
            "nested": {"b": {"d": [], "c": {}}, "a": "</script>"}, "é": 0, "A": "\u{2028}"});
        assert_eq!(
            chain("prev", 42, &v),
            "3bee79b4560b4fcb9c57428e6f73ccb121419af05a10e131eb898afc89734449"
        );
    }

    #[test]
    fn indexed_columns_are_bounded_but_the_record_keeps_everything() {
        let mut e = Event::new(kind::TOOL_CALL, "i1");
        let long = format!("a\0b{}", "é".repeat(300));
        e.model = Some(long.clone());
        let row = e.to_insert();
        let model = row.model.unwrap_or_default();
        assert!(model.len() <= 200, "{}", model.len());
        assert!(model.starts_with("abé"), "{model}");
        assert!(!model.contains('\0'));
        assert_eq!(row.record["model"], json!(long));
    }

    #[test]
    fn every_field_is_always_present() {
        let e = Event::new(kind::REQUEST, "i1");
        let r = e.to_record();
        for k in [
            "kind",
            "time",
            "instance",
            "request_id",
            "key_id",
            "record_ids",
            "decision",
            "outcome",
            "call_id",
        ] {
            assert!(r.get(k).is_some(), "{k}");
        }
    }
}
