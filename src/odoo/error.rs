//! One error type for everything Odoo can answer, over both transports.
//!
//! Odoo's own payloads carry a `debug` traceback, and some messages carry server paths or the
//! database host (a wrong database name leaks `connection to server at "127.0.0.1", port 5433`).
//! None of that leaves this module: an [`OdooError`] holds the exception class, a cleaned message
//! and a [`ErrorKind`] callers can branch on.

use serde_json::Value;
use std::fmt;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Odoo's access rights or record rules refused the operation (`AccessError`).
    Access,
    /// A constraint refused the values (`ValidationError`, a bad selection value).
    Validation,
    /// A business rule refused the operation (`UserError`).
    User,
    /// The records do not exist (any more) (`MissingError`).
    Missing,
    /// Odoo rejected the login or API key (`AccessDenied`, HTTP 401, `authenticate` -> false).
    Credentials,
    /// No such model, method, endpoint or database.
    NotFound,
    /// Odoo could not make sense of the request (bad domain, unknown field, wrong arguments,
    /// a protocol this server does not speak).
    BadRequest,
    /// The connection failed or the answer was not a valid Odoo answer.
    Transport,
    /// Odoo did not answer in time.
    Timeout,
    /// Odoo failed (HTTP 5xx, an unexpected exception).
    Server,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Validation => "validation",
            Self::User => "user",
            Self::Missing => "missing",
            Self::Credentials => "credentials",
            Self::NotFound => "not_found",
            Self::BadRequest => "bad_request",
            Self::Transport => "transport",
            Self::Timeout => "timeout",
            Self::Server => "server",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from Odoo or from talking to it. Safe to show: never holds a traceback, a server path,
/// the database host or a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdooError {
    pub kind: ErrorKind,
    /// Odoo's exception class (`odoo.exceptions.AccessError`), when Odoo named one.
    pub class: Option<String>,
    pub message: String,
    /// Certainly not carried out: Odoo answered with an exception (it rolls the transaction
    /// back), or the connection could not be opened.
    pub not_applied: bool,
}

impl OdooError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            class: None,
            message: message.into(),
            not_applied: false,
        }
    }

    /// Whether Odoo may have carried the request out despite the error: it timed out, or the
    /// connection broke or the answer was unreadable after the request was sent. (Odoo rolls a
    /// transaction back when it raises, so an error Odoo answered with means nothing changed.)
    pub fn outcome_unknown(&self) -> bool {
        matches!(self.kind, ErrorKind::Timeout | ErrorKind::Transport) && !self.not_applied
    }

    /// From an Odoo exception class and message (both transports end here). The HTTP status, when
    /// the transport has one (JSON-2), settles classes the name alone does not.
    pub fn from_odoo(class: &str, message: &str, http_status: Option<u16>) -> Self {
        let message = sanitize_message(class, message);
        let kind = classify(class, &message, http_status);
        Self {
            kind,
            class: Some(class.to_string()),
            message,
            not_applied: true,
        }
    }

    /// From a JSON-RPC `error` object: `{code, message, data: {name, message, debug, ...}}`.
    pub fn from_jsonrpc_error(error: &Value) -> Self {
        let data = error.get("data");
        let class = data.and_then(|d| d.get("name")).and_then(Value::as_str);
        let message = data
            .and_then(|d| d.get("message"))
            .and_then(Value::as_str)
            .or_else(|| error.get("message").and_then(Value::as_str))
            .unwrap_or("Odoo returned an error without a message");
        match class {
            Some(class) => Self::from_odoo(class, message, None),
            None => Self::new(ErrorKind::Server, sanitize_message("", message)),
        }
    }

    /// From a JSON-2 error answer: HTTP status plus `{name, message, arguments, context, debug}`,
    /// or a bare JSON string.
    pub fn from_json2_error(status: u16, body: &Value) -> Self {
        match body {
            Value::Object(map) => {
                let message = map
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("Odoo returned an error without a message");
                match map.get("name").and_then(Value::as_str) {
                    Some(class) => Self::from_odoo(class, message, Some(status)),
                    None => Self::new(kind_for_status(status), sanitize_message("", message)),
                }
            }
            Value::String(message) => {
                Self::new(kind_for_status(status), sanitize_message("", message))
            }
            _ => Self::new(
                kind_for_status(status),
                format!("Odoo answered HTTP {status} with an unexpected JSON body"),
            ),
        }
    }

    /// A short, stable description: `access: You are not allowed ...`.
    pub fn summary(&self) -> String {
        format!("{}: {}", self.kind, self.message)
    }
}

