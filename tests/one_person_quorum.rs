//! Issue 22: one person is never a quorum. One test per finding, named after
//! it, each failing on the code before signed approvals, the database's
//! identity binding and pinned names; then the routes around them: a
//! superuser's unsigned or replayed approvals, and the grant's named quorum.
mod common;
use common::*;
use dot_authorize_build_step::disposable::fixtures::{self, HANDLER_ROLE, PROPOSER_ROLE};
use dot_authorize_build_step::disposable::pgtemp::{Pgbouncer, PGBOUNCER_PORT};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Reviewer logins of their own (the test approvers' names).
fn reviewers(db: &Db<'_>, names: &[&str]) {
    logins(db, names, Some("dot_apr_reviewer"));
}

fn sqlstate(e: &postgres::Error) -> String {
    e.code().map(|c| c.code().to_owned()).unwrap_or_default()
}

fn quorum_passed(db: &Db<'_>, apr: &str) -> bool {
    db.superuser()
        .query_one("SELECT quorum_passed($1)", &[&apr])
        .unwrap()
        .get(0)
}

/// An approved APR with two signed approvals and carol's signed veto.
fn vetoed_apr(db: &Db<'_>, apr: &str) {
    db.approved_apr(apr, &valid_payload());
    db.vote(apr, "carol", "reject", Some(&digest(&valid_payload())));
}

#[test]
fn finding_1_a_reviewer_votes_under_other_peoples_names() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    reviewers(&db, &["alice", "bob", "carol"]);
    let p = valid_payload();
    let d = digest(&p);
    db.insert_apr("APR-F1", "authorize_build_step", &p, "approved");
    let before = db.snapshot();
    // The login alice, holding only the reviewer role, writes rows as bob
    // and carol with psql: the database refuses every one.
    let mut alice = pg.cluster.connect("alice", &db.name).unwrap();
    for (who, decision) in [
        ("bob", "approve"),
        ("carol", "approve"),
        ("carol", "reject"),
    ] {
        let err = alice
            .execute(
                "INSERT INTO apr_approvals (apr_code, approver, decision, payload_digest) VALUES ('APR-F1', $1, $2, $3)",
                &[&who, &decision, &d],
            )
            .unwrap_err();
        assert_eq!(sqlstate(&err), "DG004", "{who} {decision}: {err:?}");
    }
    assert_eq!(db.snapshot(), before, "no vote under another's name");
    // The proposer role likewise writes only its own name.
    let mut proposer = pg.cluster.connect(PROPOSER_ROLE, &db.name).unwrap();
    let err = proposer
        .execute(
            "INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by) VALUES ('APR-F1B', 'authorize_build_step', $1, 'mallory')",
            &[&p],
        )
        .unwrap_err();
    assert_eq!(sqlstate(&err), "DG005", "{err:?}");
    let run = db.run_as(
        PROPOSER_ROLE,
        &[
            "propose",
            "--manifest",
            "fixtures/manifests/c1-valid.json",
            "--plan-ref",
            "P",
            "--ttl",
            "1h",
            "--rollback-plan-ref",
            "R",
            "--by",
            "mallory",
            "--apr",
            "APR-F1C",
            "--json",
        ],
    );
    assert_eq!(run.exit(), 4, "{run}");
    assert_eq!(run.code(), "REJECT_PROPOSER_NOT_SELF", "{run}");
    assert_eq!(db.snapshot(), before);
    // Even rows a superuser writes under their names, signed with alice's
    // own key, are not counted: no key the allowed signers list for bob or
    // carol signed them.
    let forged = |who: &str| {
        let key = fixtures::test_approver_key("alice");
        let m =
            dot_authorize_build_step::integrity::approval::message("APR-F1", who, "approve", &d)
                .unwrap();
        key.sign("dot-apr-approval", ssh_key::HashAlg::Sha512, &m)
            .unwrap()
            .to_pem(ssh_key::LineEnding::LF)
            .unwrap()
    };
    for who in ["bob", "carol"] {
        db.sql(&format!(
            "INSERT INTO apr_approvals (apr_code, approver, decision, payload_digest, signature) \
             VALUES ('APR-F1', '{who}', 'approve', '{d}', '{}')",
            forged(who)
        ));
    }
    let before = db.snapshot();
    let run = db.run(&["execute", "--apr", "APR-F1", "--json"]);
    run.expect(3, "SKIP", "REJECT_QUORUM_NOT_MET");
    let why = run.json()["quorum"]["not_counted"].to_string();
    assert!(
        why.contains("signed by a key the allowed signers do not list for this approver"),
        "{run}"
    );
    assert_eq!(db.snapshot(), before);
}

