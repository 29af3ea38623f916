//! The canonical-writer guard, least privilege, and the environment faults
//! that must be ERROR with nothing written: timeouts, an unreachable
//! database, a password kept out of output.
mod common;
use common::*;

#[test]
fn a_manual_insert_of_a_grant_is_refused_by_the_guard_even_as_superuser() {
    let pg = Pg::start();
    let db = pg.db();
    let err = db
        .superuser()
        .batch_execute(
            "INSERT INTO governance_build_authorization (auth_code, request_ref, status, expires_at) \
             VALUES ('GBA-C1-MANUAL', 'MANUAL', 'active', now() + interval '1 hour')",
        )
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("DG001"), "{err}");
    assert_eq!(db.grant_count(), 0);
}

#[test]
fn manual_update_delete_and_truncate_of_a_minted_grant_are_refused() {
    let db = minted("APR-G", &valid_payload());
    let before = db.snapshot();
    for (sql, code) in [
        (
            "UPDATE governance_build_authorization SET status = 'consumed', consumed_at = now()",
            "DG001",
        ),
        (
            "UPDATE governance_build_authorization SET expires_at = expires_at + interval '1 day'",
            "DG001",
        ),
        ("DELETE FROM governance_build_authorization", "DG002"),
        ("TRUNCATE governance_build_authorization", "DG002"),
        // Even with the marker set, a delete is never allowed and a binding never changes.
        (
            "BEGIN; SELECT set_config('dot.canonical_writer', 'dot-authorize-build-step', true); \
             DELETE FROM governance_build_authorization; COMMIT",
            "DG002",
        ),
        (
            "BEGIN; SELECT set_config('dot.canonical_writer', 'dot-authorize-build-step', true); \
             UPDATE governance_build_authorization SET plan_ref = 'OTHER'; COMMIT",
            "DG003",
        ),
    ] {
        let mut c = db.superuser();
        let err = c.batch_execute(sql).unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some(code), "{sql}: {err}");
    }
    assert_eq!(db.snapshot(), before);
}

#[test]
fn the_handler_role_may_not_delete_grants_or_write_apr_tables() {
    let pg = Pg::start();
    let db = pg.db();
    let mut role = pg
        .cluster
        .connect("dot_authorize_build_step", &db.name)
        .unwrap();
    for sql in [
        "DELETE FROM governance_build_authorization",
        "TRUNCATE governance_build_authorization",
        "UPDATE apr_requests SET status = 'applied'",
        "INSERT INTO apr_approvals (apr_code, approver, decision) VALUES ('X', 'me', 'approve')",
        "UPDATE apr_action_types SET handler_ref = 'x'",
        "SELECT 1 FROM apr_requests FOR UPDATE",
        "CREATE TABLE sneaky (x int)",
    ] {
        let err = role.batch_execute(sql).unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{sql}: {err}");
    }
}

#[test]
fn a_lock_timeout_is_an_error_with_nothing_written() {
    let db = approved("APR-T", &valid_payload());
    let before = db.snapshot();
    let gate = db.gate_apr("APR-T");
    let run = db.run(&[
        "execute",
        "--apr",
        "APR-T",
        "--lock-timeout",
        "200ms",
        "--json",
    ]);
    drop(gate);
    run.expect(5, "ERROR", "ERROR_TIMEOUT");
    assert_eq!(db.snapshot(), before);
}

#[test]
fn a_statement_timeout_is_an_error_with_nothing_written() {
    let db = approved("APR-S", &valid_payload());
    db.sql("CREATE OR REPLACE FUNCTION quorum_passed(p_apr_code text) RETURNS boolean LANGUAGE sql AS $$ SELECT true FROM pg_sleep(5) $$");
    let before = db.snapshot();
    let run = db.run(&[
        "execute",
        "--apr",
        "APR-S",
        "--statement-timeout",
        "200ms",
        "--json",
    ]);
    run.expect(5, "ERROR", "ERROR_TIMEOUT");
    assert_eq!(db.snapshot(), before);
}

