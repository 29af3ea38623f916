//! The operating system, read safely: named files and standard input
//! (`file`, never past a cap, never blocking on a FIFO) and the running
//! user (`user`). The bottom layer: it uses no other part of the crate, and
//! never decides what a failed read means (it returns `ReadError`).

pub mod file;
pub mod user;
