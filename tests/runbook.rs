//! The owner's runbook (staged/README.md), run as it is written: every `sh`
//! block, in order, in one `bash -eu -o pipefail`, against a disposable
//! PostgreSQL holding the governance schema (owned by a non-superuser
//! owner, with no handler roles yet) and a stand-in `dot-apr-execute`
//! v2.2.0 (tests/runbook/). Forward through STEP 0–7, then the whole
//! rollback. The steps the runbook leaves to a person are done here, each
//! named: editing the dispatcher (STEP 1.1) and the approval flow marking
//! an APR approved once its quorum passes.
mod common;
use common::{patch_by_hand, BIN, CASE_LINE, MANIFEST_DIR, STANDIN};
use dot_authorize_build_step::disposable::fixtures::SCHEMA_SQL;
use dot_authorize_build_step::disposable::pgtemp::{self, Cluster, SUPERUSER};
use std::path::{Path, PathBuf};
use std::process::Command;

const RUNBOOK: &str = "staged/README.md";
const DATABASE: &str = "directus";
const OWNER: &str = "gov_owner";
const APPROVERS: &str = "alice bob carol";

/// The world the runbook starts from: the live tables as they are before
/// STEP 0 (no gba_ constraints, no index, no status default, votes not
/// bound to their login, schema public as PostgreSQL 13 and 14 have it:
/// owned by the bootstrap superuser, PUBLIC may create in it), owned by an
/// owner that may create roles (not a superuser) and owns the database;
/// the approvers have their own logins; none of the handler's roles exist.
const WORLD_SQL: &str = "
    ALTER TABLE governance_build_authorization
        DROP CONSTRAINT gba_ttl_within_cap, DROP CONSTRAINT gba_granted_not_in_future,
        DROP CONSTRAINT gba_active_has_c1_binding, DROP CONSTRAINT gba_lifecycle_times;
    DROP INDEX gba_active_scope_idx;
    ALTER TABLE apr_requests ALTER COLUMN status DROP DEFAULT;
    CREATE ROLE gov_owner LOGIN CREATEROLE;
    ALTER DATABASE directus OWNER TO gov_owner;
    ALTER TABLE apr_action_types OWNER TO gov_owner;
    ALTER TABLE apr_requests OWNER TO gov_owner;
    ALTER TABLE apr_approvals OWNER TO gov_owner;
    ALTER TABLE governance_build_authorization OWNER TO gov_owner;
    ALTER FUNCTION quorum_passed(text) OWNER TO gov_owner;
    ALTER SCHEMA public OWNER TO postgres;
    GRANT CREATE ON SCHEMA public TO PUBLIC;
    CREATE ROLE alice LOGIN;
    CREATE ROLE bob LOGIN;
    CREATE ROLE carol LOGIN;
";

/// A fenced code block and the `##` heading it stands under.
#[derive(Debug)]
struct Block {
    heading: String,
    info: String,
    text: String,
}

/// The fenced blocks of a Markdown text, indented ones (in list items)
/// included, with the fence's indentation taken off every line.
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        if let Some(h) = line.strip_prefix("## ") {
            heading = h.to_owned();
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let mut text = String::new();
        for body in lines.by_ref() {
            if body.trim_start().starts_with("```") {
                break;
            }
            text.push_str(body.get(indent..).unwrap_or(body.trim_start()));
            text.push('\n');
        }
        out.push(Block {
            heading: heading.clone(),
            info: info.trim().to_owned(),
            text,
        });
    }
    out
}

/// The approval flow of the governed runtime, by hand: once the quorum
/// passes, the APR is marked approved (never before: no quorum is a stop).
const APPROVAL_FLOW: &str = r#"
approval_flow() {
    local marked
    marked=$(printf '%s\n' "UPDATE apr_requests SET status = 'approved', approved_at = now() WHERE apr_code = :'apr' AND status = 'proposed' AND quorum_passed(apr_code) RETURNING 'marked';" |
        PGUSER=postgres psql -X -q -At -v ON_ERROR_STOP=1 -v apr="$1")
    [ "$marked" = marked ] || { echo "BY HAND: $1 has no quorum to mark approved" >&2; return 1; }
}
"#;

