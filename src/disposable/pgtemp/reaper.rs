//! The reaper: what stops a disposable cluster and removes its files when
//! its `Cluster` drops, when a signal ends the process (`teardown_all`),
//! and when a dead owner left it behind (`reap_leftovers`). It never
//! removes a directory marked KEPT.
//!
//! It kills only processes this code started, each told apart from a later
//! process with the same pid by its start time: the server programs it
//! spawned and still waits on (`output`, recorded in memory and in the
//! cluster's `spawned` file, for the reaper of a dead owner), the
//! postmaster its cluster's `postmaster.pid` names (only when that process
//! works in the cluster's data directory and started when the file says),
//! the pooler its own `pgbouncer.pid` names, and the descendants of these.
//! It must never kill a process for what its command line says: any
//! process may name the cluster's path.

use super::server::server_command;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Every cluster this process started and has not yet dropped or kept:
/// what `teardown_all` stops when a signal ends the process early.
static LIVE: Mutex<Vec<Teardown>> = Mutex::new(Vec::new());

/// Held by each teardown while it runs. A signal's `teardown_all` and the
/// drop of a `Cluster` whose server it just stopped tear down the same
/// directory: one after the other, the second finds nothing left (no
/// postmaster.pid, so no `pg_ctl stop` of its own that the process's exit
/// would leave running).
static TEARING_DOWN: Mutex<()> = Mutex::new(());

/// A process this code started, named by its pid and its start time (in
/// clock ticks since boot, as /proc says), so that a later process given
/// the same pid is never taken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Started {
    pid: u32,
    ticks: u64,
}

impl Started {
    /// The running process `pid` (a child not yet waited on: its pid
    /// cannot have been given to another).
    pub(super) fn of(pid: u32) -> Option<Started> {
        let p = stat(pid)?;
        Some(Started {
            pid,
            ticks: p.ticks,
        })
    }
}

/// How to stop one cluster and remove its files, without the `Cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Teardown {
    root: PathBuf,
    bin: PathBuf,
    run_as_postgres: bool,
    /// The server programs (initdb, pg_ctl, pg_basebackup, pgbouncer, or
    /// the runuser that runs them) started for this cluster and still
    /// running.
    spawned: Vec<Started>,
}

impl Teardown {
    pub(super) fn new(root: &Path, bin: &Path, run_as_postgres: bool) -> Teardown {
        Teardown {
            root: root.to_path_buf(),
            bin: bin.to_path_buf(),
            run_as_postgres,
            spawned: Vec::new(),
        }
    }

    /// Stops the server, then kills what this code started for the
    /// cluster that still runs (an initdb caught half-way, a postmaster
    /// still starting up, which `pg_ctl stop` refuses, and their children),
    /// waits until it is gone, and removes the files.
    pub(super) fn run(&self) {
        let _one_at_a_time = TEARING_DOWN.lock();
        self.run_alone();
    }

    fn run_alone(&self) {
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
            let pids = self.processes();
            if pids.is_empty() || Instant::now() > deadline {
                break;
            }
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(pids.iter().map(u32::to_string))
                .output();
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = fs::remove_dir_all(&self.root);
    }

    /// The running processes this code started for the cluster, with every
    /// descendant of theirs (a postmaster's backends; runuser's child).
    pub(super) fn processes(&self) -> Vec<u32> {
        let procs = all_processes();
        let running = |s: &Started| {
            procs
                .iter()
                .any(|p| p.pid == s.pid && p.ticks == s.ticks && !p.zombie)
        };
        let mut roots: Vec<u32> = self
            .spawned
            .iter()
            .copied()
            .chain(recorded(&self.root))
            .filter(|s| running(s))
            .map(|s| s.pid)
            .collect();
        roots.extend(postmaster(&self.root.join("data"), &procs));
        roots.extend(poolers(&self.root, &procs));
        with_descendants(roots, &procs)
    }
}

/// Takes the cluster at `t.root` into the list `teardown_all` stops.
pub(super) fn register(t: Teardown) {
    if let Ok(mut live) = LIVE.lock() {
        live.push(t);
    }
}

/// Takes the cluster at `root` out of that list (dropped, or kept).
pub(super) fn forget(root: &Path) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|t| t.root != root);
    }
}

/// Notes that `started` runs for the cluster at `root`, until `unrecord`:
/// in memory, for this process's teardowns, and in the cluster's own
/// `SPAWNED` file, so that the reaper of a later process knows what a dead
/// owner had started (an initdb its kill -9 caught half-way). An entry
/// left there after the program exits names nothing: a later process with
/// that pid has another start time.
pub(super) fn record(root: &Path, started: Started) {
    if let Ok(mut live) = LIVE.lock() {
        if let Some(t) = live.iter_mut().find(|t| t.root == root) {
            t.spawned.push(started);
        }
    }
    use std::io::Write as _;
    if let Ok(mut f) = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join(SPAWNED))
    {
        let _ = writeln!(f, "{} {}", started.pid, started.ticks);
    }
}

/// The file in a cluster's directory that lists the server programs
/// started for it: "pid start-ticks" a line.
const SPAWNED: &str = "spawned";

/// What the cluster's `SPAWNED` file lists (running or not).
fn recorded(root: &Path) -> Vec<Started> {
    let text = fs::read_to_string(root.join(SPAWNED)).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (pid, ticks) = l.split_once(' ')?;
            Some(Started {
                pid: pid.parse().ok()?,
                ticks: ticks.parse().ok()?,
            })
        })
        .collect()
}

