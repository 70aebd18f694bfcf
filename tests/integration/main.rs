//! The integration tests: one test binary (`cargo test --test integration`), one module per
//! area, so the Odoo emulator and the harnesses are compiled once for all of them. Run one area
//! with a filter on its module path, e.g. `cargo test --test integration store_audit::`.
//!
//! Shared by every module:
//! - `emulator` (`tests/emulator/`): the Odoo emulator, also used by `tests/process.rs`, the
//!   benches and the `odoo-emulator` example, which is why it stays outside this directory;
//! - `warden` (`tests/support/warden.rs`): odoo-warden in-process on loopback ports;
//! - `certs` (`tests/support/certs.rs`): a test CA and server certificates (rcgen) for TLS;
//! - `pg` (`tests/support/pg.rs`): one throwaway PostgreSQL server for the whole process; each
//!   test that uses it creates a database of its own.
//!
//! Kept apart as binaries of their own: `tests/process.rs` (runs the real binary, changes
//! process limits) and `tests/deploy.rs` (checks the files in `deploy/`).

#[path = "../support/certs.rs"]
mod certs;
#[path = "../emulator/mod.rs"]
mod emulator;
#[path = "../support/pg.rs"]
#[allow(dead_code)] // the fault switches are for tests/store_faults.rs
mod pg;
#[path = "../support/warden.rs"]
mod warden;

mod audit;
mod auth;
mod confirm;
mod console;
mod fixture_replay;
mod limits;
mod mcp_http;
mod oauth_cimd;
mod oauth_flow;
mod oauth_grants;
mod odoo_client;
mod odoo_faults;
mod policy_tools;
mod round_trips;
mod store;
mod store_audit;
mod tls;
