//! cser-v1 manifests and `propose`: hashes agree with sha256sum and with
//! PostgreSQL, every bad manifest has its own refusal, and a proposal goes
//! through approval, execute and consume bound to the manifest it came from.
mod common;
use common::*;
use std::process::Command;

fn manifest(name: &str) -> String {
    format!("{MANIFEST_DIR}/fixtures/manifests/{name}")
}

fn bin(args: &[&str]) -> Run {
    let output = Command::new(BIN).args(args).env_clear().output().unwrap();
    Run {
        argv: args.iter().map(|s| s.to_string()).collect(),
        output,
    }
}

const PROPOSE: [&str; 9] = [
    "propose",
    "--plan-ref",
    "LEGO1-C1-PLAN",
    "--ttl",
    "2h",
    "--rollback-plan-ref",
    "C1-ROLLBACK-retire-not-delete",
    "--by",
    "dot_c1_grant_issue",
];

fn propose_args<'a>(manifest: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = PROPOSE.to_vec();
    v.extend(["--manifest", manifest, "--json"]);
    v.extend(extra);
    v
}

#[test]
fn manifest_hash_equals_sha256sum_of_the_canonical_bytes_and_postgres_sha256() {
    let file = manifest("c1-valid.json");
    let hash = bin(&["manifest", "hash", &file]);
    assert_eq!(hash.exit(), 0, "{hash}");
    let hash = hash.stdout().trim().to_owned();
    let canon = bin(&["manifest", "canon", &file]).output.stdout;

    let mut sha = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(sha.stdin.as_mut().unwrap(), &canon).unwrap();
    let sha = String::from_utf8(sha.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(sha.split_whitespace().next(), Some(hash.as_str()));

    let pg = Pg::start();
    let db = pg.db();
    let text = String::from_utf8(canon).unwrap();
    let in_pg: String = db
        .superuser()
        .query_one(
            "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')",
            &[&text],
        )
        .unwrap()
        .get(0);
    assert_eq!(in_pg, hash);
}

#[test]
fn manifest_json_output_is_one_verdict_object_with_the_hash() {
    let file = manifest("c1-valid.json");
    let plain = bin(&["manifest", "hash", &file]).stdout();
    let json = bin(&["manifest", "hash", &file, "--json"]);
    json.expect(0, "OK", "HASHED");
    assert_eq!(json.json()["sha256"], plain.trim());
    let canon = bin(&["manifest", "canon", &file, "--json"]);
    canon.expect(0, "OK", "HASHED");
    assert_eq!(
        canon.json()["canonical"].as_str().unwrap().as_bytes(),
        bin(&["manifest", "canon", &file]).output.stdout
    );
}

#[test]
fn two_formattings_of_one_document_have_one_hash_and_a_semantic_rewrite_another() {
    let h = |name: &str| bin(&["manifest", "hash", &manifest(name)]).stdout();
    assert_eq!(h("c1-valid.json"), h("c1-valid-reformatted.json"));
    assert_ne!(h("c1-valid.json"), h("c1-semantic-rewrite.json"));
}

#[test]
fn manifest_canon_refuses_what_is_not_cser_v1() {
    for (name, code) in [
        ("c1-non-integer.json", "REJECT_MANIFEST_INVALID"),
        ("c1-duplicate-key.json", "REJECT_MANIFEST_INVALID"),
        ("c1-invalid-utf8.json", "REJECT_MANIFEST_INVALID"),
        ("does-not-exist.json", "REJECT_MANIFEST_MISSING"),
    ] {
        let run = bin(&["manifest", "canon", &manifest(name), "--json"]);
        run.expect(4, "FAIL", code);
    }
}

#[test]
fn each_bad_manifest_is_refused_by_propose_with_its_own_code_and_nothing_written() {
    let pg = Pg::start();
    let db = pg.db();
    let before = db.snapshot();
    for (name, code) in [
        ("c1-extra-op.json", "REJECT_MANIFEST_EXTRA_OPERATION"),
        ("c1-missing-op.json", "REJECT_MANIFEST_MISSING_OPERATION"),
        (
            "c1-duplicate-op.json",
            "REJECT_MANIFEST_DUPLICATE_OPERATION",
        ),
        ("c1-wrong-protocol.json", "REJECT_MANIFEST_PROTOCOL_VERSION"),
        ("c1-wrong-carrier.json", "REJECT_MANIFEST_CARRIER"),
        ("c1-non-integer.json", "REJECT_MANIFEST_INVALID"),
        ("c1-duplicate-key.json", "REJECT_MANIFEST_INVALID"),
        ("c1-invalid-utf8.json", "REJECT_MANIFEST_INVALID"),
        ("does-not-exist.json", "REJECT_MANIFEST_MISSING"),
    ] {
        let file = manifest(name);
        for dry in [true, false] {
            let extra: &[&str] = if dry { &["--dry-run"] } else { &[] };
            let run = db.run_as("dot_c1_grant_issue", &propose_args(&file, extra));
            run.expect(4, "FAIL", code);
        }
    }
    assert_eq!(db.snapshot(), before);
}

#[test]
fn propose_refuses_what_execute_would_refuse_with_the_same_code() {
    let pg = Pg::start();
    let db = pg.db();
    let before = db.snapshot();
    let file = manifest("c1-valid.json");
    for (flag, value, code) in [
        ("--plan-ref", "bad plan", "REJECT_PLAN_REF"),
        ("--plan-ref", "", "REJECT_PLAN_REF"),
        ("--ttl", "25h", "REJECT_TTL"),
        ("--ttl", "0s", "REJECT_TTL"),
        ("--ttl", "soon", "REJECT_TTL"),
        ("--rollback-plan-ref", "", "REJECT_ROLLBACK_PLAN_MISSING"),
    ] {
        let mut args = propose_args(&file, &[]);
        let at = args.iter().position(|a| *a == flag).unwrap();
        args[at + 1] = value;
        db.run_as("dot_c1_grant_issue", &args)
            .expect(4, "FAIL", code);
    }
    assert_eq!(db.snapshot(), before);
}

#[test]
fn propose_dry_run_prints_the_apr_and_writes_nothing_with_or_without_a_database() {
    let pg = Pg::start();
    let db = pg.db();
    let before = db.snapshot();
    let file = manifest("c1-valid.json");
    let run = db.run_as(
        "dot_c1_grant_issue",
        &propose_args(&file, &["--dry-run", "--apr", "APR-P1"]),
    );
    run.expect(0, "OK", "WOULD_PROPOSE");
    let json = run.json();
    assert_eq!(json["apr"], "APR-P1");
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["payload"]["action_set"].as_array().unwrap().len(), 14);
    assert_eq!(
        json["payload"]["manifest_hash"],
        bin(&["manifest", "hash", &file]).stdout().trim()
    );
    assert_eq!(json["payload_digest"], digest(&json["payload"]));
    assert_eq!(db.snapshot(), before);

    let args = propose_args(&file, &["--dry-run", "--connect-timeout", "2s"]);
    let offline = Run::of(
        Command::new(BIN)
            .args(&args)
            .env_clear()
            .env("PGHOST", "/nonexistent"),
    );
    offline.expect(0, "OK", "WOULD_PROPOSE");
    assert!(
        offline.json()["message"]
            .as_str()
            .unwrap()
            .contains("not the live vocabulary"),
        "{offline}"
    );
}

