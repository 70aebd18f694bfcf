//! Policy files: any text parses to a policy or to problems that name what is wrong.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match odoo_warden::policy::Policy::parse(text, "fuzz.toml") {
        Ok(p) => {
            for (_, m) in p.models() {
                let _ = m.referenced_fields();
                for op in odoo_warden::policy::Op::ALL {
                    let _ = m.restriction(op);
                }
            }
        }
        Err(problems) => {
            assert!(!problems.is_empty());
            for p in problems {
                assert!(!p.to_string().is_empty());
            }
        }
    }
});
