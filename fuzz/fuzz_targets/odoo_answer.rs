//! Odoo's answers: any JSON taken as an error (`/jsonrpc` or JSON-2, any status), as version
//! information, or as a `web_search_read` page gives a value or a clean refusal, and an error's
//! message never carries a traceback.
#![no_main]
use libfuzzer_sys::fuzz_target;
use odoo_warden::odoo::dialect::Dialect;
use odoo_warden::odoo::{GroupedRead, OdooError, OdooVersion, SearchRead};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let status = 400 + u16::from(data.first().copied().unwrap_or(0)) % 200;
    let Ok(v) = serde_json::from_slice::<Value>(data.get(1..).unwrap_or(&[])) else {
        return;
    };
    for e in [
        OdooError::from_jsonrpc_error(&v),
        OdooError::from_json2_error(status, &v),
    ] {
        assert!(
            !e.message.contains("Traceback (most recent call last)"),
            "{}",
            e.message
        );
        let _ = e.summary();
    }
    if let Some(version) = OdooVersion::from_info(&v) {
        let _ = version.has_json2();
    }
    if let Some(s) = v.as_str() {
        let _ = OdooVersion::parse(s);
    }
    for version in ["16.0", "17.0", "18.0", "19.0"] {
        let Some(version) = OdooVersion::parse(version) else {
            continue;
        };
        let dialect = Dialect::new(version);
        let page = SearchRead::new(Value::Array(vec![]), ["name", "partner_id"]);
        let _ = dialect.normalize_page(&page, v.clone());
        let groups = GroupedRead {
            domain: Value::Array(vec![]),
            groupby: vec!["state".into(), "date_order:month".into()],
            aggregates: vec!["amount_total:sum".into(), "__count".into()],
            limit: None,
            offset: None,
            order: None,
        };
        let _ = dialect.normalize_groups(&groups, v.clone());
    }
});
