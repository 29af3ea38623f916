//! Issue 20, finding 1: with synchronous replication, an OK must survive a
//! failover. A standby that never confirms (`synchronous_standby_names`
//! naming one that is not there) makes every COMMIT wait; the server does
//! not bound that wait by statement_timeout, and a cancelled wait still
//! answers COMMIT with success after a WARNING. So the handler bounds the
//! wait itself, answers ERROR_COMMIT_UNKNOWN (exit 5) for a cancelled or
//! warned COMMIT, and answers ALREADY_MINTED / a replayed CONSUMED /
//! ALREADY_REVOKED only once a commit of its own has reached the standbys.
//!
//! Each test that sets it has a cluster of its own: the setting is
//! cluster-wide.

mod common;

use common::*;
use dot_authorize_build_step::disposable::fixtures::role_for;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Sets `synchronous_standby_names` for the whole cluster and waits (with
/// a deadline) until a new session sees it.
fn set_sync_standbys(db: &Db<'_>, names: &str) {
    let mut su = db.superuser();
    su.batch_execute(&format!(
        "ALTER SYSTEM SET synchronous_standby_names = '{names}'"
    ))
    .expect("set synchronous_standby_names");
    // The disposable clusters run with synchronous_commit off, for speed.
    su.batch_execute("ALTER SYSTEM SET synchronous_commit = on")
        .expect("set synchronous_commit");
    su.batch_execute("SELECT pg_reload_conf()").expect("reload");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen: String = db
            .superuser()
            .query_one("SHOW synchronous_standby_names", &[])
            .unwrap()
            .get(0);
        if seen == names {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the reload did not take: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn command(db: &Db<'_>, args: &[&str]) -> Command {
    db.command_as(role_for(args), args)
}

fn bounded(db: &Db<'_>, args: &[&str]) -> Run {
    run_bounded(&mut command(db, args), Duration::from_secs(60))
}

fn consume(auth: &str, request_id: &str, timeout: &str) -> Vec<String> {
    let mut argv = consume_args(auth);
    argv.extend([
        "--request-id".into(),
        request_id.into(),
        "--statement-timeout".into(),
        timeout.into(),
    ]);
    argv
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn a_commit_no_standby_confirms_is_bounded_and_never_ok_nor_is_its_rerun() {
    let pg = Pg::own();
    let db = pg.db();
    db.bind();
    db.approved_apr("APR-SYNC-1", &valid_payload());
    db.approved_apr("APR-SYNC-2", &valid_payload());
    let execute = [
        "execute",
        "--apr",
        "APR-SYNC-1",
        "--statement-timeout",
        "2s",
        "--json",
    ];
    set_sync_standbys(&db, "ghost");

    // The first run waits 2 s for the standby, cancels, reads back on a new
    // connection (which waits again): ERROR_COMMIT_UNKNOWN, well within
    // the bound, never a hang and never MINTED.
    let started = Instant::now();
    let first = bounded(&db, &execute);
    first.expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let message = first.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("standbys"), "{message}");
    // Committed here, not confirmed by the standby: exactly one grant.
    assert_eq!(db.grant_count(), 1);

    // A re-run finds the grant, but cannot know it survives a failover.
    bounded(&db, &execute).expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");

    // The standby "catches up": the same re-run is ALREADY_MINTED.
    set_sync_standbys(&db, "");
    bounded(&db, &execute).expect(0, "OK", "ALREADY_MINTED");
    assert_eq!(db.grant_count(), 1);

    // consume: the spend is unknown while the standby is away, its replay
    // too; another consumer is refused all the same; back in sync, the
    // replay is CONSUMED.
    set_sync_standbys(&db, "ghost");
    let mine = consume("GBA-C1-APR-SYNC-1", "build-1", "2s");
    bounded(&db, &strs(&mine)).expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    assert_eq!(
        db.grant_status("GBA-C1-APR-SYNC-1").as_deref(),
        Some("consumed")
    );
    bounded(&db, &strs(&mine)).expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    let before = db.snapshot();
    let other = consume("GBA-C1-APR-SYNC-1", "build-2", "2s");
    bounded(&db, &strs(&other)).expect(
        dot_authorize_build_step::disposable::cases::exit_for("FAIL"),
        "FAIL",
        "REJECT_AUTH_ALREADY_CONSUMED",
    );
    assert_eq!(db.snapshot(), before);
    set_sync_standbys(&db, "");
    bounded(&db, &strs(&mine)).expect(0, "OK", "CONSUMED");

    // revoke: likewise for ALREADY_REVOKED.
    let execute2 = ["execute", "--apr", "APR-SYNC-2", "--json"];
    bounded(&db, &execute2).expect(0, "OK", "MINTED");
    set_sync_standbys(&db, "ghost");
    let revoke = [
        "revoke",
        "--apr",
        "APR-SYNC-2",
        "--reason",
        "rollback",
        "--by",
        "owner",
        "--statement-timeout",
        "2s",
        "--json",
    ];
    bounded(&db, &revoke).expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    assert_eq!(
        db.grant_status("GBA-C1-APR-SYNC-2").as_deref(),
        Some("revoked")
    );
    bounded(&db, &revoke).expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    set_sync_standbys(&db, "");
    bounded(&db, &revoke).expect(0, "OK", "ALREADY_REVOKED");
}

/// Waits (with a deadline) for a backend of `role` waiting on SyncRep and
/// cancels it, as an operator's pg_cancel_backend would.
fn cancel_sync_wait(db: &Db<'_>, role: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cancelled: i64 = db
            .superuser()
            .query_one(
                "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM pg_stat_activity \
                 WHERE usename = $1 AND wait_event = 'SyncRep'",
                &[&role],
            )
            .unwrap()
            .get(0);
        if cancelled > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no COMMIT of {role} waited on SyncRep"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_bounded(mut child: Child, argv: &[&str]) -> Run {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{argv:?} still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Run {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        output: child.wait_with_output().expect("output"),
    }
}

#[test]
fn a_cancelled_wait_for_the_standby_is_never_ok() {
    let pg = Pg::own();
    let db = pg.db();
    db.bind();
    db.approved_apr("APR-SYNC-3", &valid_payload());
    set_sync_standbys(&db, "ghost");
    // A statement timeout far beyond the test: only the cancel ends the wait.
    let execute = [
        "execute",
        "--apr",
        "APR-SYNC-3",
        "--statement-timeout",
        "300s",
        "--json",
    ];
    let role = role_for(&execute);
    let child = command(&db, &execute)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The COMMIT's wait, then the read-back's wait on a new connection.
    cancel_sync_wait(&db, role);
    cancel_sync_wait(&db, role);
    let run = wait_bounded(child, &execute);
    // Before: exit 0 MINTED, the server's WARNING dropped.
    run.expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    let message = run.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("synchronous replication"),
        "the server's warning is named: {message}"
    );
    set_sync_standbys(&db, "");
    bounded(&db, &["execute", "--apr", "APR-SYNC-3", "--json"]).expect(0, "OK", "ALREADY_MINTED");
    assert_eq!(db.grant_count(), 1);
}

#[test]
fn without_synchronous_standbys_a_rerun_writes_nothing() {
    // The durability commit is made only where commits wait for standbys:
    // elsewhere ALREADY_MINTED stays a read (no transaction id spent).
    let db = approved("APR-SYNC-4", &valid_payload());
    bounded(&db, &["execute", "--apr", "APR-SYNC-4", "--json"]).expect(0, "OK", "MINTED");
    let xid = |db: &Db<'_>| -> i64 {
        db.superuser()
            .query_one("SELECT pg_current_xact_id()::text::bigint", &[])
            .unwrap()
            .get(0)
    };
    let before = xid(&db);
    bounded(&db, &["execute", "--apr", "APR-SYNC-4", "--json"]).expect(0, "OK", "ALREADY_MINTED");
    // Only the probe's own transaction id was assigned in between.
    assert_eq!(xid(&db), before + 1);
}

