//! The harness's checks of the staged SQL and of races: bind and unbind,
//! the role split and the table's constraints as the roles meet them, and
//! 64 executes (or consumes) of one APR (or grant) released together. Each
//! returns one report row; none prints.

use super::row::{outcome, race_database};
use crate::disposable::cases::{self, Gate, Outcome};
use crate::disposable::fixtures::{self, HANDLER_ROLE};
use crate::disposable::pgtemp::{Cluster, SUPERUSER};
use std::path::Path;

const RACE_COPIES: usize = 64;

/// staged/bind on an unbound row changes exactly one row; a second bind
/// fails and changes nothing; staged/unbind restores the original value.
pub(super) fn staged_bind_and_unbind(cluster: &Cluster) -> Result<Outcome, String> {
    let db = cases::fresh_database(cluster).map_err(|e| e.to_string())?;
    let mut c = cluster.connect(SUPERUSER, &db).map_err(|e| e.to_string())?;
    let handler_ref = |c: &mut postgres::Client| -> Result<String, String> {
        c.query_one(
            "SELECT handler_ref FROM apr_action_types WHERE action_code = 'authorize_build_step'",
            &[],
        )
        .map(|r| r.get(0))
        .map_err(|e| e.to_string())
    };
    let mut failures = Vec::new();
    let mut seen = Vec::new();
    if let Err(e) = c.batch_execute(fixtures::BIND_SQL) {
        failures.push(format!("bind failed: {e}"));
    }
    seen.push(handler_ref(&mut c)?);
    if c.batch_execute(fixtures::BIND_SQL).is_ok() {
        failures.push("a second bind succeeded".into());
    }
    let _ = c.batch_execute("ROLLBACK");
    seen.push(handler_ref(&mut c)?);
    if let Err(e) = c.batch_execute(fixtures::UNBIND_SQL) {
        failures.push(format!("unbind failed: {e}"));
    }
    seen.push(handler_ref(&mut c)?);
    let want = [
        "dot-apr-execute:authorize_build_step",
        "dot-apr-execute:authorize_build_step",
        "unimplemented",
    ];
    if seen != want {
        failures.push(format!("handler_ref went {seen:?}, expected {want:?}"));
    }
    Ok(outcome(
        "staged/bind-then-unbind",
        "nothing: bind, bind again (refused), unbind",
        "bound, unchanged, unbound",
        seen.join(" -> "),
        0,
        0,
        failures,
    ))
}

/// The role split and the table's constraints, as the roles themselves
/// meet them: the consumer cannot insert a grant, the proposer cannot
/// insert an approved APR, and a ten-year or unbound grant is refused even
/// with the writer marker set.
pub(super) fn roles_and_constraints(cluster: &Cluster) -> Result<Outcome, String> {
    let db = cases::fresh_database(cluster).map_err(|e| e.to_string())?;
    let marker = "SELECT set_config('dot.canonical_writer', 'dot-authorize-build-step', true)";
    let ten_years =
        "INSERT INTO governance_build_authorization (auth_code, request_ref, status, expires_at) \
                     VALUES ('GBA-C1-X', 'X', 'active', now() + interval '3650 days')";
    let attempts = [
        (
            fixtures::CONSUMER_ROLE,
            format!("BEGIN; {marker}; {ten_years}; COMMIT"),
            "42501",
        ),
        (
            fixtures::HANDLER_ROLE,
            format!("BEGIN; {marker}; {ten_years}; COMMIT"),
            "23514",
        ),
        (
            fixtures::PROPOSER_ROLE,
            "INSERT INTO apr_requests (apr_code, action_code, proposed_by, status) \
             VALUES ('X', 'authorize_build_step', 'p', 'approved')"
                .to_owned(),
            "42501",
        ),
    ];
    let mut failures = Vec::new();
    let mut seen = Vec::new();
    for (role, sql, want) in attempts {
        let mut c = cluster.connect(role, &db).map_err(|e| e.to_string())?;
        let got = match c.batch_execute(&sql) {
            Ok(()) => "accepted".to_owned(),
            Err(e) => e
                .code()
                .map_or("no SQLSTATE".into(), |c| c.code().to_owned()),
        };
        if got != want {
            failures.push(format!("{role}: expected {want}, got {got}"));
        }
        seen.push(format!("{role} {got}"));
    }
    let mut admin = cluster.connect(SUPERUSER, &db).map_err(|e| e.to_string())?;
    let grants = cases::grant_count(&mut admin).map_err(|e| e.to_string())?;
    Ok(outcome(
        "staged/roles-and-constraints",
        "consumer inserts a grant; minter inserts a 10-year grant; proposer inserts an approved APR",
        "42501, 23514, 42501",
        seen.join(", "),
        0,
        grants,
        failures,
    ))
}

