//! Issue 18: nothing the handler said OK to can be laundered, rewritten or
//! replayed. Findings 1, 2 and 4, one test each, named after the finding;
//! each failed on the code before the fix (findings 5–10 are in
//! tests/untrusted_inputs.rs, 3 in tests/signing_and_evidence.rs).
mod common;
use common::*;
use dot_authorize_build_step::disposable::fixtures::{CONSUMER_ROLE, HANDLER_ROLE};
use std::time::{Duration, Instant};

fn sqlstate(e: &postgres::Error) -> String {
    e.code().map(|c| c.code().to_owned()).unwrap_or_default()
}

/// `consume` of the valid payload's grant with this request id and --by.
fn spend(db: &Db<'_>, auth: &str, request_id: &str, by: &str) -> Run {
    let mut argv = consume_args(auth);
    let at = argv.iter().position(|a| a == "--by").unwrap();
    argv[at + 1] = by.to_owned();
    argv.extend(["--request-id".into(), request_id.to_owned()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    db.run(&argv)
}

/// Waits, bounded, until the database's clock is past the grant's expiry.
fn until_expired(db: &Db<'_>, auth: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let past: bool = db
            .superuser()
            .query_one(
                "SELECT clock_timestamp() > expires_at FROM governance_build_authorization WHERE auth_code = $1",
                &[&auth],
            )
            .unwrap()
            .get(0);
        if past {
            return;
        }
        assert!(Instant::now() < deadline, "{auth} did not expire in 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn finding_1_an_expired_spend_cannot_be_laundered_into_ok() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let mut p = valid_payload();
    p["ttl_seconds"] = 2.into();
    db.approved_apr("APR-L1", &p);
    db.run(&["execute", "--apr", "APR-L1", "--json"])
        .expect(0, "OK", "MINTED");
    until_expired(&db, "GBA-C1-APR-L1");
    spend(&db, "GBA-C1-APR-L1", "R-L1", "c1-build").expect(4, "FAIL", "REJECT_AUTH_EXPIRED");
    // The consumer login marks it consumed by hand, inside the grant's
    // life, with the same request id: the table refuses, whoever writes.
    let before = db.snapshot();
    let mut consumer = pg.cluster.connect(CONSUMER_ROLE, &db.name).unwrap();
    let err = consumer
        .batch_execute(&format!(
            "BEGIN; {MARKER}; UPDATE governance_build_authorization SET status = 'consumed', \
               consumed_at = granted_at + interval '1 second', consumed_by = 'c1-build', \
               consume_request_id = 'R-L1' WHERE auth_code = 'GBA-C1-APR-L1'; COMMIT"
        ))
        .unwrap_err();
    assert_eq!(sqlstate(&err), "DG007", "{err:?}");
    consumer.batch_execute("ROLLBACK").unwrap();
    assert_eq!(db.snapshot(), before);
    spend(&db, "GBA-C1-APR-L1", "R-L1", "c1-build").expect(4, "FAIL", "REJECT_AUTH_EXPIRED");
    // A spend in time is stamped by the database at the write, whatever
    // the writer put in consumed_at.
    let mut q = valid_payload();
    q["plan_ref"] = "L1B-PLAN".into();
    db.approved_apr("APR-L1B", &q);
    db.run(&["execute", "--apr", "APR-L1B", "--json"])
        .expect(0, "OK", "MINTED");
    consumer
        .batch_execute(&format!(
            "BEGIN; {MARKER}; UPDATE governance_build_authorization SET status = 'consumed', \
               consumed_at = granted_at, consumed_by = 'x' WHERE auth_code = 'GBA-C1-APR-L1B'; COMMIT"
        ))
        .unwrap();
    let stamped: bool = db
        .superuser()
        .query_one(
            "SELECT consumed_at > granted_at FROM governance_build_authorization WHERE auth_code = 'GBA-C1-APR-L1B'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(stamped, "consumed_at is the database's clock at the write");
}

#[test]
fn finding_2_someone_elses_spend_is_never_answered_as_yours() {
    let db = minted("APR-L2", &valid_payload());
    let pg = db.pg;
    spend(&db, "GBA-C1-APR-L2", "R-SECRET", "c1-build").expect(0, "OK", "CONSUMED");
    let before = db.snapshot();
    // What anyone can read of the spend: show, and the consumer's SELECT.
    let shown = db.run(&["show", "--apr", "APR-L2", "--json"]);
    let stored = shown.json()["grant"]["consume_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(stored, "R-SECRET", "the key itself is never stored");
    let mut consumer = pg.cluster.connect(CONSUMER_ROLE, &db.name).unwrap();
    let readable: String = consumer
        .query_one(
            "SELECT consume_request_id FROM governance_build_authorization WHERE auth_code = 'GBA-C1-APR-L2'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(readable, stored);
    for (request_id, by) in [
        (stored.as_str(), "c1-build"),
        ("R-SECRET", "someone-else"),
        ("R-GUESS", "c1-build"),
    ] {
        spend(&db, "GBA-C1-APR-L2", request_id, by).expect(
            4,
            "FAIL",
            "REJECT_AUTH_ALREADY_CONSUMED",
        );
    }
    // The spender's own re-run learns its spend.
    spend(&db, "GBA-C1-APR-L2", "R-SECRET", "c1-build").expect(0, "OK", "CONSUMED");
    assert_eq!(db.snapshot(), before);
}

#[test]
fn finding_4_unsigned_rows_never_block_a_lawful_mint_and_are_always_retirable() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let mut minter = pg.cluster.connect(HANDLER_ROLE, &db.name).unwrap();
    // A minter login plants an unsigned active row for the plan under
    // another APR's code...
    minter
        .batch_execute(&format!(
            "BEGIN; {MARKER}; {}; COMMIT",
            forged_insert("APR-PLANTED", "24 hours")
        ))
        .unwrap();
    // ... and one under an approved APR's own code, with another digest.
    db.approved_apr("APR-L4B", &valid_payload());
    let planted_own =
        forged_insert("APR-L4B", "1 hour").replace(&digest(&valid_payload()), &"0".repeat(64));
    minter
        .batch_execute(&format!("BEGIN; {MARKER}; {planted_own}; COMMIT"))
        .unwrap();
    // The lawful APR for the same plan mints, dry run and real.
    db.approved_apr("APR-L4", &valid_payload());
    db.run(&["execute", "--apr", "APR-L4", "--dry-run", "--json"])
        .expect(0, "OK", "WOULD_MINT");
    db.run(&["execute", "--apr", "APR-L4", "--json"])
        .expect(0, "OK", "MINTED");
    // The row under the APR's own code is named forged, not tampered.
    let before = db.snapshot();
    db.run(&["execute", "--apr", "APR-L4B", "--json"])
        .expect(4, "FAIL", "REJECT_GRANT_FORGED");
    assert_eq!(db.snapshot(), before);
    // The owner retires both; the verdict says they were forged.
    for apr in ["APR-PLANTED", "APR-L4B"] {
        let r = db.run(&[
            "revoke", "--apr", apr, "--reason", "planted", "--by", "owner", "--json",
        ]);
        r.expect(0, "OK", "REVOKED");
        assert!(
            r.json()["message"].as_str().unwrap().contains("forged"),
            "{r}"
        );
        assert_eq!(
            db.grant_status(&format!("GBA-C1-{apr}")).as_deref(),
            Some("revoked")
        );
    }
    // A signed grant still blocks: a second lawful APR for the same plan.
    db.approved_apr("APR-L4C", &valid_payload());
    db.run(&["execute", "--apr", "APR-L4C", "--json"]).expect(
        4,
        "FAIL",
        "REJECT_ACTIVE_GRANT_EXISTS",
    );
}

/// From the adversarial review of this change: a row whose action set holds
/// a NULL element (the table only asks for a non-empty array) must read as
/// a forged, generic row, never make the handler ERROR (invariant 9).
#[test]
fn a_planted_action_set_with_a_null_element_never_makes_the_handler_error() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let mut minter = pg.cluster.connect(HANDLER_ROLE, &db.name).unwrap();
    let planted = forged_insert("APR-NULLSET", "1 hour").replace("'{c1_", "'{NULL,c1_");
    assert!(planted.contains("'{NULL,c1_"), "{planted}");
    minter
        .batch_execute(&format!("BEGIN; {MARKER}; {planted}; COMMIT"))
        .unwrap();
    db.approved_apr("APR-LAWFUL", &valid_payload());
    db.run(&["execute", "--apr", "APR-LAWFUL", "--dry-run", "--json"])
        .expect(0, "OK", "WOULD_MINT");
    db.run(&["execute", "--apr", "APR-LAWFUL", "--json"])
        .expect(0, "OK", "MINTED");
    let listed = db.run(&["list", "--json"]);
    assert_eq!(listed.exit(), 0, "{listed}");
    let before = db.snapshot();
    let spent = db.run(
        &consume_args("GBA-C1-APR-NULLSET")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(spent.exit(), 4, "{spent}");
    assert_eq!(db.snapshot(), before);
    db.run(&[
        "revoke",
        "--apr",
        "APR-NULLSET",
        "--reason",
        "planted",
        "--by",
        "owner",
        "--json",
    ])
    .expect(0, "OK", "REVOKED");
}

/// From the adversarial review: the consumer login writes the consume
/// columns by hand on a grant whose APR was vetoed since, with the hash of a
/// request id it chose; the handler's re-run must not answer OK for it.
#[test]
fn a_spend_written_by_hand_on_a_grant_no_longer_backed_is_never_answered_ok() {
    let db = minted("APR-HAND", &valid_payload());
    let pg = db.pg;
    db.vote(
        "APR-HAND",
        "carol",
        "reject",
        Some(&digest(&valid_payload())),
    );
    let key = dot_authorize_build_step::decide::consume::request_key("R-MINE");
    let mut consumer = pg.cluster.connect(CONSUMER_ROLE, &db.name).unwrap();
    consumer
        .batch_execute(&format!(
            "BEGIN; {MARKER}; UPDATE governance_build_authorization SET status = 'consumed', \
               consumed_at = clock_timestamp(), consumed_by = 'c1-build', consume_request_id = '{key}' \
             WHERE auth_code = 'GBA-C1-APR-HAND'; COMMIT"
        ))
        .unwrap();
    let before = db.snapshot();
    spend(&db, "GBA-C1-APR-HAND", "R-MINE", "c1-build").expect(4, "FAIL", "REJECT_GRANT_INVALID");
    assert_eq!(db.snapshot(), before);
}

/// From the adversarial review: the evidence log, which others may read,
/// never holds a spend's request id, only its hash.
#[test]
fn the_evidence_log_never_holds_a_request_id() {
    let db = minted("APR-EVR", &valid_payload());
    let dir = std::env::temp_dir().join(format!("dot-abs-evr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("evidence.jsonl");
    let mut argv = consume_args("GBA-C1-APR-EVR");
    argv.extend(["--request-id".into(), "R-TOPSECRET".into()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut cmd = db.command_as(CONSUMER_ROLE, &argv);
    cmd.env(dot_authorize_build_step::integrity::evidence::ENV, &log);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("R-TOPSECRET"),
        "the caller is told its own id"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("R-TOPSECRET"), "{text}");
    assert!(
        text.contains(&dot_authorize_build_step::decide::consume::request_key(
            "R-TOPSECRET"
        )),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
