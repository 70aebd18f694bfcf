//! The MCP protocol core: JSON-RPC, protocol revisions, Streamable HTTP, sessions, tools.

pub mod jsonrpc;
pub mod protocol;
pub mod server;
pub mod session;
pub mod tools;
