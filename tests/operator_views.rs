//! The operator's views (issue 21): `list`'s output formats, sorting and
//! filters, `aprs list` / `aprs show` (APRs, their votes, what is counted
//! and why not, what `execute` would answer), and a permission error that
//! names the role to use. Every view is read-only: each test compares the
//! tables before and after.
mod common;
use common::*;
use dot_authorize_build_step::disposable::fixtures::{CONSUMER_ROLE, HANDLER_ROLE, PROPOSER_ROLE};
use serde_json::Value;

/// Runs the binary with one environment variable removed.
fn run_without(db: &Db<'_>, env: &str, args: &[&str]) -> Run {
    let output = db
        .command_as(HANDLER_ROLE, args)
        .env_remove(env)
        .output()
        .expect("spawn the binary");
    Run {
        argv: args.iter().map(|s| s.to_string()).collect(),
        output,
    }
}

/// YAML read back by PyYAML (libyaml's reader, as an independent parser),
/// as JSON.
fn yaml_to_json(yaml: &str) -> Value {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with PyYAML reads the YAML back: apt-get install python3-yaml");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "PyYAML refused:\n{yaml}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn codes(v: &Value, key: &str, field: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .iter()
        .map(|g| g[field].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn list_prints_every_format_sorts_filters_and_writes_nothing() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    db.mint_for_plan("APR-F2", "PLAN-B");
    db.mint_for_plan("APR-F1", "PLAN-C");
    db.mint_for_plan("APR-F3", "PLAN-A");
    // A row whose signature was stripped: only --forged finds it.
    db.sql(
        "SET session_replication_role = replica; \
         UPDATE governance_build_authorization SET signature = NULL WHERE request_ref = 'APR-F1'; \
         SET session_replication_role = origin;",
    );
    let before = db.snapshot();

    // -o json is --json; -o yaml is the same document; -o jsonl is --jsonl.
    let json = db.run(&["list", "--json"]);
    json.expect(0, "OK", "LISTED");
    let json = json.json();
    let o_json = db.run(&["list", "-o", "json"]);
    assert_eq!(o_json.json(), json, "{o_json}");
    let yaml = db.run(&["list", "-o", "yaml"]);
    assert_eq!(yaml.exit(), 0, "{yaml}");
    assert_eq!(yaml_to_json(&yaml.stdout()), json, "{yaml}");
    let o_jsonl = db.run(&["list", "--output", "jsonl"]);
    assert_eq!(o_jsonl.stdout(), db.run(&["list", "--jsonl"]).stdout());
    assert_eq!(o_jsonl.stdout().lines().count(), 3, "{o_jsonl}");
    db.run(&["list", "--json", "-o", "table"])
        .expect(2, "USAGE", "USAGE");

    // Default: newest first. --sort-by: ascending, from a fixed list.
    assert_eq!(
        codes(&json, "grants", "apr"),
        ["APR-F3", "APR-F1", "APR-F2"]
    );
    let by_code = db.run(&["list", "--sort-by", "auth_code", "--json"]).json();
    assert_eq!(
        codes(&by_code, "grants", "apr"),
        ["APR-F1", "APR-F2", "APR-F3"]
    );
    let by_plan = db.run(&["list", "--sort-by", "plan", "--json"]).json();
    assert_eq!(
        codes(&by_plan, "grants", "plan_ref"),
        ["PLAN-A", "PLAN-B", "PLAN-C"]
    );
    let by_grant = db
        .run(&["list", "--sort-by", "granted_at", "--json"])
        .json();
    assert_eq!(
        codes(&by_grant, "grants", "apr"),
        ["APR-F2", "APR-F1", "APR-F3"]
    );
    let bogus = db.run(&["list", "--sort-by", "password", "--json"]);
    bogus.expect(2, "USAGE", "USAGE");
    assert!(bogus.stdout().contains("expires_at"), "{bogus}");

    // Filters: key id, since (a span or a time), forged.
    let key_id = json["grants"][0]["key_id"].as_str().unwrap().to_owned();
    let count = |args: &[&str]| {
        let mut argv = vec!["list", "--json"];
        argv.extend_from_slice(args);
        let r = db.run(&argv);
        assert_eq!(r.exit(), 0, "{r}");
        r.json()["count"].as_u64().unwrap()
    };
    assert_eq!(count(&["--key-id", &key_id]), 3);
    assert_eq!(count(&["--key-id", "0000000000000000"]), 0);
    assert_eq!(count(&["--since", "1h"]), 3);
    assert_eq!(count(&["--since", "2000-01-01T00:00:00Z"]), 3);
    assert_eq!(count(&["--since", "2999-01-01"]), 0);
    db.run(&["list", "--since", "15", "--json"])
        .expect(2, "USAGE", "USAGE");
    let forged = db.run(&["list", "--forged", "--json"]);
    forged.expect(0, "OK", "LISTED");
    assert_eq!(
        codes(&forged.json(), "grants", "apr"),
        ["APR-F1"],
        "{forged}"
    );
    assert_eq!(forged.json()["total"], 1);
    // Without trusted keys the question is refused, not guessed.
    run_without(
        &db,
        dot_authorize_build_step::integrity::signing::TRUSTED_KEYS_ENV,
        &["list", "--forged", "--json"],
    )
    .expect(5, "ERROR", "ERROR_TRUSTED_KEYS");
    // -o json is --json for a refusal too: the one verdict on stdout.
    run_without(
        &db,
        dot_authorize_build_step::integrity::signing::TRUSTED_KEYS_ENV,
        &["list", "--forged", "-o", "json"],
    )
    .expect(5, "ERROR", "ERROR_TRUSTED_KEYS");

    // wide: the key id, who granted, who approved, the whole signature check.
    let wide = db.run(&["list", "-o", "wide", "--sort-by", "auth_code"]);
    assert_eq!(wide.exit(), 0, "{wide}");
    let header = wide.stdout().lines().next().unwrap().to_owned();
    for column in ["key_id", "granted_by", "approved_by", "signature check"] {
        assert!(header.contains(column), "{wide}");
    }
    let f3 = wide
        .stdout()
        .lines()
        .find(|l| l.starts_with("GBA-C1-APR-F3"))
        .unwrap()
        .to_owned();
    assert!(f3.contains(&key_id) && f3.contains("alice,bob"), "{wide}");
    let f1 = wide
        .stdout()
        .lines()
        .find(|l| l.starts_with("GBA-C1-APR-F1"))
        .unwrap()
        .to_owned();
    assert!(f1.contains("FORGED: "), "the reason is in wide: {wide}");

    // --no-headers: the rows only.
    let bare = db.run(&["list", "--no-headers", "--sort-by", "auth_code"]);
    assert_eq!(bare.exit(), 0, "{bare}");
    let lines: Vec<String> = bare.stdout().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{bare}");
    assert!(lines[0].starts_with("GBA-C1-APR-F1 "), "{bare}");

    assert_eq!(db.snapshot(), before, "list writes nothing");
}

#[test]
fn aprs_list_and_show_say_who_voted_what_counts_and_what_execute_would_answer() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    let p = valid_payload();
    let d = digest(&p);
    // Proposed, one signed approval.
    db.insert_apr("APR-V1", "authorize_build_step", &p, "proposed");
    db.vote("APR-V1", "alice", "approve", Some(&d));
    // Approved with a real quorum: execute would mint.
    let mut p2 = valid_payload();
    p2["plan_ref"] = "PLAN-V2".into();
    db.approved_apr("APR-V2", &p2);
    // Approved, one good approval, one of another payload, one unsigned,
    // and a reject.
    let mut p3 = valid_payload();
    p3["plan_ref"] = "PLAN-V3".into();
    let d3 = digest(&p3);
    db.insert_apr("APR-V3", "authorize_build_step", &p3, "approved");
    db.vote("APR-V3", "alice", "approve", Some(&d3));
    db.vote("APR-V3", "carol", "approve", Some(&"0".repeat(64)));
    db.vote("APR-V3", "mallory", "approve", Some(&d3));
    db.vote("APR-V3", "dave", "reject", Some(&d3));
    // Approved, but short of a quorum.
    let mut p4 = valid_payload();
    p4["plan_ref"] = "PLAN-V4".into();
    db.insert_apr("APR-V4", "authorize_build_step", &p4, "approved");
    db.vote("APR-V4", "bob", "approve", Some(&digest(&p4)));
    db.insert_apr(
        "APR-P1",
        "patch_ops_code",
        &serde_json::json!({}),
        "proposed",
    );
    let before = db.snapshot();

    let listed = db.run(&["aprs", "list", "--json"]);
    listed.expect(0, "OK", "LISTED");
    let v = listed.json();
    assert_eq!(v["count"], 5, "{listed}");
    let row = |code: &str| {
        v["aprs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["apr"] == code)
            .unwrap_or_else(|| panic!("{code} not listed: {listed}"))
            .clone()
    };
    let v2 = row("APR-V2");
    assert_eq!(
        (&v2["counted"], &v2["required"], &v2["approvals"]),
        (&2.into(), &2.into(), &2.into())
    );
    assert_eq!(v2["quorum_passed"], true);
    let v3 = row("APR-V3");
    assert_eq!((&v3["counted"], &v3["rejections"]), (&1.into(), &1.into()));
    // quorum_passed() is what the dispatcher judges a patch APR by.
    assert_eq!(row("APR-P1")["quorum_passed"], false);
    assert_eq!(row("APR-P1")["required"], 3);
    assert_eq!(row("APR-V1")["payload_digest"], d.as_str());

    // Filters and formats.
    let count = |args: &[&str]| {
        let mut argv = vec!["aprs", "list", "--json"];
        argv.extend_from_slice(args);
        let r = db.run(&argv);
        assert_eq!(r.exit(), 0, "{r}");
        r.json()["count"].as_u64().unwrap()
    };
    assert_eq!(count(&["--status", "approved"]), 3);
    // None of them has a grant yet: all of them wait.
    assert_eq!(count(&["--pending"]), 5);
    assert_eq!(count(&["--action", "patch_ops_code"]), 1);
    assert_eq!(count(&["--since", "1h"]), 5);
    assert_eq!(count(&["--since", "2999-01-01"]), 0);
    let cut = db.run(&["aprs", "list", "--limit", "2", "--json"]);
    assert_eq!(
        (&cut.json()["count"], &cut.json()["total"]),
        (&2.into(), &5.into())
    );
    assert!(cut.json()["message"].as_str().unwrap().contains("2 of 5"));
    db.run(&["aprs", "list", "--status", "bogus", "--json"])
        .expect(2, "USAGE", "USAGE");
    let yaml = db.run(&["aprs", "list", "-o", "yaml"]);
    let mut from_yaml = yaml_to_json(&yaml.stdout());
    let mut from_json = v.clone();
    // age_seconds is read at each run's clock.
    for doc in [&mut from_yaml, &mut from_json] {
        for a in doc["aprs"].as_array_mut().unwrap() {
            a["age_seconds"] = Value::Null;
        }
    }
    assert_eq!(from_yaml, from_json, "{yaml}");
    let table = db.run(&["aprs", "list", "--action", "authorize_build_step"]);
    assert!(table.stdout().starts_with("apr "), "{table}");
    let v2_line = table
        .stdout()
        .lines()
        .find(|l| l.starts_with("APR-V2 "))
        .unwrap()
        .to_owned();
    assert!(
        v2_line.contains(" 2/0 ") && v2_line.contains(" 2/2 "),
        "{table}"
    );
    let jsonl = db.run(&["aprs", "list", "--jsonl"]);
    assert_eq!(jsonl.stdout().lines().count(), 5, "{jsonl}");
    // Without allowed signers nothing is counted, and the table says so.
    let unsigned = run_without(
        &db,
        dot_authorize_build_step::integrity::approval::ALLOWED_SIGNERS_ENV,
        &["aprs", "list", "--json"],
    );
    unsigned.expect(0, "OK", "LISTED");
    assert!(unsigned.json()["aprs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["counted"].is_null()));

    // show: every vote, whether it counts and why not, and execute's answer.
    let shown = db.run(&["aprs", "show", "--apr", "APR-V3", "--json"]);
    shown.expect(0, "OK", "SHOWN");
    let s = shown.json();
    let votes: std::collections::BTreeMap<String, Value> = s["apr_request"]["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["approver"].as_str().unwrap().to_owned(), v.clone()))
        .collect();
    assert_eq!(votes["alice"]["counts"], true, "{shown}");
    assert_eq!(votes["carol"]["counts"], false);
    assert_eq!(votes["carol"]["why"], "a payload_digest of another payload");
    assert_eq!(votes["mallory"]["counts"], false);
    assert_eq!(votes["mallory"]["signed"], false);
    assert!(votes["mallory"]["why"].as_str().is_some(), "{shown}");
    assert_eq!(votes["dave"]["vetoes"], true);
    assert!(votes.values().all(|v| v["decided_at"].is_string()));
    assert_eq!(s["apr_request"]["payload"], p3);
    assert_eq!(s["execute_would"]["code"], "REJECT_QUORUM_VETOED");

    // What it says execute would answer is what execute --dry-run answers.
    for (apr, want) in [
        ("APR-V1", "REJECT_APR_NOT_APPROVED"),
        ("APR-V2", "WOULD_MINT"),
        ("APR-V3", "REJECT_QUORUM_VETOED"),
        ("APR-V4", "REJECT_QUORUM_NOT_MET"),
        ("APR-P1", "REJECT_APR_WRONG_ACTION"),
    ] {
        let shown = db.run(&["aprs", "show", "--apr", apr, "--json"]);
        shown.expect(0, "OK", "SHOWN");
        let dry = db.run(&["execute", "--apr", apr, "--dry-run", "--json"]);
        assert_eq!(shown.json()["execute_would"]["code"], want, "{shown}");
        assert_eq!(dry.code(), want, "{dry}");
        assert_eq!(
            shown.json()["execute_would"]["message"],
            dry.json()["message"]
        );
    }
    let short = db
        .run(&["aprs", "show", "--apr", "APR-V4", "--json"])
        .json();
    assert_eq!(short["execute_would"]["quorum"]["required"], 2, "{short}");

    let human = db.run(&["aprs", "show", "--apr", "APR-V3"]);
    assert_eq!(human.exit(), 0, "{human}");
    let out = human.stdout();
    assert!(
        out.contains("payload_digest     ") && out.contains(&d3),
        "{human}"
    );
    assert!(
        out.contains("carol approve")
            && out.contains("not counted: a payload_digest of another payload"),
        "{human}"
    );
    assert!(
        out.contains("dave reject") && out.contains("VETO"),
        "{human}"
    );
    assert!(
        out.contains("execute would say  FAIL REJECT_QUORUM_VETOED"),
        "{human}"
    );
    assert_eq!(out.matches("OK SHOWN").count(), 1, "{human}");
    db.run(&["aprs", "show", "--apr", "APR-NONE", "--json"])
        .expect(4, "FAIL", "REJECT_APR_NOT_FOUND");
    // Without allowed signers no approval is judged, and execute's answer
    // is the one it would give: ERROR_ALLOWED_SIGNERS.
    let blind = run_without(
        &db,
        dot_authorize_build_step::integrity::approval::ALLOWED_SIGNERS_ENV,
        &["aprs", "show", "--apr", "APR-V3", "--json"],
    );
    blind.expect(0, "OK", "SHOWN");
    let b = blind.json();
    assert_eq!(
        b["execute_would"]["code"], "ERROR_ALLOWED_SIGNERS",
        "{blind}"
    );
    for vote in b["apr_request"]["votes"].as_array().unwrap() {
        if vote["decision"] == "approve" {
            assert_eq!(vote["counts"], Value::Null, "{blind}");
            assert_eq!(vote["why"], "not checked (no allowed signers)");
        } else {
            assert_eq!(vote["vetoes"], true, "a reject vetoes, signed or not");
        }
    }
    let bare = db.run(&[
        "aprs",
        "list",
        "-o",
        "wide",
        "--no-headers",
        "--status",
        "proposed",
    ]);
    let lines: Vec<String> = bare.stdout().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{bare}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("APR-V1 ") || l.starts_with("APR-P1 ")),
        "{bare}"
    );

    assert_eq!(db.snapshot(), before, "aprs writes nothing");
}

#[test]
fn permission_denied_names_the_role_the_command_runs_as() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    logins(&db, &["carol_rv"], Some("dot_apr_reviewer"));
    db.mint_for_plan("APR-R1", "PLAN-R");
    db.insert_apr(
        "APR-R2",
        "authorize_build_step",
        &valid_payload(),
        "proposed",
    );
    let before = db.snapshot();
    // Pending: proposed, or approved with no grant yet (APR-R1 has one).
    let pending = db.run(&["aprs", "list", "--pending", "--json"]);
    assert_eq!(
        codes(&pending.json(), "aprs", "apr"),
        ["APR-R2"],
        "{pending}"
    );
    db.run(&[
        "aprs",
        "list",
        "--pending",
        "--status",
        "proposed",
        "--json",
    ])
    .expect(2, "USAGE", "USAGE");
    for (login, argv, role) in [
        ("carol_rv", &["list", "--json"][..], "dot_c1_build_consumer"),
        (
            "carol_rv",
            &["aprs", "list", "--json"],
            "dot_authorize_build_step",
        ),
        (
            PROPOSER_ROLE,
            &["show", "--apr", "APR-R1", "--json"],
            "dot_authorize_build_step",
        ),
        (
            CONSUMER_ROLE,
            &[
                "revoke", "--apr", "APR-R1", "--reason", "r", "--by", "o", "--json",
            ],
            "dot_authorize_build_step",
        ),
        (
            HANDLER_ROLE,
            &[
                "propose",
                "--manifest-hash",
                MANIFEST_HASH,
                "--plan-ref",
                "P",
                "--ttl",
                "1h",
                "--rollback-plan-ref",
                "R",
                "--by",
                HANDLER_ROLE,
                "--json",
            ],
            "dot_c1_grant_issue",
        ),
    ] {
        let r = db.run_as(login, argv);
        r.expect(5, "ERROR", "ERROR_PERMISSION_DENIED");
        let v = r.json();
        let message = v["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{}` runs as", argv[0])) && message.contains(role),
            "{r}"
        );
        assert!(v["role_needed"].as_str().unwrap().contains(role), "{r}");
    }
    // -o yaml: the verdict as YAML on stdout, its line on stderr, both naming the role.
    let yaml = db.run_as("carol_rv", &["aprs", "list", "-o", "yaml"]);
    assert_eq!(yaml.exit(), 5, "{yaml}");
    let v = yaml_to_json(&yaml.stdout());
    assert_eq!(v["code"], "ERROR_PERMISSION_DENIED", "{yaml}");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("`aprs` runs as dot_authorize_build_step"));
    assert!(yaml.stderr().contains("`aprs` runs as"), "{yaml}");
    // The roles the README names for list, show and aprs do run them.
    for role in [HANDLER_ROLE, CONSUMER_ROLE] {
        db.run_as(role, &["list", "--json"])
            .expect(0, "OK", "LISTED");
        db.run_as(role, &["show", "--apr", "APR-R1", "--json"])
            .expect(0, "OK", "SHOWN");
        db.run_as(role, &["aprs", "list", "--json"])
            .expect(0, "OK", "LISTED");
        db.run_as(role, &["aprs", "show", "--apr", "APR-R1", "--json"])
            .expect(0, "OK", "SHOWN");
    }
    assert_eq!(db.snapshot(), before, "a refusal writes nothing");
}

