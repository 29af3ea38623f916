//! `harness`: the operator's proof before binding (seed 004 STEP 3). On a
//! disposable cluster with the compiled-in schema model it checks the staged
//! bind and unbind, runs every fixture case (the same files `cargo test`
//! runs) and real races, all as the least-privilege role, and reports one
//! row per check. Needs nothing but this binary and PostgreSQL's server
//! binaries.

use crate::disposable::cases::{self, Gate, Outcome};
use crate::disposable::fixtures::{self, HANDLER_ROLE};
use crate::disposable::pgtemp::{Cluster, SUPERUSER};
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

const RACE_COPIES: usize = 64;

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
        staged_bind_and_unbind(&cluster)?,
        roles_and_constraints(&cluster)?,
    ];
    // The fixture cases in parallel (each in its own database), then the
    // races, each alone so that 64 processes contend only with each other.
    rows.extend(cases::run_all_cases(
        &cluster,
        bin,
        cases::default_workers(),
    )?);
    rows.push(execute_race(&cluster, bin)?);
    rows.push(consume_race(&cluster, bin)?);
    rows.extend(hostile_inputs(&cluster, bin)?);
    rows.extend(one_person(&cluster, bin)?);
    rows.extend(no_laundering(&cluster, bin)?);
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

fn outcome(
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

/// staged/bind on an unbound row changes exactly one row; a second bind
/// fails and changes nothing; staged/unbind restores the original value.
fn staged_bind_and_unbind(cluster: &Cluster) -> Result<Outcome, String> {
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
fn roles_and_constraints(cluster: &Cluster) -> Result<Outcome, String> {
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

/// A fresh database with the handler bound and one approved APR.
fn race_database(cluster: &Cluster, apr: &str) -> Result<(String, postgres::Client), String> {
    let db = cases::fresh_database(cluster).map_err(|e| e.to_string())?;
    let mut c = cluster.connect(SUPERUSER, &db).map_err(|e| e.to_string())?;
    c.batch_execute(fixtures::BIND_SQL)
        .map_err(|e| e.to_string())?;
    cases::seed_approved_apr(&mut c, apr)?;
    Ok((db, c))
}

fn execute_race(cluster: &Cluster, bin: &Path) -> Result<Outcome, String> {
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

/// Issue 18's findings that a shared cluster can show (the per-host
/// password one needs a pg_hba.conf of its own: tests/untrusted_inputs.rs):
/// every spelling of the writer marker in PGOPTIONS is a usage error with
/// nothing written (7); a dispatcher that redefines the arm after it is
/// refused (6); invisible characters never reach human output raw (8); a
/// loose password file is warned about once per command (10).
fn hostile_inputs(cluster: &Cluster, bin: &Path) -> Result<Vec<Outcome>, String> {
    let (db, mut c) = race_database(cluster, "APR-C1-HOSTILE")?;
    let run = |args: &[&str], env: &[(&str, &std::ffi::OsStr)]| {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut cmd = cases::command(cluster, bin, fixtures::role_for(&argv), &db, &argv);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))
    };
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let grants = cases::grant_count(&mut c).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();

    let mut failures = Vec::new();
    for spelling in crate::store::connect::DOT_SPELLINGS {
        let out = run(
            &["execute", "--apr", "APR-C1-HOSTILE", "--dry-run", "--json"],
            &[("PGOPTIONS", spelling.as_ref())],
        )?;
        if out.status.code() != Some(2) {
            failures.push(format!(
                "PGOPTIONS={spelling:?}: exit {:?}",
                out.status.code()
            ));
        }
    }
    if cases::snapshot(&mut c).map_err(|e| e.to_string())? != before {
        failures.push("something was written".into());
    }
    rows.push(outcome(
        "issue18/options-dot-setting",
        "PGOPTIONS sets dot.canonical_writer, in 11 spellings",
        "usage (exit 2) for each",
        if failures.is_empty() {
            "usage x11".into()
        } else {
            "accepted".into()
        },
        grants,
        grants,
        failures,
    ));

    let dir = std::env::temp_dir().join(format!("dot-abs-harness-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = (|| -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt as _;
        let arm = crate::decide::patch::ARM;
        let evil = format!(
            "#!/usr/bin/env bash\n{arm}\nexecute_authorize_build_step() {{ apr_mark_applied \"$1\"; }}\n\
             case $1 in\n    authorize_build_step) execute_authorize_build_step \"$2\" ;;\nesac\n"
        );
        let file = dir.join("redefined.new");
        std::fs::write(&file, evil).map_err(|e| e.to_string())?;
        let path = file.display().to_string();
        let out = run(
            &[
                "propose-patch",
                "--new-content",
                &path,
                "--file-path",
                "/opt/incomex/dot/bin/dot-apr-execute",
                "--dot-code",
                "DOT-310",
                "--session",
                "S-HARNESS",
                "--test-plan",
                "harness",
                "--by",
                "owner",
                "--dry-run",
                "--json",
            ],
            &[],
        )?;
        let got = code_of(&out);
        rows.push(outcome(
            "issue18/patch-arm-redefined",
            "the dispatcher defines the arm's function again after it",
            "FAIL REJECT_PATCH_ARM_STALE",
            got.clone(),
            grants,
            grants,
            if got == "FAIL REJECT_PATCH_ARM_STALE" {
                vec![]
            } else {
                vec![format!("got {got}")]
            },
        ));

        let hidden = "\u{E0049}\u{E0047}\u{3164}\u{115F}\u{2800}\u{FFA0}\u{E000}\u{0378}\u{2029}";
        let payload = serde_json::json!({ "note": format!("x{hidden}y") });
        c.execute(
            "INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, status) \
             VALUES ('APR-C1-HIDDEN', 'authorize_build_step', $1, 'proposer', 'proposed')",
            &[&payload],
        )
        .map_err(|e| e.to_string())?;
        let out = run(&["digest", "--apr", "APR-C1-HIDDEN"], &[])?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let raw: Vec<String> = hidden
            .chars()
            .filter(|h| text.contains(*h))
            .map(|h| format!("U+{:04X}", u32::from(h)))
            .collect();
        rows.push(outcome(
            "issue18/invisible-in-human-output",
            "a payload holds tag characters, fillers, private use, unassigned",
            "all escaped by digest",
            if raw.is_empty() {
                "all escaped".into()
            } else {
                format!("raw: {}", raw.join(" "))
            },
            grants,
            grants,
            if raw.is_empty() && out.status.success() {
                vec![]
            } else {
                vec![format!("raw {raw:?}, exit {:?}", out.status.code())]
            },
        ));

        let loose = dir.join("pgpass");
        std::fs::write(&loose, "*:*:*:*:unused\n").map_err(|e| e.to_string())?;
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| e.to_string())?;
        let out = run(
            &["execute", "--apr", "APR-C1-HOSTILE", "--dry-run", "--json"],
            &[
                ("PGPASSFILE", loose.as_os_str()),
                (
                    "DOT_ABS_EVIDENCE_LOG",
                    dir.join("evidence.jsonl").as_os_str(),
                ),
            ],
        )?;
        let warnings = String::from_utf8_lossy(&out.stderr)
            .matches("warning: password file")
            .count();
        rows.push(outcome(
            "issue18/resolved-once",
            "a loose password file, an evidence log",
            "one warning",
            format!("{warnings} warnings, {}", code_of(&out)),
            grants,
            grants,
            if warnings == 1 {
                vec![]
            } else {
                vec![format!("{warnings} warnings")]
            },
        ));
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    Ok(rows)
}

/// Issue 22's findings a disposable cluster can show: a reviewer login
/// writing a vote under another's name is refused by the database (1); a
/// superuser's unsigned or misattributed approvals are not counted (1, and
/// any route short of the approvers' keys); a search_path set on the
/// minter's role and a schema PUBLIC may create in change nothing (4).
/// The pooled temporary view needs PgBouncer: tests/one_person_quorum.rs.
fn one_person(cluster: &Cluster, bin: &Path) -> Result<Vec<Outcome>, String> {
    let (db, mut c) = race_database(cluster, "APR-C1-ONE")?;
    let sql = |c: &mut postgres::Client, q: &str| c.batch_execute(q).map_err(|e| e.to_string());
    let run = |args: &[&str]| {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        cases::command(cluster, bin, fixtures::role_for(&argv), &db, &argv)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))
    };
    let grants = cases::grant_count(&mut c).map_err(|e| e.to_string())?;
    let expect = |case: &str, wrong: &str, want: &str, got: String, unchanged: bool| {
        let mut failures = Vec::new();
        if got != want {
            failures.push(format!("got {got}"));
        }
        if !unchanged {
            failures.push("something was written".into());
        }
        outcome(case, wrong, want, got, grants, grants, failures)
    };
    let mut rows = Vec::new();

    sql(
        &mut c,
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'alice') THEN \
           CREATE ROLE alice LOGIN; END IF; END $$; GRANT dot_apr_reviewer TO alice;",
    )?;
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let mut alice = cluster.connect("alice", &db).map_err(|e| e.to_string())?;
    let got = match alice.batch_execute(
        "INSERT INTO apr_approvals (apr_code, approver, decision) VALUES ('APR-C1-ONE', 'bob', 'reject')",
    ) {
        Ok(()) => "accepted".to_owned(),
        Err(e) => format!("refused {}", e.code().map(|c| c.code()).unwrap_or("?")),
    };
    let unchanged = cases::snapshot(&mut c).map_err(|e| e.to_string())? == before;
    rows.push(expect(
        "issue22/vote-as-another",
        "the reviewer login alice writes a vote as bob with psql",
        "refused DG004",
        got,
        unchanged,
    ));

    let payload: serde_json::Value = c
        .query_one(
            "SELECT proposed_action FROM apr_requests WHERE apr_code = 'APR-C1-ONE'",
            &[],
        )
        .map(|r| r.get(0))
        .map_err(|e| e.to_string())?;
    let digest = crate::canon::cser::digest(&payload).map_err(|e| e.to_string())?;
    c.execute(
        "INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, status) \
         VALUES ('APR-C1-FORGED', 'authorize_build_step', $1, 'proposer', 'approved')",
        &[&payload],
    )
    .map_err(|e| e.to_string())?;
    // bob's vote, signed with alice's key: a key not listed for bob.
    let alices =
        crate::integrity::approval::message("APR-C1-FORGED", "bob", "approve", digest.as_str())
            .ok()
            .and_then(|m| {
                fixtures::test_approver_key("alice")
                    .sign(
                        crate::integrity::approval::NAMESPACE,
                        ssh_key::HashAlg::Sha512,
                        &m,
                    )
                    .ok()
            })
            .and_then(|s| s.to_pem(ssh_key::LineEnding::LF).ok());
    c.execute(
        "INSERT INTO apr_approvals (apr_code, approver, decision, payload_digest, signature) \
         VALUES ('APR-C1-FORGED', 'bob', 'approve', $1, $2), ('APR-C1-FORGED', 'carol', 'approve', $1, NULL)",
        &[&digest.as_str(), &alices],
    )
    .map_err(|e| e.to_string())?;
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let out = run(&["execute", "--apr", "APR-C1-FORGED", "--json"])?;
    let unchanged = cases::snapshot(&mut c).map_err(|e| e.to_string())? == before;
    rows.push(expect(
        "issue22/superuser-approvals",
        "a superuser writes bob's approval signed by alice's key and carol's unsigned",
        "SKIP REJECT_QUORUM_NOT_MET",
        code_of(&out),
        unchanged,
    ));

    fixtures::insert_vote(
        &mut c,
        "APR-C1-ONE",
        "carol",
        "reject",
        Some(digest.as_str()),
    )
    .map_err(|e| e.to_string())?;
    sql(
        &mut c,
        &format!(
            "CREATE SCHEMA shadow; GRANT USAGE ON SCHEMA shadow TO {HANDLER_ROLE}; \
             CREATE VIEW shadow.apr_approvals AS SELECT * FROM public.apr_approvals WHERE decision = 'approve'; \
             GRANT SELECT ON shadow.apr_approvals TO {HANDLER_ROLE}; \
             ALTER ROLE {HANDLER_ROLE} IN DATABASE \"{db}\" SET search_path = shadow, public;"
        ),
    )?;
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let out = run(&["execute", "--apr", "APR-C1-ONE", "--json"]);
    sql(
        &mut c,
        &format!("ALTER ROLE {HANDLER_ROLE} IN DATABASE \"{db}\" RESET search_path"),
    )?;
    let unchanged = cases::snapshot(&mut c).map_err(|e| e.to_string())? == before;
    rows.push(expect(
        "issue22/role-search-path",
        "the minter's role setting puts a view hiding carol's veto first",
        "FAIL REJECT_QUORUM_VETOED",
        code_of(&out?),
        unchanged,
    ));

    sql(&mut c, "GRANT CREATE ON SCHEMA public TO PUBLIC")?;
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let out = run(&["execute", "--apr", "APR-C1-FORGED", "--dry-run", "--json"]);
    sql(&mut c, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")?;
    let unchanged = cases::snapshot(&mut c).map_err(|e| e.to_string())? == before;
    rows.push(expect(
        "issue22/public-may-create",
        "PUBLIC may create in the governance schema (PostgreSQL 13/14's default)",
        "ERROR ERROR_SCHEMA_CONTRACT",
        code_of(&out?),
        unchanged,
    ));
    Ok(rows)
}

/// Issue 18's findings 1, 2 and 4 (3 needs an evidence log and its keys:
/// tests/evidence_anchored.rs): an expired grant marked consumed by hand is
/// refused by the table (1); a spend's stored key answers no one, and the
/// real key answers only its spender (2); a forged active row for the plan
/// does not block a lawful mint (4).
fn no_laundering(cluster: &Cluster, bin: &Path) -> Result<Vec<Outcome>, String> {
    let (db, mut c) = race_database(cluster, "APR-C1-LAUNDER")?;
    let run = |args: &[String]| {
        cases::command(cluster, bin, fixtures::role_for(args), &db, args)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))
    };
    let vocabulary = cases::vocabulary(&mut c).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    let mint = run(&["execute", "--apr", "APR-C1-LAUNDER", "--json"].map(String::from))?;
    if code_of(&mint) != "OK MINTED" {
        return Err(format!("no-laundering: mint: {}", code_of(&mint)));
    }
    let auth = "GBA-C1-APR-C1-LAUNDER";
    let grants = cases::grant_count(&mut c).map_err(|e| e.to_string())?;

    // 1: the grant expires (moved back, guard off), then the consumer
    // login marks it consumed by hand, inside its life.
    c.batch_execute(&format!(
        "SET session_replication_role = replica; UPDATE governance_build_authorization \
           SET granted_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' \
         WHERE auth_code = '{auth}'; SET session_replication_role = origin;"
    ))
    .map_err(|e| e.to_string())?;
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let mut consumer = cluster
        .connect(fixtures::CONSUMER_ROLE, &db)
        .map_err(|e| e.to_string())?;
    let got = match consumer.batch_execute(&format!(
        "BEGIN; SELECT set_config('dot.canonical_writer', 'dot-authorize-build-step', true); \
         UPDATE governance_build_authorization SET status = 'consumed', \
           consumed_at = granted_at + interval '1 second', consumed_by = 'c1-build' \
         WHERE auth_code = '{auth}'; COMMIT"
    )) {
        Ok(()) => "accepted".to_owned(),
        Err(e) => format!("refused {}", e.code().map(|c| c.code()).unwrap_or("?")),
    };
    let _ = consumer.batch_execute("ROLLBACK");
    let unchanged = cases::snapshot(&mut c).map_err(|e| e.to_string())? == before;
    rows.push(outcome(
        "issue18/expired-spend-by-hand",
        "the consumer login marks an expired grant consumed inside its life",
        "refused DG007",
        got.clone(),
        grants,
        grants,
        [
            (got != "refused DG007").then(|| format!("got {got}")),
            (!unchanged).then(|| "something was written".to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect(),
    ));

    // 2: a fresh grant spent by c1-build; its stored key, and the real key
    // under another --by, answer ALREADY_CONSUMED; the spender's re-run
    // answers CONSUMED.
    cases::seed_approved_apr_for_plan(&mut c, "APR-C1-SPEND", Some("SPEND-PLAN"))?;
    let mint = run(&["execute", "--apr", "APR-C1-SPEND", "--json"].map(String::from))?;
    if code_of(&mint) != "OK MINTED" {
        return Err(format!("no-laundering: mint: {}", code_of(&mint)));
    }
    let spent = "GBA-C1-APR-C1-SPEND";
    let spend_plan = |request_id: &str, by: &str| {
        let mut argv = cases::consume_argv(spent, "SPEND-PLAN", &vocabulary);
        argv.extend(
            ["--request-id", request_id, "--by", by, "--json"]
                .iter()
                .map(|s| s.to_string()),
        );
        run(&argv)
    };
    let first = spend_plan("R-HARNESS", "c1-build")?;
    let stored: String = c
        .query_one(
            "SELECT consume_request_id FROM governance_build_authorization WHERE auth_code = $1",
            &[&spent],
        )
        .map(|r| r.get(0))
        .map_err(|e| e.to_string())?;
    let grants = cases::grant_count(&mut c).map_err(|e| e.to_string())?;
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let got = [
        code_of(&first),
        code_of(&spend_plan(&stored, "c1-build")?),
        code_of(&spend_plan("R-HARNESS", "someone-else")?),
        code_of(&spend_plan("R-HARNESS", "c1-build")?),
    ]
    .join(", ");
    let want = "OK CONSUMED, FAIL REJECT_AUTH_ALREADY_CONSUMED, FAIL REJECT_AUTH_ALREADY_CONSUMED, OK CONSUMED";
    let unchanged = cases::snapshot(&mut c).map_err(|e| e.to_string())? == before;
    rows.push(outcome(
        "issue18/spend-replayed",
        "the stored key, and the real key under another --by, are presented again",
        want,
        got.clone(),
        grants,
        grants,
        [
            (got != want).then(|| format!("got {got}")),
            (!unchanged).then(|| "something was written".to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect(),
    ));

    // 4: a forged active row for a plan does not block the lawful APR.
    cases::seed_approved_apr_for_plan(&mut c, "APR-C1-LAWFUL", Some("FORGED-PLAN"))?;
    c.batch_execute(
        "SELECT set_config('dot.canonical_writer', 'dot-authorize-build-step', false); \
         INSERT INTO governance_build_authorization (auth_code, request_ref, status, carrier, lane, target, \
           plan_ref, manifest_hash, protocol_version, action_set, scope, apr_digest, granted_at, expires_at, \
           granted_by, rollback_plan_ref) \
         SELECT 'GBA-C1-APR-C1-PLANTED', 'APR-C1-PLANTED', 'active', carrier, lane, target, 'FORGED-PLAN', \
           manifest_hash, protocol_version, action_set, scope || '{\"plan_ref\": \"FORGED-PLAN\"}', apr_digest, \
           now(), now() + interval '1 hour', granted_by, rollback_plan_ref \
           FROM governance_build_authorization WHERE auth_code = 'GBA-C1-APR-C1-SPEND'; \
         SELECT set_config('dot.canonical_writer', '', false);",
    )
    .map_err(|e| e.to_string())?;
    let grants = cases::grant_count(&mut c).map_err(|e| e.to_string())?;
    let out = run(&["execute", "--apr", "APR-C1-LAWFUL", "--json"].map(String::from))?;
    let after = cases::grant_count(&mut c).map_err(|e| e.to_string())?;
    let got = code_of(&out);
    rows.push(outcome(
        "issue18/forged-row-blocks-nothing",
        "an unsigned active row for the plan, planted with the marker",
        "OK MINTED",
        got.clone(),
        grants,
        after,
        if got == "OK MINTED" && after == grants + 1 {
            vec![]
        } else {
            vec![format!("got {got}, {grants} -> {after} rows")]
        },
    ));
    Ok(rows)
}

/// `VERDICT CODE` of a --json run, or what came instead.
fn code_of(out: &std::process::Output) -> String {
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

fn consume_race(cluster: &Cluster, bin: &Path) -> Result<Outcome, String> {
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

/// The human table: one row per check and the closing `N passed, M failed`.
/// What `harness` prints for a human: the table, how to reach a kept
/// cluster, and, like every command, the verdict as the last line.
pub fn text(report: &Report, verdict: &crate::commands::verdict::Verdict) -> String {
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
    text.push_str(&format!(
        "{} {}: {}\n",
        verdict.kind().as_str(),
        verdict.code(),
        crate::canon::text::escape(&verdict.message)
    ));
    text
}

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
mod tests {
    use super::*;

    fn row(case: &str, failures: Vec<String>) -> Outcome {
        outcome(
            case,
            "what is wrong",
            "FAIL REJECT_X",
            "FAIL REJECT_X".into(),
            0,
            0,
            failures,
        )
    }

    #[test]
    fn the_table_has_a_header_a_row_per_case_the_failures_and_the_closing_count() {
        let report = Report {
            rows: vec![
                row("execute/real_run_mode", vec![]),
                row("consume/expired", vec!["expected OK, got FAIL".into()]),
            ],
            kept: None,
            socket_dir: String::new(),
            server: "postgres (PostgreSQL) 13.23 in /x/bin".into(),
        };
        let text = table(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("case "), "{text}");
        assert!(lines[1].starts_with("execute/real_run_mode") && lines[1].ends_with("PASS"));
        assert!(lines[2].starts_with("consume/expired") && lines[2].ends_with("FAIL"));
        assert!(text.contains("FAIL consume/expired: expected OK, got FAIL"));
        assert_eq!(lines.last(), Some(&"1 passed, 1 failed"));
        let v = crate::commands::verdict::Verdict::new(
            crate::commands::verdict::Status::Reject(crate::decide::reject::Reject::HarnessFailed),
            "1 passed, 1 failed",
        );
        let full = super::text(&report, &v);
        assert!(
            full.contains("\nserver: postgres (PostgreSQL) 13.23 in /x/bin\n"),
            "{full}"
        );
        assert_eq!(
            full.lines().last(),
            Some("FAIL HARNESS_FAILED: 1 passed, 1 failed")
        );
    }

    #[test]
    fn a_kept_cluster_is_printed_with_its_socket_and_data_dirs_and_databases() {
        let report = Report {
            rows: vec![row("execute/real_run_mode", vec![])],
            kept: Some(crate::disposable::pgtemp::Kept {
                stop_with: "pg_ctl -D /x/data -m fast stop && rm -rf /x".into(),
                socket_dir: "/x/sock".into(),
                data_dir: "/x/data".into(),
                databases: vec!["case_1".into(), "postgres".into()],
            }),
            socket_dir: "/x/sock".into(),
            server: "postgres (PostgreSQL) 18.4 in /x/bin".into(),
        };
        let v = crate::commands::verdict::Verdict::new(
            crate::commands::verdict::Status::Done(crate::decide::reject::Done::HarnessPassed),
            "1 passed, 0 failed",
        );
        let text = super::text(&report, &v);
        for want in [
            "socket dir: /x/sock",
            "data dir: /x/data",
            "databases: case_1, postgres",
            "stop it with: pg_ctl -D /x/data -m fast stop && rm -rf /x",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
    }
}
