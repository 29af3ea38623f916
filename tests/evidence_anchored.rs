//! Issue 18, finding 3: the evidence log is tamper-evident against whoever
//! can write its file. Its lines are signed with the handler's key, the
//! file is checked on the open handle (no symlink, regular, not writable
//! by group or others), and every grant records under its signature the
//! chain's head at its mint, so `evidence verify --db` names a log cut
//! short or rewritten. Each test fails on the code before the fix.

mod common;
use common::*;
use dot_authorize_build_step::integrity::signing::TRUSTED_KEYS_ENV;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// A scratch directory of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "dot-abs-evidence-anchored-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `evidence verify FILE` with the cluster's trusted keys and nothing else
/// (no database), plus `extra`.
fn verify(db: &Db<'_>, log: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["evidence", "verify", log.to_str().unwrap(), "--json"];
    args.extend(extra);
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(&args)
        .env_clear()
        .env(TRUSTED_KEYS_ENV, &db.pg.keys().trusted_dir);
    Run {
        argv: args.iter().map(|s| s.to_string()).collect(),
        output: cmd.output().unwrap(),
    }
}

/// `evidence verify FILE --db`, connected as the minter role, read-only.
fn verify_db(db: &Db<'_>, log: &Path) -> Run {
    db.run(&[
        "evidence",
        "verify",
        log.to_str().unwrap(),
        "--db",
        "--json",
    ])
}

fn message(run: &Run) -> String {
    run.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn lines_of(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The SHA-256 of a line's body the way a forger recomputes it: the tool's
/// own `manifest hash` over the line without its `hash` (and its `sig`,
/// which the hash cannot cover).
fn manifest_hash(scratch: &Scratch, body: &Value) -> String {
    let file = scratch.path("body.json");
    std::fs::write(&file, body.to_string()).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["manifest", "hash", file.to_str().unwrap()])
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Rewrites the lines from `at` (0-based) on with `edit` (given the index),
/// re-chaining each: its `prev` is the line before's new hash and its
/// `hash` is recomputed with `manifest hash`. With `signer` (a key that is
/// not the handler's) each line is re-signed, its key id under the hash;
/// without, its old signature is left (the forger does not hold the key).
fn rehash_from(
    scratch: &Scratch,
    lines: &[String],
    at: usize,
    signer: Option<&dot_authorize_build_step::integrity::signing::SigningKey>,
    edit: impl Fn(usize, &mut Value),
) -> Vec<String> {
    let mut out: Vec<String> = lines[..at].to_vec();
    let mut prev: Option<String> = at.checked_sub(1).map(|i| {
        serde_json::from_str::<Value>(&lines[i]).unwrap()["hash"]
            .as_str()
            .unwrap()
            .to_owned()
    });
    for (i, line) in lines.iter().enumerate().skip(at) {
        let mut v: Value = serde_json::from_str(line).unwrap();
        edit(i, &mut v);
        if let Some(p) = &prev {
            v["prev"] = p.clone().into();
        }
        let obj = v.as_object_mut().unwrap();
        obj.remove("hash");
        let old_sig = obj.remove("sig");
        if let Some(key) = signer {
            obj.insert("key_id".into(), key.key_id().into());
        }
        let hash = manifest_hash(scratch, &Value::Object(obj.clone()));
        obj.insert("hash".into(), hash.clone().into());
        let sig = match signer {
            Some(key) => Some(
                key.sign(format!("dot-abs-evidence-v1\n{hash}").as_bytes())
                    .into(),
            ),
            None => old_sig,
        };
        if let Some(sig) = sig {
            obj.insert("sig".into(), sig);
        }
        out.push(v.to_string());
        prev = Some(hash);
    }
    out
}

fn with_log<'a>(args: &[&'a str], log: &'a str) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(["--evidence-log", log]);
    v
}