struct Scratch(PathBuf);
impl Drop for Scratch {
    /// Removed, unless the test failed: then it is kept for a look.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept for inspection: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The last few thousand bytes of an output, whole characters.
fn tail(text: &str) -> &str {
    let mut from = text.len().saturating_sub(6000);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    &text[from..]
}

fn install_standin(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(format!("{MANIFEST_DIR}/{STANDIN}"), path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn query(cluster: &Cluster, sql: &str) -> Vec<String> {
    let mut c = cluster.connect(SUPERUSER, DATABASE).unwrap();
    c.query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

#[test]
fn the_owners_runbook_runs_as_written_forward_and_back() {
    let runbook = std::fs::read_to_string(format!("{MANIFEST_DIR}/{RUNBOOK}")).unwrap();
    let all = blocks(&runbook);
    let case_line = all
        .iter()
        .find(|b| b.heading.starts_with("STEP 1") && b.text.starts_with("authorize_build_step)"))
        .expect("STEP 1 shows the case line to add")
        .text
        .clone();
    assert_eq!(case_line.trim(), CASE_LINE);
    let runnable: Vec<&Block> = all.iter().filter(|b| b.info == "sh").collect();
    // Every step that acts has its commands, in the order seed 004 gives.
    let mut order: Vec<String> = Vec::new();
    for block in &runnable {
        let step = block
            .heading
            .split(' ')
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        if order.last() != Some(&step) {
            order.push(step);
        }
    }
    assert_eq!(
        order,
        [
            "How to",
            "STEP 0",
            "STEP 1",
            "STEP 2",
            "STEP 3",
            "STEP 4",
            "STEP 5",
            "STEP 6",
            "STEP 7",
            "Rollback, in"
        ],
        "the runbook's runnable blocks, by heading"
    );

    let cluster =
        Cluster::start().unwrap_or_else(|e| panic!("cannot start a disposable PostgreSQL: {e}"));
    cluster
        .create_database(DATABASE, &[SCHEMA_SQL, WORLD_SQL])
        .expect("load the governance schema and its owner");
    let work =
        Scratch(std::env::temp_dir().join(format!("dot-abs-runbook-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&work.0);
    std::fs::create_dir_all(&work.0).unwrap();
    let dispatcher = work.0.join("opt/incomex/dot/bin/dot-apr-execute");
    install_standin(&dispatcher);
    let v2_2_0 = std::fs::read_to_string(&dispatcher).unwrap();
    let by_hand = work.0.join("by-hand");
    std::fs::create_dir_all(&by_hand).unwrap();
    std::fs::write(
        by_hand.join("dot-apr-execute.new"),
        patch_by_hand(&v2_2_0, &case_line),
    )
    .unwrap();

    // One script: the runbook's sh blocks in order, the steps it leaves to
    // a person between them, and a mark after each block.
    let mut script = String::from(APPROVAL_FLOW);
    for (i, block) in runnable.iter().enumerate() {
        script.push_str(&format!("echo '@@ block {i}' >&2\n"));
        script.push_str(&block.text);
        if block
            .text
            .starts_with("cp \"$DISPATCHER\" dot-apr-execute.v2.2.0")
        {
            script.push_str(&format!(
                "cp '{}' dot-apr-execute.new  # by hand: STEP 1.1\n",
                by_hand.join("dot-apr-execute.new").display()
            ));
        }
        for line in block.text.lines() {
            if let Some(rest) = line.split("review --apr ").nth(1) {
                let mut words = rest.split_whitespace();
                if let (Some(apr), true) = (words.next(), words.any(|w| w == "--approve")) {
                    script.push_str(&format!("approval_flow {apr}  # by hand\n"));
                }
            }
        }
        script.push_str(&format!("echo '@@ done {i}' >&2\n"));
    }
    let script_path = work.0.join("runbook.sh");
    std::fs::write(&script_path, &script).unwrap();

    let psql = pgtemp::find_psql().expect("a psql (apt-get install postgresql-client)");
    let pg_bin = psql.parent().unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}:{}",
        bin_dir.display(),
        pg_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let keys = work.0.join("etc/dot-authorize-build-step");
    let out = Command::new("bash")
        .args(["-eu", "-o", "pipefail"])
        .arg(&script_path)
        .current_dir(&work.0)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &work.0)
        .env("LC_ALL", "C.UTF-8")
        .env("PGHOST", cluster.socket_dir())
        .env("PGPORT", "5432")
        .env("PGDATABASE", DATABASE)
        .env("OWNER", OWNER)
        .env("APPROVERS", APPROVERS)
        .env("DISPATCHER", &dispatcher)
        .env("KEYS", &keys)
        .env(
            "MANIFEST",
            format!("{MANIFEST_DIR}/fixtures/manifests/c1-valid.json"),
        )
        .env("STAGED", format!("{MANIFEST_DIR}/staged"))
        // The stand-in dispatcher's own configuration.
        .env("DOT_APR_EXECUTE_PGUSER", SUPERUSER)
        .env("DOT_APR_EXECUTE_LOG", work.0.join("dispatch.log"))
        .env("DOT_AUTHORIZE_BUILD_STEP_BIN", BIN)
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(work.0.join("dispatch.log")).unwrap_or_default();
    let last = runnable.len() - 1;
    if !(out.status.success() && stderr.contains(&format!("@@ done {last}\n"))) {
        let stopped_in = (0..runnable.len())
            .rev()
            .find(|i| stderr.contains(&format!("@@ block {i}\n")))
            .map_or("before the first block".to_owned(), |i| {
                format!(
                    "block {i}, under \"{}\":\n{}",
                    runnable[i].heading, runnable[i].text
                )
            });
        panic!(
            "the runbook stopped (exit {:?}) in {stopped_in}\n--- stderr (end)\n{}\n--- stdout (end)\n{}\n--- dispatcher log\n{log}",
            out.status.code(),
            tail(&stderr),
            tail(&stdout)
        );
    }

    // Forward and back: one grant, minted by the governed run and revoked;
    // the handler unbound; the dispatcher byte for byte v2.2.0 again; the
    // roles gone, the approvers' logins kept.
    assert_eq!(
        query(
            &cluster,
            "SELECT auth_code || ' ' || status FROM governance_build_authorization"
        ),
        ["GBA-C1-APR-C1-0001 revoked"]
    );
    assert_eq!(
        query(
            &cluster,
            "SELECT handler_ref FROM apr_action_types WHERE action_code = 'authorize_build_step'"
        ),
        ["unimplemented"]
    );
    assert_eq!(
        query(
            &cluster,
            "SELECT apr_code || ' ' || status || ' ' || (SELECT count(*) FROM apr_approvals a \
               WHERE a.apr_code = r.apr_code AND a.payload_digest IS NOT NULL) \
               FROM apr_requests r ORDER BY apr_code"
        ),
        [
            "APR-C1-0001 applied 3",
            "APR-PATCH-DOT310 applied 3",
            "APR-PATCH-DOT310-RESTORE applied 3"
        ]
    );
    assert_eq!(std::fs::read_to_string(&dispatcher).unwrap(), v2_2_0);
    assert_eq!(
        query(
            &cluster,
            "SELECT rolname::text FROM pg_roles WHERE rolname IN ('dot_authorize_build_step', \
             'dot_c1_build_consumer', 'dot_c1_grant_issue', 'dot_apr_reviewer', 'alice', 'bob', 'carol') \
             ORDER BY 1"
        ),
        ["alice", "bob", "carol"]
    );
    assert_eq!(log.matches("patch_ops_code: patched").count(), 2, "{log}");
    assert!(
        log.contains("authorize_build_step: applied (MINTED)"),
        "{log}"
    );
    assert!(stdout.contains("would dispatch APR-C1-0001"), "{stdout}");
}

#[test]
fn the_runbook_parser_finds_indented_blocks_under_their_heading() {
    let md = "## STEP 1 — x\n\n1. one\n\n   ```sh\n   need 0 a \\\n       --b\n   ```\n\n```text\nout\n```\n";
    let got = blocks(md);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].heading, "STEP 1 — x");
    assert_eq!(got[0].info, "sh");
    assert_eq!(got[0].text, "need 0 a \\\n    --b\n");
    assert_eq!(got[1].info, "text");
    assert_eq!(got[1].text, "out\n");
}

/// The runbook's `sh` blocks, in order, as one script.
fn runnable_script() -> String {
    let runbook = std::fs::read_to_string(format!("{MANIFEST_DIR}/{RUNBOOK}")).unwrap();
    blocks(&runbook)
        .into_iter()
        .filter(|b| b.info == "sh")
        .map(|b| b.text)
        .collect()
}

#[test]
fn the_runbook_commands_pass_shellcheck() {
    let script = format!("#!/usr/bin/env bash\n{}", runnable_script());
    let mut child = Command::new("shellcheck")
        .args(["--shell=bash", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("shellcheck is required ({e}); install it: apt-get install shellcheck")
        });
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn need_and_same_stop_the_shell_on_anything_but_what_the_step_names() {
    // The runbook's own helpers (its first block), then one line each.
    let runbook = std::fs::read_to_string(format!("{MANIFEST_DIR}/{RUNBOOK}")).unwrap();
    let helpers = &blocks(&runbook)
        .into_iter()
        .find(|b| b.info == "sh")
        .expect("the runbook's first sh block")
        .text;
    for (line, stops) in [
        ("need 0 true", false),
        ("need 3 sh -c 'exit 3'", false),
        ("need 0 sh -c 'exit 3'", true),
        ("need 3 true", true),
        ("need 0 psql-that-does-not-exist", true),
        ("same 4 4", false),
        ("same 3 4", true),
        ("same '' 0", true),
    ] {
        let out = Command::new("bash")
            .args(["-eu", "-o", "pipefail", "-c"])
            .arg(format!("{helpers}\n{line}\necho reached"))
            .env("PGHOST", "/nonexistent")
            .output()
            .unwrap();
        let reached = String::from_utf8_lossy(&out.stdout).contains("reached");
        assert_eq!(!reached, stops, "{line}: {out:?}");
        assert_eq!(out.status.success(), !stops, "{line}: {out:?}");
        if stops {
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("STOP: "),
                "{line}: {out:?}"
            );
        }
    }
}
