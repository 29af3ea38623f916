//! Issue 21: bulk revocation (`revoke --plan | --key-id | --forged`) and
//! `keys`. A bulk revoke lists its set with --dry-run, revokes only with
//! `--expect N` (the count the dry run showed), all or none in one
//! transaction, one evidence line per grant; a set that changed in between
//! is refused with nothing written. Each test failed on main (no such
//! options, no such command).
mod common;
use common::*;
use dot_authorize_build_step::disposable::fixtures::HANDLER_ROLE;
use dot_authorize_build_step::integrity::signing::{SIGNING_KEY_ENV, TRUSTED_KEYS_ENV};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// A valid payload for its own plan.
fn payload_for(plan: &str) -> Value {
    let mut p = valid_payload();
    p["plan_ref"] = plan.into();
    p
}

/// A revoke with the owner's reason and name, as the handler role.
fn revoke(db: &Db<'_>, selector: &[&str], extra: &[&str]) -> Run {
    let mut argv = vec!["revoke"];
    argv.extend_from_slice(selector);
    argv.extend_from_slice(&["--reason", "bulk test", "--by", "owner", "--json"]);
    argv.extend_from_slice(extra);
    db.run(&argv)
}

/// `consume` of a grant minted from `payload_for(plan)`.
fn consume(db: &Db<'_>, auth: &str, plan: &str) -> Run {
    let vocabulary: Vec<String> = VOCABULARY.iter().map(|s| s.to_string()).collect();
    let mut argv =
        dot_authorize_build_step::disposable::cases::consume_argv(auth, plan, &vocabulary);
    argv.extend(["--by".into(), "c1-build".into(), "--json".into()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    db.run(&argv)
}

/// Plants an unsigned active row for APR `apr` and plan LEGO1-C1-PLAN, as
/// a minter login could (issue 18, finding 4).
fn plant_forged(db: &Db<'_>, apr: &str) {
    let mut minter = db.pg.cluster.connect(HANDLER_ROLE, &db.name).unwrap();
    minter
        .batch_execute(&format!(
            "BEGIN; {MARKER}; {}; COMMIT",
            forged_insert(apr, "24 hours")
        ))
        .unwrap();
}

fn codes(v: &Value, field: &str) -> Vec<String> {
    v[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
        .iter()
        .map(|g| match g {
            Value::String(s) => s.clone(),
            other => other["auth_code"].as_str().unwrap().to_owned(),
        })
        .collect()
}

fn evidence_lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn revoke_plan_lists_first_then_revokes_every_grant_of_the_plan_in_one_go_with_a_line_each() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    plant_forged(&db, "APR-BP0");
    db.mint_for_plan("APR-BP1", "LEGO1-C1-PLAN");
    db.mint_for_plan("APR-BP2", "OTHER-PLAN");

    // The dry run lists both grants of the plan and writes nothing.
    let before = db.snapshot();
    let dry = revoke(&db, &["--plan", "LEGO1-C1-PLAN", "--dry-run"], &[]);
    dry.expect(0, "OK", "WOULD_REVOKE");
    let listed = dry.json();
    assert_eq!(listed["count"], 2, "{dry}");
    assert_eq!(
        codes(&listed, "grants"),
        ["GBA-C1-APR-BP0", "GBA-C1-APR-BP1"]
    );
    for g in listed["grants"].as_array().unwrap() {
        for field in ["auth_code", "apr", "plan_ref", "key_id", "expires_at"] {
            assert!(g.get(field).is_some(), "{field} missing: {g}");
        }
    }
    assert_eq!(listed["grants"][0]["signature"], "FORGED");
    assert_eq!(listed["grants"][1]["signature"], "verified");
    assert_eq!(db.snapshot(), before);
    // The human form shows the same set as a table.
    let human = db.run(&[
        "revoke",
        "--plan",
        "LEGO1-C1-PLAN",
        "--dry-run",
        "--reason",
        "r",
        "--by",
        "owner",
    ]);
    assert_eq!(human.exit(), 0, "{human}");
    let text = human.stdout();
    assert!(
        text.contains("GBA-C1-APR-BP0")
            && text.contains("GBA-C1-APR-BP1")
            && text.contains("FORGED"),
        "{human}"
    );
    assert!(text.contains("OK WOULD_REVOKE"), "{human}");

    // Without --expect a bulk run is refused before anything is read.
    let bare = revoke(&db, &["--plan", "LEGO1-C1-PLAN"], &[]);
    assert_eq!(bare.exit(), 2, "{bare}");
    assert!(bare.stderr().contains("--expect"), "{bare}");
    assert_eq!(db.snapshot(), before);

    // With the count the dry run showed: both revoked, one evidence line each.
    let dir = std::env::temp_dir().join(format!("dot-abs-bulk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("evidence.jsonl");
    let logged = log.to_str().unwrap();
    let done = revoke(
        &db,
        &["--plan", "LEGO1-C1-PLAN"],
        &["--expect", "2", "--evidence-log", logged],
    );
    done.expect(0, "OK", "REVOKED");
    let v = done.json();
    assert_eq!(codes(&v, "revoked"), ["GBA-C1-APR-BP0", "GBA-C1-APR-BP1"]);
    for code in ["GBA-C1-APR-BP0", "GBA-C1-APR-BP1"] {
        assert_eq!(db.grant_status(code).as_deref(), Some("revoked"));
    }
    assert_eq!(
        db.grant_status("GBA-C1-APR-BP2").as_deref(),
        Some("active"),
        "another plan's grant is untouched"
    );
    let lines = evidence_lines(&log);
    let per_grant: Vec<&Value> = lines
        .iter()
        .filter(|l| l["verdict"]["auth_code"].is_string())
        .collect();
    assert_eq!(per_grant.len(), 2, "{lines:#?}");
    for (line, code) in per_grant.iter().zip(["GBA-C1-APR-BP0", "GBA-C1-APR-BP1"]) {
        assert_eq!(line["command"], "revoke");
        assert_eq!(line["verdict"]["code"], "REVOKED");
        assert_eq!(line["verdict"]["auth_code"], code);
        assert_eq!(line["verdict"]["revoked_by"], "owner");
        assert_eq!(line["verdict"]["selector"], "--plan LEGO1-C1-PLAN");
    }
    assert!(per_grant[0]["verdict"]["forged"].is_string());
    assert_eq!(
        lines.last().unwrap()["verdict"]["count"],
        2,
        "the bulk verdict closes the lines"
    );
    // The chain is whole.
    db.run(&["evidence", "verify", logged, "--json"])
        .expect(0, "OK", "EVIDENCE_VERIFIED");

    // A bulk-revoked grant cannot be spent.
    let before = db.snapshot();
    consume(&db, "GBA-C1-APR-BP1", "LEGO1-C1-PLAN").expect(4, "FAIL", "REJECT_AUTH_REVOKED");
    // Nothing is left to revoke, and the dry run says so.
    revoke(&db, &["--plan", "LEGO1-C1-PLAN", "--dry-run"], &[]).expect(
        0,
        "OK",
        "NOTHING_TO_REVOKE",
    );
    assert_eq!(db.snapshot(), before);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_grant_minted_between_the_dry_run_and_the_run_makes_the_run_refuse_with_nothing_written() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    // 0 -> 1: the dry run sees no grant of the plan ...
    let dry = revoke(&db, &["--plan", "RACE-PLAN", "--dry-run"], &[]);
    dry.expect(0, "OK", "NOTHING_TO_REVOKE");
    assert_eq!(dry.json()["count"], 0);
    // ... a grant is minted for it before the run ...
    db.mint_for_plan("APR-RACE1", "RACE-PLAN");
    // ... and the run that expects what the dry run showed refuses.
    let before = db.snapshot();
    let refused = revoke(&db, &["--plan", "RACE-PLAN"], &["--expect", "0"]);
    refused.expect(4, "FAIL", "REJECT_BULK_MISMATCH");
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("GBA-C1-APR-RACE1"),
        "the refusal names what it would have revoked: {refused}"
    );
    assert_eq!(refused.json()["expected"], 0);
    assert_eq!(db.snapshot(), before);

    // 1 -> 2: the dry run sees one (a planted row) ...
    plant_forged(&db, "APR-RACE2");
    let dry = revoke(&db, &["--plan", "LEGO1-C1-PLAN", "--dry-run"], &[]);
    dry.expect(0, "OK", "WOULD_REVOKE");
    assert_eq!(dry.json()["count"], 1);
    // ... a lawful grant for the same plan is minted in between ...
    db.mint_for_plan("APR-RACE3", "LEGO1-C1-PLAN");
    let before = db.snapshot();
    revoke(&db, &["--plan", "LEGO1-C1-PLAN"], &["--expect", "1"]).expect(
        4,
        "FAIL",
        "REJECT_BULK_MISMATCH",
    );
    assert_eq!(db.snapshot(), before, "not one of the two was revoked");
    assert_eq!(
        db.grant_status("GBA-C1-APR-RACE3").as_deref(),
        Some("active")
    );
    // A dry run with --expect checks the count too.
    revoke(
        &db,
        &["--plan", "LEGO1-C1-PLAN", "--dry-run"],
        &["--expect", "1"],
    )
    .expect(4, "FAIL", "REJECT_BULK_MISMATCH");
    // Counted again, the run goes through.
    revoke(&db, &["--plan", "LEGO1-C1-PLAN"], &["--expect", "2"]).expect(0, "OK", "REVOKED");
    assert_eq!(
        db.grant_status("GBA-C1-APR-RACE3").as_deref(),
        Some("revoked")
    );
}

/// A trusted-keys directory holding the public halves of `keys`.
fn trust_dir(
    name: &str,
    keys: &[&dot_authorize_build_step::disposable::fixtures::KeyFiles],
) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("dot-abs-bulk-trust-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for k in keys {
        let file = format!("{}.pub", k.key_id);
        std::fs::copy(k.trusted_dir.join(&file), dir.join(&file)).unwrap();
    }
    dir
}

fn run_with(db: &Db<'_>, signing: &Path, trusted: &Path, args: &[&str]) -> Run {
    let mut cmd = db.command_as(
        dot_authorize_build_step::disposable::fixtures::role_for(args),
        args,
    );
    cmd.env(SIGNING_KEY_ENV, signing)
        .env(TRUSTED_KEYS_ENV, trusted);
    Run {
        argv: args.iter().map(|s| s.to_string()).collect(),
        output: cmd.output().unwrap(),
    }
}

#[test]
fn revoke_key_id_retires_every_grant_of_a_leaked_key_and_leaves_other_keys_grants_active() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let kept = TempKeys::new();
    let leaked = TempKeys::new();
    let both = trust_dir("both", &[&kept.files, &leaked.files]);
    let with = |key: &TempKeys, args: &[&str]| run_with(&db, &key.files.signing_key, &both, args);
    for (apr, plan, key) in [
        ("APR-K1", "PLAN-K1", &kept),
        ("APR-L1", "PLAN-L1", &leaked),
        ("APR-L2", "PLAN-L2", &leaked),
    ] {
        db.approved_apr(apr, &payload_for(plan));
        with(key, &["execute", "--apr", apr, "--json"]).expect(0, "OK", "MINTED");
    }
    let id = leaked.files.key_id.as_str();
    // A row that names the leaked key without its signature goes too.
    plant_claiming(&db, "APR-L3", id);
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "revoke",
            "--key-id",
            id,
            "--reason",
            "key leaked",
            "--by",
            "owner",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let before = db.snapshot();
    let dry = args(&["--dry-run"]);
    let dry: Vec<&str> = dry.iter().map(String::as_str).collect();
    let listed = with(&kept, &dry);
    listed.expect(0, "OK", "WOULD_REVOKE");
    assert_eq!(
        codes(&listed.json(), "grants"),
        ["GBA-C1-APR-L1", "GBA-C1-APR-L2", "GBA-C1-APR-L3"]
    );
    for g in listed.json()["grants"].as_array().unwrap() {
        assert_eq!(g["key_id"], id);
    }
    assert_eq!(listed.json()["grants"][2]["signature"], "FORGED");
    assert_eq!(db.snapshot(), before);
    let run = args(&["--expect", "3"]);
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    with(&kept, &run).expect(0, "OK", "REVOKED");
    assert_eq!(db.grant_status("GBA-C1-APR-L1").as_deref(), Some("revoked"));
    assert_eq!(db.grant_status("GBA-C1-APR-L2").as_deref(), Some("revoked"));
    assert_eq!(db.grant_status("GBA-C1-APR-L3").as_deref(), Some("revoked"));
    assert_eq!(
        db.grant_status("GBA-C1-APR-K1").as_deref(),
        Some("active"),
        "the other key's grant stays active"
    );
    // The kept key's grant is still spendable; the leaked key's are not.
    let spend = |auth: &str, plan: &str| {
        let vocabulary: Vec<String> = VOCABULARY.iter().map(|s| s.to_string()).collect();
        let mut a =
            dot_authorize_build_step::disposable::cases::consume_argv(auth, plan, &vocabulary);
        a.extend(["--by".into(), "c1-build".into(), "--json".into()]);
        a
    };
    let l1 = spend("GBA-C1-APR-L1", "PLAN-L1");
    let l1: Vec<&str> = l1.iter().map(String::as_str).collect();
    with(&kept, &l1).expect(4, "FAIL", "REJECT_AUTH_REVOKED");
    let k1 = spend("GBA-C1-APR-K1", "PLAN-K1");
    let k1: Vec<&str> = k1.iter().map(String::as_str).collect();
    with(&kept, &k1).expect(0, "OK", "CONSUMED");
    // A key id that is not 16 hex digits is a usage error, not an empty set.
    let typo = with(
        &kept,
        &[
            "revoke",
            "--key-id",
            "3f2a",
            "--reason",
            "r",
            "--by",
            "o",
            "--dry-run",
        ],
    );
    assert_eq!(typo.exit(), 2, "{typo}");
    // A well-formed id that no key and no row has: nothing, and the verdict
    // says the id is not trusted.
    let unknown = with(
        &kept,
        &[
            "revoke",
            "--key-id",
            "0123456789abcdef",
            "--reason",
            "r",
            "--by",
            "o",
            "--json",
            "--expect",
            "0",
        ],
    );
    unknown.expect(0, "OK", "NOTHING_TO_REVOKE");
    assert!(
        unknown.json()["message"]
            .as_str()
            .unwrap()
            .contains("not a trusted key"),
        "{unknown}"
    );
    let _ = std::fs::remove_dir_all(&both);
}

#[test]
fn revoke_forged_needs_the_trusted_keys_and_retires_only_rows_that_do_not_verify() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    plant_forged(&db, "APR-F0");
    db.mint_for_plan("APR-F1", "PLAN-F1");
    db.mint_for_plan("APR-F2", "LEGO1-C1-PLAN");
    // Without trusted keys nothing can be told forged: refused, nothing read.
    let before = db.snapshot();
    let argv = [
        "revoke",
        "--forged",
        "--reason",
        "r",
        "--by",
        "owner",
        "--dry-run",
        "--json",
    ];
    let mut cmd = db.command_as(HANDLER_ROLE, &argv);
    cmd.env_remove(TRUSTED_KEYS_ENV);
    let blind = Run {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        output: cmd.output().unwrap(),
    };
    blind.expect(5, "ERROR", "ERROR_TRUSTED_KEYS");
    assert_eq!(db.snapshot(), before);
    // With them: only the planted row.
    let dry = revoke(&db, &["--forged", "--dry-run"], &[]);
    dry.expect(0, "OK", "WOULD_REVOKE");
    assert_eq!(codes(&dry.json(), "grants"), ["GBA-C1-APR-F0"]);
    revoke(&db, &["--forged"], &["--expect", "1"]).expect(0, "OK", "REVOKED");
    assert_eq!(db.grant_status("GBA-C1-APR-F0").as_deref(), Some("revoked"));
    for genuine in ["GBA-C1-APR-F1", "GBA-C1-APR-F2"] {
        assert_eq!(db.grant_status(genuine).as_deref(), Some("active"));
    }
    // None left: zero is an OK of its own, with --expect 0 too.
    let before = db.snapshot();
    let none = revoke(&db, &["--forged"], &["--expect", "0"]);
    none.expect(0, "OK", "NOTHING_TO_REVOKE");
    assert_eq!(none.json()["count"], 0);
    assert_eq!(db.snapshot(), before);
}

