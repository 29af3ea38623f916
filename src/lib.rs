//! dot-authorize-build-step: the one lawful minter of C1 build-prep grants.
//! The library decides (policy, cser, manifest), the shell writes (db), the
//! binary talks (cli, main).
#![forbid(unsafe_code)]

pub mod approval;
pub mod cases;
pub mod cli;
pub mod connect;
pub mod cser;
pub mod db;
pub mod docs;
pub mod evidence;
pub mod failpoint;
pub mod fixtures;
pub mod harness;
pub mod jsonb;
pub mod manifest;
pub mod patch;
pub mod payload;
pub mod pgtemp;
pub mod policy;
pub mod propose;
pub mod reject;
pub mod run;
pub mod signing;
pub mod tls;
pub mod verdict;
pub mod yaml;
