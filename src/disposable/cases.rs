//! The data-driven negative suite: fixture files (fixtures/cases/*.json)
//! state each case's setup, what is wrong, and the expected verdict and
//! code; `run_case` builds the setup in a fresh database cloned from the
//! template, runs the real binary as the least-privilege role, and checks
//! the verdict, the exit status, and that every table and sequence is
//! unchanged unless the verdict is a write. `cargo test` and `harness` run
//! the same files through this one runner.

//!
//! What a case stands on is in `setup` (also used by the harness's checks
//! and the integration tests), races in `race`; their public names are
//! reachable from here.

mod race;
mod setup;

pub use race::{spawn_released, tally, Gate};
pub use setup::{
    command, consume_argv, fresh_database, grant_count, resign_grants, route_through,
    seed_approved_apr, seed_approved_apr_for_plan, snapshot, valid_payload, vocabulary,
    VALID_MANIFEST_HASH,
};

use crate::canon::cser;
use crate::disposable::fixtures;
use crate::disposable::pgtemp::{Cluster, PgTempError, SUPERUSER};
use postgres::Client;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::path::Path;

/// A fixture file: a list of cases for one command.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub about: String,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// A short name, unique in its file.
    pub case: String,
    /// What is wrong with the input (or "nothing").
    pub wrong: String,
    #[serde(default)]
    pub setup: Setup,
    /// argv for the binary; `{apr}`, `{auth}`, `{manifest_hash}`,
    /// `{action_set}` and `{digest}` are substituted.
    pub run: Vec<String>,
    pub expect: Expect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// Apply staged/bind-… first (default true).
    #[serde(default = "yes")]
    pub bind: bool,
    /// Create the case's APR (default true).
    #[serde(default = "yes")]
    pub apr: bool,
    #[serde(default = "default_action")]
    pub action_code: String,
    #[serde(default = "default_status")]
    pub status: String,
    /// Top-level keys to set on the valid payload.
    #[serde(default)]
    pub set: Map<String, Value>,
    /// Top-level keys to remove from the valid payload.
    #[serde(default)]
    pub unset: Vec<String>,
    /// Replace the whole payload with this value.
    #[serde(default)]
    pub raw: Option<Value>,
    /// Votes; default: two approvals of the exact payload.
    #[serde(default)]
    pub votes: Option<Vec<VoteSpec>>,
    /// Also create an approved APR `{apr}-OTHER` with the valid payload.
    #[serde(default)]
    pub other_apr: bool,
    /// Commands run with the binary before the snapshot; each must exit 0.
    #[serde(default)]
    pub before: Vec<Vec<String>>,
    /// SQL run as superuser after `before`, before the snapshot.
    #[serde(default)]
    pub sql: Vec<String>,
    /// After `sql`, sign every grant again with the handler's key: rows
    /// aged by `sql` (granted_at/expires_at moved into the past) then read
    /// as the handler would have written them that long ago, instead of as
    /// forgeries.
    #[serde(default)]
    pub resign: bool,
}

impl Default for Setup {
    fn default() -> Setup {
        serde_json::from_value(json!({})).expect("an empty setup has every default")
    }
}

