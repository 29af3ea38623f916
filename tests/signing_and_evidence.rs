//! Signed grants and the evidence chain, end to end through the binary:
//! a row no trusted key signed is refused wherever a grant is trusted, and
//! every decision leaves a signed, hash-chained line no one can edit
//! unnoticed.

mod common;
use common::*;
use dot_authorize_build_step::disposable::fixtures::KeyFiles;
use dot_authorize_build_step::integrity::signing::{SIGNING_KEY_ENV, TRUSTED_KEYS_ENV};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The marker set by a superuser, and a row perfect in every column the
/// handler checks: only the signature is missing.
const FORGE: &str = "SELECT set_config('dot.canonical_writer', 'dot-authorize-build-step', false); \
    INSERT INTO governance_build_authorization (auth_code, request_ref, status, carrier, lane, target, plan_ref, \
      manifest_hash, protocol_version, action_set, scope, apr_digest, granted_at, expires_at, granted_by, rollback_plan_ref) \
    SELECT 'GBA-C1-APR-F', 'APR-F', 'active', 'C1', 'BUILD_PREP', 'DOT_C1_VOCAB_BUILD', p->>'plan_ref', p->>'manifest_hash', 'cser-v1', \
      ARRAY(SELECT jsonb_array_elements_text(p->'action_set')), \
      jsonb_build_object('carrier', 'C1', 'target', 'DOT_C1_VOCAB_BUILD', 'lane', 'BUILD_PREP', 'mode', 'DRY_RUN', \
        'corpus', 'SANDBOX', 'plan_ref', p->>'plan_ref', 'manifest_hash', p->>'manifest_hash', 'protocol_version', 'cser-v1', \
        'action_set', p->'action_set', 'single_use', true, 'commit_allowed', false, 'requires_sovereign_esign', false), \
      $DIGEST$, now(), now() + make_interval(secs => (p->>'ttl_seconds')::int), 'dot-apr-execute:authorize_build_step', \
      p->>'rollback_plan_ref' \
    FROM (SELECT proposed_action AS p FROM apr_requests WHERE apr_code = 'APR-F') a; \
    SELECT set_config('dot.canonical_writer', '', false);";

fn forge(db: &Db<'_>) {
    let payload = valid_payload();
    db.approved_apr("APR-F", &payload);
    db.sql(&FORGE.replace("$DIGEST$", &format!("'{}'", digest(&payload))));
}

fn consume_f(db: &Db<'_>) -> Run {
    let args = consume_args("GBA-C1-APR-F");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    db.run(&args)
}

#[test]
fn a_superuser_forged_grant_is_refused_by_consume_execute_and_revoke_and_fails_readback() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    forge(&db);
    assert_eq!(db.grant_count(), 1);
    let before = db.snapshot();
    let consumed = consume_f(&db);
    consumed.expect(4, "FAIL", "REJECT_GRANT_FORGED");
    assert!(
        consumed.json()["message"]
            .as_str()
            .unwrap()
            .contains("no signature"),
        "{consumed}"
    );
    db.run(&["execute", "--apr", "APR-F", "--json"])
        .expect(4, "FAIL", "REJECT_GRANT_FORGED");
    db.run(&["execute", "--apr", "APR-F", "--dry-run", "--json"])
        .expect(4, "FAIL", "REJECT_GRANT_FORGED");
    assert_eq!(db.snapshot(), before, "a forged row moved");
    let rb = db.run(&["readback", "--apr", "APR-F", "--json"]);
    rb.expect(4, "FAIL", "READBACK_FAILED");
    let checks = rb.json()["checks"].as_array().unwrap().clone();
    let signed = checks
        .iter()
        .find(|c| c["check"] == "signed by a trusted key")
        .expect("a signature line");
    assert_eq!(signed["pass"], false, "{rb}");
    // Everything else about the row looks right: only the signature fails.
    let failing: Vec<_> = checks.iter().filter(|c| c["pass"] == false).collect();
    assert!(
        failing
            .iter()
            .all(|c| c["check"] == "signed by a trusted key"
                || c["check"] == "its quorum of signed approvals verifies again"
                || c["check"].as_str().unwrap().starts_with("APR ")),
        "{rb}"
    );
    // The owner retires it (issue 18, finding 4): revoking only lowers
    // authority, and the verdict says the row was forged.
    let revoked = db.run(&[
        "revoke", "--apr", "APR-F", "--reason", "r", "--by", "owner", "--json",
    ]);
    revoked.expect(0, "OK", "REVOKED");
    assert_eq!(
        revoked.json()["forged"],
        "it carries no signature",
        "{revoked}"
    );
    assert_eq!(db.grant_status("GBA-C1-APR-F").as_deref(), Some("revoked"));
}

