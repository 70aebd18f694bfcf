//! MCP header handling: header lines (`name: value`) up to an empty line, then a body; the
//! stateless revision's checks accept or say why, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(data.len());
    let (head, body) = data.split_at(split);
    let body = body.get(2..).unwrap_or(&[]);
    let mut headers = http::HeaderMap::new();
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value[1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    if let Err(why) = odoo_warden::mcp::fuzzing::check_headers(&headers, body) {
        assert!(!why.is_empty());
    }
});