impl fmt::Display for OdooError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.class {
            Some(class) => write!(f, "Odoo {} error ({class}): {}", self.kind, self.message),
            None => write!(f, "Odoo {} error: {}", self.kind, self.message),
        }
    }
}

impl std::error::Error for OdooError {}

fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        401 => ErrorKind::Credentials,
        403 => ErrorKind::Access,
        404 => ErrorKind::NotFound,
        400 | 405 | 413 | 415 | 422 => ErrorKind::BadRequest,
        408 | 504 => ErrorKind::Timeout,
        _ => ErrorKind::Server,
    }
}

fn classify(class: &str, message: &str, http_status: Option<u16>) -> ErrorKind {
    let short = class.rsplit('.').next().unwrap_or(class);
    match short {
        "AccessError" => ErrorKind::Access,
        "AccessDenied" | "Unauthorized" | "SessionExpiredException" => ErrorKind::Credentials,
        "MissingError" => ErrorKind::Missing,
        "ValidationError"
        | "IntegrityError"
        | "CheckViolation"
        | "NotNullViolation"
        | "UniqueViolation"
        | "ForeignKeyViolation" => ErrorKind::Validation,
        // Odoo 16-18 answer an unknown model over /jsonrpc with a UserError.
        "UserError" if is_unknown_model_message(message) => ErrorKind::NotFound,
        "UserError" | "RedirectWarning" | "except_orm" | "Warning" => ErrorKind::User,
        "NotFound" => ErrorKind::NotFound,
        // `The method 'x' does not exist on the model 'y'` (16-18).
        "AttributeError" if message.contains("does not exist") => ErrorKind::NotFound,
        "OperationalError" if is_unknown_database_message(message) => ErrorKind::NotFound,
        "OperationalError" | "InterfaceError" | "DatabaseError" => ErrorKind::Server,
        // `Wrong value for res.partner.type: 'x'` is a value the record refuses.
        "ValueError" if message.starts_with("Wrong value for") => ErrorKind::Validation,
        "ValueError"
        | "TypeError"
        | "KeyError"
        | "BadRequest"
        | "UnprocessableEntity"
        | "UnsupportedMediaType"
        | "MethodNotAllowed" => ErrorKind::BadRequest,
        "RequestTimeout" | "GatewayTimeout" => ErrorKind::Timeout,
        _ => match http_status {
            Some(status) if status != 500 && status != 200 => kind_for_status(status),
            _ => ErrorKind::Server,
        },
    }
}

fn is_unknown_model_message(message: &str) -> bool {
    message.starts_with("Object ") && message.contains("doesn't exist")
}

fn is_unknown_database_message(message: &str) -> bool {
    message.contains("database \"") && message.contains("does not exist")
}

/// The longest message we pass on. Odoo messages are short; anything longer is a dump.
const MAX_MESSAGE: usize = 2000;