#[test]
fn finding_2_one_login_votes_several_times_through_review() {
    let pg = Pg::start();
    let db = pg.db();
    reviewers(&db, &["alice"]);
    // The APR that replaces the dispatcher: quorum_passed() alone judges it.
    let p = serde_json::json!({"dot_code": "DOT-310", "file_path": "/opt/x", "new_content_sha256": "0".repeat(64)});
    db.insert_apr("APR-F2", "patch_ops_code", &p, "proposed");
    db.run_as(
        "alice",
        &["review", "--apr", "APR-F2", "--approve", "--json"],
    )
    .expect(0, "OK", "REVIEWED");
    let before = db.snapshot();
    for spelling in ["ALICE", " alice", "alice ", "Alice"] {
        db.run_as(
            "alice",
            &[
                "review",
                "--apr",
                "APR-F2",
                "--approve",
                "--by",
                spelling,
                "--json",
            ],
        )
        .expect(4, "FAIL", "REJECT_REVIEWER_NOT_SELF");
    }
    db.run_as(
        "alice",
        &["review", "--apr", "APR-F2", "--approve", "--json"],
    )
    .expect(4, "FAIL", "REJECT_ALREADY_REVIEWED");
    assert_eq!(db.snapshot(), before, "one login, one vote");
    // Nor with psql, whatever the spelling, nor even as the superuser.
    let mut alice = pg.cluster.connect("alice", &db.name).unwrap();
    for spelling in ["ALICE", " alice", "alice "] {
        let err = alice
            .execute(
                "INSERT INTO apr_approvals (apr_code, approver, decision) VALUES ('APR-F2', $1, 'approve')",
                &[&spelling],
            )
            .unwrap_err();
        assert_eq!(sqlstate(&err), "DG004", "{spelling:?}: {err:?}");
        let err = db
            .superuser()
            .execute(
                "INSERT INTO apr_approvals (apr_code, approver, decision) VALUES ('APR-F2', $1, 'approve')",
                &[&spelling],
            )
            .unwrap_err();
        assert_eq!(sqlstate(&err), "23505", "{spelling:?}: {err:?}");
    }
    assert_eq!(db.snapshot(), before);
    assert!(!quorum_passed(&db, "APR-F2"), "one person is not a quorum");
}

#[test]
fn finding_3_the_self_vote_check_passes_when_both_names_are_unreadable() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    reviewers(&db, &["\u{e5}lice"]);
    let p = valid_payload();
    db.insert_apr("APR-F3", "authorize_build_step", &p, "proposed");
    let before = db.snapshot();
    // Two unreadable names are not the same person: the login ålice may
    // not vote as bøb, nor, unreadable itself, at all.
    for by in [Some("b\u{f8}b"), None] {
        let mut argv = vec!["review", "--apr", "APR-F3", "--approve", "--json"];
        if let Some(by) = by {
            argv.extend(["--by", by]);
        }
        db.run_as("\u{e5}lice", &argv)
            .expect(4, "FAIL", "REJECT_REVIEWER_NOT_SELF");
    }
    assert_eq!(db.snapshot(), before);
    // A proposer whose name is unreadable cannot be told apart from any
    // approver: no approval counts, in the recount or in quorum_passed().
    let d = digest(&p);
    db.sql("INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, status) \
            SELECT 'APR-F3B', action_code, proposed_action, E'alice\\u200B', 'approved' FROM apr_requests WHERE apr_code = 'APR-F3'");
    db.vote("APR-F3B", "alice", "approve", Some(&d));
    db.vote("APR-F3B", "bob", "approve", Some(&d));
    let before = db.snapshot();
    let run = db.run(&["execute", "--apr", "APR-F3B", "--json"]);
    run.expect(3, "SKIP", "REJECT_QUORUM_NOT_MET");
    assert!(
        run.json()["message"]
            .as_str()
            .unwrap()
            .contains("the proposer's name is unreadable"),
        "{run}"
    );
    assert!(!quorum_passed(&db, "APR-F3B"));
    assert_eq!(db.snapshot(), before);
}

