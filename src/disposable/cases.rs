//! The data-driven negative suite: fixture files (fixtures/cases/*.json)
//! state each case's setup, what is wrong, and the expected verdict and
//! code; `run_case` builds the setup in a fresh database cloned from the
//! template, runs the real binary as the least-privilege role, and checks
//! the verdict, the exit status, and that every table and sequence is
//! unchanged unless the verdict is a write. `cargo test` and `harness` run
//! the same files through this one runner.

use crate::canon::cser;
use crate::disposable::fixtures::{self, TEMPLATE_DB};
use crate::disposable::pgtemp::{Cluster, PgTempError, SUPERUSER};
use postgres::Client;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

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

pub const VALID_MANIFEST_HASH: &str =
    "c9286d3a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5cec00";

/// The payload every case starts from: one `execute` accepts against the
/// fixture vocabulary.
pub fn valid_payload(vocabulary: &[String]) -> Value {
    json!({
        "carrier": "C1",
        "target": "DOT_C1_VOCAB_BUILD",
        "lane": "BUILD_PREP",
        "mode": "DRY_RUN",
        "corpus": "SANDBOX",
        "plan_ref": "LEGO1-C1-PLAN",
        "manifest_hash": VALID_MANIFEST_HASH,
        "protocol_version": "cser-v1",
        "action_set": vocabulary,
        "ttl_seconds": 3600,
        "rollback_plan_ref": "C1-ROLLBACK-retire-not-delete",
    })
}

