//! Spending and rolling back a grant: exactly-once consume under 64-way
//! races, consume racing revoke, expiry on the database clock, and the
//! STEP 7 readback.
mod common;
use common::*;

const COPIES: usize = 64;
const ROUNDS: usize = 3;

#[test]
fn sixty_four_concurrent_consumes_spend_the_grant_exactly_once_every_round() {
    let pg = Pg::start();
    for round in 0..ROUNDS {
        // given a grant and 64 consumers queued on its row after reading it
        let db = pg.db();
        db.bind();
        let auth = db.mint(&format!("APR-C-{round}"), &valid_payload());
        let args = consume_args(&auth);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let gate = db.gate_grant(&auth);
        // when they are released together
        let runs = spawn_all(&db, COPIES, &args, Some(gate));
        // then one consumes and 63 are told it is already consumed
        let counts = tally(&runs);
        assert_eq!(
            counts.get("CONSUMED"),
            Some(&1),
            "round {round}: {counts:?}"
        );
        assert_eq!(
            counts.get("REJECT_AUTH_ALREADY_CONSUMED"),
            Some(&(COPIES - 1)),
            "round {round}: {counts:?}"
        );
        assert_eq!(db.grant_status(&auth).as_deref(), Some("consumed"));
    }
}

#[test]
fn consume_racing_revoke_has_exactly_one_winner_and_the_losers_say_what_happened() {
    let pg = Pg::start();
    let mut winners = std::collections::BTreeSet::new();
    for round in 0..ROUNDS * 2 {
        let db = pg.db();
        db.bind();
        let auth = db.mint(&format!("APR-CR-{round}"), &valid_payload());
        let consume = consume_args(&auth);
        let consume: Vec<&str> = consume.iter().map(String::as_str).collect();
        let revoke = [
            "revoke",
            "--auth-code",
            auth.as_str(),
            "--reason",
            "race drill",
            "--by",
            "owner",
            "--json",
        ];
        let argvs: Vec<&[&str]> = (0..COPIES)
            .map(|i| {
                if i % 2 == 0 {
                    &consume[..]
                } else {
                    &revoke[..]
                }
            })
            .collect();
        let gate = db.gate_grant(&auth);
        let counts = tally(&spawn_mixed(&db, &argvs, Some(gate)));
        let half = COPIES / 2;
        match db.grant_status(&auth).as_deref() {
            Some("consumed") => {
                assert_eq!(counts.get("CONSUMED"), Some(&1), "{counts:?}");
                assert_eq!(
                    counts.get("REJECT_AUTH_ALREADY_CONSUMED"),
                    Some(&(COPIES - 1)),
                    "{counts:?}"
                );
            }
            Some("revoked") => {
                assert_eq!(counts.get("REVOKED"), Some(&1), "{counts:?}");
                assert_eq!(
                    counts.get("ALREADY_REVOKED"),
                    Some(&(half - 1)),
                    "{counts:?}"
                );
                assert_eq!(counts.get("REJECT_AUTH_REVOKED"), Some(&half), "{counts:?}");
            }
            other => panic!("grant ended {other:?}: {counts:?}"),
        }
        winners.insert(db.grant_status(&auth).unwrap());
    }
    eprintln!("winners seen over the rounds: {winners:?}");
}

#[test]
fn expiry_is_decided_by_the_database_clock() {
    let pg = Pg::start();
    let db = pg.db();
    let mut payload = valid_payload();
    payload["ttl_seconds"] = 1.into();
    db.bind();
    let auth = db.mint("APR-EXP", &payload);
    // Poll the database clock (not ours) until it passes expires_at.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let past: bool = db
            .superuser()
            .query_one("SELECT now() >= expires_at FROM governance_build_authorization WHERE auth_code = $1", &[&auth])
            .unwrap()
            .get(0);
        if past {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "database clock never passed expires_at"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let before = db.snapshot();
    let args = consume_args(&auth);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // The caller's TZ is irrelevant: only the database's now() decides.
    Run::of(
        db.command_as("dot_authorize_build_step", &args)
            .env("TZ", "Pacific/Kiritimati"),
    )
    .expect(4, "FAIL", "REJECT_AUTH_EXPIRED");
    assert_eq!(db.snapshot(), before);
}

#[test]
fn consume_records_who_and_when_and_revoke_records_who_when_and_why() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let auth = db.mint("APR-W1", &valid_payload());
    let args = consume_args(&auth);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = db.run(&args);
    run.expect(0, "OK", "CONSUMED");
    let row = db
        .superuser()
        .query_one(
            "SELECT consumed_by, consumed_at IS NOT NULL AND consumed_at >= granted_at FROM governance_build_authorization WHERE auth_code = $1",
            &[&auth],
        )
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, bool>(1)),
        ("c1-build".into(), true)
    );

    let mut second = valid_payload();
    second["plan_ref"] = "LEGO2-C1-PLAN".into();
    db.approved_apr("APR-W2", &second);
    db.run(&["execute", "--apr", "APR-W2", "--json"])
        .expect(0, "OK", "MINTED");
    let run = db.run(&[
        "revoke",
        "--apr",
        "APR-W2",
        "--reason",
        "plan superseded",
        "--by",
        "owner",
        "--json",
    ]);
    run.expect(0, "OK", "REVOKED");
    assert_eq!(run.json()["auth_code"], "GBA-C1-APR-W2");
    let row = db
        .superuser()
        .query_one(
            "SELECT status, revoked_by, revoke_reason, revoked_at IS NOT NULL FROM governance_build_authorization WHERE request_ref = 'APR-W2'",
            &[],
        )
        .unwrap();
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2),
            row.get::<_, bool>(3)
        ),
        (
            "revoked".into(),
            "owner".into(),
            "plan superseded".into(),
            true
        )
    );
    assert_eq!(db.grant_count(), 2, "nothing is ever deleted");
}

#[test]
fn readback_passes_only_when_every_step7_check_passes() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let auth = db.mint("APR-RB", &valid_payload());
    // Minted but not yet marked applied by the dispatcher: one line fails.
    let run = db.run(&["readback", "--apr", "APR-RB", "--json"]);
    run.expect(4, "FAIL", "READBACK_FAILED");
    let failing: Vec<String> = run.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["pass"] == false)
        .map(|c| c["check"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(failing, ["APR status is applied", "APR applied_at is set"]);

    db.sql(
        "UPDATE apr_requests SET status = 'applied', applied_at = now() WHERE apr_code = 'APR-RB'",
    );
    let run = db.run(&["readback", "--apr", "APR-RB"]);
    assert_eq!(run.exit(), 0, "{run}");
    let out = run.stdout();
    assert!(
        out.contains("PASS  grant count for the APR is 1  (seen: 1)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("PASS  auth_code is GBA-C1-<apr>  (seen: {auth})")),
        "{out}"
    );
    assert!(out.contains("OK READBACK_PASSED"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");

    let missing = db.run(&["readback", "--apr", "APR-NONE", "--json"]);
    missing.expect(4, "FAIL", "REJECT_APR_NOT_FOUND");
}
