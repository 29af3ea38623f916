//! Disposable PostgreSQL clusters and what runs on them: fixtures, the
//! harness's cases. Serves `cargo test`, `harness` and the demo alike.

pub mod cases;
pub mod fixtures;
pub mod harness;
pub mod pgtemp;
