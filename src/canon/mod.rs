//! Canonical forms: the one JSON hasher (`cser`: nothing else hashes
//! canonical JSON), JSONB's text (`jsonb`), the one escape of human output
//! and the one timestamp form, signed and shown alike (`text`).
//! Uses no other part of the crate; never decides, never reads a file, the
//! database, the network or the clock.

pub mod cser;
pub mod jsonb;
pub mod text;
