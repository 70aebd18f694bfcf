//! JSON-RPC 2.0 messages as MCP uses them: parsing with precise errors, and responses.

use serde_json::{Map, Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// 2026-07-28: `MCP-Protocol-Version` / `Mcp-Method` / `Mcp-Name` headers disagree with the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the request needs a client capability the client did not declare.
pub const MISSING_CAPABILITY: i64 = -32021;
/// 2026-07-28: the protocol version is not supported.
pub const UNSUPPORTED_VERSION: i64 = -32022;

/// A JSON-RPC id: a string or a number (never null for a request we answer).
pub type Id = Value;

/// One incoming message.
#[derive(Debug, Clone)]
pub enum Message {
    Request {
        id: Id,
        method: String,
        params: Map<String, Value>,
    },
    Notification {
        method: String,
        params: Map<String, Value>,
    },
    /// A response from the client to a request we sent (elicitation answers).
    Response { id: Id, body: Map<String, Value> },
}

/// A message that could not be parsed, with the id to answer when one could be read.
#[derive(Debug, Clone)]
pub struct ParseFailure {
    pub id: Id,
    pub code: i64,
    pub message: String,
}

impl ParseFailure {
    fn new(id: Id, code: i64, message: impl Into<String>) -> Self {
        Self {
            id,
            code,
            message: message.into(),
        }
    }

    pub fn to_response(&self) -> Value {
        error_response(&self.id, self.code, &self.message, None)
    }
}

/// Parses one JSON-RPC message. Batches (JSON arrays) are refused: no MCP revision we serve
/// allows them.
pub fn parse(body: &[u8]) -> Result<Message, ParseFailure> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ParseFailure::new(
            Value::Null,
            PARSE_ERROR,
            format!("Parse error: the body is not valid JSON ({e})"),
        )
    })?;
    let mut obj = match value {
        Value::Object(obj) => obj,
        Value::Array(_) => {
            return Err(ParseFailure::new(
                Value::Null,
                INVALID_REQUEST,
                "Invalid Request: JSON-RPC batches are not supported; send one message per request",
            ));
        }
        _ => {
            return Err(ParseFailure::new(
                Value::Null,
                INVALID_REQUEST,
                "Invalid Request: a JSON-RPC message must be a JSON object",
            ));
        }
    };
    let id = obj.remove("id");
    // MCP: a string or an integer. A fraction, or an integer past 64 bits (which a reader
    // would round), could not be echoed back as sent.
    let valid_id = |v: &Value| match v {
        Value::String(_) => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        _ => false,
    };
    let answer_id = match &id {
        Some(v) if valid_id(v) => v.clone(),
        _ => Value::Null,
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(ParseFailure::new(
            answer_id,
            INVALID_REQUEST,
            "Invalid Request: \"jsonrpc\" must be \"2.0\"",
        ));
    }
    if let Some(id) = &id {
        if !valid_id(id) {
            return Err(ParseFailure::new(
                Value::Null,
                INVALID_REQUEST,
                "Invalid Request: \"id\" must be a string or an integer (within 64 bits)",
            ));
        }
    }
    match obj.remove("method") {
        Some(Value::String(method)) => {
            let params = match obj.remove("params") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(p)) => p,
                Some(_) => {
                    return Err(ParseFailure::new(
                        answer_id,
                        INVALID_PARAMS,
                        "Invalid params: \"params\" must be an object",
                    ));
                }
            };
            match id {
                Some(id) => Ok(Message::Request { id, method, params }),
                None => Ok(Message::Notification { method, params }),
            }
        }
        Some(_) => Err(ParseFailure::new(
            answer_id,
            INVALID_REQUEST,
            "Invalid Request: \"method\" must be a string",
        )),
        None => match id {
            Some(id) if obj.contains_key("result") || obj.contains_key("error") => {
                Ok(Message::Response { id, body: obj })
            }
            _ => Err(ParseFailure::new(
                answer_id,
                INVALID_REQUEST,
                "Invalid Request: a message needs \"method\" (request or notification) or \"result\"/\"error\" (response)",
            )),
        },
    }
}

pub fn result_response(id: &Id, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

pub fn error_response(id: &Id, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> i64 {
        parse(body.as_bytes()).unwrap_err().code
    }

    #[test]
    fn parse_errors_are_precise() {
        assert_eq!(code("{"), PARSE_ERROR);
        assert_eq!(code(""), PARSE_ERROR);
        assert_eq!(
            code("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]"),
            INVALID_REQUEST
        );
        assert_eq!(code("42"), INVALID_REQUEST);
        assert_eq!(code(r#"{"id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(
            code(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":7}"#),
            INVALID_REQUEST
        );
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1}"#), INVALID_REQUEST);
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#),
            INVALID_PARAMS
        );
    }

    #[test]
    fn the_id_is_kept_for_the_answer() {
        let f = parse(br#"{"jsonrpc":"2.0","id":"a","method":"x","params":3}"#).unwrap_err();
        assert_eq!(f.id, json!("a"));
        assert_eq!(f.to_response()["id"], json!("a"));
    }

    #[test]
    fn kinds_of_message() {
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap(),
            Message::Request { .. }
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap(),
            Message::Notification { .. }
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":5,"result":{"action":"accept"}}"#).unwrap(),
            Message::Response { .. }
        ));
    }
}