pub(super) fn unrecord(root: &Path, started: Started) {
    if let Ok(mut live) = LIVE.lock() {
        for t in live.iter_mut().filter(|t| t.root == root) {
            t.spawned.retain(|s| *s != started);
        }
    }
}

/// `cmd.output()` for a server program run for the cluster at `root`,
/// recorded while it runs so that `teardown_all` may stop it.
pub(super) fn output(root: &Path, cmd: &mut Command) -> std::io::Result<Output> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let started = Started::of(child.id());
    if let Some(s) = started {
        record(root, s);
    }
    let out = child.wait_with_output();
    if let Some(s) = started {
        unrecord(root, s);
    }
    out
}

/// Stops every cluster this process still owns and removes its files: for
/// a SIGINT or SIGTERM handler (harness), so that an interrupted run leaves
/// no server running and nothing in /dev/shm.
pub fn teardown_all() {
    let _one_at_a_time = TEARING_DOWN.lock();
    let live: Vec<Teardown> = LIVE
        .lock()
        .map(|mut l| l.drain(..).collect())
        .unwrap_or_default();
    for t in live {
        t.run_alone();
    }
}

/// What /proc says of one process.
#[derive(Debug, Clone, Copy)]
struct Proc {
    pid: u32,
    ppid: u32,
    /// Start time, clock ticks after boot.
    ticks: u64,
    /// Exited, not yet waited for: nothing left to kill.
    zombie: bool,
}

fn stat(pid: u32) -> Option<Proc> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …": comm may hold spaces and parentheses.
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    Some(Proc {
        pid,
        // Fields 3 (state), 4 (ppid) and 22 (starttime) of proc(5).
        ppid: fields.get(1)?.parse().ok()?,
        ticks: fields.get(19)?.parse().ok()?,
        zombie: matches!(fields.first(), Some(&"Z" | &"X")),
    })
}

fn all_processes() -> Vec<Proc> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| stat(e.file_name().to_str()?.parse().ok()?))
        .collect()
}

/// `roots` that still run, and every running process descended from one.
fn with_descendants(roots: Vec<u32>, procs: &[Proc]) -> Vec<u32> {
    let me = std::process::id();
    let mut out: Vec<u32> = roots.into_iter().filter(|p| *p != me).collect();
    let mut i = 0;
    while let Some(&parent) = out.get(i) {
        for p in procs {
            if p.ppid == parent && !p.zombie && p.pid != me && !out.contains(&p.pid) {
                out.push(p.pid);
            }
        }
        i += 1;
    }
    out
}

/// When `p` started, in seconds since the epoch.
fn started_at(p: &Proc) -> Option<u64> {
    static BOOT_AND_HZ: OnceLock<Option<(u64, u64)>> = OnceLock::new();
    let (boot, hz) = (*BOOT_AND_HZ.get_or_init(|| {
        let stat = fs::read_to_string("/proc/stat").ok()?;
        let boot = stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        // USER_HZ, the unit of /proc's times: 100 on every Linux port
        // this runs on; getconf says so where it is installed.
        let hz = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|hz| *hz > 0)
            .unwrap_or(100);
        Some((boot, hz))
    }))?;
    Some(boot + p.ticks / hz)
}

/// The postmaster of `data`, if it runs: the pid its `postmaster.pid`
/// names, when that process's working directory is `data` (the postmaster
/// works in its data directory) and it started when the file says.
fn postmaster(data: &Path, procs: &[Proc]) -> Option<u32> {
    let text = fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let mut lines = text.lines();
    let pid: u32 = lines.next()?.trim().parse().ok()?;
    let named: PathBuf = lines.next()?.trim().into();
    let since: u64 = lines.next()?.trim().parse().ok()?;
    let p = procs.iter().find(|p| p.pid == pid && !p.zombie)?;
    let data = fs::canonicalize(data).ok()?;
    let cwd = fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
    let same_dir = cwd == data && fs::canonicalize(named).ok()? == data;
    (same_dir && started_at(p)?.abs_diff(since) <= 2).then_some(pid)
}

/// The poolers started in `root` (`pgbouncer-N/`): the pid each one's
/// `pgbouncer.pid` names, when that process runs a program called
/// pgbouncer and started at most 10 s before it wrote the file.
fn poolers(root: &Path, procs: &[Proc]) -> Vec<u32> {
    let dirs = fs::read_dir(root).into_iter().flatten().flatten();
    dirs.filter(|e| e.file_name().to_string_lossy().starts_with("pgbouncer-"))
        .filter_map(|e| {
            let file = e.path().join("pgbouncer.pid");
            let written = fs::metadata(&file)
                .ok()?
                .modified()
                .ok()?
                .duration_since(UNIX_EPOCH)
                .ok()?
                .as_secs();
            let pid: u32 = fs::read_to_string(&file).ok()?.trim().parse().ok()?;
            let p = procs.iter().find(|p| p.pid == pid && !p.zombie)?;
            let exe = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
            let is_pgbouncer = exe
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("pgbouncer"));
            let at = started_at(p)?;
            (is_pgbouncer && at <= written + 1 && written <= at + 10).then_some(pid)
        })
        .collect()
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
            Teardown::new(&entry.path(), bin, run_as_postgres).run();
        }
    }
}
