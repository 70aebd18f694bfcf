//! The MCP protocol core: JSON-RPC, protocol revisions, Streamable HTTP, sessions, tools.

pub mod jsonrpc;
pub mod tools;
