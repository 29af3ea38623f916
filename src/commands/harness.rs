//! `harness`: the negative suite on a disposable cluster, as a report.
//! Never touches a database it did not make.

use super::output::Output;
use crate::commands::verdict::{Status, Verdict};
use crate::decide::reject::{Done, Fault, Reject};

pub(super) fn harness(json: bool, keep: bool) -> Output {
    let bin = match std::env::current_exe() {
        Ok(b) => b,
        Err(e) => {
            return Output::Verdict(Verdict::fault(
                Fault::Io,
                format!("cannot find this binary: {e}"),
            ))
        }
    };
    let report = match crate::disposable::harness::run(&bin, keep) {
        Ok(r) => r,
        Err(e) => {
            return Output::Verdict(Verdict::fault(
                Fault::Io,
                format!("the harness could not run: {e}"),
            ))
        }
    };
    let (passed, failed) = (report.passed(), report.failed());
    let mut v = if failed == 0 {
        Verdict::done(
            Done::HarnessPassed,
            format!("{passed} passed, {failed} failed"),
        )
    } else {
        Verdict::new(
            Status::Reject(Reject::HarnessFailed),
            format!("{passed} passed, {failed} failed"),
        )
    };
    let rows: Vec<serde_json::Value> = report
        .rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "case": r.case, "wrong": r.wrong, "expected": r.expected, "got": r.got,
                "grants_before": r.grants_before, "grants_after": r.grants_after,
                "pass": r.passed(), "failures": r.failures,
            })
        })
        .collect();
    v = v
        .detail("passed", passed)
        .detail("failed", failed)
        .detail("server", report.server.clone());
    if let Some(kept) = &report.kept {
        v = v
            .detail("kept_socket_dir", kept.socket_dir.clone())
            .detail("kept_data_dir", kept.data_dir.clone())
            .detail("kept_databases", kept.databases.clone())
            .detail("stop_with", kept.stop_with.clone());
    }
    if json {
        return Output::Verdict(v.detail("cases", rows));
    }
    let text = crate::commands::harness_report::text(&report, &v);
    Output::Text(text, v)
}