/// Removes what must not leave the proxy: tracebacks, file paths, database host and port.
pub(crate) fn sanitize_message(class: &str, message: &str) -> String {
    // psycopg2 errors name the database server ("connection to server at "127.0.0.1", port
    // 5433 failed: ..."). Keep only what an operator needs: which database is missing.
    if class.starts_with("psycopg2.") || message.contains("connection to server at") {
        if let Some(db) = quoted_after(message, "database \"") {
            if message.contains("does not exist") {
                return format!("database \"{db}\" does not exist on this Odoo server");
            }
        }
        return "Odoo could not reach its own database".to_string();
    }
    let mut out = String::new();
    for line in message.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("File \"") || trimmed.contains(".py\", line ") {
            break;
        }
        // A traceback may start mid-line ("Error: Traceback (most recent call last): ..."):
        // keep what comes before it, nothing after.
        let (line, traceback) = match line.find("Traceback (most recent call last)") {
            Some(at) => (&line[..at], true),
            None => (line, false),
        };
        let nothing_before = traceback && line.trim().is_empty();
        if !out.is_empty() && !nothing_before {
            out.push('\n');
        }
        out.push_str(&redact_paths(line));
        if traceback {
            break;
        }
    }
    let trimmed = out.trim_end();
    if trimmed.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !trimmed.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &trimmed[..end])
    } else {
        trimmed.to_string()
    }
}

fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let start = message.find(prefix)? + prefix.len();
    let rest = &message[start..];
    let end = rest.find('"')?;
    Some(&rest[..end])
}