#[test]
fn an_unreachable_database_is_an_error_that_says_where_it_tried() {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args([
        "execute",
        "--apr",
        "APR-X",
        "--json",
        "--connect-timeout",
        "2s",
    ])
    .env_clear()
    .env("PGHOST", "/nonexistent-socket-dir")
    .env("PGUSER", "nobody")
    .env("PGDATABASE", "governance")
    .env("PGPASSWORD", "hunter2-secret");
    let keys = common::TempKeys::new();
    keys.apply(&mut cmd);
    let run = Run::of(&mut cmd);
    run.expect(5, "ERROR", "ERROR_DB_UNREACHABLE");
    let message = run.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("/nonexistent-socket-dir") && message.contains("nobody"),
        "{message}"
    );
    assert!(
        !run.stdout().contains("hunter2") && !run.stderr().contains("hunter2"),
        "{run}"
    );
}

#[test]
fn a_password_in_db_url_is_refused_as_a_usage_error() {
    let run = Run::of(
        std::process::Command::new(BIN)
            .args([
                "execute",
                "--apr",
                "A",
                "--db-url",
                "postgresql://u:hunter2@localhost/db",
                "--json",
            ])
            .env_clear(),
    );
    assert_eq!(run.exit(), 2, "{run}");
    assert_eq!(run.json()["verdict"], "USAGE");
    assert!(
        !run.stdout().contains("hunter2") && !run.stderr().contains("hunter2"),
        "{run}"
    );
}

#[test]
fn db_url_and_database_url_reach_the_same_database() {
    let db = approved("APR-U", &valid_payload());
    let pg = db.pg;
    let url = pg.cluster.url("dot_authorize_build_step", &db.name);
    let keys = pg.keys();
    let by_flag = Run::of(
        std::process::Command::new(BIN)
            .args([
                "execute",
                "--apr",
                "APR-U",
                "--dry-run",
                "--json",
                "--db-url",
                &url,
            ])
            .env_clear()
            .envs(key_env(&keys)),
    );
    let by_env = Run::of(
        std::process::Command::new(BIN)
            .args(["execute", "--apr", "APR-U", "--json"])
            .env_clear()
            .envs(key_env(&keys))
            .env("DATABASE_URL", &url),
    );
    by_flag.expect(0, "OK", "WOULD_MINT");
    by_env.expect(0, "OK", "MINTED");
}

#[test]
fn the_human_summary_names_the_verdict_code_and_grant() {
    let db = approved("APR-H", &valid_payload());
    let run = db.run(&["execute", "--apr", "APR-H"]);
    assert_eq!(run.exit(), 0, "{run}");
    let out = run.stdout();
    assert!(out.starts_with("OK MINTED: minted GBA-C1-APR-H\n"), "{out}");
    assert!(
        out.contains("  auth_code: GBA-C1-APR-H\n") && out.contains("  expires_at: "),
        "{out}"
    );
}

#[test]
fn the_snapshot_sees_every_write() {
    let pg = Pg::start();
    let db = pg.db();
    let before = db.snapshot();
    db.insert_apr(
        "APR-Z",
        "authorize_build_step",
        &valid_payload(),
        "proposed",
    );
    assert_ne!(db.snapshot(), before);
}

#[test]
fn a_manual_insert_and_update_from_psql_are_refused() {
    let db = minted("APR-PSQL", &valid_payload());
    let pg = db.pg;
    let before = db.snapshot();
    for sql in [
        "INSERT INTO governance_build_authorization (auth_code, request_ref, status, expires_at) \
         VALUES ('GBA-C1-BYHAND', 'BYHAND', 'active', now() + interval '1 hour')",
        "UPDATE governance_build_authorization SET status = 'revoked', revoked_at = now(), revoke_reason = 'by hand'",
        "DELETE FROM governance_build_authorization",
    ] {
        let out = std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(pg.cluster.socket_dir())
            .args(["-U", "postgres", "-d", &db.name, "-c", sql])
            .output()
            .unwrap_or_else(|e| panic!("psql is needed for this test ({e}); install it: apt-get install postgresql-client"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("refused"), "{sql}: {stderr}");
    }
    assert_eq!(db.snapshot(), before);
}

fn key_env(
    keys: &dot_authorize_build_step::disposable::fixtures::KeyFiles,
) -> Vec<(&'static str, std::path::PathBuf)> {
    vec![
        (
            dot_authorize_build_step::integrity::signing::SIGNING_KEY_ENV,
            keys.signing_key.clone(),
        ),
        (
            dot_authorize_build_step::integrity::signing::TRUSTED_KEYS_ENV,
            keys.trusted_dir.clone(),
        ),
        (
            dot_authorize_build_step::integrity::approval::ALLOWED_SIGNERS_ENV,
            keys.allowed_signers.clone(),
        ),
    ]
}
