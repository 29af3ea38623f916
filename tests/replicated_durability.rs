//! Issue 20, finding 2: with asynchronous standbys, an acknowledged result
//! can be lost at a failover. `--durability replicated[:N]` (or
//! DOT_ABS_DURABILITY) answers OK only after N streaming standbys have
//! flushed the commit, within the statement timeout, else
//! ERROR_COMMIT_UNKNOWN; a re-run that finds the state written waits the
//! same way. Proven on a primary and a streaming standby made by the
//! project's own disposable-cluster code, with a crash of the primary and
//! a promotion.

mod common;

use common::*;
use dot_authorize_build_step::disposable::cases::exit_for;
use dot_authorize_build_step::disposable::fixtures::role_for;
use dot_authorize_build_step::disposable::pgtemp::{Cluster, SUPERUSER};
use std::process::Command;
use std::time::Duration;

/// The command against `server` (the primary or the promoted standby).
fn on(db: &Db<'_>, server: &Cluster, args: &[&str]) -> Run {
    let mut cmd: Command = db.command_as(role_for(args), args);
    cmd.env("PGHOST", server.socket_dir());
    run_bounded(&mut cmd, Duration::from_secs(90))
}

fn with(args: &[String], extra: &[&str]) -> Vec<String> {
    let mut v = args.to_vec();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn grant_status(server: &Cluster, db: &str, auth: &str) -> Option<String> {
    server
        .connect(SUPERUSER, db)
        .expect("connect")
        .query_opt(
            "SELECT status FROM governance_build_authorization WHERE auth_code = $1",
            &[&auth],
        )
        .expect("read the grant")
        .map(|r| r.get(0))
}

#[test]
fn replicated_waits_for_a_standby_and_every_ok_survives_a_failover() {
    let pg = Pg::own();
    let db = pg.db();
    db.bind();
    db.approved_apr("APR-REP-1", &valid_payload());
    db.approved_apr("APR-REP-2", &valid_payload());
    let standby = pg
        .cluster
        .start_standby()
        .expect("start a streaming standby");
    let primary = &pg.cluster;

    // With the standby streaming: OK, once it has flushed the commit.
    on(
        &db,
        primary,
        &[
            "execute",
            "--apr",
            "APR-REP-1",
            "--durability",
            "replicated",
            "--json",
        ],
    )
    .expect(0, "OK", "MINTED");
    let spend = with(
        &consume_args("GBA-C1-APR-REP-1"),
        &["--request-id", "build-1", "--durability", "replicated:1"],
    );
    on(&db, primary, &strs(&spend)).expect(0, "OK", "CONSUMED");

    // The standby away: written on the primary, never OK.
    standby.stop().expect("stop the standby");
    let execute2 = [
        "execute",
        "--apr",
        "APR-REP-2",
        "--durability",
        "replicated",
        "--statement-timeout",
        "2s",
        "--json",
    ];
    let lost = on(&db, primary, &execute2);
    lost.expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    let message = lost.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("0 of the 1 standbys"), "{message}");
    assert_eq!(
        grant_status(primary, &db.name, "GBA-C1-APR-REP-2").as_deref(),
        Some("active")
    );
    // ... and its re-run is not OK either while the standby is away.
    on(&db, primary, &execute2).expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    // Two standbys asked of one: never OK.
    let two = with(
        &consume_args("GBA-C1-APR-REP-1"),
        &[
            "--request-id",
            "build-1",
            "--durability",
            "replicated:2",
            "--statement-timeout",
            "1s",
        ],
    );
    on(&db, primary, &strs(&two)).expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");

    // The standby back: the re-run waits for it to catch up, then OK.
    standby.restart().expect("restart the standby");
    on(
        &db,
        primary,
        &[
            "execute",
            "--apr",
            "APR-REP-2",
            "--durability",
            "replicated",
            "--json",
        ],
    )
    .expect(0, "OK", "ALREADY_MINTED");

    // Failover: the primary crashes, the standby is promoted. Every OK
    // given is there; a re-run settles; nothing is spent twice.
    primary.stop_immediately().expect("crash the primary");
    standby.promote().expect("promote the standby");
    assert_eq!(
        grant_status(&standby, &db.name, "GBA-C1-APR-REP-1").as_deref(),
        Some("consumed")
    );
    assert_eq!(
        grant_status(&standby, &db.name, "GBA-C1-APR-REP-2").as_deref(),
        Some("active")
    );
    // The new primary has no standby of its own: replicated is not OK
    // there, local is.
    let again = with(
        &consume_args("GBA-C1-APR-REP-1"),
        &["--request-id", "build-1"],
    );
    on(
        &db,
        &standby,
        &strs(&with(
            &again,
            &["--durability", "replicated", "--statement-timeout", "1s"],
        )),
    )
    .expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    on(&db, &standby, &strs(&again)).expect(0, "OK", "CONSUMED");
    let other = with(
        &consume_args("GBA-C1-APR-REP-1"),
        &["--request-id", "build-2"],
    );
    on(&db, &standby, &strs(&other)).expect(
        exit_for("FAIL"),
        "FAIL",
        "REJECT_AUTH_ALREADY_CONSUMED",
    );
    on(&db, &standby, &["execute", "--apr", "APR-REP-2", "--json"]).expect(
        0,
        "OK",
        "ALREADY_MINTED",
    );
    let grants: i64 = standby
        .connect(SUPERUSER, &db.name)
        .unwrap()
        .query_one("SELECT count(*) FROM governance_build_authorization", &[])
        .unwrap()
        .get(0);
    assert_eq!(grants, 2);
    // A bulk revoke is held to the same rule: committed, not OK, while the
    // new primary has no standby.
    let bulk = [
        "revoke",
        "--plan",
        "LEGO1-C1-PLAN",
        "--expect",
        "1",
        "--reason",
        "failover drill",
        "--by",
        "owner",
        "--durability",
        "replicated",
        "--statement-timeout",
        "1s",
        "--json",
    ];
    on(&db, &standby, &bulk).expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    assert_eq!(
        grant_status(&standby, &db.name, "GBA-C1-APR-REP-2").as_deref(),
        Some("revoked")
    );
}

