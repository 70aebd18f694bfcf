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
