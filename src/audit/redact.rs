//! What arguments look like in the audit trail: hidden fields' values and secret-looking values
//! removed, large values cut with their size noted.

use serde_json::{Map, Value, json};

const MAX_STRING: usize = 1000;
const MAX_ITEMS: usize = 100;
const MAX_DEPTH: usize = 12;

/// Keys whose values are never stored, whatever the model.
fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "authorization",
        "credential",
        "private_key",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// Which fields lose their values in the trail.
pub struct Hidden<'a> {
    /// The hidden fields of the call's model: the keys of its records and values, and the first
    /// hop of domain paths.
    pub model: &'a dyn Fn(&str) -> bool,
    /// Hidden on any model of the policy: keys inside field values (x2many commands reach other
    /// models) and later hops of domain paths (`partner_id.vat`), whose models are not known here.
    pub any: &'a dyn Fn(&str) -> bool,
}

/// Redacts tool arguments: hidden fields ([`Hidden`]) and secret-looking keys lose their values;
/// domain leaves on hidden fields lose their value; long strings and lists are cut.
pub fn redact(args: &Value, hidden: &Hidden<'_>) -> Value {
    walk(args, hidden, 0, false)
}

/// `inside`: `v` is (part of) a field's value, where keys may be fields of other models.
fn walk(v: &Value, hidden: &Hidden<'_>, depth: usize, inside: bool) -> Value {
    if depth > MAX_DEPTH {
        return json!("[truncated: nested too deep]");
    }
    let key_hidden = |k: &str| {
        if inside {
            (hidden.any)(k)
        } else {
            (hidden.model)(k)
        }
    };
    match v {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, x) in map {
                let value = if secret_key(k) {
                    json!("[redacted]")
                } else if key_hidden(k) {
                    json!("[hidden]")
                } else {
                    // The arguments object's own keys (records, values, domain) are not fields;
                    // below them, every object key is a field and its value may name others.
                    walk(x, hidden, depth + 1, inside || depth > 0)
                };
                out.insert(k.clone(), value);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            // A domain leaf [field, operator, value] on a hidden field keeps its shape, not its value.
            if let [Value::String(field), Value::String(op), _] = items.as_slice() {
                let mut hops = field.split('.');
                let first = hops.next().unwrap_or("");
                if key_hidden(first) || hops.any(|h| (hidden.any)(h)) {
                    return json!([field, op, "[hidden]"]);
                }
            }
            let mut out: Vec<Value> = items
                .iter()
                .take(MAX_ITEMS)
                .map(|x| walk(x, hidden, depth + 1, inside))
                .collect();
            if items.len() > MAX_ITEMS {
                out.push(json!(format!(
                    "[truncated: {} more items]",
                    items.len() - MAX_ITEMS
                )));
            }
            Value::Array(out)
        }
        Value::String(s) if s.len() > MAX_STRING => {
            let mut end = MAX_STRING;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            json!(format!("{}…[truncated: {} bytes]", &s[..end], s.len()))
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_secret_and_large_values_are_removed() {
        // The call's model hides vat; another model of the policy hides ref.
        let model = |f: &str| f == "vat";
        let any = |f: &str| f == "vat" || f == "ref";
        let hidden = Hidden {
            model: &model,
            any: &any,
        };
        let args = json!({
            "model": "res.partner",
            "records": [{"name": "Acme", "vat": "BE0477472701", "ref": "R-TOP",
                         "child_ids": [[0, 0, {"vat": "BE1", "ref": "R-NESTED"}]]}],
            "domain": ["|", ["vat", "=", "BE0477472701"], ["partner_id.vat", "ilike", "BE"], ["user_id.ref", "=", "R-PATH"]],
            "values": {"api_key": "abc", "Password": "x", "comment": "y".repeat(5000)},
            "ids": (0..150).collect::<Vec<i32>>(),
        });
        let r = redact(&args, &hidden);
        let text = r.to_string();
        assert!(
            !text.contains("BE0477472701") && !text.contains("\"BE1\""),
            "{text}"
        );
        assert!(!text.contains("\"abc\""));
        assert_eq!(r["records"][0]["vat"], "[hidden]");
        assert_eq!(r["domain"][1], json!(["vat", "=", "[hidden]"]));
        assert_eq!(
            r["domain"][2],
            json!(["partner_id.vat", "ilike", "[hidden]"])
        );
        assert_eq!(r["values"]["Password"], "[redacted]");
        assert!(
            r["values"]["comment"]
                .as_str()
                .unwrap()
                .ends_with("[truncated: 5000 bytes]")
        );
        assert_eq!(r["ids"].as_array().unwrap().len(), 101);
        assert_eq!(r["records"][0]["name"], "Acme");
        // Hidden on another model: kept on the call's own model, removed where the field may
        // belong to that other model (nested commands, later path hops).
        assert_eq!(r["records"][0]["ref"], "R-TOP");
        assert!(
            !text.contains("R-NESTED") && !text.contains("R-PATH"),
            "{text}"
        );
        assert_eq!(r["domain"][3], json!(["user_id.ref", "=", "[hidden]"]));
    }
}
