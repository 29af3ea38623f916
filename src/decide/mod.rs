//! Every decision, pure: whether an APR, a payload, a consume or a revoke is
//! acceptable is a function of data. Nothing here touches the file system,
//! the environment, the database or the clock; times and signature results
//! are passed in.

pub mod durability;
pub mod manifest;
pub mod patch;
pub mod payload;
pub mod policy;
pub mod propose;
pub mod reject;
