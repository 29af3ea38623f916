//! Crash safety kept true by the suite: the handler is stopped at each named
//! fail point (src/store/failpoint.rs) by kill -9, or PostgreSQL is stopped
//! immediately under it; then SPEC §7 is checked and a re-run must complete
//! idempotently. Also the lost-commit paths: a connection lost after COMMIT
//! reports the true outcome, one that cannot be settled is
//! ERROR_COMMIT_UNKNOWN with nothing written.
//!
//! Needs the `failpoints` feature, which the README's test command
//! (`cargo test --locked --features failpoints`) turns on.
mod common;

#[cfg(not(feature = "failpoints"))]
#[test]
fn fault_injection_needs_the_failpoints_feature() {
    panic!(
        "the fault-injection tests need the fail points: run the README's test command, \
         `cargo test --locked --features failpoints`"
    );
}

#[cfg(feature = "failpoints")]
mod with_failpoints {
    use super::common::*;
    use dot_authorize_build_step::disposable::fixtures::role_for;
    use std::io::BufRead;
    use std::process::{Child, Stdio};

    const APR: &str = "APR-FP";
    const AUTH: &str = "GBA-C1-APR-FP";

    const POINTS: [(&str, &str); 7] = [
        ("execute", "execute-after-apr-lock"),
        ("execute", "execute-after-quorum-check"),
        ("execute", "execute-after-insert"),
        ("execute", "after-commit"),
        ("consume", "consume-before-update"),
        ("consume", "consume-after-update"),
        ("consume", "after-commit"),
    ];

