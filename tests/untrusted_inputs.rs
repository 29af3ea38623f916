//! Regression tests for issue 18, findings 5–10, each named after its
//! finding and run against the real binary and a disposable PostgreSQL:
//! propose-patch's syntax check and arm check, the connection options that
//! would set a dot.* setting, invisible characters in human output, the
//! password file with a host list, and resolving the connection once.

mod common;
use common::*;
use dot_authorize_build_step::disposable::pgtemp::SUPERUSER;
use dot_authorize_build_step::store::connect::DOT_SPELLINGS;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A directory of the test's own, removed when dropped.
struct Scratch(PathBuf);
impl Scratch {
    fn new(tag: &str) -> Scratch {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("dot-abs-issue18-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        Scratch(dir)
    }
    fn file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn propose_patch_args(file: &str) -> Vec<&str> {
    vec![
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
        "bash -n passes; dispatch arm present",
        "--by",
        "dot_c1_grant_issue",
        "--dry-run",
        "--json",
    ]
}

fn run_cmd(argv: &[&str], cmd: &mut std::process::Command) -> Run {
    Run {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        output: cmd.output().expect("spawn the binary"),
    }
}

/// Finding 5 as a command sees it: the syntax check needs no temporary
/// file at all. With TMPDIR naming a regular file, the old code could not
/// make its directory (ERROR_IO); now the check runs on bash's stdin.
#[test]
fn finding_5_propose_patch_temp_file_is_not_predictable() {
    let pg = Pg::start();
    let db = pg.db();
    let scratch = Scratch::new("f5");
    let content = scratch.file("dot-apr-execute.new", &patched_dispatcher(), 0o600);
    let not_a_dir = scratch.file("tmp-is-a-file", "", 0o600);
    let argv = propose_patch_args(content.to_str().unwrap());
    let mut cmd = db.command_as("dot_c1_grant_issue", &argv);
    cmd.env("TMPDIR", &not_a_dir);
    let run = run_cmd(&argv, &mut cmd);
    run.expect(0, "OK", "WOULD_PROPOSE");
    assert_eq!(std::fs::read(&not_a_dir).unwrap(), b"", "{run}");
    // The same with a syntax error: refused by bash, without a path.
    let broken = scratch.file(
        "broken.new",
        &format!("{}\nif then fi (\n", patched_dispatcher()),
        0o600,
    );
    let argv = propose_patch_args(broken.to_str().unwrap());
    let mut cmd = db.command_as("dot_c1_grant_issue", &argv);
    cmd.env("TMPDIR", &not_a_dir);
    let run = run_cmd(&argv, &mut cmd);
    run.expect(4, "FAIL", "REJECT_PATCH_SYNTAX");
}

/// Finding 6: content that carries the staged arm and then defines the
/// function again passed as WOULD_PROPOSE, though bash runs the last
/// definition. It is refused, and nothing is written.
#[test]
fn finding_6_content_that_redefines_the_arm_function_after_the_staged_arm_is_refused() {
    let pg = Pg::start();
    let db = pg.db();
    let scratch = Scratch::new("f6");
    const MARKER: &str = "# (dispatch arms are pasted above this line)";
    let good = patched_dispatcher();
    assert!(good.contains(MARKER));
    let before = db.snapshot();
    for redefinition in [
        "execute_authorize_build_step() { apr_mark_applied \"$1\"; }",
        "function execute_authorize_build_step { apr_mark_applied \"$1\"; }",
        "execute_authorize_build_step ()\n{\n    apr_mark_applied \"$1\"\n}",
    ] {
        let evil = good.replacen(MARKER, &format!("{redefinition}\n\n{MARKER}"), 1);
        let file = scratch.file("evil.new", &evil, 0o600);
        // bash itself accepts it: only the arm check can stop it.
        let bash = std::process::Command::new("bash")
            .arg("-n")
            .arg(&file)
            .status()
            .unwrap();
        assert!(bash.success());
        let mut argv = propose_patch_args(file.to_str().unwrap());
        argv.retain(|a| *a != "--dry-run");
        let run = db.run_as("dot_c1_grant_issue", &argv);
        run.expect(4, "FAIL", "REJECT_PATCH_ARM_STALE");
        assert!(
            run.json()["message"].as_str().unwrap().contains("2 times"),
            "{run}"
        );
    }
    assert_eq!(db.snapshot(), before);
    // The staged arm once, as before, still passes.
    let file = scratch.file("good.new", &good, 0o600);
    db.run_as(
        "dot_c1_grant_issue",
        &propose_patch_args(file.to_str().unwrap()),
    )
    .expect(0, "OK", "WOULD_PROPOSE");
}

/// Finding 7: each spelling really sets the marker for a session (checked
/// on the server), and each is refused as a usage error before the
/// handler connects.
#[test]
fn finding_7_every_spelling_of_the_writer_marker_in_the_options_is_refused() {
    let db = approved("APR-OPT", &valid_payload());
    let pg = db.pg;
    let before = db.snapshot();
    for spelling in DOT_SPELLINGS {
        let mut config = postgres::Config::new();
        config
            .host_path(pg.cluster.socket_dir())
            .port(5432)
            .user(SUPERUSER)
            .dbname(&db.name)
            .options(spelling);
        let mut client = config
            .connect(postgres::NoTls)
            .unwrap_or_else(|e| panic!("{spelling}: {e}"));
        let marker: Option<String> = client
            .query_one("SELECT current_setting('dot.canonical_writer', true)", &[])
            .unwrap()
            .get(0);
        assert!(
            marker.is_some_and(|m| !m.is_empty()),
            "{spelling:?} does not set the marker on the server"
        );
        let argv = ["execute", "--apr", "APR-OPT", "--dry-run", "--json"];
        let mut cmd = db.command_as("dot_authorize_build_step", &argv);
        cmd.env("PGOPTIONS", spelling);
        let run = run_cmd(&argv, &mut cmd);
        assert_eq!(run.exit(), 2, "{spelling:?}\n{run}");
        assert!(run.stderr().contains("dot."), "{run}");
    }
    assert_eq!(db.snapshot(), before);
    // An option of another name still reaches the server.
    let argv = ["execute", "--apr", "APR-OPT", "--dry-run", "--json"];
    let mut cmd = db.command_as("dot_authorize_build_step", &argv);
    cmd.env("PGOPTIONS", "--work-mem=8MB -c search\\_path=public");
    run_cmd(&argv, &mut cmd).expect(0, "OK", "WOULD_MINT");
}

/// The code points of finding 8: tag characters spelling "IGNORE", the
/// Hangul fillers, the blank Braille pattern, private use, unassigned, a
/// paragraph separator.
const HIDDEN: [char; 12] = [
    '\u{E0049}',
    '\u{E0047}',
    '\u{E004E}',
    '\u{E004F}',
    '\u{3164}',
    '\u{115F}',
    '\u{1160}',
    '\u{FFA0}',
    '\u{2800}',
    '\u{E000}',
    '\u{0378}',
    '\u{2029}',
];

/// Finding 8: `digest` and `review` printed a payload's invisible
/// characters raw. Every one is escaped, in every stream a human reads.
#[test]
fn finding_8_invisible_characters_in_a_payload_are_escaped_by_digest_and_review() {
    let pg = Pg::start();
    let db = pg.db();
    let hidden: String = HIDDEN.iter().collect();
    let mut payload = valid_payload();
    payload["plan_ref"] = format!("LEGO1{hidden}").into();
    db.insert_apr("APR-HIDDEN", "authorize_build_step", &payload, "proposed");
    logins(&db, &["carol_rv"], Some("dot_apr_reviewer"));
    for (role, argv) in [
        (
            "dot_authorize_build_step",
            vec!["digest", "--apr", "APR-HIDDEN"],
        ),
        (
            "carol_rv",
            vec!["review", "--apr", "APR-HIDDEN", "--approve"],
        ),
    ] {
        let run = db.run_as(role, &argv);
        let text = format!("{}{}", run.stdout(), run.stderr());
        assert!(text.contains("LEGO1"), "{run}");
        for c in HIDDEN {
            assert!(
                !text.contains(c),
                "{argv:?} printed U+{:04X} raw\n{run}",
                u32::from(c)
            );
            assert!(text.contains(&c.escape_unicode().to_string()), "{run}");
        }
    }
    // --json carries the exact text (it is data, not a display).
    let json = db.run(&["digest", "--apr", "APR-HIDDEN", "--json"]);
    assert!(json.stdout().contains('\u{E0049}') || json.stdout().contains("\\udb40"));
}

/// pg_hba.conf of `pg`'s cluster with `rules` first, reloaded; waits
/// (bounded) until a login without a password as `role` is refused.
fn require_passwords(pg: &Pg, role: &str, rules: &str) {
    let mut c = pg.cluster.connect(SUPERUSER, "postgres").unwrap();
    let hba: String = c.query_one("SHOW hba_file", &[]).unwrap().get(0);
    let old = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, format!("{rules}\n{old}")).unwrap();
    c.query_one("SELECT pg_reload_conf()", &[]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut config = postgres::Config::new();
        config
            .host_path(pg.cluster.socket_dir())
            .port(5432)
            .user(role)
            .dbname("postgres");
        if config.connect(postgres::NoTls).is_err() {
            return;
        }
        assert!(Instant::now() < deadline, "pg_hba.conf was not reloaded");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Finding 9: PGHOST=A,B with a password-file line for A only; A is down,
/// B asks for a cleartext password. B must get none (as `psql -w` sends
/// none), not A's; a line for B is still used for B.
#[test]
fn finding_9_a_pgpass_password_goes_only_to_the_host_it_names() {
    let pg = Pg::own();
    let db = pg.db();
    let role = "dot_authorize_build_step";
    db.sql(&format!("ALTER ROLE {role} LOGIN PASSWORD 'password-of-A'"));
    require_passwords(
        &pg,
        role,
        &format!("local all {SUPERUSER} trust\nlocal all all password"),
    );
    let scratch = Scratch::new("f9");
    let down = scratch.0.join("host-a-is-down");
    std::fs::create_dir_all(&down).unwrap();
    let hosts = format!("{},{}", down.display(), pg.cluster.socket_dir().display());
    let only_a = scratch.file(
        "pgpass-a",
        &format!("{}:5432:*:{role}:password-of-A\n", down.display()),
        0o600,
    );
    let argv = ["readback", "--apr", "APR-NOBODY", "--json"];
    let with = |pgpass: &PathBuf| {
        let mut cmd = db.command_as(role, &argv);
        cmd.env("PGHOST", &hosts).env("PGPASSFILE", pgpass);
        run_cmd(&argv, &mut cmd)
    };
    let run = with(&only_a);
    assert_eq!(
        run.exit(),
        5,
        "B logged in with A's password (or did not refuse)\n{run}"
    );
    assert_eq!(run.verdict(), "ERROR", "{run}");
    // psql, given the same, sends B no password either.
    let psql = dot_authorize_build_step::disposable::pgtemp::find_psql()
        .expect("a psql (apt-get install postgresql-client)");
    let out = std::process::Command::new(psql)
        .args(["-w", "-X", "-c", "SELECT 1"])
        .env_clear()
        .env("PGHOST", &hosts)
        .env("PGPORT", "5432")
        .env("PGUSER", role)
        .env("PGDATABASE", &db.name)
        .env("PGPASSFILE", &only_a)
        .output()
        .unwrap();
    assert!(!out.status.success(), "psql logged in: the setup is wrong");
    // A line for B is B's: it logs in (and finds no such APR).
    let for_b = scratch.file(
        "pgpass-b",
        &format!(
            "{}:5432:*:{role}:password-of-A\n",
            pg.cluster.socket_dir().display()
        ),
        0o600,
    );
    with(&for_b).expect(4, "FAIL", "REJECT_APR_NOT_FOUND");
}

/// Finding 10: the connection settings were resolved three times for one
/// `execute` (a loose password file warned three times). Once now.
#[test]
fn finding_10_the_connection_settings_are_resolved_once_per_command() {
    let db = approved("APR-ONCE", &valid_payload());
    let scratch = Scratch::new("f10");
    let loose = scratch.file("pgpass", "*:*:*:*:unused\n", 0o644);
    let log = scratch.0.join("evidence.jsonl");
    let argv = ["execute", "--apr", "APR-ONCE", "--json"];
    let mut cmd = db.command_as("dot_authorize_build_step", &argv);
    cmd.env("PGPASSFILE", &loose)
        .env("DOT_ABS_EVIDENCE_LOG", &log);
    let run = run_cmd(&argv, &mut cmd);
    run.expect(0, "OK", "MINTED");
    assert_eq!(
        run.stderr().matches("warning: password file").count(),
        1,
        "{run}"
    );
    assert!(run.json()["evidence_line"].is_number(), "{run}");
}
