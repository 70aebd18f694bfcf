//! OAuth 2.1 for MCP clients (issue 17), transport-free: sealing people's Odoo keys at rest
//! ([`seal`]) and the token primitives ([`token`]: opaque tokens kept only as SHA-256 hashes,
//! PKCE S256), and [`grants`]: codes, token exchange, rotating refresh tokens, revocation and
//! the per-request check of an access token. The store side is `store::oauth`. The authorization server's endpoints, the
//! sign-in form and per-person Odoo sessions build on these (not yet wired into the listeners).

pub mod grants;
pub mod people;
pub mod seal;
pub mod token;

pub use seal::{KeySeal, SealError};
