//! Every decision, pure: whether an APR, a payload, a manifest, a consume
//! or a revoke is acceptable is a function of data. Owns the verdict
//! codes (`reject`), the facts (`facts`), and one file per decision:
//! `validate` (payloads), `manifest`, `quorum` (who counts; the one
//! proposer rule), `execute`, `grant` (is a row honoured), `consume`,
//! `revoke`, `review`, `readback`, `propose`, `patch`, and the option
//! values `durability` and `limits`.
//!
//! Must never touch the file system, the environment, the database, a
//! process or the clock, and never verify a signature: times are passed
//! in, and signature results arrive as data from `integrity::verified`
//! (`tests/layers.rs` holds this).

pub mod consume;
pub mod durability;
pub mod execute;
pub mod facts;
pub mod grant;
pub mod limits;
pub mod manifest;
pub mod outcome;
pub mod patch;
pub mod payload;
pub mod propose;
pub mod quorum;
pub mod readback;
pub mod reject;
pub mod review;
pub mod revoke;
pub mod validate;

#[cfg(test)]
mod test_support;
