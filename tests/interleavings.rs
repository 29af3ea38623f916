//! Interleavings, step by step, in the spirit of PostgreSQL's isolation
//! tester: session A is stopped at each of its fail points (a `wait:` fail
//! point holds it there with its transaction open), session B runs in full
//! or until it waits on A's lock, then A goes on. Every ordering of B
//! against A's steps is enumerated, and each outcome asserted.
//!
//! Needs the `failpoints` feature (the README's test command).
mod common;

#[cfg(not(feature = "failpoints"))]
#[test]
fn interleavings_need_the_failpoints_feature() {
    panic!(
        "the interleaving tests need the fail points: run the README's test command, \
         `cargo test --locked --features failpoints`"
    );
}

#[cfg(feature = "failpoints")]
mod with_failpoints {
    use super::common::*;
    use dot_authorize_build_step::disposable::fixtures::role_for;
    use std::io::BufRead;
    use std::path::PathBuf;
    use std::process::{Child, Stdio};
    use std::time::{Duration, Instant};

    const APR: &str = "APR-IL";
    const AUTH: &str = "GBA-C1-APR-IL";

    /// A session stopped at a fail point, its transaction open.
    struct Paused {
        child: Child,
        release: PathBuf,
        argv: Vec<String>,
    }

    fn release_file() -> PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        std::env::temp_dir().join(format!(
            "dot-abs-release-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ))
    }

    fn pause_at(db: &Db<'_>, args: &[String], point: &str) -> Paused {
        let release = release_file();
        let _ = std::fs::remove_file(&release);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = db
            .command_as(role_for(&refs), &refs)
            .env(
                "DOT_ABS_FAILPOINT",
                format!("{point}:wait:{}", release.display()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let want = format!("failpoint {point} waiting");
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line == want => break,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    panic!("{args:?} never reached {point}")
                }
            }
        }
        Paused {
            child,
            release,
            argv: args.to_vec(),
        }
    }

    impl Paused {
        fn go_on(self) -> Run {
            std::fs::write(&self.release, b"").unwrap();
            let output = self.child.wait_with_output().unwrap();
            let _ = std::fs::remove_file(&self.release);
            Run {
                argv: self.argv,
                output,
            }
        }
    }

