//! What every harness check shares: a row of the report (`outcome`), a
//! database with the handler bound and one approved APR (`race_database`),
//! and the `VERDICT CODE` a --json run answered (`code_of`). It runs no
//! check of its own.

use crate::disposable::cases::{self, Outcome};
use crate::disposable::fixtures;
use crate::disposable::pgtemp::{Cluster, SUPERUSER};

pub(super) fn outcome(
    case: &str,
    wrong: &str,
    expected: &str,
    got: String,
    before: i64,
    after: i64,
    failures: Vec<String>,
) -> Outcome {
    Outcome {
        case: case.into(),
        wrong: wrong.into(),
        expected: expected.into(),
        got,
        grants_before: before,
        grants_after: after,
        failures,
        transcript: String::new(),
    }
}

/// A fresh database with the handler bound and one approved APR.
pub(super) fn race_database(
    cluster: &Cluster,
    apr: &str,
) -> Result<(String, postgres::Client), String> {
    let db = cases::fresh_database(cluster).map_err(|e| e.to_string())?;
    let mut c = cluster.connect(SUPERUSER, &db).map_err(|e| e.to_string())?;
    c.batch_execute(fixtures::BIND_SQL)
        .map_err(|e| e.to_string())?;
    cases::seed_approved_apr(&mut c, apr)?;
    Ok((db, c))
}

/// `VERDICT CODE` of a --json run, or what came instead.
pub(super) fn code_of(out: &std::process::Output) -> String {
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .map(|v| {
            format!(
                "{} {}",
                v["verdict"].as_str().unwrap_or("?"),
                v["code"].as_str().unwrap_or("?")
            )
        })
        .unwrap_or_else(|_| format!("exit {:?}, no verdict", out.status.code()))
}
