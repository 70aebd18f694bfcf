//! The MCP protocol core: JSON-RPC, protocol revisions, Streamable HTTP, sessions, tools.
//!
//! A request goes `http` (HTTP handling, the caller, header checks) → `dispatch` (the protocol
//! era and the method) → `call` (a tool call: kill switch, audit record, bounded task) →
//! `tools` (the tool itself, through the call contract in `context`). See docs/architecture.md.

mod call;
pub mod context;
mod dispatch;
mod http;
pub mod jsonrpc;
pub mod protocol;
pub mod server;
pub mod session;
pub mod tools;

/// Entry points for the fuzz targets in `fuzz/` (the header checks are private to `http`):
/// not an API.
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::Value;

    /// The stateless revision's header checks of one request: `Accept`, the era, and that
    /// `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` repeat the body. Err: why not.
    pub fn check_headers(headers: &http::HeaderMap, body: &[u8]) -> Result<(), String> {
        let _ = super::http::Accept::parse(headers);
        let message = super::jsonrpc::parse(body).map_err(|f| f.to_response().to_string())?;
        let super::jsonrpc::Message::Request { method, params, .. } = message else {
            return Ok(());
        };
        let version = super::http::header_str(headers, "mcp-protocol-version");
        let _ = super::protocol::era(version, Some(&params));
        let body_version = params
            .get("_meta")
            .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
            .cloned()
            .unwrap_or(Value::Null);
        super::http::check_routing_headers(headers, &body_version, &method, &params)
    }
}
