//! Regression tests for the adversarial review's findings (issue 9), each
//! named after its finding. Every one of them failed on the code before the
//! fix: the forging chain (roles, table constraints, re-checks of an
//! existing grant), wall-clock expiry, unreadable payloads, bounded manifest
//! reads, argv and stdout faults, timeouts, hidden characters, `--by ""`.
mod common;
use common::*;
use dot_authorize_build_step::disposable::fixtures::{
    CONSUMER_ROLE, HANDLER_ROLE, HARDEN_SQL, PROPOSER_ROLE,
};
use serde_json::Value;
use std::process::{Command, Stdio};

fn sqlstate(e: &postgres::Error) -> &str {
    e.code().map_or("none", |c| c.code())
}

#[test]
fn forging_chain_the_consumer_role_cannot_insert_a_grant_even_with_the_marker() {
    let db = approved("APR-F1", &valid_payload());
    let pg = db.pg;
    let mut consumer = pg.cluster.connect(CONSUMER_ROLE, &db.name).unwrap();
    let err = consumer
        .batch_execute(&format!(
            "BEGIN; {MARKER}; {}; COMMIT",
            forged_insert("APR-F1", "1 hour")
        ))
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    assert_eq!(db.grant_count(), 0);
}

#[test]
fn forging_chain_the_minter_cannot_consume_and_the_consumer_cannot_revoke() {
    let db = minted("APR-F2", &valid_payload());
    let pg = db.pg;
    let before = db.snapshot();
    for (role, sql, state) in [
        (HANDLER_ROLE, "UPDATE governance_build_authorization SET status = 'consumed', consumed_at = clock_timestamp()", "42501"),
        // status alone: the table wants consumed_at with it.
        (HANDLER_ROLE, "UPDATE governance_build_authorization SET status = 'consumed'", "23514"),
        (CONSUMER_ROLE, "UPDATE governance_build_authorization SET status = 'revoked', revoked_at = clock_timestamp(), revoke_reason = 'x'", "42501"),
        (CONSUMER_ROLE, "UPDATE governance_build_authorization SET status = 'revoked'", "23514"),
        (CONSUMER_ROLE, "UPDATE governance_build_authorization SET expires_at = expires_at + interval '1 day'", "42501"),
        (CONSUMER_ROLE, "DELETE FROM governance_build_authorization", "42501"),
    ] {
        let mut client = pg.cluster.connect(role, &db.name).unwrap();
        let err = client
            .batch_execute(&format!("BEGIN; {MARKER}; {sql}; COMMIT"))
            .unwrap_err();
        assert_eq!(sqlstate(&err), state, "{role}: {sql}: {err}");
    }
    assert_eq!(db.snapshot(), before);
}

#[test]
fn forging_chain_the_table_refuses_a_ten_year_ttl_a_bare_active_row_and_a_future_grant_whoever_writes_it(
) {
    let db = approved("APR-F3", &valid_payload());
    let pg = db.pg;
    let before = db.snapshot();
    let bare =
        "INSERT INTO governance_build_authorization (auth_code, request_ref, status, expires_at) \
                VALUES ('GBA-C1-APR-F3', 'APR-F3', 'active', now() + interval '1 hour')";
    let future = forged_insert("APR-F3", "1 hour").replace(
        "FROM clock_timestamp() t",
        "FROM (SELECT clock_timestamp() + interval '1 hour' AS t) s",
    );
    let writers = [
        (HANDLER_ROLE, format!("BEGIN; {MARKER};")),
        // A superuser with the guard trigger switched off.
        (
            "postgres",
            "BEGIN; SET LOCAL session_replication_role = replica;".to_owned(),
        ),
    ];
    for (role, prefix) in writers {
        let mut c = pg.cluster.connect(role, &db.name).unwrap();
        for (what, sql) in [
            ("ten-year TTL", forged_insert("APR-F3", "3650 days")),
            (
                "24 h and a second",
                forged_insert("APR-F3", "86401 seconds"),
            ),
            ("no binding", bare.to_owned()),
            ("granted in the future", future.clone()),
        ] {
            let err = c
                .batch_execute(&format!("{prefix} {sql}; COMMIT"))
                .unwrap_err();
            let _ = c.batch_execute("ROLLBACK");
            assert_eq!(sqlstate(&err), "23514", "{role}, {what}: {err}");
        }
        // The same row with a lawful TTL is accepted: the constraints
        // refuse the forgery, not the row.
        c.batch_execute(&format!(
            "{prefix} {}; ROLLBACK",
            forged_insert("APR-F3", "1 hour")
        ))
        .unwrap_or_else(|e| panic!("{role}: a lawful row was refused: {e}"));
    }
    assert_eq!(db.snapshot(), before);
}

