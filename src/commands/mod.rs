//! One thin function per subcommand, the verdict they return and its
//! rendering. The only layer that puts the others together.

pub mod patch_io;
pub mod run;
pub mod verdict;
pub mod yaml;
