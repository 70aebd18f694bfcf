//! Odoo server versions: parsing `18.0`, `saas~19.2`, `17.0+e`, `19.0-20251001` and friends.

use std::fmt;

/// A parsed Odoo server version. Only `major` and `minor` drive behaviour; `raw` is kept for
/// display (`get_context` reports it as Odoo said it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdooVersion {
    pub major: u32,
    pub minor: u32,
    /// True for the SaaS release line (`saas~19.2`).
    pub saas: bool,
    pub raw: String,
}

impl OdooVersion {
    /// Parses a `server_version` / `version` string as Odoo reports it.
    pub fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        let (saas, rest) = match trimmed.strip_prefix("saas~") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut parts = rest.splitn(2, '.');
        let major = leading_number(parts.next()?)?;
        let minor = parts.next().and_then(leading_number).unwrap_or(0);
        // Odoo's version line starts at 8; anything else is not an Odoo version string.
        if !(8..=99).contains(&major) {
            return None;
        }
        Some(Self {
            major,
            minor,
            saas,
            raw: trimmed.to_string(),
        })
    }

    /// From `server_version_info` (`[18, 0, 0, "final", 0, ""]` or `["saas~19", 2, ...]`).
    pub fn from_info(info: &serde_json::Value) -> Option<Self> {
        let items = info.as_array()?;
        let first = items.first()?;
        let (saas, major) = match first {
            serde_json::Value::Number(n) => (false, u32::try_from(n.as_u64()?).ok()?),
            serde_json::Value::String(s) => match s.strip_prefix("saas~") {
                Some(m) => (true, leading_number(m)?),
                None => (false, leading_number(s)?),
            },
            _ => return None,
        };
        let minor = items
            .get(1)
            .and_then(|v| v.as_u64())
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0);
        let raw = if saas {
            format!("saas~{major}.{minor}")
        } else {
            format!("{major}.{minor}")
        };
        Self::parse(&raw)
    }

    /// Odoo 19 and later serve the JSON-2 API.
    pub fn has_json2(&self) -> bool {
        self.major >= 19
    }
}

impl fmt::Display for OdooVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

fn leading_number(s: &str) -> Option<u32> {
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_version_strings() {
        let cases = [
            ("16.0", Some((16, 0, false))),
            ("17.0+e", Some((17, 0, false))),
            ("18.0", Some((18, 0, false))),
            ("saas~18.3", Some((18, 3, true))),
            ("saas~19.2", Some((19, 2, true))),
            ("19.0-20251001", Some((19, 0, false))),
            ("20.0", Some((20, 0, false))),
            ("19", Some((19, 0, false))),
            ("", None),
            ("abc", None),
            ("saas~", None),
            ("3.1", None),
        ];
        for (raw, want) in cases {
            let got = OdooVersion::parse(raw).map(|v| (v.major, v.minor, v.saas));
            assert_eq!(got, want, "{raw}");
        }
    }

    #[test]
    fn parses_version_info() {
        let v = OdooVersion::from_info(&json!([18, 0, 0, "final", 0, ""])).unwrap();
        assert_eq!((v.major, v.minor, v.saas), (18, 0, false));
        let v = OdooVersion::from_info(&json!(["saas~19", 2, 0, "final", 0, ""])).unwrap();
        assert_eq!((v.major, v.minor, v.saas), (19, 2, true));
        assert!(OdooVersion::from_info(&json!({})).is_none());
        assert!(OdooVersion::from_info(&json!([])).is_none());
    }

    #[test]
    fn json2_from_19() {
        assert!(!OdooVersion::parse("18.0").unwrap().has_json2());
        assert!(OdooVersion::parse("saas~18.4").is_some_and(|v| !v.has_json2()));
        assert!(OdooVersion::parse("19.0").unwrap().has_json2());
        assert!(OdooVersion::parse("saas~19.2").unwrap().has_json2());
    }
}
