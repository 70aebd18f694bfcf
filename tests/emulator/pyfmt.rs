//! Python's way of printing things, for error messages that must read as Odoo's do:
//! `repr()` of JSON values and the messages of `json.loads` failures.

use serde_json::Value;

/// `repr()` of a Python string.
pub fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `repr()` of a Python float.
pub fn repr_float(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf".into() } else { "-inf".into() }
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// `repr()` of the Python value a JSON value decodes to.
pub fn repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                repr_float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => repr_str(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", repr_str(k), repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// `repr()` of a tuple of JSON values: `('name', '=', 1)`, `(7,)`.
pub fn repr_tuple(items: &[Value]) -> String {
    let inner: Vec<String> = items.iter().map(repr).collect();
    if inner.len() == 1 {
        format!("({},)", inner[0])
    } else {
        format!("({})", inner.join(", "))
    }
}

/// `repr()` of a tuple of ids, as in `res.partner(1, 2)`.
pub fn repr_ids(ids: &[i64]) -> String {
    let inner: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    if inner.len() == 1 {
        format!("({},)", inner[0])
    } else {
        format!("({})", inner.join(", "))
    }
}

/// The message Python's `json.loads` raises for a document that does not parse, such as
/// `Expecting value: line 1 column 13 (char 12)`. Only called once serde_json refused the text.
pub fn python_json_error(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut scanner = Scanner {
        s: &chars,
        pos: 0,
        depth: 0,
    };
    let outcome = scanner.document();
    let (msg, pos) = match outcome {
        Err(e) => e,
        // serde_json and Python disagree (NaN, Infinity, lone surrogates): say what Python
        // would most likely have said about the start.
        Ok(()) => ("Expecting value", 0),
    };
    let before = &chars[..pos.min(chars.len())];
    let line = before.iter().filter(|c| **c == '\n').count() + 1;
    let column = match before.iter().rposition(|c| *c == '\n') {
        Some(nl) => pos - nl,
        None => pos + 1,
    };
    format!("{msg}: line {line} column {column} (char {pos})")
}

type ScanResult = Result<(), (&'static str, usize)>;

struct Scanner<'a> {
    s: &'a [char],
    pos: usize,
    depth: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    fn document(&mut self) -> ScanResult {
        self.ws();
        self.value()?;
        self.ws();
        if self.pos < self.s.len() {
            return Err(("Extra data", self.pos));
        }
        Ok(())
    }

    fn literal(&mut self, word: &str) -> bool {
        let w: Vec<char> = word.chars().collect();
        if self.s.len() >= self.pos + w.len() && self.s[self.pos..self.pos + w.len()] == w[..] {
            self.pos += w.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> ScanResult {
        match self.peek() {
            Some('"') => self.string(),
            Some('{' | '[') if self.depth >= 900 => Err((
                "maximum recursion depth exceeded while decoding a JSON document",
                self.pos,
            )),
            Some('{') => {
                self.depth += 1;
                let r = self.object();
                self.depth -= 1;
                r
            }
            Some('[') => {
                self.depth += 1;
                let r = self.array();
                self.depth -= 1;
                r
            }
            Some(_) => {
                for word in ["null", "true", "false", "NaN", "Infinity", "-Infinity"] {
                    if self.literal(word) {
                        return Ok(());
                    }
                }
                if self.number() {
                    Ok(())
                } else {
                    Err(("Expecting value", self.pos))
                }
            }
            None => Err(("Expecting value", self.pos)),
        }
    }

    fn number(&mut self) -> bool {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        match self.peek() {
            Some('0') => self.pos += 1,
            Some(c) if c.is_ascii_digit() => {
                while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                    self.pos += 1;
                }
            }
            _ => {
                self.pos = start;
                return false;
            }
        }
        if self.peek() == Some('.')
            && matches!(self.s.get(self.pos + 1), Some(c) if c.is_ascii_digit())
        {
            self.pos += 1;
            while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.pos += 1;
            }
            if matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                    self.pos += 1;
                }
            } else {
                self.pos = save;
            }
        }
        true
    }

    fn string(&mut self) -> ScanResult {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(("Unterminated string starting at", start)),
                Some('"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some('\\') => {
                    let esc_at = self.pos;
                    self.pos += 1;
                    match self.peek() {
                        Some('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') => self.pos += 1,
                        Some('u') => {
                            let hex = self.s.get(self.pos + 1..self.pos + 5);
                            match hex {
                                Some(h) if h.iter().all(|c| c.is_ascii_hexdigit()) => self.pos += 5,
                                _ => return Err(("Invalid \\uXXXX escape", esc_at)),
                            }
                        }
                        None => return Err(("Unterminated string starting at", start)),
                        Some(_) => return Err(("Invalid \\escape", esc_at)),
                    }
                }
                Some(c) if (c as u32) < 0x20 => {
                    return Err(("Invalid control character at", self.pos));
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    fn object(&mut self) -> ScanResult {
        self.pos += 1;
        self.ws();
        match self.peek() {
            Some('}') => {
                self.pos += 1;
                return Ok(());
            }
            Some('"') => {}
            _ => {
                return Err((
                    "Expecting property name enclosed in double quotes",
                    self.pos,
                ));
            }
        }
        loop {
            self.string()?;
            self.ws();
            if self.peek() != Some(':') {
                return Err(("Expecting ':' delimiter", self.pos));
            }
            self.pos += 1;
            self.ws();
            self.value()?;
            self.ws();
            match self.peek() {
                Some('}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(',') => {
                    self.pos += 1;
                    self.ws();
                    if self.peek() != Some('"') {
                        return Err((
                            "Expecting property name enclosed in double quotes",
                            self.pos,
                        ));
                    }
                }
                _ => return Err(("Expecting ',' delimiter", self.pos)),
            }
        }
    }

    fn array(&mut self) -> ScanResult {
        self.pos += 1;
        self.ws();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.value()?;
            self.ws();
            match self.peek() {
                Some(']') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(',') => {
                    self.pos += 1;
                    self.ws();
                }
                _ => return Err(("Expecting ',' delimiter", self.pos)),
            }
        }
    }
}
