//! dot-authorize-build-step: the one lawful minter of C1 build-prep grants.
//!
//! The crate is built in layers; each may use only the layers listed before
//! it (`tests/layers.rs` holds the code to this):
//!
//! - [`sys`]: the operating system, read safely (named files, the user).
//! - [`canon`]: canonical forms: the one JSON hasher, JSONB text, manifests.
//! - [`decide`]: every decision, pure: data in, verdict data out.
//! - [`integrity`]: signatures, keys and the evidence log.
//! - [`store`]: PostgreSQL: connecting like psql, transactions, statements.
//! - [`disposable`]: throw-away clusters, fixtures, the harness's cases.
//! - [`cli`]: the command line's definitions, help texts and validators.
//! - [`commands`]: one thin function per subcommand, and rendering.
#![forbid(unsafe_code)]

pub mod canon;
pub mod cli;
pub mod commands;
pub mod decide;
pub mod disposable;
pub mod integrity;
pub mod store;
pub mod sys;
