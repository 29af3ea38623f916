//! One thin file per subcommand, the verdict they return and its
//! rendering. The only layer that puts the others together: `run`
//! dispatches, `context` resolves what a command needs once, `settle`
//! reads back a lost commit, `record` writes the evidence line, `render`
//! and `yaml` turn values into text. Never speaks SQL (store does), never
//! decides policy (decide does).

pub mod aprs;
pub mod consume;
pub mod context;
pub mod digest;
pub mod evidence;
pub mod execute;
pub mod harness;
pub mod harness_report;
pub mod keys;
pub mod list;
pub mod manifest;
pub mod outcome;
pub mod output;
pub mod patch;
pub mod patch_io;
pub mod propose;
pub mod readback;
pub mod record;
pub mod render;
pub mod review;
pub mod revoke;
pub mod run;
pub mod settle;
pub mod show;
pub mod verdict;
pub mod yaml;
