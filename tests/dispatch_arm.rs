//! The staged dispatch arm, pasted into the stand-in dispatcher as the
//! runbook's STEP 1 does (tests/runbook/dot-apr-execute-v2.2.0 made
//! v2.3.0), driven against a real database: an APR is marked
//! applied only after an OK verdict, and never on skip, fail, error or an
//! unknown exit status.
mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;

const ARM: &str = "staged/dot-apr-execute.authorize_build_step.arm.sh";

struct Dispatch {
    exit: i32,
    log: String,
}

fn dispatch(db: &Db<'_>, bin: &str, binary_pghost: Option<&str>, aprs: &[&str]) -> Dispatch {
    let dir = std::env::temp_dir().join(format!(
        "dot-abs-dispatch-{}-{}",
        std::process::id(),
        db.name
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("dispatch.log");
    let dispatcher = dir.join("dot-apr-execute");
    std::fs::write(&dispatcher, patched_dispatcher()).unwrap();
    let socket = db.pg.cluster.socket_dir();
    let mut cmd = Command::new("bash");
    db.pg.keys().apply(&mut cmd);
    let out = cmd
        .arg(&dispatcher)
        .args(aprs)
        .env(
            "PGHOST",
            binary_pghost.map_or(socket.clone(), PathBuf::from),
        )
        .env("PGUSER", "dot_authorize_build_step")
        .env("PGDATABASE", &db.name)
        .env("DOT_APR_EXECUTE_PGHOST", &socket)
        .env("DOT_APR_EXECUTE_PGUSER", "postgres")
        .env("DOT_APR_EXECUTE_LOG", &log)
        .env("DOT_AUTHORIZE_BUILD_STEP_BIN", bin)
        .output()
        .expect("run the stand-in dispatcher (needs bash and psql)");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::remove_dir_all(&dir).ok();
    let mut log = text;
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    Dispatch {
        exit: out.status.code().unwrap_or(-1),
        log,
    }
}

fn apr_state(db: &Db<'_>, apr: &str) -> (String, bool) {
    let r = db
        .superuser()
        .query_one(
            "SELECT status, applied_at IS NOT NULL FROM apr_requests WHERE apr_code = $1",
            &[&apr],
        )
        .unwrap();
    (r.get(0), r.get(1))
}

#[test]
fn the_arm_and_the_standin_pass_bash_n_and_shellcheck() {
    for script in [ARM, STANDIN] {
        let out = Command::new("bash")
            .args(["-n", script])
            .current_dir(MANIFEST_DIR)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "bash -n {script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new("shellcheck")
        .args(["-x", ARM, STANDIN])
        .current_dir(MANIFEST_DIR)
        .output()
        .unwrap_or_else(|e| panic!("shellcheck is required for this test ({e}); install it: apt-get install shellcheck"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn an_approved_apr_is_minted_and_only_then_marked_applied() {
    let db = approved("APR-D1", &valid_payload());
    let d = dispatch(&db, BIN, None, &["APR-D1"]);
    assert_eq!(d.exit, 0, "{}", d.log);
    assert_eq!(apr_state(&db, "APR-D1"), ("applied".into(), true));
    assert_eq!(db.grant_count(), 1);
    assert!(d.log.contains("applied (MINTED)"), "{}", d.log);
    // A re-run of the dispatcher is harmless: same grant, still applied.
    let again = dispatch(&db, BIN, None, &["APR-D1"]);
    assert_eq!(again.exit, 0, "{}", again.log);
    assert_eq!(db.grant_count(), 1);
}

#[test]
fn unapproved_or_underquorate_aprs_are_left_as_they_are_and_the_run_goes_on() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    db.insert_apr(
        "APR-P",
        "authorize_build_step",
        &valid_payload(),
        "proposed",
    );
    db.insert_apr(
        "APR-Q",
        "authorize_build_step",
        &valid_payload(),
        "approved",
    );
    db.vote("APR-Q", "alice", "approve", Some(&digest(&valid_payload())));
    let mut other = valid_payload();
    other["plan_ref"] = "LEGO9-C1-PLAN".into();
    db.approved_apr("APR-OK", &other);
    let d = dispatch(&db, BIN, None, &["APR-P", "APR-Q", "APR-OK"]);
    assert_eq!(d.exit, 0, "{}", d.log);
    assert_eq!(apr_state(&db, "APR-P"), ("proposed".into(), false));
    assert_eq!(apr_state(&db, "APR-Q"), ("approved".into(), false));
    assert_eq!(apr_state(&db, "APR-OK"), ("applied".into(), true));
    assert!(
        d.log.contains("skip REJECT_APR_NOT_APPROVED")
            && d.log.contains("skip REJECT_QUORUM_NOT_MET"),
        "{}",
        d.log
    );
    assert_eq!(db.grant_count(), 1);
}

#[test]
fn a_bad_payload_mints_nothing_and_the_reason_is_logged() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let mut bad = valid_payload();
    bad["carrier"] = "C2".into();
    db.approved_apr("APR-BAD", &bad);
    let before = db.snapshot();
    let d = dispatch(&db, BIN, None, &["APR-BAD"]);
    assert_eq!(d.exit, 0, "a FAIL is logged and the run goes on: {}", d.log);
    assert!(d.log.contains("fail REJECT_SCOPE_CARRIER"), "{}", d.log);
    assert_eq!(db.snapshot(), before);
}

#[test]
fn the_database_down_changes_nothing_and_stops_the_run() {
    let db = approved("APR-DOWN", &valid_payload());
    db.approved_apr("APR-NEXT", &{
        let mut p = valid_payload();
        p["plan_ref"] = "LEGO8-C1-PLAN".into();
        p
    });
    let before = db.snapshot();
    let d = dispatch(
        &db,
        BIN,
        Some("/nonexistent-socket-dir"),
        &["APR-DOWN", "APR-NEXT"],
    );
    assert_eq!(d.exit, 5, "{}", d.log);
    assert!(
        d.log.contains("error ERROR_DB_UNREACHABLE") && d.log.contains("stopping the run"),
        "{}",
        d.log
    );
    assert!(
        !d.log.contains("APR-NEXT"),
        "the run must stop at the first error: {}",
        d.log
    );
    assert_eq!(db.snapshot(), before);
}

/// A fake handler that lies: prints an OK verdict but exits with `code`.
fn fake_handler(code: i32, verdict: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "dot-abs-fake-{}-{code}-{verdict}",
        std::process::id()
    ));
    std::fs::write(
        &path,
        format!("#!/bin/sh\nprintf '%s\\n' '{{\"code\":\"MINTED\",\"verdict\":\"{verdict}\"}}'\nexit {code}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

#[test]
fn an_unknown_exit_or_an_exit_0_without_ok_never_marks_applied() {
    let db = approved("APR-U", &valid_payload());
    let before = db.snapshot();
    for (code, verdict) in [(7, "OK"), (0, "FAIL"), (1, "OK")] {
        let fake = fake_handler(code, verdict);
        let d = dispatch(&db, fake.to_str().unwrap(), None, &["APR-U"]);
        std::fs::remove_file(&fake).ok();
        assert_eq!(d.exit, 5, "exit {code} verdict {verdict}: {}", d.log);
        assert_eq!(db.snapshot(), before, "exit {code} verdict {verdict}");
    }
}

#[test]
fn a_dry_run_dispatch_marks_nothing() {
    let db = approved("APR-DRY", &valid_payload());
    let before = db.snapshot();
    let mut cmd = Command::new("bash");
    db.pg.keys().apply(&mut cmd);
    let out = cmd
        .args(["-c", &format!("source {MANIFEST_DIR}/{ARM}; apr_log() {{ echo \"$1 $2 $3\"; }}; apr_mark_applied() {{ echo MARKED; }}; DOT_APR_DRY_RUN=1 execute_authorize_build_step APR-DRY")])
        .env("PGHOST", db.pg.cluster.socket_dir())
        .env("PGUSER", "dot_authorize_build_step")
        .env("PGDATABASE", &db.name)
        .env("DOT_AUTHORIZE_BUILD_STEP_BIN", BIN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("dry run WOULD_MINT") && !stdout.contains("MARKED"),
        "{stdout}"
    );
    assert_eq!(db.snapshot(), before);
}
