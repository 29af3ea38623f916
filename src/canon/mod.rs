//! Canonical forms: the one JSON hasher (cser), JSONB's text, the text of
//! output and timestamps.
//! Uses only [`crate::sys`]; never the database, the network or the clock.

pub mod cser;
pub mod jsonb;
pub mod text;
