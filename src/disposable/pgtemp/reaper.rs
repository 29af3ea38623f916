//! The reaper: what stops a disposable cluster and removes its files when
//! its `Cluster` drops, when a signal ends the process (`teardown_all`),
//! and when a dead owner left it behind (`reap_leftovers`). It never
//! removes a directory marked KEPT.

use super::server::server_command;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every cluster this process started and has not yet dropped or kept:
/// what `teardown_all` stops when a signal ends the process early.
pub(super) static LIVE: Mutex<Vec<Teardown>> = Mutex::new(Vec::new());

/// How to stop one cluster and remove its files, without the `Cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Teardown {
    pub(super) root: PathBuf,
    pub(super) bin: PathBuf,
    pub(super) run_as_postgres: bool,
}

impl Teardown {
    /// Stops the server, then kills whatever still runs in the directory
    /// (an initdb caught half-way, a postmaster still starting up, which
    /// `pg_ctl stop` refuses), waits until it is gone, and removes the files.
    pub(super) fn run(&self) {
        let data = self.root.join("data");
        if data.join("postmaster.pid").exists() {
            let _ = server_command(&self.bin, self.run_as_postgres, "pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "-t", "30", "stop"])
                .output();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pids = processes_in(&self.root);
            if pids.is_empty() || Instant::now() > deadline {
                break;
            }
            let _ = Command::new("kill").arg("-KILL").args(&pids).output();
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// The processes whose command line names `dir` (initdb, pg_ctl, the
/// postmaster, runuser), as pids for `kill`.
fn processes_in(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id().to_string();
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.to_owned();
            let is_pid = pid.bytes().all(|b| b.is_ascii_digit()) && pid != me;
            let cmdline = fs::read(e.path().join("cmdline")).ok()?;
            (is_pid && String::from_utf8_lossy(&cmdline).contains(&needle)).then_some(pid)
        })
        .collect()
}

/// Stops every cluster this process still owns and removes its files: for
/// a SIGINT or SIGTERM handler (harness), so that an interrupted run leaves
/// no server running and nothing in /dev/shm.
pub fn teardown_all() {
    let live: Vec<Teardown> = LIVE
        .lock()
        .map(|mut l| l.drain(..).collect())
        .unwrap_or_default();
    for t in live {
        t.run();
    }
}

/// The prefix of every scratch directory: `dot-abs-pg-<owner pid>-…`.
pub(super) const SCRATCH_PREFIX: &str = "dot-abs-pg-";

/// The file that marks a kept cluster's directory: its owner exits, and
/// without the mark the next run's reaper would take it for a leftover.
pub const KEPT_MARK: &str = "KEPT";

/// Clusters left by processes that died without tearing down (kill -9, a
/// crash): their directory names the owner's pid; if that process is gone,
/// stop the server and remove the directory. A cluster marked KEPT (by
/// `harness --keep`) outlives its owner on purpose and is never reaped.
pub(super) fn reap_leftovers(base: &Path, bin: &Path, run_as_postgres: bool) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if entry.path().join(KEPT_MARK).exists() {
            continue;
        }
        if owner != std::process::id() && !Path::new(&format!("/proc/{owner}")).exists() {
            Teardown {
                root: entry.path(),
                bin: bin.to_path_buf(),
                run_as_postgres,
            }
            .run();
        }
    }
}
