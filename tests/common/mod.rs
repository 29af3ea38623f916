//! Test support shared by the integration suites: a disposable cluster per
//! test process, a fresh database per case cloned from the governance
//! template, the real binary run as the least-privilege role, and a
//! snapshot of every governance table and sequence for before/after proofs.
#![allow(dead_code)]

use dot_authorize_build_step::canon::cser;
use dot_authorize_build_step::disposable::fixtures::{self, TEMPLATE_DB};
use dot_authorize_build_step::disposable::pgtemp::{Cluster, SUPERUSER};
use dot_authorize_build_step::integrity::approval;
use postgres::Client;
use serde_json::Value;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_dot-authorize-build-step");
pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The 14 active C1_VOCAB_OP codes of fixtures/schema.sql.
pub const VOCABULARY: [&str; 14] = [
    "c1_code_allocate",
    "c1_code_retire",
    "c1_label_set",
    "c1_label_translate",
    "c1_manifest_emit",
    "c1_relation_define",
    "c1_relation_invert",
    "c1_scope_bind",
    "c1_term_alias",
    "c1_term_define",
    "c1_term_deprecate",
    "c1_unit_convert",
    "c1_unit_define",
    "c1_version_check",
];

pub const MANIFEST_HASH: &str = dot_authorize_build_step::disposable::cases::VALID_MANIFEST_HASH;

/// A payload `execute` accepts (the one every fixture case starts from).
pub fn valid_payload() -> Value {
    let vocabulary: Vec<String> = VOCABULARY.iter().map(|s| s.to_string()).collect();
    dot_authorize_build_step::disposable::cases::valid_payload(&vocabulary)
}

/// `consume` with the exact binding of a grant minted from `valid_payload`.
pub fn consume_args(auth: &str) -> Vec<String> {
    let vocabulary: Vec<String> = VOCABULARY.iter().map(|s| s.to_string()).collect();
    let mut argv = dot_authorize_build_step::disposable::cases::consume_argv(
        auth,
        "LEGO1-C1-PLAN",
        &vocabulary,
    );
    argv.extend(["--by".into(), "c1-build".into(), "--json".into()]);
    argv
}

pub fn digest(payload: &Value) -> String {
    cser::digest(payload)
        .expect("test payloads are cser-v1")
        .as_str()
        .to_owned()
}

/// A disposable cluster with the governance template loaded.
pub struct Pg {
    pub cluster: Cluster,
}

static DB_COUNTER: AtomicU32 = AtomicU32::new(0);
static SHARED: std::sync::OnceLock<Pg> = std::sync::OnceLock::new();

/// Statics are never dropped: the shared cluster is stopped and removed
/// when the test process exits (and by the next cluster's reaper if the
/// process is killed).
extern "C" fn stop_shared_cluster() {
    dot_authorize_build_step::disposable::pgtemp::teardown_all();
}

impl Pg {
    /// This test binary's one cluster, started on first use; every test
    /// works in its own database cloned from the template (`db()`).
    pub fn start() -> &'static Pg {
        SHARED.get_or_init(|| {
            // SAFETY: registers a plain extern "C" function with no
            // arguments, as atexit requires.
            unsafe {
                libc::atexit(stop_shared_cluster);
            }
            Pg::own()
        })
    }

    /// A cluster of the caller's own, for tests that stop, restart or
    /// reroute it.
    pub fn own() -> Pg {
        match fixtures::governance_cluster() {
            Ok(cluster) => Pg { cluster },
            Err(e) => panic!("cannot start a disposable PostgreSQL for the tests: {e}"),
        }
    }

    /// The handler's signing key and trusted keys for this cluster.
    pub fn keys(&self) -> fixtures::KeyFiles {
        fixtures::test_keys(&self.cluster).expect("make the test signing keys")
    }

    /// A fresh database cloned from the governance template.
    pub fn db(&self) -> Db<'_> {
        let n = DB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{n}");
        self.cluster
            .clone_database(TEMPLATE_DB, &name)
            .expect("clone the template");
        Db { pg: self, name }
    }
}

/// This process's cluster, a fresh database with the handler bound, and
/// `apr` approved for `payload` by a real quorum, not yet executed.
pub fn approved(apr: &str, payload: &Value) -> Db<'static> {
    let db = Pg::start().db();
    db.bind();
    db.approved_apr(apr, payload);
    db
}

/// `approved`, then minted: `execute` answered MINTED.
pub fn minted(apr: &str, payload: &Value) -> Db<'static> {
    let db = Pg::start().db();
    db.bind();
    db.mint(apr, payload);
    db
}

pub struct Db<'a> {
    pub pg: &'a Pg,
    pub name: String,
}

/// What one run of the binary did.
pub struct Run {
    pub argv: Vec<String>,
    pub output: Output,
}