#[test]
fn forging_chain_the_proposer_role_inserts_only_proposed_aprs_without_timestamps() {
    let pg = Pg::start();
    let db = pg.db();
    let mut proposer = pg.cluster.connect(PROPOSER_ROLE, &db.name).unwrap();
    let payload = valid_payload().to_string();
    for (what, sql) in [
        ("approved", format!("INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, status) VALUES ('A1', 'authorize_build_step', '{payload}', 'p', 'approved')")),
        ("even proposed, named", format!("INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, status) VALUES ('A1', 'authorize_build_step', '{payload}', 'p', 'proposed')")),
        ("created_at", format!("INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, created_at) VALUES ('A1', 'authorize_build_step', '{payload}', 'p', now() - interval '1 year')")),
        ("approved_at", format!("INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, approved_at) VALUES ('A1', 'authorize_build_step', '{payload}', 'p', now())")),
        ("applied_at", format!("INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, applied_at) VALUES ('A1', 'authorize_build_step', '{payload}', 'p', now())")),
        ("an approval", "INSERT INTO apr_approvals (apr_code, approver, decision) VALUES ('A1', 'dot_c1_grant_issue', 'approve')".to_owned()),
        ("an update", "UPDATE apr_requests SET status = 'approved'".to_owned()),
    ] {
        let err = proposer.batch_execute(&sql).unwrap_err();
        assert_eq!(sqlstate(&err), "42501", "{what}: {err}");
    }
    proposer
        .batch_execute(&format!("INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by) VALUES ('A1', 'authorize_build_step', '{payload}', 'dot_c1_grant_issue')"))
        .unwrap();
    let status: String = db
        .superuser()
        .query_one("SELECT status FROM apr_requests WHERE apr_code = 'A1'", &[])
        .unwrap()
        .get(0);
    assert_eq!(status, "proposed");
}

#[test]
fn forging_chain_a_forged_grant_without_quorum_is_refused_by_execute_and_consume() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    // Approved by some other path, with no approvals at all.
    db.insert_apr(
        "APR-F5",
        "authorize_build_step",
        &valid_payload(),
        "approved",
    );
    let mut minter = pg.cluster.connect(HANDLER_ROLE, &db.name).unwrap();
    minter
        .batch_execute(&format!(
            "BEGIN; {MARKER}; {}; COMMIT",
            forged_insert("APR-F5", "1 hour")
        ))
        .expect("a perfect-looking row passes the table's constraints");
    let before = db.snapshot();
    let run = db.run(&["execute", "--apr", "APR-F5", "--json"]);
    run.expect(4, "FAIL", "REJECT_GRANT_INVALID");
    assert!(
        run.json()["message"]
            .as_str()
            .unwrap()
            .contains("no quorum"),
        "{run}"
    );
    db.run(&consume_args_ref("GBA-C1-APR-F5"))
        .expect(4, "FAIL", "REJECT_GRANT_INVALID");
    assert_eq!(db.snapshot(), before);
}

#[test]
fn forging_chain_a_ten_year_grant_on_an_unhardened_table_is_refused_by_execute_and_consume() {
    let db = approved("APR-F6", &valid_payload());
    let pg = db.pg;
    // The live table before staged/harden-tables.staged.sql.
    db.sql("ALTER TABLE governance_build_authorization DROP CONSTRAINT gba_ttl_within_cap");
    let mut minter = pg.cluster.connect(HANDLER_ROLE, &db.name).unwrap();
    minter
        .batch_execute(&format!(
            "BEGIN; {MARKER}; {}; COMMIT",
            forged_insert("APR-F6", "3650 days")
        ))
        .unwrap();
    let before = db.snapshot();
    let run = db.run(&["execute", "--apr", "APR-F6", "--json"]);
    run.expect(4, "FAIL", "REJECT_GRANT_INVALID");
    db.run(&consume_args_ref("GBA-C1-APR-F6"))
        .expect(4, "FAIL", "REJECT_GRANT_INVALID");
    assert_eq!(db.snapshot(), before);
}

fn consume_args_ref(auth: &str) -> Vec<&'static str> {
    consume_args(auth)
        .into_iter()
        .map(|s| &*Box::leak(s.into_boxed_str()))
        .collect()
}