#[test]
fn a_proposal_is_inserted_once_as_proposed_and_a_second_with_the_same_code_is_refused() {
    let pg = Pg::start();
    let db = pg.db();
    let file = manifest("c1-valid.json");
    let run = db.run_as(
        "dot_c1_grant_issue",
        &propose_args(&file, &["--apr", "APR-P2", "--session", "S-C1-ABS-001"]),
    );
    run.expect(0, "OK", "PROPOSED");
    let row = db
        .superuser()
        .query_one("SELECT status, proposed_by, action_code, session_code FROM apr_requests WHERE apr_code = 'APR-P2'", &[])
        .unwrap();
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2),
            row.get::<_, Option<String>>(3)
        ),
        (
            "proposed".into(),
            "dot_c1_grant_issue".into(),
            "authorize_build_step".into(),
            Some("S-C1-ABS-001".into())
        )
    );
    let before = db.snapshot();
    db.run_as(
        "dot_c1_grant_issue",
        &propose_args(&file, &["--apr", "APR-P2"]),
    )
    .expect(4, "FAIL", "REJECT_APR_EXISTS");
    assert_eq!(db.snapshot(), before);
    assert_eq!(db.grant_count(), 0, "propose never mints");

    let generated = db.run_as("dot_c1_grant_issue", &propose_args(&file, &[]));
    generated.expect(0, "OK", "PROPOSED");
    let code = generated.json()["apr"].as_str().unwrap().to_owned();
    assert!(code.starts_with("APR-C1-") && code.len() > 20, "{code}");
}

#[test]
fn a_proposed_apr_approved_executed_and_consumed_with_its_manifest() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let file = manifest("c1-valid.json");
    let proposed = db.run_as(
        "dot_c1_grant_issue",
        &propose_args(&file, &["--apr", "APR-E2E"]),
    );
    proposed.expect(0, "OK", "PROPOSED");
    db.run(&["execute", "--apr", "APR-E2E", "--json"])
        .expect(3, "SKIP", "REJECT_APR_NOT_APPROVED");

    let d = proposed.json()["payload_digest"]
        .as_str()
        .unwrap()
        .to_owned();
    db.vote("APR-E2E", "alice", "approve", Some(&d));
    db.vote("APR-E2E", "bob", "approve", Some(&d));
    db.sql("UPDATE apr_requests SET status = 'approved', approved_at = now() WHERE apr_code = 'APR-E2E'");
    db.run(&["execute", "--apr", "APR-E2E", "--json"])
        .expect(0, "OK", "MINTED");

    let consume = |m: &str| {
        let m = manifest(m);
        db.run(&[
            "consume",
            "--auth-code",
            "GBA-C1-APR-E2E",
            "--carrier",
            "C1",
            "--lane",
            "BUILD_PREP",
            "--target",
            "DOT_C1_VOCAB_BUILD",
            "--plan-ref",
            "LEGO1-C1-PLAN",
            "--manifest",
            &m,
            "--json",
        ])
    };
    let before = db.snapshot();
    consume("c1-semantic-rewrite.json").expect(4, "FAIL", "REJECT_AUTH_MANIFEST_MISMATCH");
    consume("c1-duplicate-op.json").expect(4, "FAIL", "REJECT_MANIFEST_DUPLICATE_OPERATION");
    consume("does-not-exist.json").expect(4, "FAIL", "REJECT_MANIFEST_MISSING");
    assert_eq!(db.snapshot(), before);
    consume("c1-valid-reformatted.json").expect(0, "OK", "CONSUMED");
    consume("c1-valid.json").expect(4, "FAIL", "REJECT_AUTH_ALREADY_CONSUMED");
}