/// The arguments `cmd` runs with (the program not included): the real
/// argv a `Run` carries.
pub fn argv_of(cmd: &Command) -> Vec<String> {
    cmd.get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

impl Run {
    /// Runs `cmd` (stdout and stderr captured), with its real argv.
    pub fn of(cmd: &mut Command) -> Run {
        Run {
            argv: argv_of(cmd),
            output: cmd.output().expect("spawn the binary"),
        }
    }

    pub fn exit(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    /// The one JSON object on stdout (panics, with the whole run, if not).
    /// The verdict object, checked against docs/verdict.schema.json: every
    /// test that reads a verdict checks its shape too.
    pub fn json(&self) -> Value {
        let v: Value = serde_json::from_slice(&self.output.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON object: {e}\n{self}"));
        if let Err(e) = verdict_schema().validate(&v) {
            panic!("the verdict does not match docs/verdict.schema.json: {e}\n{self}");
        }
        v
    }
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
    pub fn verdict(&self) -> String {
        self.json()["verdict"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
    /// Asserts exit code, verdict and code together, printing the run if not.
    pub fn expect(&self, exit: i32, verdict: &str, code: &str) -> &Run {
        let json = self.json();
        assert!(
            self.exit() == exit && json["verdict"] == verdict && json["code"] == code,
            "expected exit {exit} {verdict} {code}\n{self}"
        );
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "argv: {:?}\nexit: {:?}\nstdout: {}\nstderr: {}",
            self.argv,
            self.output.status.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

impl Db<'_> {
    pub fn superuser(&self) -> Client {
        self.pg
            .cluster
            .connect(SUPERUSER, &self.name)
            .expect("connect as superuser")
    }

    pub fn sql(&self, sql: &str) {
        self.superuser()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }

    pub fn bind(&self) {
        self.sql(fixtures::BIND_SQL);
    }

    /// The command to run the binary against this database as `role`, the
    /// way an operator would: PGHOST/PGUSER/PGDATABASE in the environment.
    pub fn command_as(&self, role: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PGHOST", self.pg.cluster.socket_dir())
            .env("PGPORT", "5432")
            .env("PGUSER", role)
            .env("PGDATABASE", &self.name);
        let keys = self.pg.keys();
        keys.apply(&mut cmd);
        // A test approver's login signs its reviews with its own key.
        let own = keys.approver_key(role);
        if own.exists() {
            cmd.env(approval::APPROVER_KEY_ENV, own);
        }
        cmd
    }

    /// Runs the binary as the least-privilege role of its subcommand
    /// (minter, consumer or proposer).
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_as(fixtures::role_for(args), args)
    }

    pub fn run_as(&self, role: &str, args: &[&str]) -> Run {
        let output = self
            .command_as(role, args)
            .output()
            .expect("spawn the binary");
        Run {
            argv: args.iter().map(|s| s.to_string()).collect(),
            output,
        }
    }

    pub fn insert_apr(&self, code: &str, action_code: &str, payload: &Value, status: &str) {
        self.superuser()
            .execute(
                "INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, status) \
                 VALUES ($1, $2, $3, 'proposer', $4)",
                &[&code, &action_code, payload, &status],
            )
            .expect("insert APR");
    }

    /// A vote inserted by the superuser, signed by the test approver of that
    /// name (fixtures::TEST_APPROVERS) when there is a digest to sign.
    pub fn vote(&self, code: &str, approver: &str, decision: &str, payload_digest: Option<&str>) {
        fixtures::insert_vote(
            &mut self.superuser(),
            code,
            approver,
            decision,
            payload_digest,
        )
        .expect("insert approval");
    }

    /// An approved APR with a valid payload and a real quorum (2 approvals
    /// of this exact payload by people other than the proposer).
    pub fn approved_apr(&self, code: &str, payload: &Value) {
        self.insert_apr(code, "authorize_build_step", payload, "approved");
        let d = digest(payload);
        self.vote(code, "alice", "approve", Some(&d));
        self.vote(code, "bob", "approve", Some(&d));
    }

    /// `approved_apr(apr, payload)`, then `execute`, which must answer
    /// MINTED: the grant's auth code.
    pub fn mint(&self, apr: &str, payload: &Value) -> String {
        self.approved_apr(apr, payload);
        self.run(&["execute", "--apr", apr, "--json"])
            .expect(0, "OK", "MINTED");
        format!("GBA-C1-{apr}")
    }

    /// `mint` of `valid_payload` for a plan of its own.
    pub fn mint_for_plan(&self, apr: &str, plan: &str) -> String {
        let mut p = valid_payload();
        p["plan_ref"] = plan.into();
        self.mint(apr, &p)
    }

    pub fn grant_count(&self) -> i64 {
        self.superuser()
            .query_one("SELECT count(*) FROM governance_build_authorization", &[])
            .unwrap()
            .get(0)
    }

    pub fn grant_status(&self, auth_code: &str) -> Option<String> {
        self.superuser()
            .query_opt(
                "SELECT status FROM governance_build_authorization WHERE auth_code = $1",
                &[&auth_code],
            )
            .unwrap()
            .map(|r| r.get(0))
    }

    /// Every row of every table in the public schema and every sequence's
    /// state, as text: equal snapshots mean nothing was written.
    pub fn snapshot(&self) -> String {
        let mut c = self.superuser();
        let mut out = String::new();
        let tables = c
            .query(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1",
                &[],
            )
            .unwrap();
        for t in tables {
            let name: String = t.get(0);
            let rows = c
                .query(
                    &format!("SELECT COALESCE(jsonb_agg(to_jsonb(x) ORDER BY to_jsonb(x)::text), '[]')::text FROM {name} x"),
                    &[],
                )
                .unwrap();
            out.push_str(&format!("{name}: {}\n", rows[0].get::<_, String>(0)));
        }
        let seqs = c
            .query(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public' AND c.relkind = 'S' ORDER BY 1",
                &[],
            )
            .unwrap();
        for s in seqs {
            let name: String = s.get(0);
            let row = c
                .query_one(
                    &format!("SELECT last_value::text, is_called FROM {name}"),
                    &[],
                )
                .unwrap();
            out.push_str(&format!(
                "seq {name}: {} {}\n",
                row.get::<_, String>(0),
                row.get::<_, bool>(1)
            ));
        }
        out
    }
}

pub use dot_authorize_build_step::disposable::cases::Gate;

/// Starts `n` copies of the binary with `args` and waits for all of them.
pub fn spawn_all(db: &Db<'_>, n: usize, args: &[&str], gate: Option<Gate>) -> Vec<Run> {
    spawn_mixed(db, &vec![args; n], gate)
}

/// Starts one copy of the binary per argv as its subcommand's role, releases
/// the gate once all of them wait on it, and waits for all of them.
pub fn spawn_mixed(db: &Db<'_>, argvs: &[&[&str]], gate: Option<Gate>) -> Vec<Run> {
    let owned: Vec<Vec<String>> = argvs
        .iter()
        .map(|a| a.iter().map(|s| s.to_string()).collect())
        .collect();
    let outputs = dot_authorize_build_step::disposable::cases::spawn_released(
        &db.pg.cluster,
        std::path::Path::new(BIN),
        &db.name,
        &owned,
        gate,
    )
    .unwrap_or_else(|e| panic!("race setup failed: {e}"));
    owned
        .into_iter()
        .zip(outputs)
        .map(|(argv, output)| Run { argv, output })
        .collect()
}

/// Counts of `code` over runs.
pub fn tally(runs: &[Run]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for r in runs {
        *counts.entry(r.code()).or_insert(0) += 1;
    }
    counts
}

impl Db<'_> {
    pub fn gate_apr(&self, apr: &str) -> Gate {
        Gate::apr(&self.pg.cluster, &self.name, apr).unwrap()
    }
    pub fn gate_grant(&self, auth_code: &str) -> Gate {
        Gate::grant(&self.pg.cluster, &self.name, auth_code).unwrap()
    }
}

/// A key pair in its own temporary directory, for runs that need the
/// handler's keys but no cluster; removed when dropped.
pub struct TempKeys {
    pub files: fixtures::KeyFiles,
}

impl TempKeys {
    pub fn new() -> TempKeys {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dot-abs-test-keys-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        TempKeys {
            files: fixtures::keys_in(&dir).expect("make test keys"),
        }
    }

    pub fn apply(&self, cmd: &mut Command) {
        self.files.apply(cmd);
    }
}

impl Drop for TempKeys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.files.trusted_dir);
    }
}

/// docs/verdict.schema.json, compiled once.
pub fn verdict_schema() -> &'static jsonschema::Validator {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| {
        let text = include_str!("../../docs/verdict.schema.json");
        let schema: Value = serde_json::from_str(text).expect("the schema is JSON");
        jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
    })
}

