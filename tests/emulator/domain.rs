//! Search domains: Odoo's prefix notation (`&`, `|`, `!`, implicit AND between terms) parsed
//! into a tree. Evaluation against records lives in `orm`, which has the data.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::pyfmt;

/// The operators a condition may use (after lower-casing, `<>` read as `!=`).
pub const OPERATORS: &[&str] = &[
    "=",
    "!=",
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
    "any",
    "not any",
];

/// Odoo's `NEGATIVE_TERM_OPERATORS`: the operators that negate another one.
pub const NEGATIVE: &[&str] = &["!=", "not like", "not ilike", "not in"];

/// The positive form of a negative operator (`TERM_OPERATORS_NEGATION`); others unchanged.
pub fn positive(op: &str) -> &str {
    match op {
        "!=" => "=",
        "not like" => "like",
        "not ilike" => "ilike",
        "not in" => "in",
        other => other,
    }
}

#[derive(Debug, Clone)]
pub enum Dom {
    Const(bool),
    And(Vec<Dom>),
    Or(Vec<Dom>),
    Not(Box<Dom>),
    Leaf(Leaf),
    /// A condition already turned into record ids, the way Odoo's expression parser rewrites a
    /// name search or a sub-search on a comodel into `(field, 'in', ids)`: `id` is one of
    /// them, a many2one points at one, an x2many holds one. `positive: false` is the negation
    /// (`not in`, `NOT EXISTS`), which an empty many2one satisfies, like Odoo's
    /// `'|', (field, 'not in', ids), (field, '=', False)`.
    Ids(IdSet),
}

#[derive(Debug, Clone)]
pub struct IdSet {
    /// A field of the model the domain runs on (no dotted path).
    pub field: String,
    pub ids: BTreeSet<i64>,
    pub positive: bool,
}

#[derive(Debug, Clone)]
pub struct Leaf {
    /// Field path, possibly dotted (`country_id.code`).
    pub path: String,
    pub op: String,
    pub value: Value,
    /// The condition as sent, for error messages.
    pub raw: Vec<Value>,
    /// `any` / `not any`: the sub-domain, parsed and checked against the comodel.
    pub sub: Option<Box<Dom>>,
}

impl Leaf {
    /// `('name', '=', 1)`
    pub fn repr(&self) -> String {
        pyfmt::repr_tuple(&self.raw)
    }
}

/// Why a domain could not be parsed; the message Odoo would give is built by the caller.
#[derive(Debug)]
pub enum DomainError {
    /// A term that is neither an operator nor a 3-item condition.
    Term(Value),
    /// A condition with an unknown operator.
    Operator(Vec<Value>, String),
    /// Operators without enough operands, or a domain that is not a list.
    Malformed(Value),
}

impl Dom {
    pub fn and(items: Vec<Dom>) -> Dom {
        let mut items: Vec<Dom> = items
            .into_iter()
            .filter(|d| !matches!(d, Dom::Const(true)))
            .collect();
        match items.len() {
            0 => Dom::Const(true),
            1 => items.remove(0),
            _ => Dom::And(items),
        }
    }

    pub fn or(items: Vec<Dom>) -> Dom {
        let mut items: Vec<Dom> = items
            .into_iter()
            .filter(|d| !matches!(d, Dom::Const(false)))
            .collect();
        match items.len() {
            0 => Dom::Const(false),
            1 => items.remove(0),
            _ => Dom::Or(items),
        }
    }

    pub fn ids(field: &str, ids: BTreeSet<i64>, positive: bool) -> Dom {
        Dom::Ids(IdSet {
            field: field.to_string(),
            ids,
            positive,
        })
    }

    pub fn leaf(path: &str, op: &str, value: Value) -> Dom {
        Dom::Leaf(Leaf {
            path: path.to_string(),
            op: op.to_string(),
            raw: vec![json!(path), json!(op), value.clone()],
            value,
            sub: None,
        })
    }

    /// Does a condition anywhere in the domain name this field (first path element)?
    pub fn mentions(&self, field: &str) -> bool {
        match self {
            Dom::Const(_) => false,
            Dom::And(items) | Dom::Or(items) => items.iter().any(|d| d.mentions(field)),
            Dom::Not(d) => d.mentions(field),
            Dom::Leaf(l) => l.path.split('.').next() == Some(field),
            Dom::Ids(s) => s.field == field,
        }
    }

    pub fn leaves_mut(&mut self, f: &mut dyn FnMut(&mut Leaf)) {
        match self {
            Dom::Const(_) => {}
            Dom::And(items) | Dom::Or(items) => {
                for d in items {
                    d.leaves_mut(f);
                }
            }
            Dom::Not(d) => d.leaves_mut(f),
            Dom::Leaf(l) => f(l),
            Dom::Ids(_) => {}
        }
    }
}