fn yes() -> bool {
    true
}
fn default_action() -> String {
    "authorize_build_step".into()
}
fn default_status() -> String {
    "approved".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteSpec {
    pub approver: String,
    pub decision: String,
    /// "current" (this payload's digest), "other" (another one) or null.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub verdict: String,
    pub code: String,
    /// Grant rows after the run, when the case cares.
    #[serde(default)]
    pub grants_after: Option<i64>,
    /// For OK verdicts that must write nothing (re-runs); non-OK verdicts
    /// and dry runs are always checked.
    #[serde(default)]
    pub unchanged: bool,
}

/// What running one case found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub case: String,
    pub wrong: String,
    pub expected: String,
    pub got: String,
    pub grants_before: i64,
    pub grants_after: i64,
    /// Empty when the case passed; otherwise every way it failed.
    pub failures: Vec<String>,
    /// argv, exit, stdout and stderr of the run, for a failing case.
    pub transcript: String,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

pub fn exit_for(verdict: &str) -> i32 {
    match verdict {
        "OK" => 0,
        "SKIP" => 3,
        "FAIL" => 4,
        "ERROR" => 5,
        _ => 2,
    }
}

struct Vars {
    apr: String,
    digest: String,
    action_set: String,
}

impl Vars {
    fn apply(&self, s: &str) -> String {
        s.replace("{apr}", &self.apr)
            .replace("{auth}", &format!("GBA-C1-{}", self.apr))
            .replace("{manifest_hash}", VALID_MANIFEST_HASH)
            .replace("{action_set}", &self.action_set)
            .replace("{digest}", &self.digest)
    }
}

/// Runs one case in its own fresh database. `Err` only when the test
/// machinery itself broke (the cluster, a setup step).
pub fn run_case(
    cluster: &Cluster,
    bin: &Path,
    case: &Case,
    index: usize,
) -> Result<Outcome, String> {
    let dbname = fresh_database(cluster).map_err(|e| e.to_string())?;
    let mut admin = cluster
        .connect(SUPERUSER, &dbname)
        .map_err(|e| e.to_string())?;
    let setup = &case.setup;
    let apr = format!("APR-C1-{index:04}");
    let vocab = vocabulary(&mut admin).map_err(|e| e.to_string())?;
    let mut payload = valid_payload(&vocab);
    if let Some(raw) = &setup.raw {
        payload = raw.clone();
    } else if let Some(map) = payload.as_object_mut() {
        for (k, v) in &setup.set {
            map.insert(k.clone(), v.clone());
        }
        for k in &setup.unset {
            map.remove(k);
        }
    }
    let digest = cser::digest(&payload)
        .map(|d| d.as_str().to_owned())
        .unwrap_or_default();
    let vars = Vars {
        apr: apr.clone(),
        digest: digest.clone(),
        action_set: vocab.join(","),
    };
    let sql_err = |what: &str, e: postgres::Error| format!("setup {what}: {e}");

    if setup.bind {
        admin
            .batch_execute(fixtures::BIND_SQL)
            .map_err(|e| sql_err("bind", e))?;
    }
    let insert_apr = |admin: &mut Client,
                      code: &str,
                      payload: &Value,
                      status: &str,
                      action: &str| {
        admin.execute(
            "INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, status) \
             VALUES ($1, $2, $3, 'proposer', $4)",
            &[&code, &action, payload, &status],
        )
    };
    let vote = fixtures::insert_vote;
    if setup.apr {
        insert_apr(
            &mut admin,
            &apr,
            &payload,
            &setup.status,
            &setup.action_code,
        )
        .map_err(|e| sql_err("APR", e))?;
        let default_votes = [
            ("alice", "approve", Some("current")),
            ("bob", "approve", Some("current")),
        ];
        let votes: Vec<(String, String, Option<String>)> = match &setup.votes {
            Some(v) => v
                .iter()
                .map(|v| (v.approver.clone(), v.decision.clone(), v.digest.clone()))
                .collect(),
            None => default_votes
                .iter()
                .map(|(a, d, g)| (a.to_string(), d.to_string(), g.map(str::to_owned)))
                .collect(),
        };
        for (who, decision, which) in votes {
            let d = match which.as_deref() {
                Some("current") => (!digest.is_empty()).then_some(digest.as_str()),
                Some("other") => Some(VALID_MANIFEST_HASH),
                _ => None,
            };
            vote(&mut admin, &apr, &who, &decision, d).map_err(|e| sql_err("vote", e))?;
        }
    }
    if setup.other_apr {
        let other = format!("{apr}-OTHER");
        let p = valid_payload(&vocab);
        let d = cser::digest(&p).map_err(|e| e.to_string())?;
        insert_apr(&mut admin, &other, &p, "approved", "authorize_build_step")
            .map_err(|e| sql_err("other APR", e))?;
        for who in ["alice", "bob"] {
            vote(&mut admin, &other, who, "approve", Some(d.as_str()))
                .map_err(|e| sql_err("vote", e))?;
        }
    }
    for argv in &setup.before {
        let args: Vec<String> = argv.iter().map(|a| vars.apply(a)).collect();
        let out = command(cluster, bin, fixtures::role_for(&args), &dbname, &args)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "setup step {args:?} exited {:?}: {}{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    for sql in &setup.sql {
        admin
            .batch_execute(&vars.apply(sql))
            .map_err(|e| sql_err(sql, e))?;
    }
    if setup.resign {
        let keys = fixtures::test_keys(cluster)?;
        let key = crate::integrity::signing::load_signing_key(&keys.signing_key)?;
        resign_grants(&mut admin, &key)?;
    }

    let before = snapshot(&mut admin).map_err(|e| e.to_string())?;
    let grants_before = grant_count(&mut admin).map_err(|e| e.to_string())?;
    let mut args: Vec<String> = case.run.iter().map(|a| vars.apply(a)).collect();
    args.push("--json".into());
    let out = command(cluster, bin, fixtures::role_for(&args), &dbname, &args)
        .output()
        .map_err(|e| e.to_string())?;
    let after = snapshot(&mut admin).map_err(|e| e.to_string())?;
    let grants_after = grant_count(&mut admin).map_err(|e| e.to_string())?;

    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let exit = out.status.code().unwrap_or(-1);
    let mut failures = Vec::new();
    let parsed: Option<Value> = serde_json::from_str(&stdout).ok();
    let (verdict, code) = match &parsed {
        Some(v) => (
            v["verdict"].as_str().unwrap_or("?").to_owned(),
            v["code"].as_str().unwrap_or("?").to_owned(),
        ),
        None => {
            failures.push("stdout is not exactly one JSON object".into());
            ("?".into(), "?".into())
        }
    };
    let want = &case.expect;
    if verdict != want.verdict || code != want.code {
        failures.push(format!(
            "expected {} {}, got {verdict} {code}",
            want.verdict, want.code
        ));
    }
    if exit != exit_for(&want.verdict) {
        failures.push(format!(
            "expected exit {}, got {exit}",
            exit_for(&want.verdict)
        ));
    }
    let dry_run = args.iter().any(|a| a == "--dry-run");
    if (want.verdict != "OK" || dry_run || want.unchanged) && before != after {
        failures.push(format!(
            "the database changed:\nbefore:\n{before}after:\n{after}"
        ));
    }
    if let Some(n) = want.grants_after {
        if grants_after != n {
            failures.push(format!(
                "expected {n} grant rows after, found {grants_after}"
            ));
        }
    }
    drop(admin);
    let _ = drop_database(cluster, &dbname);
    Ok(Outcome {
        case: case.case.clone(),
        wrong: case.wrong.clone(),
        expected: format!("{} {}", want.verdict, want.code),
        got: format!("{verdict} {code}"),
        grants_before,
        grants_after,
        transcript: format!(
            "argv: {args:?}\nexit: {exit}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        failures,
    })
}

fn drop_database(cluster: &Cluster, name: &str) -> Result<(), PgTempError> {
    let mut admin = cluster.connect(SUPERUSER, "postgres")?;
    admin.batch_execute(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        crate::disposable::pgtemp::ident(name)
    ))?;
    Ok(())
}

/// The suites compiled into the binary: the same files `cargo test` runs.
pub fn suites() -> Vec<(&'static str, Suite)> {
    fixtures::CASE_FILES
        .iter()
        .map(|(name, text)| {
            let suite: Suite = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("fixtures/cases/{name} is not a valid suite: {e}"));
            (*name, suite)
        })
        .collect()
}

/// Runs every case of every fixture file, `workers` at a time, each in its
/// own database (cases share nothing but the cluster and its roles, which
/// no case changes). Outcomes come back in fixture order, named
/// `file/case`. `Err` when the machinery broke for some case.
pub fn run_all_cases(
    cluster: &Cluster,
    bin: &Path,
    workers: usize,
) -> Result<Vec<Outcome>, String> {
    let all: Vec<(&'static str, Case, usize)> = suites()
        .into_iter()
        .flat_map(|(file, suite)| {
            suite
                .cases
                .into_iter()
                .enumerate()
                .map(move |(i, case)| (file, case, i))
        })
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<Outcome, String>>>> =
        all.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((file, case, i)) = all.get(k) else {
                    break;
                };
                let result = run_case(cluster, bin, case, *i)
                    .map(|mut o| {
                        o.case = format!("{}/{}", file.trim_end_matches(".json"), o.case);
                        o
                    })
                    .map_err(|e| format!("{file} {}: setup failed: {e}", case.case));
                if let Ok(mut slot) = results[k].lock() {
                    *slot = Some(result);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err("a case did not run".into()))
        })
        .collect()
}

/// How many cases to run at once: each mostly waits on its processes and
/// the server, so twice the cores.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
}