/// The argv of a `consume` that presents the exact binding of a grant
/// minted from `valid_payload` for `plan_ref` (add `--json` etc. after).
pub fn consume_argv(auth_code: &str, plan_ref: &str, action_set: &[String]) -> Vec<String> {
    [
        "consume",
        "--auth-code",
        auth_code,
        "--carrier",
        "C1",
        "--lane",
        "BUILD_PREP",
        "--target",
        "DOT_C1_VOCAB_BUILD",
        "--plan-ref",
        plan_ref,
        "--manifest-hash",
        VALID_MANIFEST_HASH,
        "--action-set",
        &action_set.join(","),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
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

/// A database per case, cloned from the governance template.
pub fn fresh_database(cluster: &Cluster) -> Result<String, PgTempError> {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "case_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    cluster.clone_database(TEMPLATE_DB, &name)?;
    Ok(name)
}

/// Where handler runs against a cluster connect instead of its own socket
/// (a pooler in front of it), by the cluster's socket directory.
type Routes = Vec<(std::path::PathBuf, (std::path::PathBuf, u16))>;
static ROUTES: std::sync::Mutex<Routes> = std::sync::Mutex::new(Vec::new());

/// Sends every handler run against `cluster` through `via` (socket
/// directory, port), or directly again with `None`.
pub fn route_through(cluster: &Cluster, via: Option<(std::path::PathBuf, u16)>) {
    let mut routes = ROUTES.lock().unwrap_or_else(|p| p.into_inner());
    let key = cluster.socket_dir();
    routes.retain(|(k, _)| *k != key);
    if let Some(via) = via {
        routes.push((key, via));
    }
}

/// The command to run `bin` against `dbname` as `role`, configured the way
/// an operator would: PGHOST, PGPORT, PGUSER, PGDATABASE.
pub fn command(
    cluster: &Cluster,
    bin: &Path,
    role: &str,
    dbname: &str,
    args: &[String],
) -> Command {
    let mut cmd = Command::new(bin);
    match fixtures::test_keys(cluster) {
        Ok(keys) => keys.apply(&mut cmd),
        // The handler then refuses with ERROR_SIGNING_KEY, naming why.
        Err(e) => {
            cmd.env(
                crate::integrity::signing::SIGNING_KEY_ENV,
                format!("(test keys: {e})"),
            );
        }
    }
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("PGPASSWORD")
        .env_remove("PGSERVICE")
        .env("PGUSER", role)
        .env("PGDATABASE", dbname);
    let socket = cluster.socket_dir();
    let route = ROUTES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(k, _)| *k == socket)
        .map(|(_, via)| via.clone());
    match route {
        Some((dir, port)) => cmd.env("PGHOST", dir).env("PGPORT", port.to_string()),
        None => cmd.env("PGHOST", socket).env("PGPORT", "5432"),
    };
    cmd
}

/// Every row of every public table and every sequence's state, as text:
/// equal snapshots mean nothing was written.
pub fn snapshot(client: &mut Client) -> Result<String, postgres::Error> {
    let mut out = String::new();
    let relations = client.query(
        "SELECT c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S') ORDER BY c.relkind, c.relname",
        &[],
    )?;
    for rel in relations {
        let name: String = rel.get(0);
        let kind: String = rel.get(1);
        let quoted = crate::disposable::pgtemp::ident(&name);
        let sql = if kind == "S" {
            format!("SELECT format('%s %s', last_value, is_called) FROM {quoted}")
        } else {
            format!("SELECT COALESCE(jsonb_agg(to_jsonb(x) ORDER BY to_jsonb(x)::text), '[]')::text FROM {quoted} x")
        };
        let text: String = client.query_one(sql.as_str(), &[])?.get(0);
        out.push_str(&format!("{name}: {text}\n"));
    }
    Ok(out)
}

pub fn grant_count(client: &mut Client) -> Result<i64, postgres::Error> {
    Ok(client
        .query_one("SELECT count(*) FROM governance_build_authorization", &[])?
        .get(0))
}

/// The live vocabulary, sorted.
pub fn vocabulary(client: &mut Client) -> Result<Vec<String>, postgres::Error> {
    let rows = client.query(
        "SELECT action_code FROM apr_action_types WHERE act_type = 'C1_VOCAB_OP' AND status = 'active' ORDER BY 1",
        &[],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
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

/// Inserts an approved authorize_build_step APR with the valid payload and
/// two signed approvals of its exact digest; returns the payload.
pub fn seed_approved_apr(client: &mut Client, apr: &str) -> Result<Value, String> {
    seed_approved_apr_for_plan(client, apr, None)
}

/// `seed_approved_apr`, for a plan of its own when `plan` is given.
pub fn seed_approved_apr_for_plan(
    client: &mut Client,
    apr: &str,
    plan: Option<&str>,
) -> Result<Value, String> {
    let vocab = vocabulary(client).map_err(|e| e.to_string())?;
    let mut payload = valid_payload(&vocab);
    if let Some(plan) = plan {
        payload["plan_ref"] = plan.into();
    }
    let digest = cser::digest(&payload).map_err(|e| e.to_string())?;
    client
        .execute(
            "INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, status) \
             VALUES ($1, 'authorize_build_step', $2, 'proposer', 'approved')",
            &[&apr, &payload],
        )
        .map_err(|e| e.to_string())?;
    for who in ["alice", "bob"] {
        fixtures::insert_vote(client, apr, who, "approve", Some(digest.as_str()))
            .map_err(|e| e.to_string())?;
    }
    Ok(payload)
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

/// Signs every grant row again with `key` (as superuser, the guard trigger
/// off): test machinery that stands for the passage of time, never a path
/// of the handler.
pub fn resign_grants(
    admin: &mut Client,
    key: &crate::integrity::signing::SigningKey,
) -> Result<usize, String> {
    let grants = crate::store::db::read_all_grants(admin).map_err(|s| format!("{s:?}"))?;
    let mut tx = admin.transaction().map_err(|e| e.to_string())?;
    tx.batch_execute("SET LOCAL session_replication_role = replica")
        .map_err(|e| e.to_string())?;
    for g in &grants {
        let (signature, key_id) = crate::integrity::signing::sign_grant(key, g)?;
        tx.execute(
            "UPDATE governance_build_authorization SET signature = $1, key_id = $2 WHERE auth_code = $3",
            &[&signature, &key_id, &g.auth_code],
        )
        .map_err(|e| e.to_string())?;
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok(grants.len())
}
