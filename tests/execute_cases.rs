//! The execute negative suite: every case in fixtures/cases/execute.json,
//! each in its own database, through the real binary as the handler role.
mod common;
use common::*;
use dot_authorize_build_step::cases::{run_case, suites};
use std::path::Path;

#[test]
fn every_execute_fixture_gets_its_verdict_and_code_and_refusals_write_nothing() {
    let pg = Pg::start();
    let (_, suite) = suites()
        .into_iter()
        .find(|(n, _)| *n == "execute.json")
        .expect("execute.json");
    let mut failed = Vec::new();
    for (i, case) in suite.cases.iter().enumerate() {
        let outcome = run_case(&pg.cluster, Path::new(BIN), case, i)
            .unwrap_or_else(|e| panic!("{}: {e}", case.case));
        if !outcome.passed() {
            failed.push(format!(
                "{}: {}\n{}",
                outcome.case,
                outcome.failures.join("; "),
                outcome.transcript
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        suite.cases.len(),
        failed.join("\n\n")
    );
}