fn with_keys(cmd: &mut std::process::Command, signing: &Path, trusted: &Path) {
    cmd.env(SIGNING_KEY_ENV, signing)
        .env(TRUSTED_KEYS_ENV, trusted);
}

fn run_with(db: &Db<'_>, signing: &Path, trusted: &Path, args: &[&str]) -> Run {
    let mut cmd = db.command_as(
        dot_authorize_build_step::disposable::fixtures::role_for(args),
        args,
    );
    with_keys(&mut cmd, signing, trusted);
    Run {
        argv: args.iter().map(|s| s.to_string()).collect(),
        output: cmd.output().unwrap(),
    }
}

/// A trusted-keys directory holding the public halves of `keys`.
fn trust_dir(name: &str, keys: &[&KeyFiles]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dot-abs-trust-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for k in keys {
        let file = format!("{}.pub", k.key_id);
        std::fs::copy(k.trusted_dir.join(&file), dir.join(&file)).unwrap();
    }
    dir
}

#[test]
fn rotation_keeps_old_grants_verifiable_and_an_untrusted_key_is_refused() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let old = TempKeys::new();
    let new = TempKeys::new();
    let only_old = trust_dir("old", &[&old.files]);
    let both = trust_dir("both", &[&old.files, &new.files]);
    let only_new = trust_dir("new", &[&new.files]);

    // A key that is not trusted cannot even mint.
    db.approved_apr("APR-R1", &valid_payload());
    let refused = run_with(
        &db,
        &new.files.signing_key,
        &only_old,
        &["execute", "--apr", "APR-R1", "--json"],
    );
    refused.expect(5, "ERROR", "ERROR_SIGNING_KEY");
    assert_eq!(db.grant_count(), 0);

    // Minted with the old key, before the rotation.
    run_with(
        &db,
        &old.files.signing_key,
        &only_old,
        &["execute", "--apr", "APR-R1", "--json"],
    )
    .expect(0, "OK", "MINTED");
    // Rotation: the new key signs, both are trusted; the old grant verifies.
    let spend = consume_args("GBA-C1-APR-R1");
    let spend: Vec<&str> = spend.iter().map(String::as_str).collect();
    let rerun = run_with(
        &db,
        &new.files.signing_key,
        &both,
        &["execute", "--apr", "APR-R1", "--json"],
    );
    rerun.expect(0, "OK", "ALREADY_MINTED");
    // Once the old key is no longer trusted, its grants are refused.
    let before = db.snapshot();
    let untrusted = run_with(&db, &new.files.signing_key, &only_new, &spend);
    untrusted.expect(4, "FAIL", "REJECT_GRANT_FORGED");
    assert!(
        untrusted.json()["message"]
            .as_str()
            .unwrap()
            .contains(&old.files.key_id),
        "{untrusted}"
    );
    assert_eq!(db.snapshot(), before);
    run_with(&db, &new.files.signing_key, &both, &spend).expect(0, "OK", "CONSUMED");

    // Grants minted after the rotation carry the new key id.
    let mut other = valid_payload();
    other["plan_ref"] = "LEGO1-C1-PLAN-2".into();
    db.approved_apr("APR-R2", &other);
    let minted = run_with(
        &db,
        &new.files.signing_key,
        &both,
        &["execute", "--apr", "APR-R2", "--json"],
    );
    minted.expect(0, "OK", "MINTED");
    assert_eq!(minted.json()["key_id"], new.files.key_id.as_str());
    let key_ids: Vec<String> = db
        .superuser()
        .query(
            "SELECT key_id FROM governance_build_authorization ORDER BY auth_code",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        key_ids,
        [old.files.key_id.clone(), new.files.key_id.clone()]
    );
    for d in [only_old, both, only_new] {
        std::fs::remove_dir_all(d).ok();
    }
}

