//! Protocol revisions and what distinguishes them.

use serde_json::{Map, Value};

pub const V2025_06_18: &str = "2025-06-18";
pub const V2025_11_25: &str = "2025-11-25";
pub const V2026_07_28: &str = "2026-07-28";

/// Revisions negotiated through `initialize` (sessions, server-to-client requests on SSE).
pub const HANDSHAKE_VERSIONS: [&str; 2] = [V2025_11_25, V2025_06_18];
/// Every revision served, newest first (`server/discover`'s `supportedVersions`).
pub const SUPPORTED_VERSIONS: [&str; 3] = [V2026_07_28, V2025_11_25, V2025_06_18];
/// `MCP-Protocol-Version` values accepted on a handshake session. 2025-03-26 is accepted in the
/// header only: clients that default to it (and conformance 0.1.16) send it on sessions
/// negotiated at a later revision; it changes nothing we answer.
pub const HANDSHAKE_HEADER_VERSIONS: [&str; 3] = [V2025_11_25, V2025_06_18, "2025-03-26"];
/// Header values that mean "a handshake-era client", supported or not.
const LEGACY_VERSIONS: [&str; 5] = [
    "2024-11-05",
    "2025-03-26",
    V2025_06_18,
    V2025_11_25,
    "2024-10-07",
];

pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";

/// Which era a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2025-06-18 / 2025-11-25: `initialize`, sessions.
    Handshake,
    /// 2026-07-28 and later: stateless, every request carries its version in `_meta`.
    Stateless,
}

/// Decides the era from the `MCP-Protocol-Version` header and, when the header says nothing, the
/// body's `_meta`: a header that is not a handshake revision (including an unknown one, which then
/// gets a structured -32022) means stateless.
pub fn era(header: Option<&str>, params: Option<&Map<String, Value>>) -> Era {
    match header.map(str::trim) {
        Some(v) if LEGACY_VERSIONS.contains(&v) => Era::Handshake,
        Some(_) => Era::Stateless,
        None => {
            let meta_version = params
                .and_then(|p| p.get("_meta"))
                .and_then(|m| m.get(META_PROTOCOL_VERSION));
            if meta_version.is_some() {
                Era::Stateless
            } else {
                Era::Handshake
            }
        }
    }
}

/// The version answered to `initialize`: the client's when we speak it, else our latest
/// handshake revision.
pub fn negotiate(requested: Option<&str>) -> &'static str {
    match requested {
        Some(v) => HANDSHAKE_VERSIONS
            .iter()
            .copied()
            .find(|s| *s == v)
            .unwrap_or(V2025_11_25),
        None => V2025_11_25,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("2025-11-25")), "2025-11-25");
        assert_eq!(negotiate(Some("2024-11-05")), "2025-11-25");
        assert_eq!(negotiate(Some("2026-07-28")), "2025-11-25");
        assert_eq!(negotiate(Some("garbage")), "2025-11-25");
        assert_eq!(negotiate(None), "2025-11-25");
    }

    #[test]
    fn eras() {
        assert_eq!(era(None, None), Era::Handshake);
        assert_eq!(era(Some("2025-11-25"), None), Era::Handshake);
        assert_eq!(era(Some("2025-03-26"), None), Era::Handshake);
        assert_eq!(era(Some("2026-07-28"), None), Era::Stateless);
        assert_eq!(era(Some("v999.0.0"), None), Era::Stateless);
        let p = json!({"_meta": {META_PROTOCOL_VERSION: "2026-07-28"}});
        assert_eq!(era(None, p.as_object()), Era::Stateless);
        assert_eq!(era(None, json!({"_meta": {}}).as_object()), Era::Handshake);
    }
}