#[test]
fn exactly_one_selector_and_expect_only_with_a_bulk_one() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    db.mint_for_plan("APR-S1", "LEGO1-C1-PLAN");
    let before = db.snapshot();
    for bad in [
        &["--apr", "APR-S1", "--plan", "LEGO1-C1-PLAN"][..],
        &["--plan", "LEGO1-C1-PLAN", "--forged"],
        &["--auth-code", "GBA-C1-APR-S1", "--forged"],
        &["--apr", "APR-S1", "--expect", "1"],
        &["--plan", "", "--dry-run"],
        &["--key-id", "7155732D52105976", "--dry-run"],
        &[],
    ] {
        let r = revoke(&db, bad, &[]);
        assert_eq!(r.exit(), 2, "{r}");
    }
    assert_eq!(db.snapshot(), before);
    // The single forms answer as before.
    revoke(&db, &["--apr", "APR-S1"], &[]).expect(0, "OK", "REVOKED");
}

/// Plants an active row for `apr` that names key `key_id` with a signature
/// that does not verify.
fn plant_claiming(db: &Db<'_>, apr: &str, key_id: &str) {
    let sql = forged_insert(apr, "24 hours")
        .replace(
            "granted_by, rollback_plan_ref) SELECT",
            "granted_by, rollback_plan_ref, key_id, signature) SELECT",
        )
        .replace(
            "'C1-ROLLBACK-retire-not-delete' FROM",
            &format!(
                "'C1-ROLLBACK-retire-not-delete', '{key_id}', '{}' FROM",
                "A".repeat(88)
            ),
        );
    let mut minter = db.pg.cluster.connect(HANDLER_ROLE, &db.name).unwrap();
    minter
        .batch_execute(&format!("BEGIN; {MARKER}; {sql}; COMMIT"))
        .unwrap();
}