#[test]
fn a_signing_key_others_can_read_or_that_is_not_a_file_is_refused_before_anything_is_written() {
    let db = approved("APR-K", &valid_payload());
    let keys = TempKeys::new();
    let key = &keys.files.signing_key;
    let trusted = &keys.files.trusted_dir;
    let before = db.snapshot();
    let args = ["execute", "--apr", "APR-K", "--json"];
    for mode in [0o640, 0o604, 0o644, 0o660] {
        std::fs::set_permissions(key, std::fs::Permissions::from_mode(mode)).unwrap();
        let run = run_with(&db, key, trusted, &args);
        run.expect(5, "ERROR", "ERROR_SIGNING_KEY");
        assert!(
            run.json()["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{mode:04o}")),
            "{run}"
        );
    }
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A key, or trusted keys, belonging to another user. Only root can give
    // a file away, so this part runs where the suite runs as root (CI and
    // the project's machine); elsewhere the kernel already forbids it.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let chown =
            |path: &Path, uid: u32| std::os::unix::fs::chown(path, Some(uid), None).unwrap();
        for (file, code) in [(key, "ERROR_SIGNING_KEY"), (trusted, "ERROR_TRUSTED_KEYS")] {
            chown(file, 4242);
            let run = run_with(&db, key, trusted, &args);
            run.expect(5, "ERROR", code);
            assert!(
                run.json()["message"]
                    .as_str()
                    .unwrap()
                    .contains("owned by uid 4242"),
                "{run}"
            );
            chown(file, 0);
        }
    }
    // Not a regular file, missing, or absent altogether.
    let fifo = trusted.join("fifo.key");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    run_with(&db, &fifo, trusted, &args).expect(5, "ERROR", "ERROR_SIGNING_KEY");
    run_with(&db, &trusted.join("missing.key"), trusted, &args).expect(
        5,
        "ERROR",
        "ERROR_SIGNING_KEY",
    );
    let mut cmd = db.command_as("dot_authorize_build_step", &args);
    cmd.env_remove(SIGNING_KEY_ENV);
    let no_key = Run::of(&mut cmd);
    no_key.expect(5, "ERROR", "ERROR_SIGNING_KEY");
    // Trusted keys others may write are refused too, for every command.
    std::fs::set_permissions(trusted, std::fs::Permissions::from_mode(0o777)).unwrap();
    run_with(&db, key, trusted, &args).expect(5, "ERROR", "ERROR_TRUSTED_KEYS");
    std::fs::set_permissions(trusted, std::fs::Permissions::from_mode(0o700)).unwrap();
    let spend = consume_args("GBA-C1-APR-K");
    let spend: Vec<&str> = spend.iter().map(String::as_str).collect();
    let mut cmd = db.command_as("dot_c1_build_consumer", &spend);
    cmd.env_remove(TRUSTED_KEYS_ENV);
    Run::of(&mut cmd).expect(5, "ERROR", "ERROR_TRUSTED_KEYS");
    assert_eq!(db.snapshot(), before, "a refused key wrote something");
    // The same key, now 0600 and trusted, mints.
    run_with(&db, key, trusted, &args).expect(0, "OK", "MINTED");
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites() {
    let dir = std::env::temp_dir().join(format!("dot-abs-keygen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |args: &[&str]| Run {
        argv: args.iter().map(|s| s.to_string()).collect(),
        output: std::process::Command::new(BIN)
            .args(args)
            .env_clear()
            .output()
            .unwrap(),
    };
    let out = dir.to_str().unwrap();
    let made = run(&["keygen", "--out", out, "--json"]);
    made.expect(0, "OK", "KEY_GENERATED");
    let id = made.json()["key_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 16);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.join("signing.key")), 0o600);
    assert_eq!(mode(&dir), 0o700);
    let public = std::fs::read_to_string(dir.join(format!("{id}.pub"))).unwrap();
    assert_eq!(
        public.trim_end(),
        made.json()["public_key"].as_str().unwrap()
    );
    assert!(public.starts_with("dot-abs-ed25519-v1 ") && public.contains(&id));
    let secret = std::fs::read(dir.join("signing.key")).unwrap();
    let again = run(&["keygen", "--out", out, "--json"]);
    again.expect(5, "ERROR", "ERROR_SIGNING_KEY");
    assert!(again.json()["message"]
        .as_str()
        .unwrap()
        .contains("never overwrites"));
    assert_eq!(std::fs::read(dir.join("signing.key")).unwrap(), secret);
    assert!(!made.stdout().contains(
        &String::from_utf8_lossy(&secret)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    ));
    std::fs::remove_dir_all(&dir).ok();
}

fn evidence_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "dot-abs-evidence-{}-{name}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&p);
    p
}

/// `evidence verify` with the handler's trusted keys (every line must be
/// signed by one) and nothing else.
fn verify(path: &Path) -> Run {
    Run::of(
        std::process::Command::new(BIN)
            .args(["evidence", "verify", path.to_str().unwrap(), "--json"])
            .env_clear()
            .env(TRUSTED_KEYS_ENV, Pg::start().keys().trusted_dir),
    )
}

#[test]
fn sixty_four_concurrent_handlers_leave_one_valid_chain_of_sixty_four_lines() {
    let db = approved("APR-E", &valid_payload());
    let log = evidence_path("race");
    let log_s = log.to_str().unwrap();
    let runs = spawn_all(
        &db,
        64,
        &[
            "execute",
            "--apr",
            "APR-E",
            "--json",
            "--evidence-log",
            log_s,
        ],
        Some(db.gate_apr("APR-E")),
    );
    let counts = tally(&runs);
    assert_eq!(counts.get("MINTED"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("ALREADY_MINTED"), Some(&63), "{counts:?}");
    let v = verify(&log);
    v.expect(0, "OK", "EVIDENCE_VERIFIED");
    assert_eq!(v.json()["lines"], 64);
    // Every run's verdict names its own line; together they are 1..=64.
    let mut lines: Vec<u64> = runs
        .iter()
        .map(|r| r.json()["evidence_line"].as_u64().unwrap())
        .collect();
    lines.sort();
    assert_eq!(lines, (1..=64).collect::<Vec<_>>());
    let text = std::fs::read_to_string(&log).unwrap();
    let minted: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["verdict"]["code"] == "MINTED")
        .collect();
    assert_eq!(minted.len(), 1);
    assert_eq!(minted[0]["command"], "execute");
    assert_eq!(minted[0]["db_user"], "dot_authorize_build_step");
    assert!(minted[0]["os_uid"].is_u64());
    std::fs::remove_file(&log).ok();
}

#[test]
fn every_decision_refusals_and_dry_runs_included_is_logged_and_any_edit_is_found() {
    let db = approved("APR-L", &valid_payload());
    let log = evidence_path("edits");
    let log_s = log.to_str().unwrap();
    let mut spend = consume_args("GBA-C1-APR-L");
    spend.extend(["--evidence-log".into(), log_s.into()]);
    let spend: Vec<&str> = spend.iter().map(String::as_str).collect();
    let before = db.snapshot();
    db.run(&[
        "execute",
        "--apr",
        "APR-NONE",
        "--json",
        "--evidence-log",
        log_s,
    ])
    .expect(4, "FAIL", "REJECT_APR_NOT_FOUND");
    db.run(&[
        "execute",
        "--apr",
        "APR-L",
        "--dry-run",
        "--json",
        "--evidence-log",
        log_s,
    ])
    .expect(0, "OK", "WOULD_MINT");
    assert_eq!(
        db.snapshot(),
        before,
        "a refusal or dry run wrote to the database"
    );
    db.run(&[
        "execute",
        "--apr",
        "APR-L",
        "--json",
        "--evidence-log",
        log_s,
    ])
    .expect(0, "OK", "MINTED");
    db.run(&spend).expect(0, "OK", "CONSUMED");
    db.run(&spend)
        .expect(4, "FAIL", "REJECT_AUTH_ALREADY_CONSUMED");
    // The environment variable works as the flag does.
    let mut cmd = db.command_as(
        "dot_authorize_build_step",
        &[
            "revoke", "--apr", "APR-L", "--reason", "r", "--by", "owner", "--json",
        ],
    );
    cmd.env(dot_authorize_build_step::integrity::evidence::ENV, &log);
    Run::of(&mut cmd).expect(4, "FAIL", "REJECT_AUTH_ALREADY_CONSUMED");
    // Commands that decide nothing leave no line.
    db.run(&[
        "readback",
        "--apr",
        "APR-L",
        "--json",
        "--evidence-log",
        log_s,
    ]);
    let v = verify(&log);
    v.expect(0, "OK", "EVIDENCE_VERIFIED");
    assert_eq!(v.json()["lines"], 6);
    let text = std::fs::read_to_string(&log).unwrap();
    let codes: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["verdict"]["code"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        codes,
        [
            "REJECT_APR_NOT_FOUND",
            "WOULD_MINT",
            "MINTED",
            "CONSUMED",
            "REJECT_AUTH_ALREADY_CONSUMED",
            "REJECT_AUTH_ALREADY_CONSUMED"
        ]
    );

    let lines: Vec<&str> = text.lines().collect();
    let broken_at = |name: &str, edited: Vec<String>| -> u64 {
        let path = evidence_path(name);
        std::fs::write(
            &path,
            edited.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
        let v = verify(&path);
        std::fs::remove_file(&path).ok();
        assert_eq!(v.exit(), 4, "{name}: {v}");
        assert_eq!(v.code(), "REJECT_EVIDENCE_BROKEN", "{name}");
        v.json()["line"].as_u64().unwrap()
    };
    let owned = || lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    for i in 0..lines.len() {
        let mut edited = owned();
        edited[i] = edited[i]
            .replace("\"dot_authorize_build_step\"", "\"someone_else\"")
            .replace("\"dot_c1_build_consumer\"", "\"someone_else\"");
        assert_ne!(edited[i], lines[i]);
        assert_eq!(
            broken_at("edit", edited),
            i as u64 + 1,
            "edit of line {}",
            i + 1
        );
        let mut deleted = owned();
        deleted.remove(i);
        if i + 1 < lines.len() {
            assert_eq!(
                broken_at("delete", deleted),
                i as u64 + 1,
                "deletion of line {}",
                i + 1
            );
        }
        if i + 1 < lines.len() {
            let mut swapped = owned();
            swapped.swap(i, i + 1);
            assert_eq!(
                broken_at("swap", swapped),
                i as u64 + 1,
                "swap of lines {} and {}",
                i + 1,
                i + 2
            );
        }
    }
    std::fs::remove_file(&log).ok();
}

#[test]
fn an_evidence_log_that_cannot_take_the_line_stops_the_command_before_it_decides() {
    let db = approved("APR-T", &valid_payload());
    let before = db.snapshot();
    // A directory, and a log whose last line was torn by a crash.
    let dir = std::env::temp_dir();
    db.run(&[
        "execute",
        "--apr",
        "APR-T",
        "--json",
        "--evidence-log",
        dir.to_str().unwrap(),
    ])
    .expect(5, "ERROR", "ERROR_EVIDENCE_LOG");
    let torn = evidence_path("torn");
    std::fs::write(&torn, b"{\"line\":1,\"hash\":\"ab").unwrap();
    let run = db.run(&[
        "execute",
        "--apr",
        "APR-T",
        "--json",
        "--evidence-log",
        torn.to_str().unwrap(),
    ]);
    run.expect(5, "ERROR", "ERROR_EVIDENCE_LOG");
    assert!(
        run.json()["message"]
            .as_str()
            .unwrap()
            .contains("incomplete"),
        "{run}"
    );
    assert_eq!(db.snapshot(), before);
    std::fs::remove_file(&torn).ok();
}

#[test]
fn evidence_verify_of_a_fifo_or_a_directory_is_an_error_at_once() {
    let fifo = evidence_path("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // Bounded: a reader that blocks on the FIFO is killed and fails here.
    let run = run_bounded(
        std::process::Command::new(BIN)
            .args(["evidence", "verify", fifo.to_str().unwrap(), "--json"])
            .env_clear(),
        std::time::Duration::from_secs(5),
    );
    run.expect(5, "ERROR", "ERROR_EVIDENCE_LOG");
    assert!(
        run.json()["message"].as_str().unwrap().contains("FIFO"),
        "{run}"
    );
    verify(&std::env::temp_dir()).expect(5, "ERROR", "ERROR_EVIDENCE_LOG");
    std::fs::remove_file(&fifo).ok();
}
