//! The Odoo release the emulator pretends to be, parsed the way `odoo/release.py` builds it.

use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Version {
    /// 16, 17, 18, 19, 20 ... (`saas~19.2` → 19)
    pub major: u32,
    /// 0 for a stable series, 1..=4 for an online (`saas~`) release
    pub minor: u32,
    /// `release.version`: "18.0", "saas~19.2", "18.0+e"
    pub version: String,
    /// `release.serie`: "18.0", "saas~19.2"
    pub serie: String,
    /// `release.version_info`: `[18, 0, 0, "final", 0, ""]`, `["saas~19", 2, 0, "final", 0, ""]`
    pub info: Value,
}

impl Version {
    /// Accepts "18.0", "19", "saas~19.2", "saas-19.2", "18.0+e"; anything unparsable is 19.0.
    pub fn parse(text: &str) -> Version {
        let text = text.trim();
        let (body, edition) = match text.split_once('+') {
            Some((b, e)) => (b, e.to_string()),
            None => (text, String::new()),
        };
        let (saas, body) = match body
            .strip_prefix("saas~")
            .or_else(|| body.strip_prefix("saas-"))
        {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        let mut parts = body.split('.');
        let major = parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(19);
        let minor = parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0);
        let serie = if saas {
            format!("saas~{major}.{minor}")
        } else {
            format!("{major}.{minor}")
        };
        let version = if edition.is_empty() {
            serie.clone()
        } else {
            format!("{serie}+{edition}")
        };
        let first = if saas {
            json!(format!("saas~{major}"))
        } else {
            json!(major)
        };
        let info = json!([first, minor, 0, "final", 0, edition]);
        Version {
            major,
            minor,
            version,
            serie,
            info,
        }
    }

    /// `common.version` / `/web/webclient/version_info`.
    pub fn rpc_version(&self) -> Value {
        json!({
            "server_version": self.version,
            "server_version_info": self.info,
            "server_serie": self.serie,
            "protocol_version": 1,
        })
    }

    /// JSON-RPC `error.code` for server errors: 200 up to 18, 0 from 19.
    pub fn jsonrpc_error_code(&self) -> i64 {
        if self.major >= 19 { 0 } else { 200 }
    }
}