#[test]
fn keys_lists_each_trusted_key_with_what_it_signed_and_the_untrusted_ids_and_writes_nothing() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let kept = TempKeys::new();
    let leaked = TempKeys::new();
    let idle = TempKeys::new();
    let trusted = trust_dir("keys", &[&kept.files, &leaked.files, &idle.files]);
    let with =
        |key: &TempKeys, args: &[&str]| run_with(&db, &key.files.signing_key, &trusted, args);
    for (apr, plan, key) in [
        ("APR-Q1", "PLAN-Q1", &kept),
        ("APR-Q2", "PLAN-Q2", &kept),
        ("APR-Q3", "PLAN-Q3", &kept),
        ("APR-Q4", "PLAN-Q4", &leaked),
    ] {
        db.approved_apr(apr, &payload_for(plan));
        with(key, &["execute", "--apr", apr, "--json"]).expect(0, "OK", "MINTED");
    }
    let vocabulary: Vec<String> = VOCABULARY.iter().map(|s| s.to_string()).collect();
    let mut spend = dot_authorize_build_step::disposable::cases::consume_argv(
        "GBA-C1-APR-Q2",
        "PLAN-Q2",
        &vocabulary,
    );
    spend.extend(["--by".into(), "c1-build".into(), "--json".into()]);
    let spend: Vec<&str> = spend.iter().map(String::as_str).collect();
    with(&kept, &spend).expect(0, "OK", "CONSUMED");
    with(
        &kept,
        &[
            "revoke", "--apr", "APR-Q3", "--reason", "r", "--by", "owner", "--json",
        ],
    )
    .expect(0, "OK", "REVOKED");
    plant_claiming(&db, "APR-Q5", &leaked.files.key_id);
    plant_claiming(&db, "APR-Q6", "deadbeefdeadbeef");
    plant_forged(&db, "APR-Q7");

    let before = db.snapshot();
    let listed = with(&kept, &["keys", "--json"]);
    listed.expect(0, "OK", "LISTED");
    let keys = listed.json()["keys"].as_array().unwrap().clone();
    let find = |id: Option<&str>| -> Value {
        keys.iter()
            .find(|k| k["key_id"].as_str() == id)
            .unwrap_or_else(|| panic!("{id:?} not listed: {listed}"))
            .clone()
    };
    let counts = |k: &Value| -> [u64; 5] {
        ["active", "consumed", "revoked", "forged", "forged_active"].map(|f| k[f].as_u64().unwrap())
    };
    let k = find(Some(&kept.files.key_id));
    assert_eq!(
        (k["trusted"].clone(), counts(&k)),
        (true.into(), [1, 1, 1, 0, 0])
    );
    let l = find(Some(&leaked.files.key_id));
    assert_eq!(
        (l["trusted"].clone(), counts(&l)),
        (true.into(), [1, 0, 0, 1, 1])
    );
    let i = find(Some(&idle.files.key_id));
    assert_eq!(
        counts(&i),
        [0, 0, 0, 0, 0],
        "a trusted key that signed nothing is listed"
    );
    let u = find(Some("deadbeefdeadbeef"));
    assert_eq!(
        (u["trusted"].clone(), counts(&u)),
        (false.into(), [0, 0, 0, 1, 1])
    );
    let none = find(None);
    assert_eq!(
        (none["trusted"].clone(), counts(&none)),
        (false.into(), [0, 0, 0, 1, 1])
    );
    assert_eq!(keys.len(), 5);
    assert!(
        keys[..3].iter().all(|k| k["trusted"] == true),
        "trusted keys first"
    );

    // The table and the lines say the same.
    let table = with(&kept, &["keys"]);
    assert_eq!(table.exit(), 0, "{table}");
    let text = table.stdout();
    assert!(text.starts_with("key_id"), "{table}");
    assert!(
        text.contains("forged_active") && text.contains("(unsigned)"),
        "{table}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with(leaked.files.key_id.as_str()))
        .unwrap_or_else(|| panic!("{table}"));
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        [leaked.files.key_id.as_str(), "yes", "1", "0", "0", "1", "1"]
    );
    let lines = with(&kept, &["keys", "--jsonl"]);
    assert_eq!(lines.exit(), 0, "{lines}");
    let parsed: Vec<Value> = lines
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed, keys);
    assert_eq!(db.snapshot(), before, "keys is read-only");

    // Without trusted keys there is nothing to check against.
    let argv = ["keys", "--json"];
    let mut cmd = db.command_as(HANDLER_ROLE, &argv);
    cmd.env_remove(TRUSTED_KEYS_ENV);
    Run {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        output: cmd.output().unwrap(),
    }
    .expect(5, "ERROR", "ERROR_TRUSTED_KEYS");
    let _ = std::fs::remove_dir_all(&trusted);
}

