//! Connecting like psql would, and the small things operators trip on:
//! the whole handshake is bounded by the connect timeout, a refused login
//! is its own code, a bad PGCONNECT_TIMEOUT is a usage error, a superuser
//! session is called out, readback of an unknown APR says so.

mod common;
use common::*;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

fn run_env(args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) -> Run {
    let keys = TempKeys::new();
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args).env_clear();
    keys.apply(&mut cmd);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Run {
        argv: args.iter().map(|s| s.to_string()).collect(),
        output: cmd.output().unwrap(),
    }
}

#[test]
fn a_server_that_accepts_and_never_answers_is_a_timeout_within_the_connect_timeout() {
    let dir = std::env::temp_dir().join(format!("dot-abs-silent-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let listener = UnixListener::bind(dir.join(".s.PGSQL.5432")).unwrap();
    // Accept every connection and hold it open, saying nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let start = Instant::now();
    let run = run_env(
        &[
            "execute",
            "--apr",
            "APR-X",
            "--json",
            "--connect-timeout",
            "700ms",
        ],
        &[("PGHOST", dir.as_os_str()), ("PGUSER", "u".as_ref())],
    );
    let took = start.elapsed();
    run.expect(5, "ERROR", "ERROR_TIMEOUT");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // PGCONNECT_TIMEOUT bounds it the same way when no flag is given.
    let run = run_env(
        &["readback", "--apr", "APR-X", "--json"],
        &[
            ("PGHOST", dir.as_os_str()),
            ("PGUSER", "u".as_ref()),
            ("PGCONNECT_TIMEOUT", "1".as_ref()),
        ],
    );
    run.expect(5, "ERROR", "ERROR_TIMEOUT");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_invalid_pgconnect_timeout_is_a_usage_error() {
    for bad in ["0", "-3", "ten", ""] {
        let run = run_env(
            &["execute", "--apr", "APR-X", "--json"],
            &[
                ("PGHOST", "/nonexistent".as_ref()),
                ("PGCONNECT_TIMEOUT", bad.as_ref()),
            ],
        );
        assert_eq!(run.exit(), 2, "PGCONNECT_TIMEOUT={bad:?}: {run}");
        assert!(run.stderr().contains("PGCONNECT_TIMEOUT"), "{run}");
    }
}

#[test]
fn a_refused_login_is_error_db_auth_not_unreachable_and_propose_dry_run_says_so() {
    let pg = Pg::start();
    let db = pg.db();
    let before = db.snapshot();
    let run = db.run_as("no_such_role", &["execute", "--apr", "APR-X", "--json"]);
    run.expect(5, "ERROR", "ERROR_DB_AUTH");
    assert!(
        run.json()["message"]
            .as_str()
            .unwrap()
            .contains("refused the login"),
        "{run}"
    );
    let run = db.run_as(
        "no_such_role",
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
            "dot_c1_grant_issue",
            "--dry-run",
            "--json",
        ],
    );
    run.expect(5, "ERROR", "ERROR_DB_AUTH");
    assert_eq!(db.snapshot(), before);
}

#[test]
fn a_superuser_session_is_called_out_in_every_verdict() {
    let db = approved("APR-SU", &valid_payload());
    let as_super = db.run_as(
        "postgres",
        &["execute", "--apr", "APR-SU", "--dry-run", "--json"],
    );
    as_super.expect(0, "OK", "WOULD_MINT");
    assert!(
        as_super.json()["warning"]
            .as_str()
            .unwrap()
            .contains("superuser"),
        "{as_super}"
    );
    let human = db.run_as("postgres", &["readback", "--apr", "APR-SU"]);
    assert!(
        human.stderr().contains("warning: connected as a superuser"),
        "{human}"
    );
    let least = db.run(&["execute", "--apr", "APR-SU", "--dry-run", "--json"]);
    assert!(least.json().get("warning").is_none(), "{least}");
}

#[test]
fn readback_of_an_unknown_apr_is_apr_not_found() {
    let pg = Pg::start();
    let db = pg.db();
    db.run(&["readback", "--apr", "APR-NOBODY", "--json"])
        .expect(4, "FAIL", "REJECT_APR_NOT_FOUND");
}

#[test]
fn human_output_puts_results_on_stdout_and_a_verdict_that_is_not_ok_on_stderr() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let refused = db.run(&["execute", "--apr", "APR-NOBODY"]);
    assert_eq!(refused.exit(), 4);
    assert_eq!(refused.stdout(), "", "{refused}");
    assert!(
        refused.stderr().starts_with("FAIL REJECT_APR_NOT_FOUND: "),
        "{refused}"
    );
    db.approved_apr("APR-H", &valid_payload());
    let ok = db.run(&["execute", "--apr", "APR-H", "--dry-run"]);
    assert_eq!(ok.exit(), 0);
    assert!(ok.stdout().starts_with("OK WOULD_MINT: "), "{ok}");
    assert_eq!(ok.stderr(), "");
    // readback: the check lines are results (stdout), the FAIL verdict is not.
    let rb = db.run(&["readback", "--apr", "APR-H"]);
    assert_eq!(rb.exit(), 4);
    assert!(rb.stdout().contains("FAIL  the grant row exists"), "{rb}");
    assert!(!rb.stdout().contains("READBACK_FAILED"), "{rb}");
    assert!(rb.stderr().starts_with("FAIL READBACK_FAILED"), "{rb}");
    // --json: the object on stdout whatever it says.
    let json = db.run(&["execute", "--apr", "APR-NOBODY", "--json"]);
    assert_eq!(json.json()["code"], "REJECT_APR_NOT_FOUND");
}

#[test]
fn a_quorum_skip_lists_required_counted_and_every_approval_not_counted_with_why() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let payload = valid_payload();
    let d = digest(&payload);
    db.insert_apr("APR-Q", "authorize_build_step", &payload, "approved");
    db.vote("APR-Q", "alice", "approve", Some(&d));
    db.vote("APR-Q", "Proposer ", "approve", Some(&d));
    db.vote("APR-Q", "bob", "approve", Some(&"0".repeat(64)));
    db.vote("APR-Q", "carol", "approve", None);
    db.vote("APR-Q", "d\u{200b}ave", "approve", Some(&d));
    let before = db.snapshot();
    let run = db.run(&["execute", "--apr", "APR-Q", "--json"]);
    run.expect(3, "SKIP", "REJECT_QUORUM_NOT_MET");
    let q = &run.json()["quorum"];
    assert_eq!(q["required"], 2, "{run}");
    assert_eq!(q["counted"], serde_json::json!(["alice"]), "{run}");
    let why = not_counted(q);
    assert_eq!(why["Proposer "], "the proposer");
    assert_eq!(why["bob"], "a payload_digest of another payload");
    assert_eq!(why["carol"], "no payload_digest");
    assert!(why["d\u{200b}ave"].starts_with("an unreadable name"));
    assert_eq!(q["proposer_rejected"], false);
    assert_eq!(db.snapshot(), before);
}