/// The attack from the issue: line 2 changed from MINTED to a refusal and
/// every later hash recomputed with the tool's own `manifest hash`. It
/// verified before; now every line is signed over its hash, so the
/// rewritten line's stale signature names it. A downgrade to unsigned v1
/// lines, a line signed by a key that is not trusted, and a verify with no
/// trusted keys are refused too.
#[test]
fn finding_3_a_rehashed_log_is_refused() {
    let db = approved("APR-RH", &valid_payload());
    let scratch = Scratch::new("rehash");
    let log = scratch.path("evidence.jsonl");
    let log_s = log.to_str().unwrap();
    db.run(&with_log(
        &["execute", "--apr", "APR-NONE", "--json"],
        log_s,
    ))
    .expect(4, "FAIL", "REJECT_APR_NOT_FOUND");
    db.run(&with_log(&["execute", "--apr", "APR-RH", "--json"], log_s))
        .expect(0, "OK", "MINTED");
    let spend = consume_args("GBA-C1-APR-RH");
    let mut spend: Vec<&str> = spend.iter().map(String::as_str).collect();
    spend.extend(["--evidence-log", log_s]);
    db.run(&spend).expect(0, "OK", "CONSUMED");
    let lines = lines_of(&log);
    assert_eq!(lines.len(), 3);
    verify(&db, &log, &[]).expect(0, "OK", "EVIDENCE_VERIFIED");

    let forged = scratch.path("forged.jsonl");
    let to_refusal = |i: usize, v: &mut Value| {
        if i == 1 {
            v["verdict"]["verdict"] = "SKIP".into();
            v["verdict"]["code"] = "REJECT_QUORUM_NOT_MET".into();
        }
    };
    write_lines(&forged, &rehash_from(&scratch, &lines, 1, None, to_refusal));
    let run = verify(&db, &forged, &[]);
    run.expect(4, "FAIL", "REJECT_EVIDENCE_BROKEN");
    assert_eq!(run.json()["line"], 2, "{run}");
    assert!(message(&run).contains("signature"), "{run}");

    // Re-signed, but by a key the verifier does not trust.
    let stranger = TempKeys::new();
    let key =
        dot_authorize_build_step::integrity::signing::load_signing_key(&stranger.files.signing_key)
            .unwrap();
    write_lines(
        &forged,
        &rehash_from(&scratch, &lines, 1, Some(&key), to_refusal),
    );
    let run = verify(&db, &forged, &[]);
    run.expect(4, "FAIL", "REJECT_EVIDENCE_BROKEN");
    assert_eq!(run.json()["line"], 2, "{run}");
    assert!(message(&run).contains(key.key_id()), "{run}");

    // Downgraded to the unsigned format: v1, no key id, no signature.
    let downgrade = |_: usize, v: &mut Value| {
        let obj = v.as_object_mut().unwrap();
        obj.remove("sig");
        obj.remove("key_id");
        obj.insert("v".into(), 1.into());
    };
    write_lines(&forged, &rehash_from(&scratch, &lines, 0, None, downgrade));
    let run = verify(&db, &forged, &[]);
    run.expect(4, "FAIL", "REJECT_EVIDENCE_BROKEN");
    assert_eq!(run.json()["line"], 1, "{run}");
    assert!(message(&run).contains("unauthenticated"), "{run}");

    // No trusted keys: nothing to check a signature against.
    Run::of(
        std::process::Command::new(BIN)
            .args(["evidence", "verify", log_s, "--json"])
            .env_clear(),
    )
    .expect(5, "ERROR", "ERROR_TRUSTED_KEYS");
}

