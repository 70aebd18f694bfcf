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
    /// The hidden fields of the call's model (named by the policy or derived from such a field):
    /// the keys of its records and values, `default_<field>` context keys, and the first hop of
    /// domain paths.
    pub model: &'a dyn Fn(&str) -> bool,
    /// Hidden on any model of the policy: keys inside field values (x2many commands reach other
    /// models) and later hops of domain paths (`partner_id.vat`), whose models are not known here.
    pub any: &'a dyn Fn(&str) -> bool,
    /// Whether a domain leaf's operand may hold a hidden value although its path is not hidden:
    /// a text operand on a relational field is matched by Odoo's name search against fields the
    /// policy may hide (`["partner_id", "ilike", "<an email>"]`). `(path, operand)`.
    pub search: &'a dyn Fn(&str, &Value) -> bool,
    /// Cut long strings and lists (the trail); a preview cuts each value itself, with its size.
    pub cut: bool,
}

/// Redacts tool arguments: hidden fields ([`Hidden`]) and secret-looking keys lose their values;
/// domain leaves on hidden fields (or searching by name where that could match one) lose their
/// value, malformed ones too; `default_<hidden field>` context keys lose theirs; long strings and
/// lists are cut.
pub fn redact(args: &Value, hidden: &Hidden<'_>) -> Value {
    let Value::Object(map) = args else {
        return walk(args, hidden, 0, false);
    };
    let mut out = Map::new();
    for (k, x) in map {
        let value = if secret_key(k) {
            json!("[redacted]")
        } else {
            match (k.as_str(), x) {
                ("domain", Value::Array(items)) => domain(items, hidden),
                ("context", Value::Object(ctx)) => context(ctx, hidden),
                _ => walk(x, hidden, 1, false),
            }
        };
        out.insert(k.clone(), value);
    }
    Value::Object(out)
}

/// A domain, valid or not: every condition whose first element names a field keeps its shape,
/// its other parts hidden where the field (or the name search it makes) is hidden; anything that
/// is neither an operator nor a condition is not kept at all.
fn domain(items: &[Value], hidden: &Hidden<'_>) -> Value {
    let mut out: Vec<Value> = items
        .iter()
        .take(if hidden.cut { MAX_ITEMS } else { usize::MAX })
        .map(|item| match item {
            Value::String(op) if matches!(op.as_str(), "&" | "|" | "!") => item.clone(),
            Value::Array(parts) => match parts.first() {
                Some(Value::String(path)) => {
                    let path = path.trim();
                    let mut hops = path.split('.');
                    let first = hops.next().unwrap_or("");
                    let operand = parts.get(2).unwrap_or(&Value::Null);
                    let hide = (hidden.model)(first)
                        || hops.any(|h| (hidden.any)(h))
                        || parts.len() != 3
                        || !parts[1].is_string()
                        || (hidden.search)(path, operand);
                    if hide {
                        let mut leaf = vec![parts[0].clone()];
                        leaf.extend(parts.iter().skip(1).map(|p| match p {
                            Value::String(op) if leaf_operator(op) => p.clone(),
                            _ => json!("[hidden]"),
                        }));
                        Value::Array(leaf)
                    } else {
                        walk(item, hidden, 2, false)
                    }
                }
                // Odoo's constant leaves [1, "=", 1] and [0, "=", 1].
                Some(Value::Number(_))
                    if parts.len() == 3 && parts.iter().all(|p| p.is_number() || p == "=") =>
                {
                    item.clone()
                }
                _ => json!("[not a condition]"),
            },
            _ => json!("[not a condition]"),
        })
        .collect();
    if hidden.cut && items.len() > MAX_ITEMS {
        out.push(json!(format!(
            "[truncated: {} more items]",
            items.len() - MAX_ITEMS
        )));
    }
    Value::Array(out)
}

/// An operator of a condition (kept: it says what was asked, never a value).
fn leaf_operator(op: &str) -> bool {
    crate::odoo::domain::OPERATORS.contains(&op.to_ascii_lowercase().as_str())
}

