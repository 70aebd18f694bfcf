//! CSV export of stored records: one line per record, the chain fields first.

use crate::store::AuditRow;
use serde_json::Value;

/// The columns, in order.
pub const COLUMNS: [&str; 29] = [
    "seq",
    "hash",
    "prev_hash",
    "time",
    "kind",
    "instance",
    "request_id",
    "key_id",
    "key_name",
    "profile",
    "odoo_uid",
    "person",
    "oauth_client",
    "client_ip",
    "mcp_method",
    "protocol_version",
    "tool",
    "model",
    "operation",
    "record_ids",
    "decision",
    "reason",
    "confirmed_by",
    "outcome",
    "odoo_error_class",
    "http_status",
    "duration_ms",
    "call_id",
    "arguments",
];

pub const CSV_HEADER: &str = "seq,hash,prev_hash,time,kind,instance,request_id,key_id,key_name,profile,odoo_uid,person,oauth_client,client_ip,mcp_method,protocol_version,tool,model,operation,record_ids,decision,reason,confirmed_by,outcome,odoo_error_class,http_status,duration_ms,call_id,arguments";

/// One CSV line (RFC 4180 quoting), without the line break.
pub fn csv_line(row: &AuditRow) -> String {
    COLUMNS
        .iter()
        .map(|c| {
            let v = match *c {
                "seq" => row.seq.to_string(),
                "hash" => row.hash.clone(),
                "prev_hash" => row.prev_hash.clone(),
                other => match row.record.get(other) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                },
            };
            quote(&v)
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn quote(v: &str) -> String {
    // Cells starting with =, +, - or @ are prefixed so spreadsheets do not run them as formulas.
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_columns_and_quoting() {
        assert_eq!(CSV_HEADER, COLUMNS.join(","));
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("=cmd()"), "'=cmd()");
        assert_eq!(quote("plain"), "plain");
    }
}
