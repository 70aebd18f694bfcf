//! odoo-warden: a governance proxy that puts a Model Context Protocol (MCP) door in front of Odoo.
//!
//! Module map: docs/architecture.md. Domain modules (`odoo`, `auth`, `policy`, `audit`, `store`,
//! `profile`) never import `mcp`, `middleware`, `admin` or `app`; `middleware` and `mcp` do not
//! import each other; refusals of every layer are one type ([`refusal::Refusal`]).
#![forbid(unsafe_code)]
// No unwrap, expect or panic outside tests: a request path answers with an error instead.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod confirm;
pub mod console;
pub mod killswitch;
pub mod listener;
pub mod mcp;
pub mod metrics;
pub mod middleware;
pub mod oauth;
pub mod odoo;
pub mod policy;
pub mod profile;
pub mod refusal;
pub mod secret;
pub mod signin;
pub mod store;
pub mod tls;

/// mimalloc: the request path allocates many small, short-lived values (JSON, headers, audit
/// records); glibc's allocator spent close to a fifth of the CPU on them under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
