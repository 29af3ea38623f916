//! PostgreSQL: connecting as psql connects, timeouts, transactions, every
//! statement. Returns typed results, never a Verdict.

pub mod connect;
pub mod db;
pub mod failpoint;
pub mod tls;