/// Review: the environment (PGOPTIONS, a pooled session's leftover SET)
/// lowering synchronous_commit is not the server's commit policy. Before,
/// `PGOPTIONS=-c synchronous_commit=local` made the re-run of a commit no
/// standby confirmed answer ALREADY_MINTED (OK, exit 0) while the grant
/// was on no standby, and a revoke REVOKED without waiting for one.
#[test]
fn a_session_lowering_synchronous_commit_gets_no_ok_the_standbys_did_not_confirm() {
    let pg = Pg::own();
    let db = pg.db();
    db.bind();
    db.approved_apr("APR-SYNC-5", &valid_payload());
    set_sync_standbys(&db, "ghost");
    let lowered = |args: &[&str], value: &str| {
        let mut c = command(&db, args);
        c.env("PGOPTIONS", format!("-c synchronous_commit={value}"));
        run_bounded(&mut c, Duration::from_secs(60))
    };
    let execute = |apr: &'static str| {
        [
            "execute",
            "--apr",
            apr,
            "--statement-timeout",
            "2s",
            "--json",
        ]
    };
    bounded(&db, &execute("APR-SYNC-5")).expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    assert_eq!(db.grant_count(), 1);
    for value in ["local", "off"] {
        lowered(&execute("APR-SYNC-5"), value).expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    }
    // A new write under the lowered setting waits for the standby too.
    let revoke = [
        "revoke",
        "--apr",
        "APR-SYNC-5",
        "--reason",
        "rollback",
        "--by",
        "owner",
        "--statement-timeout",
        "2s",
        "--json",
    ];
    lowered(&revoke, "local").expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
    assert_eq!(
        db.grant_status("GBA-C1-APR-SYNC-5").as_deref(),
        Some("revoked")
    );
    set_sync_standbys(&db, "");
    lowered(&execute("APR-SYNC-5"), "local").expect(0, "OK", "ALREADY_MINTED");
    lowered(&revoke, "off").expect(0, "OK", "ALREADY_REVOKED");
}