/// The binary against `db` through `bouncer`, as `role`.
fn through(bouncer: &Pgbouncer, db: &Db<'_>, role: &str, args: &[&str]) -> Run {
    let mut cmd = db.command_as(role, args);
    cmd.env("PGHOST", bouncer.socket_dir())
        .env("PGPORT", PGBOUNCER_PORT.to_string());
    let output = cmd.output().expect("spawn the binary");
    Run {
        argv: args.iter().map(|s| s.to_string()).collect(),
        output,
    }
}

#[test]
fn finding_4_a_temp_view_left_in_a_pooled_session_changes_nothing() {
    let pg = Pg::own();
    let bouncer = Pgbouncer::start(&pg.cluster, 1, &[HANDLER_ROLE]).expect("start pgbouncer");
    let db = pg.db();
    db.bind();
    vetoed_apr(&db, "APR-F4");
    // A session holding the minter login (not the signing key) leaves a
    // temporary view that hides the veto in the one pooled server session.
    let conn = format!(
        "host={} port={PGBOUNCER_PORT} user={HANDLER_ROLE} dbname={}",
        bouncer.socket_dir().display(),
        db.name
    );
    let mut minter = postgres::Client::connect(&conn, postgres::NoTls).unwrap();
    minter
        .batch_execute(
            "CREATE TEMP VIEW apr_approvals AS SELECT * FROM public.apr_approvals WHERE decision = 'approve'",
        )
        .unwrap();
    drop(minter);
    let before = db.snapshot();
    let run = through(
        &bouncer,
        &db,
        HANDLER_ROLE,
        &["execute", "--apr", "APR-F4", "--json"],
    );
    run.expect(4, "FAIL", "REJECT_QUORUM_VETOED");
    assert_eq!(db.snapshot(), before);
    // The view was there all along, in the session the handler used.
    let mut again = postgres::Client::connect(&conn, postgres::NoTls).unwrap();
    let left: Option<String> = again
        .query_one("SELECT to_regclass('pg_temp.apr_approvals')::text", &[])
        .unwrap()
        .get(0);
    assert!(
        left.is_some(),
        "the temporary view must still be in the pooled session"
    );
    // quorum_passed(), called in that session as the dispatcher would,
    // reads the real table too.
    let passed: bool = again
        .query_one("SELECT quorum_passed('APR-F4')", &[])
        .unwrap()
        .get(0);
    assert!(!passed, "the veto is seen through the temporary view");
}

#[test]
fn finding_4_a_search_path_set_on_the_role_changes_nothing() {
    let pg = Pg::own();
    let db = pg.db();
    db.bind();
    vetoed_apr(&db, "APR-F4R");
    db.sql(&format!(
        "CREATE SCHEMA shadow; GRANT USAGE ON SCHEMA shadow TO {HANDLER_ROLE}; \
         CREATE VIEW shadow.apr_approvals AS SELECT * FROM public.apr_approvals WHERE decision = 'approve'; \
         GRANT SELECT ON shadow.apr_approvals TO {HANDLER_ROLE};"
    ));
    // The minter sets its own role's search_path: any role may.
    let mut minter = pg.cluster.connect(HANDLER_ROLE, &db.name).unwrap();
    minter
        .batch_execute("ALTER ROLE CURRENT_USER SET search_path = shadow, public")
        .unwrap();
    let before = db.snapshot();
    db.run(&["execute", "--apr", "APR-F4R", "--json"])
        .expect(4, "FAIL", "REJECT_QUORUM_VETOED");
    assert_eq!(db.snapshot(), before);
    minter
        .batch_execute("ALTER ROLE CURRENT_USER RESET search_path")
        .unwrap();
}

