//! The `odoo-warden` command; everything it does is in [`cli`].
#![forbid(unsafe_code)]
// What a person runs never panics on their input: errors say what to fix.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