/// The stand-in `dot-apr-execute` v2.2.0: the dispatcher before seed 004
/// STEP 1, with no authorize_build_step arm.
pub const STANDIN: &str = "tests/runbook/dot-apr-execute-v2.2.0";

/// The `case` line the runbook (STEP 1.1) adds to the dispatcher.
pub const CASE_LINE: &str = "authorize_build_step) execute_authorize_build_step \"$apr_code\" ;;";

/// The stand-in as it is installed: v2.2.0.
pub fn dispatcher_v2_2_0() -> String {
    std::fs::read_to_string(format!("{MANIFEST_DIR}/{STANDIN}")).expect("the stand-in dispatcher")
}

/// STEP 1.1 by hand: the v2.2.0 dispatcher with the staged arm pasted in
/// unchanged, the `case` line added after the dispatcher's own arm, and
/// the version bumped to 2.3.0.
pub fn patch_by_hand(v2_2_0: &str, case_line: &str) -> String {
    const MARKER: &str = "# (dispatch arms are pasted above this line)";
    const OWN_ARM: &str = "        patch_ops_code) execute_patch_ops_code \"$apr_code\" ;;\n";
    assert!(v2_2_0.contains(MARKER) && v2_2_0.contains(OWN_ARM));
    v2_2_0
        .replacen(
            "DOT_APR_EXECUTE_VERSION=2.2.0",
            "DOT_APR_EXECUTE_VERSION=2.3.0",
            1,
        )
        .replacen(
            MARKER,
            &format!(
                "{}\n\n{MARKER}",
                dot_authorize_build_step::decide::patch::ARM.trim_end()
            ),
            1,
        )
        .replacen(
            OWN_ARM,
            &format!("{OWN_ARM}        {}\n", case_line.trim()),
            1,
        )
}

