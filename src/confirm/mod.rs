//! Human confirmation of writes: the preview a person judges, the digest an approval is bound
//! to, and the integrity-protected state of multi-round-trip requests (MRTR, 2026-07-28).

pub mod state;

use serde_json::{Map, Value, json};

/// How a write whose rule says `confirm = "user"` proceeds with a client that cannot ask its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WithoutElicitation {
    /// Escalate to an approver (four eyes): never a silent yes.
    #[default]
    Approver,
    /// Refuse the write.
    Refuse,
}

/// The canonical payload of a write: the tool and its arguments without `approval_id`, bound to
/// the key that asked. An approval is valid only for exactly this payload.
pub fn payload(tool: &str, args: &Map<String, Value>, key_id: &str) -> Value {
    let mut a = args.clone();
    a.remove("approval_id");
    json!({"tool": tool, "arguments": a, "key_id": key_id})
}

/// SHA-256 of a payload's canonical form (object keys sorted), hex.
pub fn payload_hash(payload: &Value) -> String {
    state::digest(payload)
}

/// What a person is shown before a write: model, operation, the records by display name, the
/// values, how many records.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    pub model: String,
    pub operation: String,
    /// Display names of the records touched (existing records; empty for a create).
    pub records: Vec<String>,
    pub count: usize,
    /// The values written (or, for a method, its arguments).
    pub values: Option<Value>,
}

impl Preview {
    /// One paragraph a person can judge.
    pub fn text(&self) -> String {
        let mut s = format!("{} {} {} record(s)", self.operation, self.count, self.model);
        if !self.records.is_empty() {
            let shown: Vec<&str> = self.records.iter().take(10).map(String::as_str).collect();
            s.push_str(&format!(": {}", shown.join(", ")));
            if self.records.len() > 10 {
                s.push_str(&format!(" and {} more", self.records.len() - 10));
            }
        }
        if let Some(v) = &self.values {
            let mut text = v.to_string();
            if text.len() > 800 {
                let mut end = 800;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
                text.push('…');
            }
            s.push_str(&format!("\nvalues: {text}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_ignores_approval_id_but_binds_everything_else() {
        let a = json!({"model": "res.partner", "ids": [1], "values": {"name": "x"}, "approval_id": "A"});
        let b = json!({"values": {"name": "x"}, "ids": [1], "model": "res.partner"});
        let h = |v: &Value, k: &str| {
            payload_hash(&payload("update_records", v.as_object().unwrap(), k))
        };
        assert_eq!(h(&a, "k1"), h(&b, "k1"));
        assert_ne!(h(&a, "k1"), h(&a, "k2"));
        assert_ne!(
            h(&a, "k1"),
            h(
                &json!({"model": "res.partner", "ids": [2], "values": {"name": "x"}}),
                "k1"
            )
        );
        assert_ne!(
            payload_hash(&payload("update_records", b.as_object().unwrap(), "k1")),
            payload_hash(&payload("delete_records", b.as_object().unwrap(), "k1"))
        );
    }

    #[test]
    fn preview_text() {
        let p = Preview {
            model: "res.partner".into(),
            operation: "update".into(),
            records: vec!["Deco Addict".into(), "Ready Mat".into()],
            count: 2,
            values: Some(json!({"phone": "+1 555"})),
        };
        assert_eq!(
            p.text(),
            "update 2 res.partner record(s): Deco Addict, Ready Mat\nvalues: {\"phone\":\"+1 555\"}"
        );
    }
}
