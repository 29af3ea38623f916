//! The operating system, read safely: named files and the running user.
//! The bottom layer: it uses no other part of the crate.

pub mod file;
pub mod user;