    /// Starts B; returns once B has finished or waits on a lock (A's).
    fn start_b(db: &Db<'_>, args: &[String]) -> Child {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = db
            .command_as(role_for(&refs), &refs)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut admin = db.superuser();
        loop {
            if child.try_wait().unwrap().is_some() {
                return child;
            }
            let waiting: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                     AND datname = current_database()",
                    &[],
                )
                .unwrap()
                .get(0);
            if waiting > 0 {
                return child;
            }
            assert!(Instant::now() < deadline, "B neither finished nor waited");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn finish(child: Child, argv: &[String]) -> Run {
        Run {
            argv: argv.to_vec(),
            output: child.wait_with_output().unwrap(),
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn execute() -> Vec<String> {
        s(&["execute", "--apr", APR, "--json"])
    }

    fn consume(id: &str) -> Vec<String> {
        let mut a = consume_args(AUTH);
        a.extend(["--request-id".into(), id.into()]);
        a
    }

    fn revoke() -> Vec<String> {
        s(&[
            "revoke", "--apr", APR, "--reason", "r", "--by", "owner", "--json",
        ])
    }

    fn fresh(pg: &Pg, ttl: u64, minted: bool) -> Db<'_> {
        let db = pg.db();
        db.bind();
        let mut p = valid_payload();
        p["ttl_seconds"] = ttl.into();
        db.approved_apr(APR, &p);
        if minted {
            db.run(&execute().iter().map(String::as_str).collect::<Vec<_>>())
                .expect(0, "OK", "MINTED");
        }
        db
    }

    const EXECUTE_POINTS: [&str; 4] = [
        "execute-after-apr-lock",
        "execute-after-quorum-check",
        "execute-after-insert",
        "before-commit",
    ];
    const CONSUME_POINTS: [&str; 3] = [
        "consume-before-update",
        "consume-after-update",
        "before-commit",
    ];

    #[test]
    fn mint_against_mint_at_every_step_mints_once() {
        let pg = Pg::start();
        for point in EXECUTE_POINTS {
            let db = fresh(pg, 3600, false);
            let a = pause_at(&db, &execute(), point);
            let b = start_b(&db, &execute());
            let a = a.go_on();
            let b = finish(b, &execute());
            a.expect(0, "OK", "MINTED");
            b.expect(0, "OK", "ALREADY_MINTED");
            assert_eq!(db.grant_count(), 1, "{point}");
        }
    }

    #[test]
    fn consume_against_consume_and_against_revoke_at_every_step_spends_once() {
        let pg = Pg::start();
        for point in CONSUME_POINTS {
            for other in ["consume", "revoke"] {
                let db = fresh(pg, 3600, true);
                let a = pause_at(&db, &consume("a"), point);
                let b_args = if other == "consume" {
                    consume("b")
                } else {
                    revoke()
                };
                let b = start_b(&db, &b_args);
                let a = a.go_on();
                let b = finish(b, &b_args);
                a.expect(0, "OK", "CONSUMED");
                b.expect(4, "FAIL", "REJECT_AUTH_ALREADY_CONSUMED");
                assert_eq!(
                    db.grant_status(AUTH).as_deref(),
                    Some("consumed"),
                    "{point} {other}"
                );
            }
        }
    }

    #[test]
    fn a_revoke_in_flight_does_not_stop_a_rerun_from_answering_already_minted() {
        let pg = Pg::start();
        let db = fresh(pg, 3600, true);
        let a = pause_at(&db, &revoke(), "before-commit");
        // The re-run takes the APR lock, not the row: it reads the grant as
        // committed (active) and answers at once.
        let b = start_b(&db, &execute());
        let b = finish(b, &execute());
        b.expect(0, "OK", "ALREADY_MINTED");
        a.go_on().expect(0, "OK", "REVOKED");
        // And after it, the re-run still answers ALREADY_MINTED.
        db.run(&["execute", "--apr", APR, "--json"])
            .expect(0, "OK", "ALREADY_MINTED");
        // A consume against a revoke in flight: the consume waits for the
        // row, then finds the grant revoked.
        let db = fresh(pg, 3600, true);
        let a = pause_at(&db, &revoke(), "before-commit");
        let b = start_b(&db, &consume("x"));
        let a = a.go_on();
        let b = finish(b, &consume("x"));
        a.expect(0, "OK", "REVOKED");
        b.expect(4, "FAIL", "REJECT_AUTH_REVOKED");
    }

    /// A tamper or a veto arriving while a mint is in flight: before the
    /// mint has read the APR, the mint sees it; after, the mint stands on
    /// what it read, and the grant is then refused wherever it is used.
    #[test]
    fn a_tamper_or_a_veto_between_read_and_insert() {
        let pg = Pg::start();
        let tamper = "UPDATE apr_requests SET proposed_action = jsonb_set(proposed_action, '{ttl_seconds}', '60') WHERE apr_code = 'APR-IL'";
        let veto = "INSERT INTO apr_approvals (apr_code, approver, decision) VALUES ('APR-IL', 'carol', 'reject')";
        for (what, sql, before_read, used) in [
            (
                "tamper",
                tamper,
                ("SKIP", "REJECT_QUORUM_NOT_MET"),
                "REJECT_AUTH_STALE",
            ),
            (
                "veto",
                veto,
                ("FAIL", "REJECT_QUORUM_VETOED"),
                "REJECT_GRANT_INVALID",
            ),
        ] {
            // Before the read: the mint sees it and writes nothing.
            let db = fresh(pg, 3600, false);
            let a = pause_at(&db, &execute(), "execute-after-apr-lock");
            db.sql(sql);
            let a = a.go_on();
            a.expect(
                if before_read.0 == "SKIP" { 3 } else { 4 },
                before_read.0,
                before_read.1,
            );
            assert_eq!(db.grant_count(), 0, "{what}");
            // After the read: the mint completes on what it read...
            let db = fresh(pg, 3600, false);
            let a = pause_at(&db, &execute(), "execute-after-quorum-check");
            db.sql(sql);
            a.go_on().expect(0, "OK", "MINTED");
            // ...and the grant is refused when used.
            let spend: Vec<String> = consume("after");
            let spend: Vec<&str> = spend.iter().map(String::as_str).collect();
            db.run(&spend).expect(4, "FAIL", used);
            assert_eq!(db.grant_status(AUTH).as_deref(), Some("active"), "{what}");
        }
    }

    /// The grant expires while a consume holds its row: the write compares
    /// expiry at the write, so the consume is refused and writes nothing.
    #[test]
    fn expiry_during_a_consume_is_seen_at_the_write() {
        let pg = Pg::start();
        let db = fresh(pg, 1, true);
        let a = pause_at(&db, &consume("late"), "consume-before-update");
        // Wait for the database's clock, not ours, to pass the expiry.
        let mut admin = db.superuser();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let expired: bool = admin
                .query_one(
                    "SELECT clock_timestamp() > expires_at FROM governance_build_authorization WHERE auth_code = $1",
                    &[&AUTH],
                )
                .unwrap()
                .get(0);
            if expired {
                break;
            }
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(20));
        }
        a.go_on().expect(4, "FAIL", "REJECT_AUTH_EXPIRED");
        assert_eq!(db.grant_status(AUTH).as_deref(), Some("active"));
    }

    /// While it works, a handler's session says what it is in
    /// pg_stat_activity: the tool, the command and the APR.
    #[test]
    fn a_session_in_flight_names_its_command_and_apr() {
        let pg = Pg::start();
        let db = fresh(pg, 3600, false);
        let a = pause_at(&db, &execute(), "execute-after-apr-lock");
        let names: Vec<String> = db
            .superuser()
            .query(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        a.go_on().expect(0, "OK", "MINTED");
        assert!(
            names
                .iter()
                .any(|n| n == "dot-authorize-build-step execute APR-IL"),
            "{names:?}"
        );
    }
}
