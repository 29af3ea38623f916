//! The negative suites: every case of every file in fixtures/cases/, each in
//! its own database, through the real binary as the handler role. One test
//! per file so they run in parallel.
mod common;
use common::*;
use dot_authorize_build_step::cases::{run_case, suites};
use std::path::Path;

fn run_suite(file: &str) {
    let pg = Pg::start();
    let (_, suite) = suites()
        .into_iter()
        .find(|(n, _)| *n == file)
        .unwrap_or_else(|| panic!("{file}"));
    assert!(!suite.cases.is_empty());
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

#[test]
fn every_execute_fixture_gets_its_verdict_and_code_and_refusals_write_nothing() {
    run_suite("execute.json");
}

#[test]
fn every_consume_fixture_gets_its_verdict_and_code_and_refusals_write_nothing() {
    run_suite("consume.json");
}

#[test]
fn every_revoke_fixture_gets_its_verdict_and_code_and_refusals_write_nothing() {
    run_suite("revoke.json");
}

#[test]
fn every_spec_reject_code_has_at_least_one_fixture() {
    let covered: std::collections::BTreeSet<String> = suites()
        .into_iter()
        .flat_map(|(_, s)| s.cases.into_iter().map(|c| c.expect.code))
        .collect();
    let spec = [
        "REJECT_APR_NOT_FOUND",
        "REJECT_APR_NOT_APPROVED",
        "REJECT_APR_TERMINAL",
        "REJECT_APR_WRONG_ACTION",
        "REJECT_HANDLER_NOT_BOUND",
        "REJECT_QUORUM_NOT_MET",
        "REJECT_QUORUM_VETOED",
        "REJECT_PAYLOAD_MALFORMED",
        "REJECT_SCOPE_CARRIER",
        "REJECT_SCOPE_TARGET",
        "REJECT_SCOPE_LANE",
        "C1_PROD_REAL_RUN_BLOCKED",
        "REJECT_SCOPE_PRODUCTION",
        "REJECT_SCOPE_SOVEREIGN",
        "REJECT_MANIFEST_HASH",
        "REJECT_PROTOCOL_VERSION",
        "REJECT_ACTION_SET",
        "REJECT_PLAN_REF",
        "REJECT_TTL",
        "REJECT_ROLLBACK_PLAN_MISSING",
        "REJECT_APR_TAMPERED",
        "REJECT_ACTIVE_GRANT_EXISTS",
        "REJECT_AUTH_NOT_FOUND",
        "REJECT_AUTH_GENERIC",
        "REJECT_AUTH_WRONG_CARRIER",
        "REJECT_AUTH_WRONG_LANE",
        "REJECT_AUTH_WRONG_TARGET",
        "REJECT_AUTH_WRONG_PLAN",
        "REJECT_AUTH_MANIFEST_MISMATCH",
        "REJECT_AUTH_ACTION_SET_MISMATCH",
        "REJECT_AUTH_STALE",
        "REJECT_AUTH_EXPIRED",
        "REJECT_AUTH_REVOKED",
        "REJECT_AUTH_ALREADY_CONSUMED",
        "REJECT_AUTH_NOT_ACTIVE",
        "REJECT_GRANT_INVALID",
        "REJECT_GRANT_FORGED",
        "MINTED",
        "ALREADY_MINTED",
        "CONSUMED",
        "REVOKED",
        "ALREADY_REVOKED",
        "WOULD_MINT",
        "WOULD_CONSUME",
        "WOULD_REVOKE",
    ];
    let missing: Vec<&str> = spec
        .iter()
        .copied()
        .filter(|c| !covered.contains(*c))
        .collect();
    assert!(missing.is_empty(), "no fixture for {missing:?}");
}