/// The stand-in dispatcher v2.3.0, as STEP 1 makes it.
pub fn patched_dispatcher() -> String {
    patch_by_hand(&dispatcher_v2_2_0(), CASE_LINE)
}

/// Runs `cmd` (stdout and stderr captured) and fails the test if it is
/// still running after `limit`: a command that blocks (on a FIFO, a lock)
/// is killed and reported, never waited on for ever.
pub fn run_bounded(cmd: &mut Command, limit: std::time::Duration) -> Run {
    let argv = argv_of(cmd);
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{argv:?} still running after {limit:?}: it blocked");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Run {
        argv,
        output: child.wait_with_output().expect("output"),
    }
}

/// The writer marker as the handler sets it, for tests that write grants by
/// hand (a role that holds the privilege can set it too).
pub const MARKER: &str =
    "SELECT set_config('dot.canonical_writer', 'dot-authorize-build-step', true)";

/// A row exactly as `execute` would mint it for `apr` with `valid_payload`,
/// but for its TTL, written by whoever runs the SQL.
pub fn forged_insert(apr: &str, ttl: &str) -> String {
    let p = valid_payload();
    let set: Vec<String> = p["action_set"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let scope = serde_json::json!({
        "carrier": "C1", "target": "DOT_C1_VOCAB_BUILD", "lane": "BUILD_PREP", "mode": "DRY_RUN",
        "corpus": "SANDBOX", "plan_ref": "LEGO1-C1-PLAN", "manifest_hash": MANIFEST_HASH,
        "protocol_version": "cser-v1", "action_set": set, "single_use": true,
        "commit_allowed": false, "requires_sovereign_esign": false,
    });
    format!(
        "INSERT INTO governance_build_authorization (auth_code, request_ref, status, carrier, lane, target, \
         plan_ref, manifest_hash, protocol_version, action_set, scope, apr_digest, granted_at, expires_at, \
         granted_by, rollback_plan_ref) SELECT 'GBA-C1-{apr}', '{apr}', 'active', 'C1', 'BUILD_PREP', \
         'DOT_C1_VOCAB_BUILD', 'LEGO1-C1-PLAN', '{MANIFEST_HASH}', 'cser-v1', '{{{}}}', '{scope}', '{}', \
         t, t + interval '{ttl}', 'dot-apr-execute:authorize_build_step', 'C1-ROLLBACK-retire-not-delete' \
         FROM clock_timestamp() t",
        set.join(","),
        digest(&p)
    )
}

/// Logins of their own, members of `group` when one is given. Roles are the
/// cluster's, shared by every test database and every test thread of this
/// process: they are made under one lock, so that two tests creating the
/// same login at once never collide.
pub fn logins(db: &Db<'_>, names: &[&str], group: Option<&str>) {
    let mut sql = String::from("SELECT pg_advisory_xact_lock(20261201);");
    for who in names {
        let quoted = who.replace('"', "\"\"");
        let literal = who.replace('\'', "''");
        sql.push_str(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{literal}') THEN \
               CREATE ROLE \"{quoted}\" LOGIN; END IF; END $$;"
        ));
        if let Some(group) = group {
            sql.push_str(&format!("GRANT {group} TO \"{quoted}\";"));
        }
    }
    db.sql(&format!("BEGIN; {sql} COMMIT;"));
}

/// A quorum SKIP's `not_counted`, approver -> why.
pub fn not_counted(quorum: &Value) -> std::collections::BTreeMap<String, String> {
    quorum["not_counted"]
        .as_array()
        .expect("a quorum SKIP lists what it did not count")
        .iter()
        .map(|n| {
            (
                n["approver"].as_str().unwrap_or_default().to_owned(),
                n["why"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
