//! Disposable PostgreSQL clusters and what runs on them: `pgtemp` (the
//! cluster, its server, the reaper, PgBouncer), `fixtures` (the SQL the
//! project ships), `cases` (the fixture-driven negative suite and race
//! gates) and `harness` (the operator's proof before binding). Serves
//! `cargo test`, `harness` and the demo alike.
//!
//! Uses the store and below, never `commands`. Must never touch a database
//! it did not create, and its reaper never stops a process it did not
//! start.

pub mod cases;
pub mod fixtures;
pub mod harness;
pub mod pgtemp;
