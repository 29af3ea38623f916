//! One thin function per subcommand, the verdict they return and its
//! rendering. The only layer that puts the others together.

pub mod harness_report;
pub mod run;
pub mod verdict;
pub mod yaml;
