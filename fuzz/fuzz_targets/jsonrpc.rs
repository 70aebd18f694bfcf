//! JSON-RPC message parsing: any bytes give a message or a precise failure, never a panic; a
//! failure's answer is itself valid JSON-RPC.
#![no_main]
use libfuzzer_sys::fuzz_target;
use odoo_warden::mcp::jsonrpc;

fuzz_target!(|data: &[u8]| {
    match jsonrpc::parse(data) {
        Ok(_) => {}
        Err(failure) => {
            let answer = failure.to_response();
            assert_eq!(answer["jsonrpc"], "2.0");
            assert!(
                answer["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
    }
});