/// A log group or others may write is refused before anything is decided:
/// nothing reaches the database, and the file is not appended to.
#[test]
fn finding_3_a_log_others_may_write_is_refused() {
    let db = approved("APR-W", &valid_payload());
    let scratch = Scratch::new("writable");
    let log = scratch.path("evidence.jsonl");
    let log_s = log.to_str().unwrap();
    for mode in [0o666, 0o620, 0o602] {
        std::fs::write(&log, b"").unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(mode)).unwrap();
        let before = db.snapshot();
        for args in [
            &["execute", "--apr", "APR-W", "--json"][..],
            &[
                "revoke", "--apr", "APR-W", "--reason", "r", "--by", "owner", "--json",
            ],
        ] {
            let run = db.run(&with_log(args, log_s));
            run.expect(5, "ERROR", "ERROR_EVIDENCE_LOG");
            assert!(message(&run).contains(&format!("{mode:04o}")), "{run}");
        }
        assert_eq!(
            db.snapshot(),
            before,
            "mode {mode:04o}: the database changed"
        );
        assert_eq!(
            std::fs::read(&log).unwrap(),
            b"",
            "mode {mode:04o}: appended to"
        );
    }
    // A new log is created 0600, and 0600 (or 0640, read-only for the
    // group) is taken.
    std::fs::remove_file(&log).unwrap();
    db.run(&with_log(
        &["execute", "--apr", "APR-W", "--dry-run", "--json"],
        log_s,
    ))
    .expect(0, "OK", "WOULD_MINT");
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o640)).unwrap();
    db.run(&with_log(&["execute", "--apr", "APR-W", "--json"], log_s))
        .expect(0, "OK", "MINTED");
    verify(&db, &log, &[]).expect(0, "OK", "EVIDENCE_VERIFIED");
}

/// A symlink as the log path, dangling or not, is refused by the open
/// itself (O_NOFOLLOW): no file is created at a dangling link's target and
/// a real target is not appended to. `evidence verify` refuses one too.
#[test]
fn finding_3_a_symlink_as_the_log_is_refused() {
    let db = approved("APR-S", &valid_payload());
    let scratch = Scratch::new("symlink");
    let before = db.snapshot();

    let nowhere = scratch.path("created-by-the-handler.jsonl");
    let dangling = scratch.path("dangling.jsonl");
    std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
    let run = db.run(&with_log(
        &["execute", "--apr", "APR-S", "--json"],
        dangling.to_str().unwrap(),
    ));
    run.expect(5, "ERROR", "ERROR_EVIDENCE_LOG");
    assert!(message(&run).contains("symbolic link"), "{run}");
    assert!(
        !nowhere.exists(),
        "the handler created the file a dangling link names"
    );

    let real = scratch.path("real.jsonl");
    std::fs::write(&real, b"").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = scratch.path("link.jsonl");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let run = db.run(&with_log(
        &["execute", "--apr", "APR-S", "--json"],
        link.to_str().unwrap(),
    ));
    run.expect(5, "ERROR", "ERROR_EVIDENCE_LOG");
    assert_eq!(
        std::fs::read(&real).unwrap(),
        b"",
        "appended through a symlink"
    );
    assert_eq!(
        db.snapshot(),
        before,
        "a refused log let the command decide"
    );

    // The real file verifies; the same file through the link does not.
    db.run(&with_log(
        &["execute", "--apr", "APR-S", "--json"],
        real.to_str().unwrap(),
    ))
    .expect(0, "OK", "MINTED");
    verify(&db, &real, &[]).expect(0, "OK", "EVIDENCE_VERIFIED");
    let run = verify(&db, &link, &[]);
    run.expect(5, "ERROR", "ERROR_EVIDENCE_LOG");
    assert!(message(&run).contains("symbolic link"), "{run}");
}

