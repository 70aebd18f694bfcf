//! Human confirmation. For now: the integrity-protected state that multi-round-trip requests
//! (MRTR, 2026-07-28) carry between rounds.

pub mod state;
