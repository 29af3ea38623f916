//! Races made real: a gate holds the lock the handlers queue on, every copy
//! of the binary is started, and the gate opens once all of them wait on
//! it; then each output's verdict code is counted.

use super::setup::command;
use crate::disposable::fixtures;
use crate::disposable::pgtemp::{Cluster, SUPERUSER};
use postgres::Client;
use serde_json::Value;
use std::path::Path;

/// Holds a lock in an open transaction so that handlers started now queue
/// behind it and are released together: the way races are made real.
pub struct Gate {
    client: Client,
}

impl Gate {
    /// Holds the handler's per-APR advisory lock (execute queues on it).
    pub fn apr(cluster: &Cluster, dbname: &str, apr: &str) -> Result<Gate, String> {
        let mut client = cluster
            .connect(SUPERUSER, dbname)
            .map_err(|e| e.to_string())?;
        client.batch_execute("BEGIN").map_err(|e| e.to_string())?;
        client
            .execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('dot-authorize-build-step:apr:' || $1, 0))",
                &[&apr],
            )
            .map_err(|e| e.to_string())?;
        Ok(Gate { client })
    }

    /// Holds a row lock on one grant (consume and revoke queue on it after
    /// reading it).
    pub fn grant(cluster: &Cluster, dbname: &str, auth_code: &str) -> Result<Gate, String> {
        let mut client = cluster
            .connect(SUPERUSER, dbname)
            .map_err(|e| e.to_string())?;
        client.batch_execute("BEGIN").map_err(|e| e.to_string())?;
        let locked = client
            .execute(
                "SELECT 1 FROM governance_build_authorization WHERE auth_code = $1 FOR UPDATE",
                &[&auth_code],
            )
            .map_err(|e| e.to_string())?;
        if locked != 1 {
            return Err(format!("no grant {auth_code} to hold"));
        }
        Ok(Gate { client })
    }

    /// Waits, with a deadline, until `n` sessions of this database wait on
    /// a lock; then releases them all at once.
    pub fn release_when_waiting(mut self, n: usize) -> Result<(), String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            // Statistics views are snapshotted per transaction: refresh.
            let waiting: i64 = self
                .client
                .batch_execute("SELECT pg_stat_clear_snapshot()")
                .and_then(|()| {
                    self.client.query_one(
                        "SELECT count(*) FROM pg_stat_activity \
                         WHERE wait_event_type = 'Lock' AND datname = current_database()",
                        &[],
                    )
                })
                .map(|r| r.get(0))
                .map_err(|e| e.to_string())?;
            if waiting >= i64::try_from(n).unwrap_or(i64::MAX) {
                return self
                    .client
                    .batch_execute("COMMIT")
                    .map_err(|e| e.to_string());
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "only {waiting} of {n} handlers reached the lock in 60 s"
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

/// Starts one copy of `bin` per argv, each as its subcommand's role,
/// releases `gate` once all of them wait on it, and collects every output.
pub fn spawn_released(
    cluster: &Cluster,
    bin: &Path,
    dbname: &str,
    argvs: &[Vec<String>],
    gate: Option<Gate>,
) -> Result<Vec<std::process::Output>, String> {
    let children = argvs
        .iter()
        .map(|args| {
            command(cluster, bin, fixtures::role_for(args), dbname, args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let released = gate.map_or(Ok(()), |g| g.release_when_waiting(argvs.len()));
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().map_err(|e| e.to_string()))
        .collect();
    released?;
    outputs.into_iter().collect()
}

/// The `code` of each output's JSON verdict, counted.
pub fn tally(outputs: &[std::process::Output]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for out in outputs {
        let code = serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("<exit {:?}, no verdict>", out.status.code()));
        *counts.entry(code).or_insert(0) += 1;
    }
    counts
}