#[test]
fn replicated_without_its_function_is_refused_before_anything_is_written() {
    let db = approved("APR-REP-3", &valid_payload());
    db.sql("DROP FUNCTION dot_standbys_flushed(pg_lsn)");
    let before = db.snapshot();
    let run = db.run(&[
        "execute",
        "--apr",
        "APR-REP-3",
        "--durability",
        "replicated",
        "--json",
    ]);
    run.expect(5, "ERROR", "ERROR_SCHEMA_CONTRACT");
    assert!(
        run.stdout().contains("staged/durability.staged.sql"),
        "{}",
        run.stdout()
    );
    assert_eq!(db.snapshot(), before);
    // local (the default) does not need it.
    db.run(&[
        "execute",
        "--apr",
        "APR-REP-3",
        "--durability",
        "local",
        "--json",
    ])
    .expect(0, "OK", "MINTED");
}

#[test]
fn a_durability_that_is_not_one_is_a_usage_error() {
    let db = approved("APR-REP-4", &valid_payload());
    let before = db.snapshot();
    for bad in [
        "sometimes",
        "replicated:0",
        "replicated:65",
        "replicated:",
        "replicated:+1",
        "Local",
    ] {
        let run = db.run(&["execute", "--apr", "APR-REP-4", "--durability", bad]);
        assert_eq!(run.exit(), 2, "{bad}: {}", run.stderr());
    }
    let mut cmd = db.command_as(role_for(&["execute"]), &["execute", "--apr", "APR-REP-4"]);
    cmd.env("DOT_ABS_DURABILITY", "always");
    let run = run_bounded(&mut cmd, Duration::from_secs(60));
    assert_eq!(run.exit(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains("DOT_ABS_DURABILITY"),
        "{}",
        run.stderr()
    );
    assert_eq!(db.snapshot(), before);
}

#[test]
fn a_logical_walsender_is_no_standby() {
    // A logical subscriber (pg_recvlogical here) has flushed the WAL too,
    // but can never be promoted: --durability replicated does not count it.
    let pg = Pg::own();
    let db = pg.db();
    db.bind();
    db.approved_apr("APR-REP-5", &valid_payload());
    db.sql("ALTER SYSTEM SET wal_level = logical");
    // The disposable clusters commit asynchronously: flush before the stop.
    db.sql("CHECKPOINT");
    pg.cluster.stop_immediately().expect("stop");
    pg.cluster
        .restart()
        .expect("restart with wal_level logical");
    db.sql("SELECT pg_create_logical_replication_slot('dot_abs_test', 'test_decoding')");
    let bin = dot_authorize_build_step::disposable::pgtemp::find_psql()
        .expect("psql")
        .parent()
        .unwrap()
        .join("pg_recvlogical");
    let mut receiver = std::process::Command::new(bin)
        .arg("-h")
        .arg(pg.cluster.socket_dir())
        .args([
            "-p",
            "5432",
            "-U",
            SUPERUSER,
            "-d",
            &db.name,
            "--slot",
            "dot_abs_test",
            "--start",
            "--status-interval",
            "1",
            "--fsync-interval",
            "1",
            "-f",
            "/dev/null",
        ])
        .spawn()
        .expect("start pg_recvlogical");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = db
            .superuser()
            .query_one("SELECT count(*) FROM pg_stat_replication", &[])
            .unwrap()
            .get(0);
        if n > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pg_recvlogical never streamed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = db.run(&[
        "execute",
        "--apr",
        "APR-REP-5",
        "--durability",
        "replicated",
        "--statement-timeout",
        "5s",
        "--json",
    ]);
    let _ = receiver.kill();
    let _ = receiver.wait();
    run.expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    assert!(
        run.stdout().contains("0 of the 1 standbys"),
        "{}",
        run.stdout()
    );
}
