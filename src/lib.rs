//! odoo-warden: a governance proxy that puts a Model Context Protocol (MCP) door in front of Odoo.
//!
//! Module map (see `DESIGN.md` section 1). Domain modules (`odoo`, `auth`, `policy`, `audit`,
//! `store`) never import `mcp`, `middleware`, `admin` or `app`.
#![forbid(unsafe_code)]

pub mod config;
pub mod mcp;
pub mod odoo;
pub mod secret;
pub mod auth;
pub mod middleware;
pub mod app;
