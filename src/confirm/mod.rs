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

/// Longest value shown in full in a preview; longer ones are cut, each on its own, with their
/// size noted, so that no value can push another out of sight.
const SHOWN_BYTES: usize = 200;
/// Longest current value shown next to a new one.
const SHOWN_CURRENT_BYTES: usize = 80;
/// Records whose current value of a field is shown (the others are counted).
const SHOWN_RECORDS: usize = 5;

/// One field a write changes: its new value and, for an update, its current value in each record
/// (`(record label, value)`), as read from Odoo by the profile's user where the policy lets the
/// key read it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FieldChange {
    pub field: String,
    pub new: Value,
    pub current: Vec<(String, Value)>,
}

/// The fields of one new record, or of an update, or of a method's arguments, sorted by name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Changes {
    /// `record 2 of 3` for a create of several, `arguments` for a method; none for an update.
    pub title: Option<String>,
    pub fields: Vec<FieldChange>,
}

impl Changes {
    /// Every field of `values`, sorted by name; `current(field)` gives its current values.
    pub fn of(
        title: Option<String>,
        values: &Map<String, Value>,
        current: impl Fn(&str) -> Vec<(String, Value)>,
    ) -> Changes {
        let mut fields: Vec<FieldChange> = values
            .iter()
            .map(|(field, new)| FieldChange {
                field: field.clone(),
                new: new.clone(),
                current: current(field),
            })
            .collect();
        fields.sort_by(|a, b| a.field.cmp(&b.field));
        Changes { title, fields }
    }
}

/// What a person is shown before a write (and what an approver sees): model, operation, the
/// records by display name, and every field that changes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    pub model: String,
    pub operation: String,
    /// Display names of the records touched (existing records; empty for a create).
    pub records: Vec<String>,
    pub count: usize,
    pub changes: Vec<Changes>,
}

/// A value as a preview shows it: JSON, cut at `max` bytes with its size noted.
fn shown(v: &Value, max: usize) -> String {
    let text = v.to_string();
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [cut: {} bytes in all]", &text[..end], text.len())
}

impl Preview {
    /// The preview as text a person can judge: one line per field, in a fixed order.
    pub fn text(&self) -> String {
        let plural = if self.count == 1 { "" } else { "s" };
        let mut s = format!(
            "{} {} {} record{plural}",
            self.operation, self.count, self.model
        );
        if !self.records.is_empty() {
            let shown: Vec<&str> = self.records.iter().take(10).map(String::as_str).collect();
            s.push_str(&format!(": {}", shown.join(", ")));
            if self.records.len() > 10 {
                s.push_str(&format!(" and {} more", self.records.len() - 10));
            }
        }
        for changes in &self.changes {
            s.push('\n');
            let n = changes.fields.len();
            let what = if n == 1 { "field" } else { "fields" };
            match &changes.title {
                Some(t) => s.push_str(&format!("{t} ({n} {what}):")),
                None => s.push_str(&format!("{n} {what} change:")),
            }
            for f in &changes.fields {
                s.push_str(&format!("\n  {}: {}", f.field, shown(&f.new, SHOWN_BYTES)));
                if !f.current.is_empty() {
                    let was: Vec<String> = f
                        .current
                        .iter()
                        .take(SHOWN_RECORDS)
                        .map(|(record, v)| format!("{record}: {}", shown(v, SHOWN_CURRENT_BYTES)))
                        .collect();
                    s.push_str(&format!(" (now: {}", was.join("; ")));
                    if f.current.len() > SHOWN_RECORDS {
                        s.push_str(&format!(
                            "; and {} more records",
                            f.current.len() - SHOWN_RECORDS
                        ));
                    }
                    s.push(')');
                }
            }
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
            records: vec!["Deco Addict (#10)".into(), "Ready Mat (#12)".into()],
            count: 2,
            changes: vec![Changes::of(
                None,
                json!({"phone": "+1 555", "comment": "call"})
                    .as_object()
                    .unwrap(),
                |f| {
                    if f == "phone" {
                        vec![
                            ("Deco Addict".into(), json!(false)),
                            ("Ready Mat".into(), json!("+1 444")),
                        ]
                    } else {
                        Vec::new()
                    }
                },
            )],
        };
        assert_eq!(
            p.text(),
            "update 2 res.partner records: Deco Addict (#10), Ready Mat (#12)\n2 fields change:\n  comment: \"call\"\n  phone: \"+1 555\" (now: Deco Addict: false; Ready Mat: \"+1 444\")"
        );
    }

    /// A padded value cannot hide another: every field is named, each value cut on its own.
    #[test]
    fn no_value_pushes_another_out_of_sight() {
        let values =
            json!({"comment": "x".repeat(5000), "name": "Evil Corp", "a_first": "y".repeat(900)});
        let p = Preview {
            model: "res.partner".into(),
            operation: "update".into(),
            records: vec![],
            count: 1,
            changes: vec![Changes::of(None, values.as_object().unwrap(), |_| {
                Vec::new()
            })],
        };
        let text = p.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[2].starts_with("  a_first: \"yyy")
                && lines[2].ends_with("[cut: 902 bytes in all]")
        );
        assert!(
            lines[3].starts_with("  comment: \"xxx")
                && lines[3].ends_with("[cut: 5002 bytes in all]")
        );
        assert_eq!(lines[4], "  name: \"Evil Corp\"");
        assert!(lines.iter().all(|l| l.len() < 300));
    }
}

/// How confirmation behaves (`[confirm]` in the config).
#[derive(Debug, Clone)]
pub struct ConfirmSettings {
    /// No answer to an elicitation within this time is a decline.
    pub elicitation_timeout: std::time::Duration,
    /// How long an approval request stays valid.
    pub approval_ttl: time::Duration,
    /// How long a call waits for an approver's decision (zero: answers `pending_approval` at once).
    pub approval_wait: std::time::Duration,
    pub without_elicitation: WithoutElicitation,
}

impl Default for ConfirmSettings {
    fn default() -> Self {
        Self {
            elicitation_timeout: std::time::Duration::from_secs(120),
            approval_ttl: time::Duration::hours(1),
            approval_wait: std::time::Duration::ZERO,
            without_elicitation: WithoutElicitation::Approver,
        }
    }
}