/// Two grants minted with a log; the log cut to before the second MINTED
/// line still chains and verifies alone, but `evidence verify --db` names
/// the second grant (its anchor is there, its MINTED line is not). A log
/// cut before the first mint names both; the intact log verifies.
#[test]
fn finding_3_a_log_cut_short_is_named_by_verify_against_the_database() {
    let db = approved("APR-C1", &valid_payload());
    let mut second = valid_payload();
    second["plan_ref"] = "LEGO1-C1-PLAN-2".into();
    db.approved_apr("APR-C2", &second);
    let scratch = Scratch::new("cut");
    let log = scratch.path("evidence.jsonl");
    let log_s = log.to_str().unwrap();
    db.run(&with_log(
        &["execute", "--apr", "APR-NONE", "--json"],
        log_s,
    ))
    .expect(4, "FAIL", "REJECT_APR_NOT_FOUND");
    db.run(&with_log(&["execute", "--apr", "APR-C1", "--json"], log_s))
        .expect(0, "OK", "MINTED");
    db.run(&with_log(
        &["execute", "--apr", "APR-C1", "--dry-run", "--json"],
        log_s,
    ))
    .expect(0, "OK", "ALREADY_MINTED");
    let minted = db.run(&with_log(&["execute", "--apr", "APR-C2", "--json"], log_s));
    minted.expect(0, "OK", "MINTED");
    db.run(&with_log(
        &["execute", "--apr", "APR-NONE", "--json"],
        log_s,
    ))
    .expect(4, "FAIL", "REJECT_APR_NOT_FOUND");
    let lines = lines_of(&log);
    assert_eq!(lines.len(), 5);

    // Each grant holds, under its signature, the head before its mint.
    let heads: Vec<(String, Option<String>)> = db
        .superuser()
        .query(
            "SELECT auth_code, evidence_head FROM governance_build_authorization ORDER BY auth_code",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let hash_of = |i: usize| -> String {
        serde_json::from_str::<Value>(&lines[i]).unwrap()["hash"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        heads,
        [
            ("GBA-C1-APR-C1".to_owned(), Some(hash_of(0))),
            ("GBA-C1-APR-C2".to_owned(), Some(hash_of(2))),
        ]
    );

    // Intact: verifies against the database, and says so.
    let run = verify_db(&db, &log);
    run.expect(0, "OK", "EVIDENCE_VERIFIED");
    assert_eq!(run.json()["grants_checked"], 2, "{run}");
    // Without --db the verdict says the tail was not checked.
    let alone = verify(&db, &log, &[]);
    alone.expect(0, "OK", "EVIDENCE_VERIFIED");
    assert!(
        message(&alone).contains("not checked against the database"),
        "{alone}"
    );

    // Cut before the second MINTED line: a valid chain of 3 lines alone,
    // named as cut short against the database.
    let cut = scratch.path("cut.jsonl");
    write_lines(&cut, &lines[..3]);
    verify(&db, &cut, &[]).expect(0, "OK", "EVIDENCE_VERIFIED");
    let run = verify_db(&db, &cut);
    run.expect(4, "FAIL", "REJECT_EVIDENCE_BROKEN");
    assert!(message(&run).contains("GBA-C1-APR-C2"), "{run}");
    assert!(!message(&run).contains("GBA-C1-APR-C1"), "{run}");
    assert!(message(&run).contains("cut short or rewritten"), "{run}");

    // Cut before the first mint: both grants are named.
    write_lines(&cut, &lines[..1]);
    let run = verify_db(&db, &cut);
    run.expect(4, "FAIL", "REJECT_EVIDENCE_BROKEN");
    assert!(message(&run).contains("GBA-C1-APR-C1"), "{run}");
    assert!(message(&run).contains("GBA-C1-APR-C2"), "{run}");

    // Emptied: the same.
    write_lines(&cut, &[]);
    let run = verify_db(&db, &cut);
    run.expect(4, "FAIL", "REJECT_EVIDENCE_BROKEN");
    assert!(message(&run).contains("GBA-C1-APR-C1"), "{run}");

    // Cutting only the trailing refusal is not detectable (documented).
    write_lines(&cut, &lines[..4]);
    verify_db(&db, &cut).expect(0, "OK", "EVIDENCE_VERIFIED");

    // The anchor is under the grant's signature: moved by a superuser past
    // the guard, the grant is forged, and no longer counted by --db.
    db.sql(&format!(
        "SET session_replication_role = replica; \
         UPDATE governance_build_authorization SET evidence_head = '{}' \
          WHERE auth_code = 'GBA-C1-APR-C2'; \
         SET session_replication_role = origin;",
        hash_of(4)
    ));
    db.run(&["execute", "--apr", "APR-C2", "--json"])
        .expect(4, "FAIL", "REJECT_GRANT_FORGED");
    let run = verify_db(&db, &log);
    run.expect(0, "OK", "EVIDENCE_VERIFIED");
    assert_eq!(run.json()["grants_checked"], 1, "{run}");
    assert_eq!(
        run.json()["grants_not_signed"],
        serde_json::json!(["GBA-C1-APR-C2"]),
        "{run}"
    );
}