pub(super) fn execute_race(cluster: &Cluster, bin: &Path) -> Result<Outcome, String> {
    let (db, mut c) = race_database(cluster, "APR-C1-RACE")?;
    let gate = Gate::apr(cluster, &db, "APR-C1-RACE")?;
    let argv: Vec<String> = ["execute", "--apr", "APR-C1-RACE", "--json"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let outputs = cases::spawn_released(cluster, bin, &db, &vec![argv; RACE_COPIES], Some(gate))?;
    let counts = cases::tally(&outputs);
    let after = cases::grant_count(&mut c).map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    if counts.get("MINTED") != Some(&1)
        || counts.get("ALREADY_MINTED") != Some(&(RACE_COPIES - 1))
        || after != 1
    {
        failures.push(format!("counts {counts:?}, {after} rows"));
    }
    Ok(outcome(
        "race/execute-x64",
        "64 executes of one APR released together",
        "1 MINTED, 63 ALREADY_MINTED",
        summarize(&counts),
        0,
        after,
        failures,
    ))
}

pub(super) fn consume_race(cluster: &Cluster, bin: &Path) -> Result<Outcome, String> {
    let (db, mut c) = race_database(cluster, "APR-C1-CRACE")?;
    let mint = cases::command(
        cluster,
        bin,
        HANDLER_ROLE,
        &db,
        &["execute".into(), "--apr".into(), "APR-C1-CRACE".into()],
    )
    .output()
    .map_err(|e| e.to_string())?;
    if !mint.status.success() {
        return Err(format!(
            "consume race: mint failed: {}",
            String::from_utf8_lossy(&mint.stdout)
        ));
    }
    let vocabulary = cases::vocabulary(&mut c).map_err(|e| e.to_string())?;
    let mut argv = cases::consume_argv("GBA-C1-APR-C1-CRACE", "LEGO1-C1-PLAN", &vocabulary);
    argv.push("--json".into());
    let gate = Gate::grant(cluster, &db, "GBA-C1-APR-C1-CRACE")?;
    let outputs = cases::spawn_released(cluster, bin, &db, &vec![argv; RACE_COPIES], Some(gate))?;
    let counts = cases::tally(&outputs);
    let consumed: i64 = c
        .query_one(
            "SELECT count(*) FROM governance_build_authorization WHERE status = 'consumed'",
            &[],
        )
        .map(|r| r.get(0))
        .map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    if counts.get("CONSUMED") != Some(&1)
        || counts.get("REJECT_AUTH_ALREADY_CONSUMED") != Some(&(RACE_COPIES - 1))
        || consumed != 1
    {
        failures.push(format!("counts {counts:?}, {consumed} consumed rows"));
    }
    Ok(outcome(
        "race/consume-x64",
        "64 consumes of one grant released together",
        "1 CONSUMED, 63 ALREADY_CONSUMED",
        summarize(&counts),
        1,
        1,
        failures,
    ))
}

fn summarize(counts: &std::collections::BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}
