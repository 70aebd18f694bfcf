//! The chain's canonical JSON: for any JSON, canonical output is valid JSON whose canonical form
//! is itself (so a record reread from the store hashes the same), and the chain hash is defined.
#![no_main]
use libfuzzer_sys::fuzz_target;
use odoo_warden::audit;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let canonical = audit::canonical_json(&v);
    let reread: Value = match serde_json::from_slice(&canonical) {
        Ok(r) => r,
        Err(e) => panic!("canonical JSON does not parse: {e}"),
    };
    assert_eq!(audit::canonical_json(&reread), canonical);
    assert_eq!(
        audit::chain("prev", 7, &v),
        audit::chain("prev", 7, &reread)
    );
});