#[test]
fn digest_prints_the_payload_digest_an_approval_must_carry() {
    let pg = Pg::start();
    let db = pg.db();
    let payload = valid_payload();
    db.insert_apr("APR-D", "authorize_build_step", &payload, "proposed");
    let run = db.run(&["digest", "--apr", "APR-D", "--json"]);
    run.expect(0, "OK", "DIGEST");
    assert_eq!(run.json()["payload_digest"], digest(&payload));
    let human = db.run(&["digest", "--apr", "APR-D"]);
    assert!(
        human
            .stdout()
            .starts_with(&format!("OK DIGEST: {}", digest(&payload))),
        "{human}"
    );
    db.run(&["digest", "--apr", "APR-NONE", "--json"])
        .expect(4, "FAIL", "REJECT_APR_NOT_FOUND");
    db.sql("UPDATE apr_requests SET proposed_action = NULL WHERE apr_code = 'APR-D'");
    db.run(&["digest", "--apr", "APR-D", "--json"])
        .expect(4, "FAIL", "REJECT_PAYLOAD_MALFORMED");
    // Nested deeper than the reader keeps: never the digest of a truncated
    // copy (it would name a payload nobody stored).
    db.sql(
        "UPDATE apr_requests SET proposed_action = (repeat('[', 200) || '1' || repeat(']', 200))::jsonb \
         WHERE apr_code = 'APR-D'",
    );
    db.run(&["digest", "--apr", "APR-D", "--json"])
        .expect(4, "FAIL", "REJECT_PAYLOAD_MALFORMED");
}

#[test]
fn version_names_the_commit_and_the_format_versions() {
    let out = std::process::Command::new(BIN)
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "verdict schema_version {}",
            dot_authorize_build_step::commands::verdict::SCHEMA_VERSION
        )) && text.contains("cser-v1"),
        "{text}"
    );
    let commit = text
        .split("(commit ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap_or_default();
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{text}"
    );
}