#[test]
fn the_proposer_role_cannot_touch_grants_or_approve() {
    let pg = Pg::start();
    let db = pg.db();
    let mut role = pg.cluster.connect("dot_c1_grant_issue", &db.name).unwrap();
    for sql in [
        "SELECT * FROM governance_build_authorization",
        "INSERT INTO apr_approvals (apr_code, approver, decision) VALUES ('X', 'me', 'approve')",
        "UPDATE apr_requests SET status = 'approved'",
        "DELETE FROM apr_requests",
    ] {
        let err = role.batch_execute(sql).unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{sql}: {err}");
    }
}

/// `bin`, with `stdin` written to the command's standard input.
fn bin_stdin(args: &[&str], stdin: &[u8]) -> Run {
    use std::io::Write as _;
    let mut child = Command::new(BIN)
        .args(args)
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    // A writer of its own: the command may stop reading (too large) and
    // answer while bytes are still unwritten; a broken pipe is then expected.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&bytes);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run {
        argv: args.iter().map(|s| s.to_string()).collect(),
        output,
    }
}

#[test]
fn manifest_hash_and_canon_of_dash_read_stdin_and_agree_with_the_file() {
    let file = manifest("c1-valid.json");
    let bytes = std::fs::read(&file).unwrap();
    let from_file = bin(&["manifest", "hash", &file]);
    let from_stdin = bin_stdin(&["manifest", "hash", "-"], &bytes);
    assert_eq!(from_stdin.exit(), 0, "{from_stdin}");
    assert_eq!(from_stdin.stdout(), from_file.stdout(), "{from_stdin}");
    let canon = bin_stdin(&["manifest", "canon", "-"], &bytes);
    assert_eq!(canon.exit(), 0, "{canon}");
    assert_eq!(
        canon.output.stdout,
        bin(&["manifest", "canon", &file]).output.stdout
    );
    let json = bin_stdin(&["manifest", "hash", "-", "--json"], &bytes);
    json.expect(0, "OK", "HASHED");
    assert!(
        json.json()["message"].as_str().unwrap().contains("stdin"),
        "{json}"
    );
}

#[test]
fn manifest_hash_of_a_stdin_larger_than_the_file_cap_is_too_large() {
    // One byte over the 16 MiB cap, valid JSON up to there: only the size
    // can be what is refused.
    let cap = 16 * 1024 * 1024;
    let mut big = b"[\"".to_vec();
    big.resize(cap - 1, b'a');
    big.extend_from_slice(b"\"]");
    assert_eq!(big.len(), cap + 1);
    let run = bin_stdin(&["manifest", "hash", "-", "--json"], &big);
    run.expect(4, "FAIL", "REJECT_MANIFEST_TOO_LARGE");
    // At the cap exactly it is read (and hashed).
    big.truncate(cap - 2);
    big.extend_from_slice(b"\"]");
    assert_eq!(big.len(), cap);
    bin_stdin(&["manifest", "hash", "-", "--json"], &big).expect(0, "OK", "HASHED");
}

#[test]
fn a_duplicate_key_is_named_once_escaped_once() {
    let dir = std::env::temp_dir().join(format!("dup-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("dup.json");
    std::fs::write(&file, br#"{"a\"b":1,"a\"b":2}"#).unwrap();
    let run = bin(&["manifest", "canon", file.to_str().unwrap(), "--json"]);
    run.expect(4, "FAIL", "REJECT_MANIFEST_INVALID");
    let message = run.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.ends_with(r#"duplicate object key "a\"b""#),
        "the key is escaped once, as JSON writes it: {message}"
    );
    assert_eq!(message.matches("a\\\"b").count(), 1, "{message}");
    // The same from stdin.
    let run = bin_stdin(
        &["manifest", "canon", "-", "--json"],
        br#"{"a\"b":1,"a\"b":2}"#,
    );
    run.expect(4, "FAIL", "REJECT_MANIFEST_INVALID");
    assert!(
        run.json()["message"]
            .as_str()
            .unwrap()
            .ends_with(r#"duplicate object key "a\"b""#),
        "{run}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
