//! Odoo domains: structural validation before anything reaches Odoo.
//!
//! A domain is a JSON array in Polish notation: `"&"`, `"|"`, `"!"` and leaves
//! `[field_path, operator, value]`. This module checks the shape and operators (so a malformed
//! domain is a precise error here, not a traceback there) and lists the fields it touches.

use serde_json::Value;

/// Operators Odoo 16-20 accept in a leaf.
pub const OPERATORS: [&str; 18] = [
    "=",
    "!=",
    "<>",
    "<",
    ">",
    "<=",
    ">=",
    "=?",
    "in",
    "not in",
    "like",
    "not like",
    "ilike",
    "not ilike",
    "=like",
    "=ilike",
    "child_of",
    "parent_of",
];

/// Checks a domain's structure; on success returns the field paths its leaves name
/// (`partner_id.country_id.code`), in order.
pub fn validate(domain: &Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = domain else {
        return Err("domain must be a list such as [[\"name\", \"ilike\", \"acme\"]]".into());
    };
    if items.len() > 1000 {
        return Err("domain has more than 1000 terms".into());
    }
    // `expected` counts the terms still owed; a domain is a conjunction of complete terms.
    let mut fields = Vec::new();
    let mut owed: i64 = 0;
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(op) if op == "&" || op == "|" => {
                owed += if owed == 0 { 2 } else { 1 };
            }
            Value::String(op) if op == "!" => {
                if owed == 0 {
                    owed = 1;
                }
            }
            Value::String(other) => {
                return Err(format!(
                    "domain term {i}: \"{other}\" is not an operator (\"&\", \"|\", \"!\") nor a condition [field, operator, value]"
                ));
            }
            Value::Array(leaf) => {
                fields.push(check_leaf(i, leaf)?);
                if owed > 0 {
                    owed -= 1;
                }
            }
            // Odoo's TRUE_LEAF / FALSE_LEAF spelled as [1, "=", 1] are arrays; bare values are not terms.
            _ => {
                return Err(format!(
                    "domain term {i} must be an operator or a condition [field, operator, value]"
                ));
            }
        }
    }
    if owed > 0 {
        return Err("domain ends before its operators have all their terms".into());
    }
    Ok(fields)
}

fn check_leaf(i: usize, leaf: &[Value]) -> Result<String, String> {
    if leaf.len() != 3 {
        return Err(format!(
            "domain term {i} must have three parts [field, operator, value]"
        ));
    }
    // Odoo's constant leaves (1, '=', 1) and (0, '=', 1).
    if leaf[0].is_number() && leaf[1] == "=" && leaf[2].is_number() {
        return Ok(String::new());
    }
    let Some(field) = leaf[0].as_str() else {
        return Err(format!("domain term {i}: the field must be a string"));
    };
    if !is_field_path(field) {
        return Err(format!("domain term {i}: \"{field}\" is not a field name"));
    }
    let Some(op) = leaf[1].as_str() else {
        return Err(format!("domain term {i}: the operator must be a string"));
    };
    let op_lower = op.to_ascii_lowercase();
    if !OPERATORS.contains(&op_lower.as_str()) {
        return Err(format!(
            "domain term {i}: unknown operator \"{op}\" (use one of {})",
            OPERATORS.join(", ")
        ));
    }
    if matches!(leaf[2], Value::Object(_)) {
        return Err(format!("domain term {i}: the value cannot be an object"));
    }
    Ok(field.to_string())
}

/// The conditions `(path, operator, value)` of a domain that passed [`validate`], in order;
/// constant leaves (`[1, "=", 1]`) and operators are left out.
pub fn leaves(domain: &Value) -> impl Iterator<Item = (&str, &str, &Value)> {
    domain
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| match item.as_array()?.as_slice() {
            [Value::String(path), Value::String(op), value] => {
                Some((path.as_str(), op.as_str(), value))
            }
            _ => None,
        })
}

/// `name`, `partner_id.country_id.code`, `x_studio_field`.
pub fn is_field_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 256
        && path.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// Checks an `order` clause: `"name desc, id"`; returns the fields it orders by.
pub fn validate_order(order: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    for part in order.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let (field, rest) = match words.split_first() {
            Some((f, rest)) => (*f, rest),
            None => return Err(format!("order \"{order}\" has an empty part")),
        };
        if !is_field_path(field) {
            return Err(format!("order: \"{field}\" is not a field name"));
        }
        let rest: Vec<String> = rest.iter().map(|w| w.to_ascii_lowercase()).collect();
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        let ok = matches!(
            rest.as_slice(),
            [] | ["asc"]
                | ["desc"]
                | ["asc" | "desc", "nulls", "first" | "last"]
                | ["nulls", "first" | "last"]
        );
        if !ok {
            return Err(format!(
                "order: \"{}\" must be a field name followed by asc or desc",
                part.trim()
            ));
        }
        fields.push(field.to_string());
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn valid_domains() {
        let cases = [
            json!([]),
            json!([["name", "ilike", "acme"]]),
            json!([["name", "ilike", "a"], ["id", ">", 3]]),
            json!(["|", ["name", "=", "a"], ["name", "=", "b"]]),
            json!([
                "&",
                "!",
                ["active", "=", false],
                "|",
                ["a", "=", 1],
                ["b", "in", [1, 2]]
            ]),
            json!([["partner_id.country_id.code", "=", "BE"]]),
            json!([[1, "=", 1]]),
            json!(["!", ["a", "=", 1]]),
            json!([["a", "NOT IN", [1]]]),
        ];
        for d in cases {
            assert!(validate(&d).is_ok(), "{d}: {:?}", validate(&d));
        }
        assert_eq!(
            validate(&json!(["|", ["a", "=", 1], ["b.c", "=", 2]])).unwrap(),
            vec!["a", "b.c"]
        );
    }

    #[test]
    fn invalid_domains() {
        let cases = [
            (json!({}), "must be a list"),
            (json!(["|", ["a", "=", 1]]), "ends before"),
            (json!(["&"]), "ends before"),
            (json!(["x"]), "not an operator"),
            (json!([["a", "="]]), "three parts"),
            (json!([["a", "~", 1]]), "unknown operator"),
            (json!([["A;drop", "=", 1]]), "not a field name"),
            (json!([[1, "=", 2, 3]]), "three parts"),
            (json!([3]), "must be an operator"),
            (json!([["a", "=", {"x": 1}]]), "cannot be an object"),
        ];
        for (d, want) in cases {
            let e = validate(&d).unwrap_err();
            assert!(e.contains(want), "{d}: {e}");
        }
    }

    #[test]
    fn leaves_are_the_conditions() {
        let d = json!(["|", ["a", "=", 1], "!", ["b.c", "ilike", "x"], [1, "=", 1]]);
        let got: Vec<(&str, &str, &Value)> = leaves(&d).collect();
        assert_eq!(got, [("a", "=", &json!(1)), ("b.c", "ilike", &json!("x"))]);
        assert_eq!(leaves(&json!({})).count(), 0);
    }

    #[test]
    fn orders() {
        assert_eq!(validate_order("name desc, id").unwrap(), vec!["name", "id"]);
        assert!(validate_order("date_order DESC NULLS LAST").is_ok());
        assert!(validate_order("name; drop table").is_err());
        assert!(validate_order("name desc desc").is_err());
        assert!(validate_order("").is_err());
        assert!(validate_order("a,,b").is_err());
    }
}