#[test]
fn yaml_output_reads_back_as_the_same_data_whatever_the_strings_hold() {
    let tricky = serde_json::json!({
        "plain": ["no", "yes", "~", "null", "1e3", "0x1F", "true", "", " lead", "trail "],
        "syntax": ["- item", "k: v", "#c", "[a]", "{b}", "&anchor", "*alias", "!tag", "|", ">", "%", "@", "`", "'q'", "\"dq\"", "a\\b"],
        "lines": "one\ntwo\r\n\ttab \u{0} nul \u{85} nel \u{2028} ls \u{feff} bom",
        "unicode": "Zoë Ω 😀",
        "numbers": [0, -1, 1.5, 1e300, u64::MAX],
        "empty": {"a": [], "o": {}, "n": null},
        "nested": [[1, [2, []]], [{"x": {"y": [{}]}}]],
        "k: weird\nkey": true,
    });
    let yaml = dot_authorize_build_step::commands::yaml::to_yaml(&tricky);
    assert_eq!(yaml_to_json(&yaml), tricky, "{yaml}");
}

/// README's "Which role runs each command" says what the code names in
/// ERROR_PERMISSION_DENIED (cli::role_needed), row by row.
#[test]
fn the_readme_role_table_is_the_one_the_permission_error_names() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("## Which role runs each command")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has the role table");
    let mut seen = std::collections::BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let roles: Vec<&str> = cells[2].split('`').skip(1).step_by(2).collect();
        for command in cells[1].split('`').skip(1).step_by(2) {
            let name = command.split(' ').next().unwrap();
            seen.insert(name.to_owned());
            match dot_authorize_build_step::cli::role_needed(name) {
                None => assert!(roles.is_empty(), "{row}"),
                Some(needed) if name == "evidence" && roles.is_empty() => {
                    assert!(needed.contains("dot_authorize_build_step"), "{row}")
                }
                Some(needed) => {
                    assert!(!roles.is_empty(), "{row}");
                    for role in &roles {
                        assert!(needed.contains(role), "{name}: {needed} lacks {role}");
                    }
                    for staged in [
                        "dot_authorize_build_step",
                        "dot_c1_build_consumer",
                        "dot_c1_grant_issue",
                        "dot_apr_reviewer",
                    ] {
                        assert_eq!(
                            needed.contains(staged),
                            roles.contains(&staged),
                            "{name}: {needed} / {row}"
                        );
                    }
                }
            }
        }
    }
    // Every subcommand is in the table.
    use clap::CommandFactory;
    for sub in dot_authorize_build_step::cli::Cli::command().get_subcommands() {
        assert!(
            seen.contains(sub.get_name()),
            "{} is not in the README's role table",
            sub.get_name()
        );
    }
}