/// pg_get_constraintdef of the hardening constraints, by name.
fn hardening_defs(db: &Db<'_>) -> Vec<(String, String)> {
    db.superuser()
        .query(
            "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'governance_build_authorization'::regclass AND conname LIKE 'gba\\_%' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

const UNHARDEN: &str = "ALTER TABLE governance_build_authorization \
    DROP CONSTRAINT gba_ttl_within_cap, DROP CONSTRAINT gba_granted_not_in_future, \
    DROP CONSTRAINT gba_active_has_c1_binding, DROP CONSTRAINT gba_lifecycle_times; \
    ALTER TABLE apr_requests ALTER COLUMN status DROP DEFAULT";

#[test]
fn staged_harden_tables_adds_exactly_the_schema_constraints_is_idempotent_and_rolls_back_on_bad_rows(
) {
    let pg = Pg::start();
    let db = pg.db();
    let schema = hardening_defs(&db);
    assert_eq!(schema.len(), 4, "{schema:?}");
    db.sql(UNHARDEN);
    assert!(hardening_defs(&db).is_empty());
    db.sql(HARDEN_SQL);
    assert_eq!(
        hardening_defs(&db),
        schema,
        "the migration and fixtures/schema.sql differ"
    );
    let once = db.snapshot();
    db.sql(HARDEN_SQL);
    assert_eq!(db.snapshot(), once, "a second run changed something");
    // A live table that already holds a row the constraints refuse: the
    // migration raises and leaves the table exactly as it was.
    db.sql(UNHARDEN);
    db.bind();
    db.approved_apr("APR-F7", &valid_payload());
    db.sql(&format!(
        "BEGIN; SET LOCAL session_replication_role = replica; {}; COMMIT",
        forged_insert("APR-F7", "3650 days")
    ));
    let err = db.superuser().batch_execute(HARDEN_SQL).unwrap_err();
    assert_eq!(sqlstate(&err), "23514", "{err}");
    assert!(
        hardening_defs(&db).is_empty(),
        "a failed migration left constraints behind"
    );
}

#[test]
fn expiry_is_checked_at_the_write_not_at_transaction_start() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let mut payload = valid_payload();
    payload["ttl_seconds"] = Value::from(3);
    db.approved_apr("APR-X1", &payload);
    db.run(&["execute", "--apr", "APR-X1", "--json"])
        .expect(0, "OK", "MINTED");
    let expires: chrono::DateTime<chrono::Utc> = db
        .superuser()
        .query_one("SELECT expires_at FROM governance_build_authorization", &[])
        .unwrap()
        .get(0);
    // The consume reads the grant (unexpired), then queues on the row lock
    // the gate holds; the gate lets go only after the grant expired.
    let gate = db.gate_grant("GBA-C1-APR-X1");
    let mut consume = db.command_as(CONSUMER_ROLE, &consume_args_ref("GBA-C1-APR-X1"));
    let argv = argv_of(&consume);
    let child = consume
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut watcher = db.superuser();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
                &[],
            )
            .unwrap()
            .get(0);
        let now: chrono::DateTime<chrono::Utc> = watcher
            .query_one("SELECT clock_timestamp()", &[])
            .unwrap()
            .get(0);
        if waiting == 1 {
            assert!(
                now < expires,
                "the consume reached the lock only after expiry: no race to test"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the consume never queued on the lock"
        );
        watcher
            .batch_execute("SELECT pg_stat_clear_snapshot()")
            .unwrap();
    }
    loop {
        let now: chrono::DateTime<chrono::Utc> = watcher
            .query_one("SELECT clock_timestamp()", &[])
            .unwrap()
            .get(0);
        if now > expires {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    gate.release_when_waiting(1).unwrap();
    let run = Run {
        argv,
        output: child.wait_with_output().unwrap(),
    };
    run.expect(4, "FAIL", "REJECT_AUTH_EXPIRED");
    assert_eq!(db.grant_status("GBA-C1-APR-X1").as_deref(), Some("active"));
}

#[test]
fn consume_request_id_a_rerun_of_the_same_spend_is_consumed_and_anyone_else_is_already_consumed() {
    let db = minted("APR-R1", &valid_payload());
    let mut mine = consume_args_ref("GBA-C1-APR-R1");
    mine.extend(["--request-id", "build-42"]);
    let first = db.run(&mine);
    first.expect(0, "OK", "CONSUMED");
    assert_eq!(first.json()["request_id"], "build-42");
    let after = db.snapshot();
    let again = db.run(&mine);
    again.expect(0, "OK", "CONSUMED");
    assert_eq!(again.json()["consumed_at"], first.json()["consumed_at"]);
    let mut other = consume_args_ref("GBA-C1-APR-R1");
    other.extend(["--request-id", "build-43"]);
    db.run(&other)
        .expect(4, "FAIL", "REJECT_AUTH_ALREADY_CONSUMED");
    // No id: a fresh random one, so also someone else.
    db.run(&consume_args_ref("GBA-C1-APR-R1"))
        .expect(4, "FAIL", "REJECT_AUTH_ALREADY_CONSUMED");
    // Same id, another binding: not the same spend.
    let mut changed = mine.clone();
    let plan = changed.iter().position(|a| *a == "--plan-ref").unwrap();
    changed[plan + 1] = "OTHER-PLAN";
    db.run(&changed)
        .expect(4, "FAIL", "REJECT_AUTH_ALREADY_CONSUMED");
    assert_eq!(db.snapshot(), after);
    for bad in ["", "has space", "new\nline"] {
        let mut argv = consume_args_ref("GBA-C1-APR-R1");
        argv.extend(["--request-id", bad]);
        assert_eq!(db.run(&argv).exit(), 2, "{bad:?}");
    }
}

fn bin(args: &[&std::ffi::OsStr]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env_clear().env("PGHOST", "/nonexistent");
    c
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[test]
fn manifest_input_unbounded_a_fifo_a_device_and_an_oversized_file_are_refused_without_a_hash() {
    let dir = std::env::temp_dir().join(format!("dot-abs-manifests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let big = dir.join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(16 * 1024 * 1024 + 1)
        .unwrap();
    let cases = [
        (fifo.as_os_str(), "REJECT_MANIFEST_NOT_REGULAR"),
        (os("/dev/zero"), "REJECT_MANIFEST_NOT_REGULAR"),
        (dir.as_os_str(), "REJECT_MANIFEST_NOT_REGULAR"),
        (big.as_os_str(), "REJECT_MANIFEST_TOO_LARGE"),
    ];
    for (path, code) in cases {
        for argv in [
            vec![os("manifest"), os("hash"), path, os("--json")],
            vec![os("manifest"), os("canon"), path, os("--json")],
            vec![
                os("consume"),
                os("--auth-code"),
                os("GBA-C1-X"),
                os("--carrier"),
                os("C1"),
                os("--lane"),
                os("BUILD_PREP"),
                os("--target"),
                os("DOT_C1_VOCAB_BUILD"),
                os("--plan-ref"),
                os("P"),
                os("--manifest"),
                path,
                os("--json"),
            ],
        ] {
            let run = run_bounded(&mut bin(&argv), std::time::Duration::from_secs(20));
            run.expect(4, "FAIL", code);
            assert!(
                run.json().get("sha256").is_none(),
                "nothing that looks like a hash: {run}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn non_utf8_argv_is_a_usage_error_with_one_json_verdict_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"APR-\xff");
    // A non-UTF-8 option value or subcommand is a usage error (2); a
    // non-UTF-8 manifest path is a path like any other, one that is not
    // there (4, REJECT_MANIFEST_MISSING).
    for (argv, exit) in [
        (vec![os("execute"), os("--apr"), bad, os("--json")], 2),
        (vec![os("manifest"), os("hash"), bad, os("--json")], 4),
        (vec![bad, os("--json")], 2),
    ] {
        let run = Run::of(&mut bin(&argv));
        assert_eq!(run.exit(), exit, "{run}");
        assert!(run.json()["verdict"].is_string(), "{run}");
    }
}

#[test]
fn a_full_or_closed_stdout_is_an_error_not_a_false_success() {
    let manifest = format!("{MANIFEST_DIR}/fixtures/manifests/c1-valid.json");
    for argv in [
        vec!["manifest", "canon", manifest.as_str()],
        vec!["manifest", "hash", manifest.as_str(), "--json"],
        vec!["execute", "--apr", "X", "--json"],
        vec!["--help"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = Command::new(BIN)
            .args(&argv)
            .env("PGHOST", "/nonexistent")
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(5),
            "{argv:?} to /dev/full: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A closed pipe: the reader is gone before the child starts.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let child = Command::new(BIN)
            .args(&argv)
            .env("PGHOST", "/nonexistent")
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(5),
            "{argv:?} to a closed pipe: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn timeouts_the_server_cannot_hold_are_a_usage_error() {
    for (flag, value) in [
        ("--statement-timeout", "1073742s"),
        ("--lock-timeout", "30d"),
        ("--connect-timeout", "0s"),
        ("--statement-timeout", "0ms"),
    ] {
        let run = Run::of(&mut bin(&[
            os("execute"),
            os("--apr"),
            os("X"),
            os(flag),
            os(value),
            os("--json"),
        ]));
        assert_eq!(run.exit(), 2, "{run}");
        assert_eq!(run.json()["verdict"], "USAGE", "{run}");
    }
}

#[test]
fn a_duration_without_a_unit_is_a_usage_error_that_says_to_add_one() {
    // Issue 21: `--lock-timeout 500` read as 500 s where PostgreSQL's bare
    // lock_timeout is 500 ms; every duration now needs its unit.
    let propose = [
        "propose",
        "--manifest-hash",
        "x",
        "--plan-ref",
        "P",
        "--rollback-plan-ref",
        "R",
        "--by",
        "dot_c1_grant_issue",
        "--dry-run",
        "--ttl",
    ];
    let argvs: Vec<Vec<&str>> = vec![
        vec!["execute", "--apr", "X", "--lock-timeout", "500"],
        vec!["execute", "--apr", "X", "--statement-timeout", "30"],
        vec!["execute", "--apr", "X", "--connect-timeout", "10"],
        vec!["list", "--expiring-within", "3600"],
        propose.iter().copied().chain(["7200"]).collect(),
    ];
    for mut argv in argvs {
        argv.push("--json");
        let args: Vec<&std::ffi::OsStr> = argv.iter().map(|a| os(a)).collect();
        let run = Run {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            output: bin(&args).output().unwrap(),
        };
        assert_eq!(run.exit(), 2, "{run}");
        assert_eq!(run.json()["verdict"], "USAGE", "{run}");
        assert!(run.stdout().contains("unit"), "{run}");
    }
}

#[test]
fn control_characters_in_codes_are_refused_and_never_forge_an_ok_line() {
    let pg = Pg::start();
    let db = pg.db();
    for argv in [
        vec!["execute", "--apr", "APR-1\nOK MINTED: minted GBA-C1-APR-1"],
        vec!["readback", "--apr", "APR\u{200B}-1"],
        vec![
            "revoke",
            "--apr",
            "APR-1",
            "--reason",
            "r",
            "--by",
            "own\u{202E}er",
        ],
        vec![
            "propose",
            "--manifest",
            "x",
            "--plan-ref",
            "P",
            "--ttl",
            "1h",
            "--rollback-plan-ref",
            "R",
            "--by",
            "dot_c1_grant_issue",
            "--apr",
            "APR\r-2",
        ],
    ] {
        let run = db.run(&argv);
        assert_eq!(run.exit(), 2, "{run}");
        assert!(!run.stdout().lines().any(|l| l.starts_with("OK")), "{run}");
    }
    assert_eq!(
        db.superuser()
            .query_one("SELECT count(*) FROM apr_requests", &[])
            .unwrap()
            .get::<_, i64>(0),
        0
    );
}

#[test]
fn consume_by_empty_is_refused() {
    for by in ["", "   "] {
        let mut argv = consume_args_ref("GBA-C1-X");
        let at = argv.iter().position(|a| *a == "--by").unwrap();
        argv[at + 1] = by;
        let out = bin(&argv.iter().map(|a| os(a)).collect::<Vec<_>>())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--by {by:?}");
    }
}

#[test]
fn approver_identity_case_whitespace_and_invisible_twins_do_not_make_a_quorum() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let p = valid_payload();
    let d = digest(&p);
    for (apr, second) in [
        ("APR-I1", "Alice"),
        ("APR-I2", "alice\u{200B}"),
        ("APR-I3", " alice"),
        ("APR-I4", "Proposer"),
        ("APR-I5", "proposer "),
    ] {
        db.insert_apr(apr, "authorize_build_step", &p, "approved");
        db.vote(apr, "alice", "approve", Some(&d));
        // A twin of a vote already there is refused by the database itself
        // (one vote per identity); any other is stored and not counted.
        let twin = dot_authorize_build_step::disposable::fixtures::insert_vote(
            &mut db.superuser(),
            apr,
            second,
            "approve",
            Some(&d),
        );
        if second.trim_matches(' ').eq_ignore_ascii_case("alice") {
            let e = twin.expect_err("a second vote of one identity is refused");
            assert!(
                e.to_string().contains("apr_approvals_one_per_identity")
                    || format!("{e:?}").contains("apr_approvals_one_per_identity"),
                "{e:?}"
            );
        } else {
            twin.expect("insert approval");
        }
        let before = db.snapshot();
        let run = db.run(&["execute", "--apr", apr, "--json"]);
        run.expect(3, "SKIP", "REJECT_QUORUM_NOT_MET");
        assert_eq!(
            run.json()["quorum"]["counted"],
            serde_json::json!(["alice"]),
            "{run}"
        );
        assert_eq!(db.snapshot(), before);
    }
}