#[test]
fn propose_with_a_manifest_hash_takes_the_live_vocabulary_as_its_action_set() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let hash = "c9286d3a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5cec00";
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "propose",
            "--manifest-hash",
            hash,
            "--plan-ref",
            "STEP6-PLAN",
            "--ttl",
            "1h",
            "--rollback-plan-ref",
            "R",
            "--by",
            "dot_c1_grant_issue",
            "--json",
        ];
        a.extend_from_slice(extra);
        a
    };
    let before = db.snapshot();
    let dry = db.run(&args(&["--dry-run"]));
    dry.expect(0, "OK", "WOULD_PROPOSE");
    let mut live: Vec<String> = VOCABULARY.iter().map(|s| s.to_string()).collect();
    live.sort();
    assert_eq!(dry.json()["payload"]["action_set"], serde_json::json!(live));
    assert_eq!(dry.json()["payload"]["manifest_hash"], hash);
    assert_eq!(db.snapshot(), before, "a dry run writes nothing");
    // A hash execute would refuse is refused here with the same code.
    let mut upper = args(&["--dry-run"]);
    let bad = hash.to_uppercase();
    upper[2] = &bad;
    db.run(&upper).expect(4, "FAIL", "REJECT_MANIFEST_HASH");
    // No database: the live vocabulary cannot be known.
    let run = db
        .command_as("dot_c1_grant_issue", &args(&["--dry-run"]))
        .env("PGHOST", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    // --manifest and --manifest-hash together, or neither: usage.
    let mut both = args(&["--dry-run"]);
    both.extend(["--manifest", "fixtures/manifests/c1-valid.json"]);
    assert_eq!(db.run(&both).exit(), 2);
    // Proposed for real, approved, it mints.
    let proposed = db.run(&args(&["--apr", "APR-STEP6"]));
    proposed.expect(0, "OK", "PROPOSED");
    let d = proposed.json()["payload_digest"]
        .as_str()
        .unwrap()
        .to_owned();
    db.vote("APR-STEP6", "alice", "approve", Some(&d));
    db.vote("APR-STEP6", "bob", "approve", Some(&d));
    db.sql("UPDATE apr_requests SET status = 'approved' WHERE apr_code = 'APR-STEP6'");
    db.run(&["execute", "--apr", "APR-STEP6", "--json"])
        .expect(0, "OK", "MINTED");
}

#[test]
fn a_service_file_entry_is_enough_to_reach_the_database() {
    let pg = Pg::start();
    let db = pg.db();
    let dir = std::env::temp_dir().join(format!("dot-abs-svc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pg_service.conf");
    std::fs::write(
        &file,
        format!(
            "[governance]\nhost={}\nport=5432\ndbname={}\nuser=dot_authorize_build_step\n",
            pg.cluster.socket_dir().display(),
            db.name
        ),
    )
    .unwrap();
    let run = run_env(
        &["readback", "--apr", "APR-NOBODY", "--json"],
        &[
            ("PGSERVICEFILE", file.as_os_str()),
            ("PGSERVICE", "governance".as_ref()),
        ],
    );
    run.expect(4, "FAIL", "REJECT_APR_NOT_FOUND");
    let run = run_env(
        &[
            "readback",
            "--apr",
            "APR-NOBODY",
            "--json",
            "--db-url",
            "service=nowhere",
        ],
        &[("PGSERVICEFILE", file.as_os_str())],
    );
    assert_eq!(run.exit(), 2, "{run}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs `args` with `envs`, killing it (and failing) if it blocks.
fn bounded(db: &Db<'_>, args: &[&str], envs: &[(&str, &std::path::Path)]) -> Run {
    let mut cmd = db.command_as("dot_authorize_build_step", args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run_bounded(&mut cmd, std::time::Duration::from_secs(10))
}

#[test]
fn a_fifo_where_a_file_is_named_is_never_waited_on() {
    let pg = Pg::start();
    let db = pg.db();
    let fifo = std::env::temp_dir().join(format!("dot-abs-fifo-{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // A service file or password file that is a FIFO is skipped, as if absent.
    let run = bounded(
        &db,
        &["readback", "--apr", "APR-X", "--json"],
        &[("PGSERVICEFILE", &fifo), ("PGPASSFILE", &fifo)],
    );
    run.expect(4, "FAIL", "REJECT_APR_NOT_FOUND");
    // A root certificate that is a FIFO is an error, at once.
    let run = bounded(
        &db,
        &[
            "readback",
            "--apr",
            "APR-X",
            "--json",
            "--db-url",
            "host=127.0.0.1 sslmode=verify-full",
            "--connect-timeout",
            "2s",
        ],
        &[("PGSSLROOTCERT", &fifo)],
    );
    assert_eq!(run.exit(), 5, "{run}");
    std::fs::remove_file(&fifo).ok();
}