/// Invariant 9 for the views: whatever an APR row holds (a payload nested
/// beyond any parser's depth, a NULL payload, infinite timestamps), aprs
/// shows it, with no digest where there is none to show, never an ERROR.
#[test]
fn aprs_show_any_apr_the_database_can_hold_without_error() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    db.insert_apr(
        "APR-DEEP",
        "authorize_build_step",
        &serde_json::json!([]),
        "approved",
    );
    db.insert_apr(
        "APR-NULL",
        "authorize_build_step",
        &serde_json::json!({}),
        "proposed",
    );
    db.sql(
        "UPDATE apr_requests SET proposed_action = (repeat('[', 200) || '1' || repeat(']', 200))::jsonb, \
                approved_at = 'infinity', applied_at = '-infinity' WHERE apr_code = 'APR-DEEP'; \
         UPDATE apr_requests SET proposed_action = NULL WHERE apr_code = 'APR-NULL'; \
         INSERT INTO apr_approvals (apr_code, approver, decision, decided_at) \
              VALUES ('APR-DEEP', 'alice', 'approve', 'infinity');",
    );
    let before = db.snapshot();
    let listed = db.run(&["aprs", "list", "--json"]);
    listed.expect(0, "OK", "LISTED");
    for a in listed.json()["aprs"].as_array().unwrap() {
        assert_eq!(a["payload_digest"], Value::Null, "{listed}");
    }
    for apr in ["APR-DEEP", "APR-NULL"] {
        let shown = db.run(&["aprs", "show", "--apr", apr, "--json"]);
        shown.expect(0, "OK", "SHOWN");
        assert_ne!(shown.json()["execute_would"]["verdict"], "ERROR", "{shown}");
        assert_eq!(db.run(&["aprs", "show", "--apr", apr]).exit(), 0);
    }
    assert_eq!(db.snapshot(), before);
}