/// Parses a domain as sent over the wire. `null`/`false` count as the empty domain.
pub fn parse(v: &Value) -> Result<Dom, DomainError> {
    let items = match v {
        Value::Null | Value::Bool(false) => return Ok(Dom::Const(true)),
        Value::Array(items) => items,
        other => return Err(DomainError::Malformed(other.clone())),
    };
    // Nesting of the tree built below, bounded like Python's recursion limit.
    const MAX_DEPTH: usize = 900;
    let mut stack: Vec<(Dom, usize)> = Vec::new();
    for item in items.iter().rev() {
        match item {
            Value::String(op) if op == "&" || op == "|" => {
                let (Some((a, da)), Some((b, db))) = (stack.pop(), stack.pop()) else {
                    return Err(DomainError::Malformed(v.clone()));
                };
                let depth = da.max(db) + 1;
                if depth > MAX_DEPTH {
                    return Err(DomainError::Malformed(json!(op)));
                }
                let node = if op == "&" {
                    Dom::And(vec![a, b])
                } else {
                    Dom::Or(vec![a, b])
                };
                stack.push((node, depth));
            }
            Value::String(op) if op == "!" => {
                let Some((a, da)) = stack.pop() else {
                    return Err(DomainError::Malformed(v.clone()));
                };
                if da + 1 > MAX_DEPTH {
                    return Err(DomainError::Malformed(json!(op)));
                }
                stack.push((Dom::Not(Box::new(a)), da + 1));
            }
            Value::Array(parts) if parts.len() == 3 => stack.push((parse_leaf(parts)?, 1)),
            other => return Err(DomainError::Term(other.clone())),
        }
    }
    stack.reverse();
    Ok(Dom::and(stack.into_iter().map(|(d, _)| d).collect()))
}

fn parse_leaf(parts: &[Value]) -> Result<Dom, DomainError> {
    let op_raw = match &parts[1] {
        Value::String(s) => s.to_lowercase(),
        _ => return Err(DomainError::Term(Value::Array(parts.to_vec()))),
    };
    let op = if op_raw == "<>" {
        "!=".to_string()
    } else {
        op_raw
    };
    match &parts[0] {
        // Odoo's TRUE_LEAF (1, '=', 1) and FALSE_LEAF (0, '=', 1).
        Value::Number(n) if op == "=" && parts[2] == json!(1) => {
            Ok(Dom::Const(n.as_i64() == Some(1)))
        }
        Value::String(path) if !path.is_empty() => {
            if !OPERATORS.contains(&op.as_str()) {
                return Err(DomainError::Operator(parts.to_vec(), op));
            }
            Ok(Dom::Leaf(Leaf {
                path: path.clone(),
                op,
                value: parts[2].clone(),
                raw: parts.to_vec(),
                sub: None,
            }))
        }
        _ => Err(DomainError::Term(Value::Array(parts.to_vec()))),
    }
}

/// `expression.normalize_domain`: makes implicit ANDs explicit.
pub fn normalize(domain: &[Value]) -> Vec<Value> {
    if domain.is_empty() {
        return vec![json!([1, "=", 1])];
    }
    let mut result: Vec<Value> = Vec::new();
    let mut expected: i64 = 1;
    for token in domain {
        if expected == 0 {
            result.insert(0, json!("&"));
            expected = 1;
        }
        match token {
            Value::Array(_) => expected -= 1,
            Value::String(op) if op == "!" => {}
            Value::String(op) if op == "&" || op == "|" => expected += 1,
            _ => expected -= 1,
        }
        result.push(token.clone());
    }
    result
}

/// `expression.AND`: the conjunction of domains, as Odoo writes it in `__domain`.
pub fn and_all(domains: &[Vec<Value>]) -> Vec<Value> {
    let mut result: Vec<Value> = Vec::new();
    let mut count = 0;
    for d in domains {
        if d.is_empty() || (d.len() == 1 && d[0] == json!([1, "=", 1])) {
            continue;
        }
        result.extend(normalize(d));
        count += 1;
    }
    let mut out: Vec<Value> = (1..count.max(1)).map(|_| json!("&")).collect();
    out.extend(result);
    out
}

/// SQL `LIKE` matching (`%` any run, `_` one character, `\` escapes).
pub fn like(pattern: &str, text: &str, insensitive: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if insensitive {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    like_at(&p, &t)
}

fn like_at(p: &[char], t: &[char]) -> bool {
    // Iterative matcher with backtracking on the last '%'.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '%' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '_' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '\\' if pi + 1 < p.len() && p[pi + 1] == t[ti] => {
                    pi += 2;
                    ti += 1;
                    continue;
                }
                '\\' if pi + 1 < p.len() => {}
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}
