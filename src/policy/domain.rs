//! Domain algebra for restrictions: normalisation and conjunction.
//!
//! A policy restriction `R` is combined with a caller's domain `C` so that no `C` can widen it.
//! Both are first normalised into ONE term in Polish notation (Odoo's implicit top-level
//! conjunction made explicit with `"&"`), then joined as `["&", R.., C..]`. Because each side is a
//! single complete term, the `"&"` takes exactly `R` and `C` as its operands: a `"|"` or `"!"` in
//! `C` can only ever combine terms of `C`, never reach into `R`.
//!
//! Inputs are expected to have passed [`crate::odoo::domain::validate`]. If one has not and is
//! malformed (an operator short of operands, a bare value, not a list), normalisation fails closed:
//! it yields the FALSE leaf `[[0, "=", 1]]`, so the conjunction matches nothing.

use serde_json::Value;

/// Odoo's FALSE leaf, `(0, '=', 1)`: the result of normalising something that is not a domain.
fn false_domain() -> Vec<Value> {
    vec![Value::Array(vec![
        Value::from(0),
        Value::String("=".into()),
        Value::from(1),
    ])]
}

/// One past the end of the complete term starting at `start`, or `None` when the items run out
/// before the term is complete or an item is neither an operator nor a three-part leaf.
fn term_end(items: &[Value], start: usize) -> Option<usize> {
    let mut owed: usize = 1;
    let mut i = start;
    while owed > 0 {
        match items.get(i)? {
            Value::String(op) if op == "&" || op == "|" => owed += 1,
            Value::String(op) if op == "!" => {}
            Value::Array(leaf) if leaf.len() == 3 => owed -= 1,
            _ => return None,
        }
        i += 1;
    }
    Some(i)
}

/// Makes implicit top-level conjunctions explicit, so the result is a single term in Polish
/// notation (or `[]`, TRUE). `[A, B, C]` becomes `["&", "&", A, B, C]`; nested terms are kept as
/// they are (only the top level of a domain can be implicit). A malformed input yields the FALSE
/// leaf (see the module documentation).
pub fn normalize(domain: &Value) -> Vec<Value> {
    let Value::Array(items) = domain else {
        return false_domain();
    };
    let mut terms: Vec<&[Value]> = Vec::new();
    let mut pos = 0;
    while pos < items.len() {
        let Some(end) = term_end(items, pos) else {
            return false_domain();
        };
        terms.push(&items[pos..end]);
        pos = end;
    }
    let mut out = Vec::with_capacity(items.len() + terms.len());
    for _ in 1..terms.len() {
        out.push(Value::String("&".into()));
    }
    for term in terms {
        out.extend(term.iter().cloned());
    }
    out
}