    fn argv(command: &str) -> Vec<String> {
        match command {
            "execute" => ["execute", "--apr", APR, "--json"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            _ => {
                let mut a = consume_args(AUTH);
                a.extend(["--request-id".into(), "fp-1".into()]);
                a
            }
        }
    }

    /// A bound handler, an approved APR, and for consume its minted grant.
    fn setup<'a>(pg: &'a Pg, command: &str) -> Db<'a> {
        let db = pg.db();
        db.bind();
        db.approved_apr(APR, &valid_payload());
        if command == "consume" {
            db.run(&["execute", "--apr", APR, "--json"])
                .expect(0, "OK", "MINTED");
        }
        // The test cluster commits asynchronously (synchronous_commit =
        // off): make the setup durable before anything is crashed.
        db.sql("CHECKPOINT");
        db
    }

    /// Starts the command with `point` set to pause and returns once the
    /// handler has reached it.
    fn paused_at(db: &Db<'_>, args: &[String], point: &str) -> Child {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = db
            .command_as(role_for(&refs), &refs)
            .env("DOT_ABS_FAILPOINT", format!("{point}:pause"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = std::io::BufReader::new(stderr).lines();
        let want = format!("failpoint {point} reached");
        loop {
            match lines.next() {
                Some(Ok(line)) if line == want => break,
                Some(Ok(_)) => {}
                _ => {
                    let out = child.wait_with_output().unwrap();
                    panic!(
                        "{args:?} never reached {point}: {}",
                        String::from_utf8_lossy(&out.stdout)
                    );
                }
            }
        }
        child
    }

    /// SPEC §7 on whatever a crash left: at most one grant per APR, no
    /// partial grant, consumed at most once, statuses match timestamps.
    fn assert_invariants(db: &Db<'_>, when: &str) {
        let bad: i64 = db
            .superuser()
            .query_one(
                "SELECT (SELECT count(*) FROM (SELECT request_ref FROM governance_build_authorization \
                         GROUP BY 1 HAVING count(*) > 1) d) \
                      + (SELECT count(*) FROM governance_build_authorization \
                          WHERE (status = 'consumed') <> (consumed_at IS NOT NULL) \
                             OR (status = 'revoked') <> (revoked_at IS NOT NULL) \
                             OR carrier IS DISTINCT FROM 'C1' OR manifest_hash IS NULL OR apr_digest IS NULL \
                             OR expires_at - granted_at > interval '24 hours')",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(bad, 0, "SPEC §7 broken {when}");
        assert!(db.grant_count() <= 1, "{when}");
    }

    /// What the re-run of `command` answers when the first run stopped at
    /// `point` and the server kept what it had committed: a grant committed
    /// before the stop is ALREADY_MINTED, one rolled back is MINTED now; a
    /// consume re-run with its request id is CONSUMED either way.
    fn rerun_code(command: &str, point: &str) -> &'static str {
        match (command, point) {
            ("execute", "after-commit") => "ALREADY_MINTED",
            ("execute", _) => "MINTED",
            _ => "CONSUMED",
        }
    }

    /// The re-run answers OK with `want`, or, where the server may have lost
    /// a commit it acknowledged (`None`: stopped at once, with the
    /// disposable cluster's synchronous_commit = off), MINTED or
    /// ALREADY_MINTED.
    fn rerun_completes(db: &Db<'_>, command: &str, when: &str, want: Option<&str>) {
        let args = argv(command);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = db.run(&refs);
        let ok = match (command, want) {
            (_, Some(want)) => run.code() == want,
            ("execute", None) => ["MINTED", "ALREADY_MINTED"].contains(&run.code().as_str()),
            _ => run.code() == "CONSUMED",
        };
        assert!(ok && run.exit() == 0, "re-run {when}: {run}");
        assert_invariants(db, &format!("after the re-run {when}"));
        assert_eq!(db.grant_count(), 1, "{when}");
        if command == "consume" {
            assert_eq!(db.grant_status(AUTH).as_deref(), Some("consumed"), "{when}");
        }
    }

    #[test]
    fn killing_the_handler_at_every_fail_point_keeps_the_invariants_and_a_rerun_completes() {
        let pg = Pg::start();
        for (command, point) in POINTS {
            let when = format!("after kill -9 at {point}");
            let db = setup(pg, command);
            let mut child = paused_at(&db, &argv(command), point);
            child.kill().unwrap();
            child.wait().unwrap();
            assert_invariants(&db, &when);
            rerun_completes(&db, command, &when, Some(rerun_code(command, point)));
        }
    }

    #[test]
    fn stopping_postgres_immediately_at_every_fail_point_keeps_the_invariants_and_a_rerun_completes(
    ) {
        let pg = Pg::own();
        for (command, point) in POINTS {
            let when = format!("after PostgreSQL stopped immediately at {point}");
            let db = setup(&pg, command);
            let mut child = paused_at(&db, &argv(command), point);
            pg.cluster.stop_immediately().unwrap();
            child.kill().unwrap();
            child.wait().unwrap();
            pg.cluster.restart().unwrap();
            assert_invariants(&db, &when);
            rerun_completes(&db, command, &when, None);
        }
    }

    #[test]
    fn commit_outcome_unknown_a_connection_lost_after_commit_reports_the_true_outcome() {
        let pg = Pg::start();
        let db = setup(pg, "execute");
        let lose = |args: &[&str]| {
            let out = db
                .command_as(role_for(args), args)
                .env("DOT_ABS_FAILPOINT", "after-commit:lose")
                .output()
                .unwrap();
            Run {
                argv: args.iter().map(|s| s.to_string()).collect(),
                output: out,
            }
        };
        // The grant was written, then the answer was lost: the read-back
        // finds it (never "unreachable", never a second grant).
        lose(&["execute", "--apr", APR, "--json"]).expect(0, "OK", "ALREADY_MINTED");
        assert_eq!(db.grant_count(), 1);
        let args = argv("consume");
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = lose(&refs);
        run.expect(0, "OK", "CONSUMED");
        assert_eq!(run.json()["request_id"], "fp-1");
        assert_eq!(db.grant_status(AUTH).as_deref(), Some("consumed"));
        // Anyone else still learns it is spent.
        db.run(
            &consume_args(AUTH)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .expect(4, "FAIL", "REJECT_AUTH_ALREADY_CONSUMED");
    }

    #[test]
    fn commit_outcome_unknown_when_the_read_back_cannot_settle_it_is_error_commit_unknown_with_nothing_written(
    ) {
        let pg = Pg::start();
        for command in ["execute", "consume"] {
            let db = setup(pg, command);
            let before = db.snapshot();
            let mut args = argv(command);
            // Every read-back loses again: it retries until the connect timeout.
            args.extend(["--connect-timeout".into(), "1s".into()]);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = db
                .command_as(role_for(&refs), &refs)
                .env("DOT_ABS_FAILPOINT", "before-commit:lose")
                .output()
                .unwrap();
            let run = Run {
                argv: args.clone(),
                output: out,
            };
            run.expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
            assert!(
                run.json()["message"].as_str().unwrap().contains("re-run"),
                "{run}"
            );
            assert_eq!(db.snapshot(), before, "{command}");
            // Nothing was committed: the re-run mints (or consumes) now.
            rerun_completes(
                &db,
                command,
                "after an unknown commit",
                Some(rerun_code(command, "before-commit")),
            );
        }
    }

    /// Starts the command with `point` set to `action` (`wait:FILE` or
    /// `lose-after:FILE`) and returns once the handler waits there.
    fn waiting_at(db: &Db<'_>, args: &[String], point: &str, action: &str) -> Child {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = db
            .command_as(role_for(&refs), &refs)
            .env("DOT_ABS_FAILPOINT", format!("{point}:{action}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        assert!(
            line.contains(&format!("failpoint {point} waiting")),
            "{line}"
        );
        child
    }

    /// Issue 20, finding 3: a commit whose answer is lost while the server
    /// is away (a failover under way) is settled by the handler's own
    /// read-back, which retries with backoff within the connect timeout,
    /// instead of one immediate try that finds no server.
    #[test]
    fn a_lost_commit_is_settled_once_the_server_is_back_within_the_connect_timeout() {
        let pg = Pg::own();
        for command in ["execute", "consume"] {
            let db = setup(&pg, command);
            let release = pg.cluster.scratch_dir().join(format!("release-{command}"));
            let mut args = argv(command);
            args.extend(["--connect-timeout".into(), "30s".into()]);
            let child = waiting_at(
                &db,
                &args,
                "after-commit",
                &format!("lose-after:{}", release.display()),
            );
            // Committed, the answer about to be lost: the server goes away
            // first, and comes back only after the handler has lost it.
            db.sql("CHECKPOINT");
            pg.cluster.stop_immediately().expect("stop the server");
            std::fs::write(&release, "").unwrap();
            pg.cluster.restart().expect("start the server again");
            let out = child.wait_with_output().unwrap();
            let run = Run {
                argv: args.clone(),
                output: out,
            };
            // Before: ERROR_COMMIT_UNKNOWN, the one read-back finding no server.
            match command {
                "execute" => run.expect(0, "OK", "ALREADY_MINTED"),
                _ => run.expect(0, "OK", "CONSUMED"),
            };
            assert_invariants(&db, "after a settled lost commit");
        }
    }

    /// Issue 20, finding 3: a connection lost before COMMIT is one code,
    /// ERROR_DB_UNREACHABLE, with nothing written, whether the backend was
    /// terminated (FATAL 57P01) or the server stopped under it (before:
    /// ERROR_DATABASE for one, "connection reset" for the other).
    #[test]
    fn a_connection_lost_before_commit_is_always_error_db_unreachable_with_nothing_written() {
        let pg = Pg::own();
        for how in ["terminate", "stop"] {
            let db = setup(&pg, "execute");
            let before = db.snapshot();
            let release = pg.cluster.scratch_dir().join(format!("release-{how}"));
            let args = argv("execute");
            let child = waiting_at(
                &db,
                &args,
                "execute-after-apr-lock",
                &format!("wait:{}", release.display()),
            );
            match how {
                "terminate" => db.sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE usename = 'dot_authorize_build_step'",
                ),
                _ => pg.cluster.stop_immediately().expect("stop the server"),
            }
            std::fs::write(&release, "").unwrap();
            let out = child.wait_with_output().unwrap();
            let run = Run {
                argv: args.clone(),
                output: out,
            };
            run.expect(5, "ERROR", "ERROR_DB_UNREACHABLE");
            assert!(
                run.json()["message"]
                    .as_str()
                    .unwrap()
                    .contains("the connection to the database was lost"),
                "{how}: {run}"
            );
            if how == "stop" {
                pg.cluster.restart().expect("start the server again");
            }
            assert_eq!(db.snapshot(), before, "{how}");
        }
    }
}