/// Replaces absolute filesystem paths (`/usr/lib/python3/dist-packages/odoo/...`) by `<path>`.
fn redact_paths(line: &str) -> String {
    const ROOTS: [&str; 7] = [
        "/usr/", "/opt/", "/home/", "/var/", "/srv/", "/tmp/", "/mnt/",
    ];
    if !ROOTS.iter().any(|r| line.contains(r)) {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(pos) = ROOTS.iter().filter_map(|r| rest.find(r)).min() {
        out.push_str(&rest[..pos]);
        out.push_str("<path>");
        let tail = &rest[pos..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ')' | ']'))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classes_map_to_kinds() {
        let cases = [
            (
                "odoo.exceptions.AccessError",
                "You are not allowed",
                None,
                ErrorKind::Access,
            ),
            (
                "odoo.exceptions.AccessDenied",
                "Access Denied",
                None,
                ErrorKind::Credentials,
            ),
            (
                "werkzeug.exceptions.Unauthorized",
                "Invalid apikey",
                Some(401),
                ErrorKind::Credentials,
            ),
            (
                "odoo.http.SessionExpiredException",
                "Session expired",
                None,
                ErrorKind::Credentials,
            ),
            (
                "odoo.exceptions.MissingError",
                "Record does not exist",
                Some(404),
                ErrorKind::Missing,
            ),
            (
                "odoo.exceptions.ValidationError",
                "recursive",
                Some(422),
                ErrorKind::Validation,
            ),
            (
                "builtins.ValueError",
                "Wrong value for res.partner.type: 'x'",
                None,
                ErrorKind::Validation,
            ),
            (
                "builtins.ValueError",
                "Invalid field res.partner.x in leaf",
                None,
                ErrorKind::BadRequest,
            ),
            (
                "builtins.ValueError",
                "Invalid field res.partner.x in condition",
                Some(500),
                ErrorKind::BadRequest,
            ),
            (
                "builtins.TypeError",
                "takes from 1 to 6 positional arguments",
                None,
                ErrorKind::BadRequest,
            ),
            (
                "odoo.exceptions.UserError",
                "You can not delete a sent quotation",
                Some(422),
                ErrorKind::User,
            ),
            (
                "odoo.exceptions.UserError",
                "Object no.such.model doesn't exist",
                None,
                ErrorKind::NotFound,
            ),
            (
                "builtins.AttributeError",
                "The method 'x' does not exist on the model 'y'",
                None,
                ErrorKind::NotFound,
            ),
            (
                "werkzeug.exceptions.NotFound",
                "the model 'x' does not exist",
                Some(404),
                ErrorKind::NotFound,
            ),
            (
                "werkzeug.exceptions.UnprocessableEntity",
                "cannot call x with ids",
                Some(422),
                ErrorKind::BadRequest,
            ),
            (
                "werkzeug.exceptions.BadRequest",
                "could not parse the body",
                Some(400),
                ErrorKind::BadRequest,
            ),
            (
                "builtins.KeyError",
                "no_such_service",
                None,
                ErrorKind::BadRequest,
            ),
            (
                "builtins.Exception",
                "Method not found: x",
                None,
                ErrorKind::Server,
            ),
            ("some.Other", "boom", Some(500), ErrorKind::Server),
            ("some.Other", "teapot", Some(418), ErrorKind::Server),
        ];
        for (class, message, status, want) in cases {
            assert_eq!(
                OdooError::from_odoo(class, message, status).kind,
                want,
                "{class}: {message}"
            );
        }
    }

    #[test]
    fn database_host_never_leaks() {
        let msg = "connection to server at \"127.0.0.1\", port 5433 failed: FATAL:  database \"no_such_db\" does not exist\n";
        let e = OdooError::from_odoo("psycopg2.OperationalError", msg, None);
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(
            e.message,
            "database \"no_such_db\" does not exist on this Odoo server"
        );
        assert!(!e.to_string().contains("127.0.0.1") && !e.to_string().contains("5433"));

        let e = OdooError::from_odoo(
            "psycopg2.OperationalError",
            "connection to server at \"db.internal\", port 5432 failed: timeout",
            None,
        );
        assert_eq!(e.kind, ErrorKind::Server);
        assert!(!e.message.contains("db.internal"));
    }

    #[test]
    fn tracebacks_and_paths_are_removed() {
        let msg = "Boom happened\nTraceback (most recent call last):\n  File \"/usr/lib/python3/dist-packages/odoo/http.py\", line 1, in x\n";
        assert_eq!(sanitize_message("builtins.Exception", msg), "Boom happened");
        assert_eq!(
            sanitize_message("x", "cannot open /opt/odoo/addons/foo.py, sorry"),
            "cannot open <path>, sorry"
        );
        // Found by the odoo_answer fuzz target: a traceback starting mid-line.
        assert_eq!(
            sanitize_message(
                "",
                "=Traceback (most recent call last)UUUU=====trator\n\nCo ==="
            ),
            "="
        );
        assert_eq!(
            sanitize_message("", "Error: Traceback (most recent call last): boom"),
            "Error:"
        );
    }

    #[test]
    fn jsonrpc_error_shapes() {
        // Odoo 18: code 200; Odoo 19: code 0. The code does not matter, data.name does.
        for code in [200, 0] {
            let err = json!({"code": code, "message": "Odoo Server Error", "data": {
                "name": "odoo.exceptions.AccessError", "debug": "Traceback ... /usr/lib/odoo",
                "message": "You are not allowed to create 'Contact' (res.partner) records.",
                "arguments": [], "context": {}}});
            let e = OdooError::from_jsonrpc_error(&err);
            assert_eq!(e.kind, ErrorKind::Access);
            assert_eq!(e.class.as_deref(), Some("odoo.exceptions.AccessError"));
            assert!(!e.to_string().contains("Traceback"));
        }
        let e =
            OdooError::from_jsonrpc_error(&json!({"code": 100, "message": "Odoo Session Expired"}));
        assert_eq!(e.kind, ErrorKind::Server);
        assert_eq!(e.message, "Odoo Session Expired");
    }

    #[test]
    fn json2_error_shapes() {
        let e = OdooError::from_json2_error(
            404,
            &json!({"name": "werkzeug.exceptions.NotFound", "message": "the model 'x' does not exist", "debug": "Traceback"}),
        );
        assert_eq!(e.kind, ErrorKind::NotFound);
        let e = OdooError::from_json2_error(403, &json!("just a string"));
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Access, "just a string")
        );
        let e = OdooError::from_json2_error(502, &json!([1]));
        assert_eq!(e.kind, ErrorKind::Server);
    }
}
