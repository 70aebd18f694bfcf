//! Tower layers of the HTTP stack (see `app::mcp_stack` for their order).

pub mod audit;
pub mod auth;
pub mod origin;
pub mod ratelimit;
pub mod request_id;

#[cfg(test)]
mod tests;
