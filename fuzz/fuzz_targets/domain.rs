//! Domains: any JSON goes through the policy's normalisation and conjunction and the client's
//! validation without a panic; a normalised domain normalises to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use odoo_warden::{odoo, policy};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = odoo::domain::validate_order(text);
        let _ = odoo::domain::is_field_path(text);
    }
    let Ok(domain) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = odoo::domain::validate(&domain);
    let _ = odoo::domain::leaves(&domain).count();
    let normal = Value::Array(policy::domain::normalize(&domain));
    assert_eq!(Value::Array(policy::domain::normalize(&normal)), normal);
    let both = policy::domain::and(&normal, &domain);
    let _ = policy::domain::normalize(&both);
});