#[test]
fn finding_4_aggregates_that_shadow_pg_catalogs_change_nothing() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    // Two signed approvals and carol's veto; and an APR with one approval.
    vetoed_apr(&db, "APR-F4A");
    db.insert_apr(
        "APR-F4B",
        "authorize_build_step",
        &valid_payload(),
        "approved",
    );
    db.vote(
        "APR-F4B",
        "alice",
        "approve",
        Some(&digest(&valid_payload())),
    );
    // PostgreSQL 13 and 14's default: everyone may create in public. A
    // login with no governance privilege plants a count(text) that says 99
    // and a json_agg(json) that drops every reject.
    db.sql("GRANT CREATE ON SCHEMA public TO PUBLIC");
    logins(&db, &["nobody_at_all"], None);
    let mut nobody = pg.cluster.connect("nobody_at_all", &db.name).unwrap();
    nobody
        .batch_execute(
            "CREATE FUNCTION public.ninety_nine(bigint, text) RETURNS bigint LANGUAGE sql AS 'SELECT 99::bigint'; \
             CREATE AGGREGATE public.count(text) (sfunc = public.ninety_nine, stype = bigint, initcond = '0'); \
             CREATE FUNCTION public.drop_rejects(json, json) RETURNS json LANGUAGE sql AS \
               $f$ SELECT CASE WHEN $2 ->> 1 = 'reject' THEN COALESCE($1, '[]'::json) \
                   ELSE (COALESCE($1::jsonb, '[]'::jsonb) || jsonb_build_array($2::jsonb))::json END $f$; \
             CREATE AGGREGATE public.json_agg(json) (sfunc = public.drop_rejects, stype = json);",
        )
        .unwrap();
    let before = db.snapshot();
    let run = db.run(&["execute", "--apr", "APR-F4A", "--json"]);
    run.expect(5, "ERROR", "ERROR_SCHEMA_CONTRACT");
    assert!(
        run.json()["message"]
            .as_str()
            .unwrap()
            .contains("PUBLIC may create objects in schema public"),
        "{run}"
    );
    assert_eq!(db.snapshot(), before);
    // Revoked, the planted aggregates are still there: they change nothing,
    // for the handler or for the dispatcher's quorum_passed().
    db.sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
    let before = db.snapshot();
    db.run(&["execute", "--apr", "APR-F4A", "--json"])
        .expect(4, "FAIL", "REJECT_QUORUM_VETOED");
    let run = db.run(&["execute", "--apr", "APR-F4B", "--json"]);
    run.expect(3, "SKIP", "REJECT_QUORUM_NOT_MET");
    assert_eq!(
        run.json()["quorum"]["counted"],
        serde_json::json!(["alice"]),
        "{run}"
    );
    assert!(!quorum_passed(&db, "APR-F4A"));
    assert!(!quorum_passed(&db, "APR-F4B"), "one approval is not 99");
    assert_eq!(db.snapshot(), before);
}

#[test]
fn a_superusers_unsigned_replayed_or_misattributed_approvals_never_mint() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let p = valid_payload();
    let d = digest(&p);
    db.approved_apr("APR-OTHER", &p);
    db.insert_apr("APR-SU", "authorize_build_step", &p, "approved");
    let replayed: String = db
        .superuser()
        .query_one(
            "SELECT signature FROM apr_approvals WHERE apr_code = 'APR-OTHER' AND approver = 'bob'",
            &[],
        )
        .unwrap()
        .get(0);
    let garbage = "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n";
    let reject_signed =
        fixtures::sign_test_vote("APR-SU", "dave", "reject", &d).expect("dave signs");
    for (who, signature) in [
        ("alice", None),
        ("bob", Some(replayed.as_str())),
        ("carol", Some(garbage)),
        ("dave", Some(reject_signed.as_str())),
    ] {
        db.superuser()
            .execute(
                "INSERT INTO apr_approvals (apr_code, approver, decision, payload_digest, signature) \
                 VALUES ('APR-SU', $1, 'approve', $2, $3)",
                &[&who, &d, &signature],
            )
            .unwrap();
    }
    let before = db.snapshot();
    let run = db.run(&["execute", "--apr", "APR-SU", "--json"]);
    run.expect(3, "SKIP", "REJECT_QUORUM_NOT_MET");
    let q = &run.json()["quorum"];
    assert_eq!(q["counted"], serde_json::json!([]), "{run}");
    let why = not_counted(q);
    assert_eq!(why["alice"], "no signature", "{run}");
    for who in ["bob", "dave"] {
        assert!(
            why[who].contains("does not verify over this vote"),
            "{who}: {run}"
        );
    }
    assert!(why["carol"].starts_with("an unreadable signature"), "{run}");
    assert_eq!(db.snapshot(), before);
}

