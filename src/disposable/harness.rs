//! `harness`: the operator's proof before binding (seed 004 STEP 3). On a
//! disposable cluster with the compiled-in schema model it checks the staged
//! bind and unbind, runs every fixture case (the same files `cargo test`
//! runs) and real races, all as the least-privilege role, and reports one
//! row per check. Needs nothing but this binary and PostgreSQL's server
//! binaries.

//!
//! The checks live beside it (`staged`: bind, roles, races; `findings`:
//! issues 18 and 22), sharing `row`. It renders its table and what it kept,
//! never a verdict: the command's last line is commands/harness_report.rs's.

mod findings;
mod row;
mod staged;

use crate::disposable::cases::{self, Outcome};
use crate::disposable::fixtures;
use std::path::Path;

pub struct Report {
    pub rows: Vec<Outcome>,
    /// A cluster kept with --keep: where it is, its databases, how to stop it.
    pub kept: Option<crate::disposable::pgtemp::Kept>,
    pub socket_dir: String,
    /// The server it ran on (`Cluster::server`).
    pub server: String,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.rows.iter().filter(|r| r.passed()).count()
    }
    pub fn failed(&self) -> usize {
        self.rows.len() - self.passed()
    }
}

/// Runs everything; `Err` when the harness itself could not run (no server
/// binaries, a cluster that would not start).
pub fn run(bin: &Path, keep: bool) -> Result<Report, String> {
    tear_down_on_signals()?;
    let report = run_all(bin, keep);
    // A signal's teardown kills what the run waits on; its failure is not
    // the outcome: the signal thread exits with 128 + the signal.
    while INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::park();
    }
    report
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn run_all(bin: &Path, keep: bool) -> Result<Report, String> {
    let cluster = fixtures::governance_cluster().map_err(|e| e.to_string())?;
    let mut rows = vec![
        staged::staged_bind_and_unbind(&cluster)?,
        staged::roles_and_constraints(&cluster)?,
    ];
    // The fixture cases in parallel (each in its own database), then the
    // races, each alone so that 64 processes contend only with each other.
    rows.extend(cases::run_all_cases(
        &cluster,
        bin,
        cases::default_workers(),
    )?);
    rows.push(staged::execute_race(&cluster, bin)?);
    rows.push(staged::consume_race(&cluster, bin)?);
    rows.extend(findings::hostile_inputs(&cluster, bin)?);
    rows.extend(findings::one_person(&cluster, bin)?);
    rows.extend(findings::no_laundering(&cluster, bin)?);
    let socket_dir = cluster.socket_dir().display().to_string();
    let server = cluster.server();
    let kept = if keep {
        Some(
            cluster
                .keep()
                .map_err(|e| format!("cannot keep the cluster: {e}"))?,
        )
    } else {
        None
    };
    Ok(Report {
        rows,
        kept,
        socket_dir,
        server,
    })
}

/// SIGINT or SIGTERM (Ctrl-C, a supervisor's stop) ends the harness with
/// its cluster stopped and its files removed, exit 128 + the signal.
fn tear_down_on_signals() -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
            crate::disposable::pgtemp::teardown_all();
            eprintln!(
                "harness: interrupted by signal {signal}; its PostgreSQL is stopped and removed"
            );
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

/// What `harness` prints for a human before the verdict: the table, the
/// server it ran on, and how to reach a kept cluster.
pub fn summary(report: &Report) -> String {
    let mut text = table(report);
    text.push_str(&format!("server: {}\n", report.server));
    if let Some(kept) = &report.kept {
        text.push_str(&format!(
            "cluster kept (marked {}, so no other run reaps it):\n  socket dir: {} (PGHOST)\n  data dir: {}\n  databases: {}\n  stop it with: {}\n",
            crate::disposable::pgtemp::KEPT_MARK,
            kept.socket_dir,
            kept.data_dir,
            kept.databases.join(", "),
            kept.stop_with
        ));
    }
    text
}

/// The human table: one row per check and the closing `N passed, M failed`.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let w = report
        .rows
        .iter()
        .map(|r| r.case.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push_str(&format!(
        "{:<w$}  {:<48}  {:<38}  {:<38}  {:>9}  {}\n",
        "case", "what is wrong", "expected", "got", "grants", "result"
    ));
    for r in &report.rows {
        out.push_str(&format!(
            "{:<w$}  {:<48}  {:<38}  {:<38}  {:>9}  {}\n",
            r.case,
            clip(&r.wrong, 48),
            clip(&r.expected, 38),
            clip(&r.got, 38),
            format!("{} -> {}", r.grants_before, r.grants_after),
            if r.passed() { "PASS" } else { "FAIL" }
        ));
    }
    for r in report.rows.iter().filter(|r| !r.passed()) {
        out.push_str(&format!(
            "\nFAIL {}: {}\n{}\n",
            r.case,
            r.failures.join("; "),
            r.transcript
        ));
    }
    out.push_str(&format!(
        "\n{} passed, {} failed\n",
        report.passed(),
        report.failed()
    ));
    out
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests;