/// A context: `default_<field>` sets that field, so a hidden field's default loses its value.
fn context(ctx: &Map<String, Value>, hidden: &Hidden<'_>) -> Value {
    let mut out = Map::new();
    for (k, x) in ctx {
        let value = if secret_key(k) {
            json!("[redacted]")
        } else if k
            .strip_prefix("default_")
            .is_some_and(|f| (hidden.model)(f))
        {
            json!("[hidden]")
        } else {
            walk(x, hidden, 2, false)
        };
        out.insert(k.clone(), value);
    }
    Value::Object(out)
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
                    // The arguments object's own keys (records, values) are not fields; below
                    // them, every object key is a field and its value may name others.
                    walk(x, hidden, depth + 1, inside || depth > 0)
                };
                out.insert(k.clone(), value);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut out: Vec<Value> = items
                .iter()
                .take(if hidden.cut { MAX_ITEMS } else { usize::MAX })
                .map(|x| walk(x, hidden, depth + 1, inside))
                .collect();
            if hidden.cut && items.len() > MAX_ITEMS {
                out.push(json!(format!(
                    "[truncated: {} more items]",
                    items.len() - MAX_ITEMS
                )));
            }
            Value::Array(out)
        }
        Value::String(s) if hidden.cut && s.len() > MAX_STRING => {
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
        let search = |path: &str, operand: &Value| path == "partner_id" && operand.is_string();
        let hidden = Hidden {
            model: &model,
            any: &any,
            search: &search,
            cut: true,
        };
        let args = json!({
            "model": "res.partner",
            "records": [{"name": "Acme", "vat": "BE0477472701", "ref": "R-TOP",
                         "child_ids": [[0, 0, {"vat": "BE1", "ref": "R-NESTED"}]]}],
            "domain": ["|", ["vat", "=", "BE0477472701"], ["partner_id.vat", "ilike", "BE"], ["user_id.ref", "=", "R-PATH"]],
            "values": {"api_key": "abc", "Password": "x", "comment": "y".repeat(5000)},
            "context": {"default_vat": "BE-DEFAULT", "default_name": "Acme", "lang": "en_US"},
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
        // A default is a value written by another name.
        assert_eq!(r["context"]["default_vat"], "[hidden]");
        assert_eq!(r["context"]["default_name"], "Acme");
        assert_eq!(r["context"]["lang"], "en_US");
        assert!(!text.contains("BE-DEFAULT"), "{text}");
    }

    #[test]
    fn malformed_and_name_search_leaves_lose_their_values() {
        let model = |f: &str| f == "vat";
        let any = |f: &str| f == "vat";
        let search = |path: &str, operand: &Value| {
            path == "partner_id" && (operand.is_string() || operand.is_array())
        };
        let hidden = Hidden {
            model: &model,
            any: &any,
            search: &search,
            cut: true,
        };
        let args = json!({"model": "sale.order", "domain": [
            ["vat", "=", "BE-FOUR", "extra"],
            ["vat", 5, "BE-OPNUM"],
            ["vat ", "=", "BE-SPACE"],
            "BE-BARE",
            ["partner_id", "ilike", "joel@example.com"],
            ["partner_id", "in", ["joel@example.com"]],
            ["partner_id", "=", 7],
            ["name", "ilike", "S0001"],
            [1, "=", 1],
            [{"x": "BE-OBJ"}, "=", 1],
            "|"
        ]});
        let r = redact(&args, &hidden);
        let text = r.to_string();
        for secret in [
            "BE-FOUR", "BE-OPNUM", "BE-SPACE", "BE-BARE", "joel@", "BE-OBJ",
        ] {
            assert!(!text.contains(secret), "{secret}: {text}");
        }
        assert_eq!(r["domain"][0], json!(["vat", "=", "[hidden]", "[hidden]"]));
        assert_eq!(r["domain"][1], json!(["vat", "[hidden]", "[hidden]"]));
        assert_eq!(r["domain"][3], "[not a condition]");
        assert_eq!(r["domain"][4], json!(["partner_id", "ilike", "[hidden]"]));
        assert_eq!(r["domain"][6], json!(["partner_id", "=", 7]));
        assert_eq!(r["domain"][7], json!(["name", "ilike", "S0001"]));
        assert_eq!(r["domain"][8], json!([1, "=", 1]));
        assert_eq!(r["domain"][10], "|");
    }
}