/// `ssh-keygen`, or a failure that says how to install it.
fn ssh_keygen() -> Command {
    assert!(
        Path::new("/usr/bin/ssh-keygen").exists(),
        "ssh-keygen is missing: apt-get install openssh-client"
    );
    Command::new("/usr/bin/ssh-keygen")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dot-abs-quorum-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn signatures_ssh_keygen_makes_are_counted_and_the_tools_verify_with_ssh_keygen() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    reviewers(&db, &["alice", "bob"]);
    let keys = pg.keys();
    let dir = scratch("keygen");
    db.insert_apr(
        "APR-SK",
        "authorize_build_step",
        &valid_payload(),
        "proposed",
    );
    // alice signs on her own machine: the message from digest, the
    // signature from ssh-keygen, recorded with review --signature.
    let m = db.run_as(
        "alice",
        &[
            "digest",
            "--apr",
            "APR-SK",
            "--message",
            "--decision",
            "approve",
            "--by",
            "alice",
        ],
    );
    assert_eq!(m.exit(), 0, "{m}");
    let message = dir.join("m");
    std::fs::write(&message, &m.output.stdout).unwrap();
    assert!(
        !m.output.stdout.ends_with(b"\n"),
        "M has no trailing newline"
    );
    let signed = ssh_keygen()
        .args(["-Y", "sign", "-n", "dot-apr-approval", "-f"])
        .arg(keys.approver_key("alice"))
        .arg(&message)
        .output()
        .unwrap();
    assert!(signed.status.success(), "{signed:?}");
    let sig = dir.join("m.sig");
    db.run_as(
        "alice",
        &[
            "review",
            "--apr",
            "APR-SK",
            "--approve",
            "--signature",
            sig.to_str().unwrap(),
            "--json",
        ],
    )
    .expect(0, "OK", "REVIEWED");
    // bob signs with the tool; ssh-keygen verifies what it stored.
    db.run_as("bob", &["review", "--apr", "APR-SK", "--approve", "--json"])
        .expect(0, "OK", "REVIEWED");
    let stored: String = db
        .superuser()
        .query_one(
            "SELECT signature FROM apr_approvals WHERE apr_code = 'APR-SK' AND approver = 'bob'",
            &[],
        )
        .unwrap()
        .get(0);
    std::fs::write(dir.join("bob.sig"), stored).unwrap();
    let bob_m = db.run_as(
        "bob",
        &[
            "digest",
            "--apr",
            "APR-SK",
            "--message",
            "--decision",
            "approve",
            "--by",
            "bob",
        ],
    );
    let verify = ssh_keygen()
        .args(["-Y", "verify", "-n", "dot-apr-approval", "-I", "bob", "-f"])
        .arg(&keys.allowed_signers)
        .arg("-s")
        .arg(dir.join("bob.sig"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(&bob_m.output.stdout)?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(verify.status.success(), "{verify:?}");
    db.sql("UPDATE apr_requests SET status = 'approved' WHERE apr_code = 'APR-SK'");
    db.run(&["execute", "--apr", "APR-SK", "--json"])
        .expect(0, "OK", "MINTED");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_grant_names_its_quorum_and_every_recheck_verifies_it_again() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let keys = pg.keys();
    db.approved_apr("APR-NQ", &valid_payload());
    db.run(&["execute", "--apr", "APR-NQ", "--json"])
        .expect(0, "OK", "MINTED");
    let shown = db.run(&["show", "--apr", "APR-NQ", "--json"]);
    shown.expect(0, "OK", "SHOWN");
    assert_eq!(
        shown.json()["grant"]["approved_by"],
        serde_json::json!(["alice", "bob"]),
        "{shown}"
    );
    // A third approval arrives, then bob's key leaves the allowed signers:
    // the APR still has a quorum (alice, carol), but not the one the grant
    // was minted on.
    db.vote(
        "APR-NQ",
        "carol",
        "approve",
        Some(&digest(&valid_payload())),
    );
    let dir = scratch("named");
    let without_bob: String = std::fs::read_to_string(&keys.allowed_signers)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("bob "))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = dir.join("allowed_signers");
    std::fs::write(&file, without_bob).unwrap();
    let with = |args: &[&str]| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--allowed-signers", file.to_str().unwrap()]);
        db.run(&a)
    };
    let before = db.snapshot();
    let rerun = with(&["execute", "--apr", "APR-NQ", "--json"]);
    rerun.expect(4, "FAIL", "REJECT_GRANT_INVALID");
    assert!(
        rerun.json()["message"]
            .as_str()
            .unwrap()
            .contains("the approvals it was minted on no longer verify: bob"),
        "{rerun}"
    );
    let mut spend = consume_args("GBA-C1-APR-NQ");
    spend.extend(["--allowed-signers".into(), file.to_str().unwrap().into()]);
    let spend: Vec<&str> = spend.iter().map(String::as_str).collect();
    db.run(&spend).expect(4, "FAIL", "REJECT_GRANT_INVALID");
    let readback = with(&["readback", "--apr", "APR-NQ", "--json"]);
    assert_eq!(readback.exit(), 4, "{readback}");
    assert!(
        readback.stdout().contains("no longer verify: bob"),
        "{readback}"
    );
    assert_eq!(db.snapshot(), before);
    // With the full file the same grant is whole again.
    let whole = db.run(&["readback", "--apr", "APR-NQ", "--json"]);
    assert!(whole.stdout().contains("approved by alice, bob"), "{whole}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An ssh-agent of the test's own, killed when dropped.
struct Agent {
    child: std::process::Child,
    sock: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let sock = dir.join("agent.sock");
        let child = Command::new("/usr/bin/ssh-agent")
            .args(["-D", "-a"])
            .arg(&sock)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent is missing: apt-get install openssh-client");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !sock.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "ssh-agent did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Agent { child, sock }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn review_signs_through_ssh_agent_with_the_key_the_allowed_signers_list() {
    let pg = Pg::start();
    let db = pg.db();
    reviewers(&db, &["alice", "bob"]);
    let keys = pg.keys();
    let dir = scratch("agent");
    let agent = Agent::start(&dir);
    let added = Command::new("/usr/bin/ssh-add")
        .arg(keys.approver_key("alice"))
        .env("SSH_AUTH_SOCK", &agent.sock)
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    db.insert_apr(
        "APR-AG",
        "authorize_build_step",
        &valid_payload(),
        "proposed",
    );
    let through_agent = |who: &str, extra: &[&str]| {
        let mut args = vec!["review", "--apr", "APR-AG", "--approve", "--json"];
        args.extend(extra);
        let mut cmd = db.command_as(who, &args);
        cmd.env_remove(dot_authorize_build_step::integrity::approval::APPROVER_KEY_ENV)
            .env("SSH_AUTH_SOCK", &agent.sock);
        Run {
            argv: args.iter().map(|s| s.to_string()).collect(),
            output: cmd.output().unwrap(),
        }
    };
    // alice: the agent holds the one key the allowed signers list for her.
    let run = through_agent("alice", &[]);
    run.expect(0, "OK", "REVIEWED");
    assert_eq!(run.json()["signed"], true, "{run}");
    // bob: the agent holds no key of his, by name or by .pub file.
    let before = db.snapshot();
    through_agent("bob", &[]).expect(5, "ERROR", "ERROR_APPROVER_KEY");
    let bob_pub = dir.join("bob.pub");
    std::fs::write(
        &bob_pub,
        fixtures::test_approver_key("bob")
            .public_key()
            .to_openssh()
            .unwrap(),
    )
    .unwrap();
    through_agent("bob", &["--sign-key", bob_pub.to_str().unwrap()]).expect(
        5,
        "ERROR",
        "ERROR_APPROVER_KEY",
    );
    assert_eq!(db.snapshot(), before);
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn review_asks_an_encrypted_keys_passphrase_on_the_terminal_and_never_without_one() {
    let pg = Pg::start();
    let db = pg.db();
    reviewers(&db, &["alice"]);
    let dir = scratch("passphrase");
    // alice's own key, encrypted (ssh-keygen -p sets a passphrase on a copy).
    let key = dir.join("alice");
    std::fs::copy(pg.keys().approver_key("alice"), &key).unwrap();
    let set = ssh_keygen()
        .args(["-q", "-p", "-N", "correct horse", "-P", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(set.status.success(), "{set:?}");
    db.insert_apr(
        "APR-PW",
        "authorize_build_step",
        &valid_payload(),
        "proposed",
    );
    let args = [
        "review",
        "--apr",
        "APR-PW",
        "--approve",
        "--json",
        "--sign-key",
        key.to_str().unwrap(),
    ];
    let before = db.snapshot();
    // No terminal at all (a new session has no controlling one): refused
    // at once, with nothing recorded, never a hang.
    let no_tty = db.command_as("alice", &args);
    let mut detached = Command::new("/usr/bin/setsid");
    detached
        .arg("-w")
        .arg(no_tty.get_program())
        .args(no_tty.get_args())
        .env_clear()
        .envs(
            no_tty
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .stdin(std::process::Stdio::null());
    let refused = run_bounded(&mut detached, std::time::Duration::from_secs(30));
    assert_eq!(refused.exit(), 5, "{refused}");
    assert!(
        refused.stdout().contains("ERROR_APPROVER_KEY")
            && refused
                .stdout()
                .contains("no terminal to ask for its passphrase"),
        "{refused}"
    );
    assert_eq!(db.snapshot(), before);
    // On a terminal (script gives the command one), the wrong passphrase
    // records nothing and the right one signs.
    let on_tty = |passphrase: &str| {
        let base = db.command_as("alice", &args);
        let line: Vec<String> = std::iter::once(base.get_program().to_string_lossy().into_owned())
            .chain(
                base.get_args()
                    .map(|a| format!("'{}'", a.to_string_lossy())),
            )
            .collect();
        let mut cmd = Command::new("/usr/bin/script");
        cmd.args(["-q", "-e", "-c", &line.join(" "), "/dev/null"])
            .env_clear()
            .envs(
                base.get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("script (util-linux)");
        // The passphrase is typed only once the prompt is on the terminal
        // (echo is off by then, so what appears after it is the tool's).
        let mut stdout = child.stdout.take().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let reader = {
            let seen = seen.clone();
            std::thread::spawn(move || {
                use std::io::Read as _;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !String::from_utf8_lossy(&seen.lock().unwrap()).contains("Enter passphrase") {
            assert!(
                std::time::Instant::now() < deadline,
                "no passphrase prompt in 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().unwrap();
            stdin
                .write_all(format!("{passphrase}\n").as_bytes())
                .unwrap();
        }
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("review on a terminal did not finish in 30 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.wait();
        reader.join().unwrap();
        let out = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
        out
    };
    let text = on_tty("wrong horse");
    assert!(
        text.contains("ERROR_APPROVER_KEY") && text.contains("wrong passphrase"),
        "{text}"
    );
    assert!(
        !text.contains("correct horse") && !text.contains("wrong horse"),
        "the passphrase is never echoed: {text}"
    );
    assert_eq!(db.snapshot(), before);
    let text = on_tty("correct horse");
    assert!(text.contains("\"code\":\"REVIEWED\""), "{text}");
    assert!(
        !text.contains("correct horse"),
        "the passphrase is never echoed: {text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