/// The normalised conjunction of two domains; `[]` (TRUE) is the identity.
pub fn and(a: &Value, b: &Value) -> Value {
    let a = normalize(a);
    let b = normalize(b);
    if a.is_empty() {
        return Value::Array(b);
    }
    if b.is_empty() {
        return Value::Array(a);
    }
    let mut out = Vec::with_capacity(1 + a.len() + b.len());
    out.push(Value::String("&".into()));
    out.extend(a);
    out.extend(b);
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odoo::domain::validate;
    use serde_json::json;
    use std::collections::BTreeMap;

    // ---- a tiny evaluator with Odoo's semantics for the operators the tests use ----

    type Record = BTreeMap<&'static str, i64>;
    const FIELDS: [&str; 3] = ["a", "b", "c"];

    /// Every record with a, b, c in 0..3: 27 records, ids 0..27.
    fn records() -> Vec<Record> {
        let mut out = Vec::new();
        for a in 0..3 {
            for b in 0..3 {
                for c in 0..3 {
                    out.push(BTreeMap::from([("a", a), ("b", b), ("c", c)]));
                }
            }
        }
        out
    }

    fn eval_leaf(leaf: &[Value], r: &Record) -> Result<bool, String> {
        if leaf.len() != 3 {
            return Err(format!("bad leaf {leaf:?}"));
        }
        if let (Some(x), "=", Some(y)) = (
            leaf[0].as_i64(),
            leaf[1].as_str().unwrap_or(""),
            leaf[2].as_i64(),
        ) {
            return Ok(x == y); // (1,'=',1) TRUE, (0,'=',1) FALSE
        }
        let field = leaf[0].as_str().ok_or("field not a string")?;
        let v = *r.get(field).ok_or(format!("no field {field}"))?;
        let list = |x: &Value| -> Result<Vec<i64>, String> {
            x.as_array()
                .ok_or("not a list")?
                .iter()
                .map(|i| i.as_i64().ok_or_else(|| "not an int".to_string()))
                .collect()
        };
        match leaf[1].as_str().ok_or("op not a string")? {
            "=" => Ok(leaf[2].as_i64() == Some(v)),
            "!=" => Ok(leaf[2].as_i64() != Some(v)),
            "in" => Ok(list(&leaf[2])?.contains(&v)),
            "not in" => Ok(!list(&leaf[2])?.contains(&v)),
            op => Err(format!("unknown op {op}")),
        }
    }

    fn eval_term(items: &[Value], pos: &mut usize, r: &Record) -> Result<bool, String> {
        let item = items.get(*pos).ok_or("domain ends early")?;
        *pos += 1;
        match item {
            Value::String(op) if op == "&" => {
                let x = eval_term(items, pos, r)?;
                let y = eval_term(items, pos, r)?;
                Ok(x && y)
            }
            Value::String(op) if op == "|" => {
                let x = eval_term(items, pos, r)?;
                let y = eval_term(items, pos, r)?;
                Ok(x || y)
            }
            Value::String(op) if op == "!" => Ok(!eval_term(items, pos, r)?),
            Value::Array(leaf) => eval_leaf(leaf, r),
            other => Err(format!("not a term: {other}")),
        }
    }

    /// Odoo's reading: a sequence of complete terms, implicitly ANDed; anything else is an error.
    fn eval_one(d: &Value, r: &Record) -> Result<bool, String> {
        let items = d.as_array().ok_or("not a list")?;
        let mut pos = 0;
        let mut acc = true;
        while pos < items.len() {
            let t = eval_term(items, &mut pos, r)?;
            acc = acc && t;
        }
        Ok(acc)
    }

    /// The ids of the records a domain selects.
    fn eval(d: &Value) -> Result<Vec<usize>, String> {
        let mut out = Vec::new();
        for (id, r) in records().iter().enumerate() {
            if eval_one(d, r)? {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn intersect(a: &[usize], b: &[usize]) -> Vec<usize> {
        a.iter().copied().filter(|x| b.contains(x)).collect()
    }

    // ---- the normalisation table ----

    #[test]
    fn normalize_table() {
        let a = json!(["a", "=", 1]);
        let b = json!(["b", "=", 2]);
        let c = json!(["c", "=", 0]);
        let cases = [
            (json!([]), json!([])),
            (json!([a]), json!([a])),
            (json!([a, b]), json!(["&", a, b])),
            (json!([a, b, c]), json!(["&", "&", a, b, c])),
            (json!(["|", a, b]), json!(["|", a, b])),
            (json!(["|", a, b, c]), json!(["&", "|", a, b, c])),
            (json!([c, "|", a, b]), json!(["&", c, "|", a, b])),
            (json!(["!", a, b]), json!(["&", "!", a, b])),
            (json!(["&", a, b, c]), json!(["&", "&", a, b, c])),
            (json!([[1, "=", 1]]), json!([[1, "=", 1]])),
            // Malformed input fails closed.
            (json!(["|", a]), json!([[0, "=", 1]])),
            (json!([a, "|"]), json!([[0, "=", 1]])),
            (json!(["!"]), json!([[0, "=", 1]])),
            (json!(["x", a]), json!([[0, "=", 1]])),
            (json!([3]), json!([[0, "=", 1]])),
            (json!([["a", "="]]), json!([[0, "=", 1]])),
            (json!({"a": 1}), json!([[0, "=", 1]])),
            (json!(null), json!([[0, "=", 1]])),
        ];
        for (input, want) in cases {
            assert_eq!(Value::Array(normalize(&input)), want, "normalize({input})");
        }
    }

    #[test]
    fn and_table() {
        let a = json!(["a", "=", 1]);
        let b = json!(["b", "=", 2]);
        let c = json!(["c", "=", 0]);
        let cases = [
            (json!([]), json!([]), json!([])),
            (json!([a]), json!([]), json!([a])),
            (json!([]), json!([a]), json!([a])),
            (json!([a]), json!([b]), json!(["&", a, b])),
            (json!([a]), json!(["|", b, c]), json!(["&", a, "|", b, c])),
            (json!([a, b]), json!([c]), json!(["&", "&", a, b, c])),
            (json!([a]), json!([b, c]), json!(["&", a, "&", b, c])),
            (json!([a]), json!(["|", b]), json!(["&", a, [0, "=", 1]])),
        ];
        for (x, y, want) in cases {
            assert_eq!(and(&x, &y), want, "and({x}, {y})");
        }
    }

    /// The `|`, `!` and trailing-operator tricks against a one-term and a two-term restriction.
    #[test]
    fn caller_tricks_cannot_widen_the_restriction() {
        let restrictions = [
            json!([["a", "=", 1]]),
            json!([["a", "=", 1], ["b", "!=", 2]]),
            json!(["|", ["a", "=", 1], ["c", "=", 0]]),
        ];
        let tricks = [
            json!([]),
            json!([[1, "=", 1]]),
            json!(["|", [1, "=", 1], ["a", "=", 2]]),
            json!(["|", ["a", "=", 2], ["a", "!=", 2]]),
            json!(["|", ["a", "=", 0], [1, "=", 1], ["b", "=", 0]]),
            json!(["!", ["a", "=", 1]]),
            json!(["!", ["a", "=", 1], ["b", "!=", 2]]),
            json!(["!", "|", ["a", "=", 1], ["c", "=", 0]]),
            json!(["!", "&", ["a", "=", 1], ["b", "!=", 2]]),
            json!([["a", "=", 2], ["b", "=", 0]]),
            json!(["|", "|", ["a", "=", 0], ["a", "=", 2], ["a", "=", 1]]),
            // Not valid domains (validation refuses them); even so they cannot widen anything.
            json!(["|"]),
            json!(["|", [1, "=", 1]]),
            json!([["a", "=", 2], "|"]),
            json!(["&"]),
            json!(["!"]),
            json!([[1, "=", 1], "|", "|"]),
            json!(["|", "!"]),
            json!("|"),
            json!(null),
            json!({"a": 1}),
        ];
        for r in &restrictions {
            let allowed = eval(r).unwrap();
            for c in &tricks {
                let combined = and(r, c);
                let got = eval(&combined)
                    .unwrap_or_else(|e| panic!("and({r}, {c}) = {combined} is malformed: {e}"));
                assert!(
                    got.iter().all(|id| allowed.contains(id)),
                    "and({r}, {c}) = {combined} selects {got:?}, outside {allowed:?}"
                );
                if validate(c).is_ok() {
                    assert_eq!(got, intersect(&allowed, &eval(c).unwrap()), "and({r}, {c})");
                } else {
                    assert!(got.is_empty(), "malformed {c} must select nothing");
                }
            }
        }
    }

    // ---- deterministic fuzzing ----

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn leaf(rng: &mut XorShift) -> Value {
        match rng.below(10) {
            0 => json!([1, "=", 1]),
            1 => json!([0, "=", 1]),
            _ => {
                let field = FIELDS[rng.below(3) as usize];
                let value = rng.below(3);
                match rng.below(4) {
                    0 => json!([field, "=", value]),
                    1 => json!([field, "!=", value]),
                    2 => json!([field, "in", [value, rng.below(3)]]),
                    _ => json!([field, "not in", [value]]),
                }
            }
        }
    }

    fn term(rng: &mut XorShift, depth: u32, out: &mut Vec<Value>) {
        let choice = if depth == 0 { 0 } else { rng.below(5) };
        match choice {
            0 | 1 => out.push(leaf(rng)),
            2 => {
                out.push(json!("&"));
                term(rng, depth - 1, out);
                term(rng, depth - 1, out);
            }
            3 => {
                out.push(json!("|"));
                term(rng, depth - 1, out);
                term(rng, depth - 1, out);
            }
            _ => {
                out.push(json!("!"));
                term(rng, depth - 1, out);
            }
        }
    }

    /// A valid domain: 0 to 3 top-level terms (implicitly ANDed), each up to depth 3.
    fn domain(rng: &mut XorShift) -> Value {
        let mut out = Vec::new();
        for _ in 0..rng.below(4) {
            term(rng, 3, &mut out);
        }
        Value::Array(out)
    }

    /// Token soup: operators and leaves in any order, often not a valid domain.
    fn soup(rng: &mut XorShift) -> Value {
        let mut out = Vec::new();
        for _ in 0..rng.below(7) {
            out.push(match rng.below(4) {
                0 => json!("&"),
                1 => json!("|"),
                2 => json!("!"),
                _ => leaf(rng),
            });
        }
        Value::Array(out)
    }

    #[test]
    fn fuzz_conjunction_never_widens_the_restriction() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let (mut valid, mut invalid) = (0, 0);
        for case in 0..4000 {
            let r = domain(&mut rng);
            let c = if case % 3 == 0 {
                soup(&mut rng)
            } else {
                domain(&mut rng)
            };
            let allowed = eval(&r).unwrap();
            // Normalisation preserves meaning and yields a single term.
            let nr = Value::Array(normalize(&r));
            assert_eq!(eval(&nr).unwrap(), allowed, "normalize({r}) = {nr}");
            let items = normalize(&r);
            if !items.is_empty() {
                assert_eq!(term_end(&items, 0), Some(items.len()), "{nr} is one term");
            }
            assert_eq!(Value::Array(normalize(&nr)), nr, "normalize is idempotent");

            let combined = and(&r, &c);
            let got = eval(&combined)
                .unwrap_or_else(|e| panic!("case {case}: and({r}, {c}) malformed: {e}"));
            assert!(
                got.iter().all(|id| allowed.contains(id)),
                "case {case}: and({r}, {c}) = {combined} selects {got:?} outside {allowed:?}"
            );
            match validate(&c) {
                Ok(_) => {
                    valid += 1;
                    let want = intersect(&allowed, &eval(&c).unwrap());
                    assert_eq!(got, want, "case {case}: and({r}, {c}) = {combined}");
                    // The order of the operands does not matter.
                    assert_eq!(
                        eval(&and(&c, &r)).unwrap(),
                        want,
                        "case {case}: and({c}, {r})"
                    );
                }
                Err(_) => {
                    invalid += 1;
                    assert!(
                        got.is_empty(),
                        "case {case}: malformed {c} selected {got:?}"
                    );
                }
            }
        }
        // The generator must exercise both branches.
        assert!(
            valid > 2000 && invalid > 300,
            "valid {valid}, invalid {invalid}"
        );
    }
}