#[cfg(not(feature = "failpoints"))]
#[test]
fn the_bulk_interleavings_need_the_failpoints_feature() {
    panic!(
        "the bulk revoke interleavings need the fail points: run the README's test command, \
         `cargo test --locked --features failpoints`"
    );
}

/// Deterministic interleavings through the fail points: a session held at
/// `before-commit` with its transaction open (its row locks held), the
/// other run until it waits on that lock, then the first goes on.
#[cfg(feature = "failpoints")]
mod with_failpoints {
    use super::*;
    use std::io::BufRead as _;
    use std::process::{Child, Stdio};
    use std::time::{Duration, Instant};

    struct Paused {
        child: Child,
        release: PathBuf,
        argv: Vec<String>,
    }

    fn pause_at_commit(db: &Db<'_>, args: &[&str]) -> Paused {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let release = std::env::temp_dir().join(format!(
            "dot-abs-bulk-release-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&release);
        let mut child = db
            .command_as(
                dot_authorize_build_step::disposable::fixtures::role_for(args),
                args,
            )
            .env(
                "DOT_ABS_FAILPOINT",
                format!("before-commit:wait:{}", release.display()),
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
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line == "failpoint before-commit waiting" => break,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    panic!("{args:?} never reached before-commit")
                }
            }
        }
        Paused {
            child,
            release,
            argv: args.iter().map(|a| a.to_string()).collect(),
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

    /// Starts `args`; returns once it has finished or waits on a lock.
    fn start_waiting(db: &Db<'_>, args: &[&str]) -> Child {
        let mut child = db
            .command_as(
                dot_authorize_build_step::disposable::fixtures::role_for(args),
                args,
            )
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
            assert!(
                Instant::now() < deadline,
                "{args:?} neither finished nor waited"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn finish(child: Child, args: &[&str]) -> Run {
        Run {
            argv: args.iter().map(|a| a.to_string()).collect(),
            output: child.wait_with_output().unwrap(),
        }
    }

    const BULK: [&str; 10] = [
        "revoke",
        "--plan",
        "LEGO1-C1-PLAN",
        "--expect",
        "2",
        "--reason",
        "r",
        "--by",
        "owner",
        "--json",
    ];

    /// A spend that commits while the bulk revoke waits for its row: the
    /// bulk run, re-reading the row after the lock, finds one grant where
    /// it was told two, and writes nothing.
    #[test]
    fn a_spend_committed_while_the_bulk_run_waits_makes_it_refuse_with_nothing_written() {
        let pg = Pg::start();
        let db = pg.db();
        db.bind();
        plant_forged(&db, "APR-IW0");
        db.mint_for_plan("APR-IW1", "LEGO1-C1-PLAN");
        let spend = consume_args("GBA-C1-APR-IW1");
        let spend: Vec<&str> = spend.iter().map(String::as_str).collect();
        let a = pause_at_commit(&db, &spend);
        let b = start_waiting(&db, &BULK);
        a.go_on().expect(0, "OK", "CONSUMED");
        finish(b, &BULK).expect(4, "FAIL", "REJECT_BULK_MISMATCH");
        // Nothing written: the one row it could have revoked is active.
        assert_eq!(db.grant_status("GBA-C1-APR-IW0").as_deref(), Some("active"));
        assert_eq!(
            db.grant_status("GBA-C1-APR-IW1").as_deref(),
            Some("consumed")
        );
    }

    /// A spend that arrives while the bulk revoke holds its rows waits,
    /// then finds the grant revoked.
    #[test]
    fn a_spend_that_waits_on_a_bulk_revoke_finds_the_grant_revoked() {
        let pg = Pg::start();
        let db = pg.db();
        db.bind();
        plant_forged(&db, "APR-IR0");
        db.mint_for_plan("APR-IR1", "LEGO1-C1-PLAN");
        let a = pause_at_commit(&db, &BULK);
        let spend = consume_args("GBA-C1-APR-IR1");
        let spend: Vec<&str> = spend.iter().map(String::as_str).collect();
        let b = start_waiting(&db, &spend);
        a.go_on().expect(0, "OK", "REVOKED");
        finish(b, &spend).expect(4, "FAIL", "REJECT_AUTH_REVOKED");
        assert_eq!(
            db.grant_status("GBA-C1-APR-IR1").as_deref(),
            Some("revoked")
        );
    }

    #[test]
    fn a_bulk_revoke_that_stops_before_commit_revokes_none_of_its_grants() {
        let pg = Pg::start();
        let db = pg.db();
        db.bind();
        plant_forged(&db, "APR-A0");
        db.mint_for_plan("APR-A1", "LEGO1-C1-PLAN");
        let before = db.snapshot();
        let argv = [
            "revoke",
            "--plan",
            "LEGO1-C1-PLAN",
            "--expect",
            "2",
            "--reason",
            "r",
            "--by",
            "owner",
            "--json",
        ];
        let mut cmd = db.command_as(HANDLER_ROLE, &argv);
        cmd.env("DOT_ABS_FAILPOINT", "before-commit:lose");
        let lost = Run {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            output: cmd.output().unwrap(),
        };
        lost.expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
        assert!(
            lost.json()["message"]
                .as_str()
                .unwrap()
                .contains("--dry-run"),
            "{lost}"
        );
        assert_eq!(db.snapshot(), before, "all or none: none");
        revoke(&db, &["--plan", "LEGO1-C1-PLAN"], &["--expect", "2"]).expect(0, "OK", "REVOKED");
    }
}
