//! PostgreSQL: connecting as psql connects, timeouts, transactions, every
//! statement. Returns typed results, never a Verdict.
//!
//! The shell around `decide`: it reads the facts, hands them to the
//! decisions, and writes exactly what they allowed, in one READ COMMITTED
//! transaction per command (READ ONLY for a dry run, so the server itself
//! refuses any write). Every error becomes a typed `Stop`; a dropped
//! transaction rolls back, so a refusal writes nothing. Never decides
//! whether a grant, a vote or an APR is acceptable, and never builds output.
//!
//! Built for a transaction-mode pooler and for few round trips: every
//! statement is an unnamed one, every setting is `SET LOCAL` sent with
//! BEGIN (`tx`), and each command reads everything it decides on in one
//! statement (`sql`). A mint is 4 round trips (BEGIN with the APR lock,
//! read with the scope lock and the clock, guarded insert, COMMIT); consume
//! and revoke are 4 (BEGIN, locked read, compare-and-swap, COMMIT); a path
//! that writes nothing ends with ROLLBACK (see `Tx::end_unwritten`).
//!
//! - `connect`, `tls`: where and how to connect, as libpq decides it.
//! - `conn`: the connection, and database errors as typed faults.
//! - `tx`: one transaction; `sql`: every statement, named.
//! - `rows`: rows into facts; `grants`, `mint`, `spend`, `aprs`, `read`:
//!   each command's reads and writes; `durability`: `--durability replicated`.

pub mod aprs;
pub mod conn;
pub mod connect;
pub mod durability;
pub mod failpoint;
pub mod grants;
pub mod mint;
pub mod read;
pub mod rows;
pub mod spend;
pub mod sql;
pub mod tls;
pub mod tx;
